/*
 * tun/tun.c: the native half of the Linux TUN bridge, and the only code in
 * lwip-wasm that does ioctl or raw file-descriptor work. It opens
 * /dev/net/tun as an L3 device (IFF_TUN | IFF_NO_PI: every read or write is
 * one bare IPv4/IPv6 packet), sets MTU and link state, and moves packets in
 * batches. src/tun/native.ts is its only caller and holds the typed view.
 *
 * Readiness: a uv_poll on the fd, in Node's own event loop
 * (napi_get_uv_event_loop). JavaScript has no way to wait for a character
 * device to become readable (net.Socket refuses such fds, and fs.read would
 * either block a thread-pool thread per read or spin on EAGAIN), so the
 * wait must be native; uv_poll keeps it on the main thread, with no helper
 * thread, no locks and no cross-thread hand-off. The poll is level-triggered,
 * so one callback reads a bounded batch and the loop comes back for the rest
 * after timers and other I/O had their turn: a flood cannot starve them.
 *
 * Batches: reads go into one reusable staging area per device until EAGAIN,
 * the packet limit or the area is full; then the batch is copied once into a
 * fresh ArrayBuffer and handed to JavaScript as Uint8Array views of it (the
 * JS side owns them; nothing aliases native memory). A poll started with
 * `borrow` skips that copy: it reads straight into one ArrayBuffer of the
 * device, kept for its whole life, and hands out views of it that are valid
 * only while the callback runs (the next batch overwrites them). That buffer
 * is an ordinary JavaScript ArrayBuffer, never native memory, so nothing
 * dangles; should JavaScript detach it (a transfer), the next batch gets a
 * fresh one. A write batch is one
 * call: one write(2) per packet (a TUN file takes exactly one packet per
 * write, so writev could only gather pieces of one packet, and ours are
 * contiguous), no JavaScript round trip in between; with `offload`, runs of
 * TCP segments of one flow become one GSO packet each (see "writes").
 *
 * Exports (all synchronous; errors are thrown Error objects with `code` set
 * to the errno name, plus `errno` and `syscall`):
 *   open(name, multiQueue, offload) -> [handle, actualName]  ('' lets the kernel name
 *       it; offload: IFF_VNET_HDR, merged TCP writes, see "writes" below)
 *   configure(handle, mtu, up) -> mtu                  (mtu 0 leaves it as is)
 *   poll(handle, readable, writable, callback, batch, borrow)  callback(kind, value):
 *       kind 0: value is an array of packets (views valid during the call
 *       only when `borrow`); 1: writable again;
 *       2: value is the Error that stopped reading (polling has stopped).
 *   read(handle, max) -> Uint8Array[]                  (until EAGAIN or max)
 *   write(handle, packets, start) -> consumed          (stops at EAGAIN; other
 *       per-packet failures are counted, see stats, and skipped)
 *   stats(handle) -> [writeErrors, lastWriteErrno]
 *   close(handle)                                      (idempotent)
 *
 * Lifetime: the device struct is shared by the JS handle (an External) and
 * the libuv poll handle; it is freed when both let go (refs). close() closes
 * the fd at once; an unclosed device is closed by the External's finalizer
 * or, at environment teardown, by a cleanup hook.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <sys/uio.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

/* One read: a packet of up to 65535 bytes, after a virtio_net_hdr when `offload`. */
#define MAX_PACKET (65536 + 16)
#define VNET_HDR ((int)sizeof(struct virtio_net_hdr))
#define STAGE_BYTES (1 << 20)

enum { KIND_PACKETS = 0, KIND_WRITABLE = 1, KIND_ERROR = 2 };

typedef struct tun {
  int fd;
  int refs;           /* the External + the uv_poll handle until it is closed */
  int events;         /* UV_READABLE | UV_WRITABLE currently polled for */
  bool in_callback;   /* JavaScript is running from on_poll */
  uint32_t batch;     /* packets per poll callback */
  bool borrow;        /* poll callbacks get views of borrowed, reused memory */
  napi_ref borrowed;  /* the ArrayBuffer those views share (strong), or NULL */
  napi_env env;
  napi_ref callback;  /* strong while polling */
  napi_async_context async;
  uv_poll_t poll;
  char name[IFNAMSIZ];
  uint32_t write_errors;
  int last_write_errno;
  unsigned char *stage; /* STAGE_BYTES + MAX_PACKET */
  bool offload;         /* IFF_VNET_HDR: merged TCP writes (GSO), see write_packets */
  unsigned char *merge; /* 65535 bytes: the packet being merged */
} tun_t;

static const char PERMISSION_HINT[] = "a TUN device needs root or the CAP_NET_ADMIN capability";

/* ---- errors ---- */

static napi_value sys_error(napi_env env, int err, const char *syscall, const char *hint) {
  char name[32], msg[384];
  const char *code = err == EBADFD ? "EBADFD" : uv_err_name_r(-err, name, sizeof name);
  if (strncmp(code, "Unknown", 7) == 0) code = "EUNKNOWN"; /* errno still says which */
  snprintf(msg, sizeof msg, "%s: %s%s%s", syscall, strerror(err), hint ? " (" : "",
           hint ? hint : "");
  if (hint) strncat(msg, ")", sizeof msg - strlen(msg) - 1);
  napi_value c, m, e, n, s;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) != napi_ok ||
      napi_create_error(env, c, m, &e) != napi_ok)
    return NULL;
  if (napi_create_int32(env, err, &n) == napi_ok) napi_set_named_property(env, e, "errno", n);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &s) == napi_ok)
    napi_set_named_property(env, e, "syscall", s);
  return e;
}

static napi_value throw_sys(napi_env env, int err, const char *syscall, const char *hint) {
  napi_value e = sys_error(env, err, syscall, hint);
  if (e) napi_throw(env, e);
  return NULL;
}

#define CHECK(call)                                                               \
  do {                                                                            \
    if ((call) != napi_ok) {                                                      \
      napi_throw_error(env, "ERR_TUN_NATIVE", "tun: N-API call failed: " #call);  \
      return NULL;                                                                \
    }                                                                             \
  } while (0)

/* ---- lifetime ---- */

static void release(tun_t *t) {
  if (--t->refs > 0) return;
  free(t->merge);
  free(t->stage);
  free(t);
}

static void on_closed(uv_handle_t *h) { release(h->data); }

/* Lets go of the JS callback. The async context is in use while the
   callback runs, so destroying it waits until on_poll is done. */
static void drop_js(tun_t *t) {
  if (t->callback) napi_delete_reference(t->env, t->callback);
  t->callback = NULL;
  if (t->in_callback) return;
  if (t->async) napi_async_destroy(t->env, t->async);
  t->async = NULL;
}

static void cleanup_hook(void *arg);

static void close_tun(tun_t *t, bool from_hook) {
  if (t->fd < 0) return;
  uv_poll_stop(&t->poll); /* also drops the fd from epoll, so closing it next is safe */
  t->events = 0;
  drop_js(t);
  if (t->borrowed) napi_delete_reference(t->env, t->borrowed);
  t->borrowed = NULL;
  close(t->fd);
  t->fd = -1;
  if (!from_hook) napi_remove_env_cleanup_hook(t->env, cleanup_hook, t);
  uv_close((uv_handle_t *)&t->poll, on_closed);
}

static void cleanup_hook(void *arg) { close_tun(arg, true); }

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  close_tun(data, false);
  release(data);
}

static tun_t *get_open(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tun: not a TUN handle");
    return NULL;
  }
  tun_t *t = p;
  if (t->fd < 0) {
    throw_sys(env, EBADF, "tun", "the TUN device is closed");
    return NULL;
  }
  return t;
}

/* ---- open and configure ---- */

static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char name[IFNAMSIZ + 1];
  size_t len = 0;
  bool mq = false, offload = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len));
  CHECK(napi_get_value_bool(env, argv[1], &mq));
  if (argc >= 3) CHECK(napi_get_value_bool(env, argv[2], &offload));
  if (len >= IFNAMSIZ)
    return throw_sys(env, EINVAL, "TUNSETIFF", "an interface name has at most 15 bytes");

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    const char *hint = e == ENOENT ? "/dev/net/tun is missing: no TUN support in this system "
                                     "or container (modprobe tun, or mknod /dev/net/tun c 10 200)"
                       : e == EACCES || e == EPERM ? PERMISSION_HINT
                       : e == ENODEV || e == ENXIO ? "the tun kernel module is not loaded"
                                                   : NULL;
    return throw_sys(env, e, "open /dev/net/tun", hint);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0) | (offload ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    if (e == EPERM || e == EACCES) return throw_sys(env, e, "TUNSETIFF", PERMISSION_HINT);
    if (e == EBUSY)
      return throw_sys(env, e, "TUNSETIFF",
                       "the interface name is in use: another file holds that TUN device");
    /* The kernel says EINVAL when the name belongs to a device of another
       kind (or a TUN device with other flags): to the caller, a name in use. */
    if (e == EINVAL && len > 0 && if_nametoindex(name) != 0)
      return throw_sys(env, EBUSY, "TUNSETIFF",
                       "the interface name is in use by a device that is not a TUN device "
                       "with the same flags; the kernel said EINVAL");
    return throw_sys(env, e, "TUNSETIFF", NULL);
  }
  /* No offloads towards us: what we read is always a whole, checksummed
     packet (its virtio_net_hdr says nothing we need). */
  if (offload && ioctl(fd, TUNSETOFFLOAD, 0) < 0) {
    int e = errno;
    close(fd);
    return throw_sys(env, e, "TUNSETOFFLOAD", NULL);
  }

  tun_t *t = calloc(1, sizeof *t);
  unsigned char *stage = malloc(STAGE_BYTES + MAX_PACKET);
  unsigned char *merge = offload ? malloc(65536) : NULL;
  uv_loop_t *loop = NULL;
  if (!t || !stage || (offload && !merge)) {
    free(t);
    free(stage);
    free(merge);
    close(fd);
    return throw_sys(env, ENOMEM, "tun", NULL);
  }
  t->offload = offload;
  t->merge = merge;
  t->fd = fd;
  t->env = env;
  t->stage = stage;
  t->batch = 256;
  t->refs = 1;
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;
  int r = UV_EINVAL;
  if (napi_get_uv_event_loop(env, &loop) == napi_ok) r = uv_poll_init(loop, &t->poll, fd);
  if (r < 0) {
    close(fd);
    release(t);
    return throw_sys(env, -r, "uv_poll_init", NULL);
  }
  t->poll.data = t;
  t->refs = 2;
  napi_value handle, actual, out;
  if (napi_create_external(env, t, finalize, NULL, &handle) != napi_ok) {
    close_tun(t, true);
    release(t);
    napi_throw_error(env, "ERR_TUN_NATIVE", "tun: napi_create_external failed");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, cleanup_hook, t);
  CHECK(napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &actual));
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_set_element(env, out, 0, handle));
  CHECK(napi_set_element(env, out, 1, actual));
  return out;
}

/* An ioctl on the interface by name, through a throwaway AF_INET socket. */
static int if_ioctl(unsigned long request, struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int e = ioctl(s, request, ifr) < 0 ? errno : 0;
  close(s);
  return e;
}

static napi_value tun_configure(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  uint32_t mtu = 0;
  bool up = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = get_open(env, argv[0]);
  if (!t) return NULL;
  CHECK(napi_get_value_uint32(env, argv[1], &mtu));
  CHECK(napi_get_value_bool(env, argv[2], &up));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, t->name, IFNAMSIZ);
  int e;
  if (mtu) {
    ifr.ifr_mtu = (int)mtu;
    if ((e = if_ioctl(SIOCSIFMTU, &ifr)))
      return throw_sys(env, e, "SIOCSIFMTU",
                       e == EPERM ? PERMISSION_HINT : "a TUN MTU is 68..65535");
  }
  if (up) {
    if ((e = if_ioctl(SIOCGIFFLAGS, &ifr))) return throw_sys(env, e, "SIOCGIFFLAGS", NULL);
    ifr.ifr_flags |= IFF_UP;
    if ((e = if_ioctl(SIOCSIFFLAGS, &ifr)))
      return throw_sys(env, e, "SIOCSIFFLAGS", e == EPERM ? PERMISSION_HINT : NULL);
  }
  if ((e = if_ioctl(SIOCGIFMTU, &ifr))) return throw_sys(env, e, "SIOCGIFMTU", NULL);
  CHECK(napi_create_uint32(env, (uint32_t)ifr.ifr_mtu, &out));
  return out;
}

/* ---- packets ---- */

/* The device's borrowed ArrayBuffer (made on first use, or again if it was
   detached) and its bytes; NULL if it cannot be made. */
static unsigned char *borrowed_stage(napi_env env, tun_t *t, napi_value *ab) {
  void *data = NULL;
  size_t len = 0;
  bool detached = true;
  if (t->borrowed && napi_get_reference_value(env, t->borrowed, ab) == napi_ok && *ab &&
      napi_is_detached_arraybuffer(env, *ab, &detached) == napi_ok && !detached &&
      napi_get_arraybuffer_info(env, *ab, &data, &len) == napi_ok &&
      len == STAGE_BYTES + MAX_PACKET)
    return data;
  if (t->borrowed) napi_delete_reference(env, t->borrowed);
  t->borrowed = NULL;
  if (napi_create_arraybuffer(env, STAGE_BYTES + MAX_PACKET, &data, ab) != napi_ok ||
      napi_create_reference(env, *ab, 1, &t->borrowed) != napi_ok)
    return NULL;
  return data;
}

/* Reads up to `max` packets (until EAGAIN); *err is set on another failure.
   With `borrow`, the views share the device's borrowed buffer (no copy). */
static napi_value read_batch(napi_env env, tun_t *t, uint32_t max, bool borrow, int *err) {
  size_t offsets[1024], lengths[1024], used = 0;
  uint32_t n = 0;
  napi_value out, ab, view;
  void *data = NULL;
  unsigned char *stage = t->stage;
  *err = 0;
  if (max > 1024) max = 1024;
  if (borrow && !(stage = borrowed_stage(env, t, &ab))) return NULL;
  while (n < max && used <= STAGE_BYTES) {
    ssize_t r = read(t->fd, stage + used, MAX_PACKET);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) *err = errno;
      break;
    }
    size_t skip = t->offload ? VNET_HDR : 0;
    if ((size_t)r <= skip) continue;
    offsets[n] = used + skip;
    lengths[n++] = (size_t)r - skip;
    used += (size_t)r;
  }
  if (napi_create_array_with_length(env, n, &out) != napi_ok) return NULL;
  if (n == 0) return out;
  if (!borrow) {
    if (napi_create_arraybuffer(env, used, &data, &ab) != napi_ok) return NULL;
    memcpy(data, stage, used);
  }
  for (uint32_t i = 0; i < n; i++) {
    if (napi_create_typedarray(env, napi_uint8_array, lengths[i], ab, offsets[i], &view) !=
            napi_ok ||
        napi_set_element(env, out, i, view) != napi_ok)
      return NULL;
  }
  return out;
}

static void call_js(tun_t *t, int kind, napi_value value) {
  napi_env env = t->env;
  napi_value fn = NULL, recv, argv[2], result;
  if (!t->callback || napi_get_reference_value(env, t->callback, &fn) != napi_ok || !fn) return;
  if (napi_get_global(env, &recv) != napi_ok || napi_create_int32(env, kind, &argv[0]) != napi_ok)
    return;
  if (!value) napi_get_undefined(env, &value);
  argv[1] = value;
  /* make_callback runs queued microtasks afterwards, as for any I/O callback. */
  if (napi_make_callback(env, t->async, recv, fn, 2, argv, &result) == napi_pending_exception) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
}

static void stop_polling(tun_t *t) {
  uv_poll_stop(&t->poll);
  t->events = 0;
}

static const char *failure_hint(int err) {
  return err == EBADFD ? "the TUN device was deleted" : "the TUN device failed";
}

static void on_poll(uv_poll_t *p, int status, int events) {
  tun_t *t = p->data;
  napi_env env = t->env;
  napi_handle_scope scope;
  if (t->fd < 0 || !t->callback || napi_open_handle_scope(env, &scope) != napi_ok) return;
  t->in_callback = true;
  if (status < 0) {
    /* libuv says EBADF for any POLLERR; a read tells the real cause (EBADFD
       when the interface was deleted under us). */
    int err = -status;
    const char *syscall = "poll";
    if (read(t->fd, t->stage, MAX_PACKET) < 0 && errno != EAGAIN && errno != EINTR) {
      err = errno;
      syscall = "read";
    }
    stop_polling(t);
    call_js(t, KIND_ERROR, sys_error(env, err, syscall, failure_hint(err)));
  } else {
    if ((events & UV_WRITABLE) && (t->events & UV_WRITABLE)) call_js(t, KIND_WRITABLE, NULL);
    if ((events & UV_READABLE) && (t->events & UV_READABLE) && t->fd >= 0) {
      int err = 0;
      uint32_t n = 0;
      napi_value batch = read_batch(env, t, t->batch, t->borrow, &err);
      if (batch && napi_get_array_length(env, batch, &n) == napi_ok && n > 0)
        call_js(t, KIND_PACKETS, batch);
      if (err && t->fd >= 0) {
        stop_polling(t);
        call_js(t, KIND_ERROR, sys_error(env, err, "read", failure_hint(err)));
      }
    }
  }
  t->in_callback = false;
  if (t->events == 0) drop_js(t);
  napi_close_handle_scope(env, scope);
}

static napi_value tun_poll(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], name;
  bool readable = false, writable = false, borrow = false;
  napi_valuetype type = napi_undefined;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = get_open(env, argv[0]);
  if (!t) return NULL;
  CHECK(napi_get_value_bool(env, argv[1], &readable));
  CHECK(napi_get_value_bool(env, argv[2], &writable));
  CHECK(napi_typeof(env, argv[3], &type));
  CHECK(napi_get_value_uint32(env, argv[4], &t->batch));
  if (argc >= 6) CHECK(napi_get_value_bool(env, argv[5], &borrow));
  if (t->batch == 0) t->batch = 1;
  t->borrow = borrow;
  int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  if (events == 0) {
    stop_polling(t);
    drop_js(t);
    return NULL;
  }
  if (type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tun: poll needs a callback");
    return NULL;
  }
  if (t->callback) napi_delete_reference(env, t->callback);
  t->callback = NULL;
  CHECK(napi_create_reference(env, argv[3], 1, &t->callback));
  if (!t->async) {
    CHECK(napi_create_string_utf8(env, "lwip-wasm:tun", NAPI_AUTO_LENGTH, &name));
    CHECK(napi_async_init(env, NULL, name, &t->async));
  }
  int r = uv_poll_start(&t->poll, events, on_poll);
  if (r < 0) return throw_sys(env, -r, "uv_poll_start", NULL);
  t->events = events;
  return NULL;
}

static napi_value tun_read(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t max = 0;
  int err = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = get_open(env, argv[0]);
  if (!t) return NULL;
  CHECK(napi_get_value_uint32(env, argv[1], &max));
  napi_value out = read_batch(env, t, max, false, &err);
  if (err) return throw_sys(env, err, "read", NULL);
  if (!out) napi_throw_error(env, "ERR_TUN_NATIVE", "tun: building the batch failed");
  return out;
}

/* ---- writes ----

   Without `offload`, one write(2) per packet. With it (IFF_VNET_HDR), each
   packet goes after a virtio_net_hdr, and a run of consecutive IPv4 TCP
   segments of one flow (contiguous sequence numbers, all but the last of
   the first one's size, nothing but ACK/PSH set, identical headers
   otherwise) is written as one GSO packet of up to 64 KiB: the kernel takes
   it as the segments it stands for (a local receiver gets one large
   segment, as after GRO; anything forwarded is cut back into the original
   segments), for one system call and one trip through its stack instead of
   one per segment. The merged packet's TCP checksum is left partial
   (NEEDS_CSUM), for the kernel to complete if it ever needs it. */

#define RUN_MAX 128

typedef struct {
  const unsigned char *p;
  size_t n;
} pkt_t;

static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}

/* IP + TCP header length of a segment that may be merged (IPv4 without
   options or fragmentation, TCP with data and only ACK, maybe PSH), else 0. */
static size_t mergeable(const unsigned char *p, size_t n) {
  if (n < 41 || p[0] != 0x45 || p[9] != 6) return 0;
  if (get16(p + 2) != n || (get16(p + 6) & 0x3fff) != 0) return 0;
  size_t hl = 20 + (size_t)(p[32] >> 4) * 4;
  if (hl < 40 || hl >= n || (p[32] & 0x0f) != 0 || (p[33] & ~0x08) != 0x10) return 0;
  return hl;
}

/* True if `q` continues the run from `f` (first) to `l` (last): same
   addresses, ports, TOS, TTL, ACK number, window and options; `l` full;
   `q`'s data right after `l`'s and no larger; the total within 64 KiB. */
static bool continues(const pkt_t *f, const pkt_t *l, const pkt_t *q, size_t hl, size_t total) {
  size_t mss = f->n - hl, qd = q->n - hl;
  return mergeable(q->p, q->n) == hl && l->n - hl == mss && qd <= mss && total + qd <= 65535 &&
         f->p[1] == q->p[1] && f->p[8] == q->p[8] && memcmp(f->p + 12, q->p + 12, 12) == 0 &&
         memcmp(f->p + 28, q->p + 28, 4) == 0 && memcmp(f->p + 34, q->p + 34, 2) == 0 &&
         memcmp(f->p + 40, q->p + 40, hl - 40) == 0 &&
         get32(q->p + 24) == get32(l->p + 24) + (uint32_t)mss;
}

/* One packet, after `h` (or a zero header) when offloading: 0 or errno. */
static int write_packet(tun_t *t, const unsigned char *p, size_t n, struct virtio_net_hdr *h) {
  struct virtio_net_hdr zero;
  ssize_t w;
  if (t->offload) {
    if (!h) memset(h = &zero, 0, sizeof zero);
    struct iovec iov[2] = {{h, sizeof *h}, {(void *)p, n}};
    do w = writev(t->fd, iov, 2);
    while (w < 0 && errno == EINTR);
  } else {
    do w = write(t->fd, p, n);
    while (w < 0 && errno == EINTR);
  }
  return w < 0 ? errno : 0;
}

static uint32_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

/* Writes run[0..count) as one packet (merged when count > 1): 0 or errno. */
static int write_run(tun_t *t, const pkt_t *run, uint32_t count, size_t hl) {
  if (count == 1) return write_packet(t, run[0].p, run[0].n, NULL);
  unsigned char *m = t->merge;
  size_t len = hl;
  unsigned char flags = 0;
  memcpy(m, run[0].p, hl);
  for (uint32_t i = 0; i < count; i++) {
    memcpy(m + len, run[i].p + hl, run[i].n - hl);
    len += run[i].n - hl;
    flags |= run[i].p[33];
  }
  m[33] = flags;
  put16(m + 2, (uint32_t)len);
  m[10] = m[11] = 0;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += get16(m + i);
  put16(m + 10, ~fold(sum) & 0xffff);
  /* The pseudo-header sum, not complemented: what NEEDS_CSUM expects. */
  sum = get16(m + 12) + get16(m + 14) + get16(m + 16) + get16(m + 18) + 6 + (uint32_t)(len - 20);
  put16(m + 36, fold(sum));
  struct virtio_net_hdr h = {
      .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
      .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
      .hdr_len = (uint16_t)hl,
      .gso_size = (uint16_t)(run[0].n - hl),
      .csum_start = 20,
      .csum_offset = 16,
  };
  return write_packet(t, m, len, &h);
}

/* A failed write other than EAGAIN: counted, and the packets are lost. */
static void write_failed(tun_t *t, int err) {
  t->write_errors++;
  t->last_write_errno = err;
}

static napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  uint32_t start = 0, len = 0, i, done;
  pkt_t run[RUN_MAX];
  uint32_t count = 0;
  size_t hl = 0, total = 0;
  int err;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = get_open(env, argv[0]);
  if (!t) return NULL;
  CHECK(napi_get_array_length(env, argv[1], &len));
  CHECK(napi_get_value_uint32(env, argv[2], &start));
  /* done: the first packet not yet written (a pending run starts there). */
  for (i = done = start; i < len; i++) {
    napi_value v, ab;
    napi_typedarray_type type;
    size_t n = 0, offset = 0;
    void *data = NULL;
    CHECK(napi_get_element(env, argv[1], i, &v));
    if (napi_get_typedarray_info(env, v, &type, &n, &data, &ab, &offset) != napi_ok ||
        type != napi_uint8_array) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tun: packets must be Uint8Arrays");
      return NULL;
    }
    pkt_t q = {data, n};
    if (t->offload) {
      if (count > 0 && count < RUN_MAX && continues(&run[0], &run[count - 1], &q, hl, total)) {
        run[count++] = q;
        total += n - hl;
        continue;
      }
      if (count > 0) {
        if ((err = write_run(t, run, count, hl)) == EAGAIN) break;
        if (err) write_failed(t, err);
        done += count;
        count = 0;
      }
      if ((hl = mergeable(data, n)) != 0) {
        run[0] = q;
        count = 1;
        total = n;
        continue;
      }
    }
    if ((err = write_packet(t, data, n, NULL)) == EAGAIN) break;
    if (err) write_failed(t, err);
    done++;
  }
  if (count > 0 && i == len) {
    if ((err = write_run(t, run, count, hl)) != EAGAIN) {
      if (err) write_failed(t, err);
      done += count;
    }
  }
  CHECK(napi_create_uint32(env, done - start, &out));
  return out;
}

static napi_value tun_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, a, b;
  void *p = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_external(env, argv[0], &p));
  tun_t *t = p;
  CHECK(napi_create_uint32(env, t->write_errors, &a));
  CHECK(napi_create_int32(env, t->last_write_errno, &b));
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_set_element(env, out, 0, a));
  CHECK(napi_set_element(env, out, 1, b));
  return out;
}

static napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *p = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_external(env, argv[0], &p));
  close_tun(p, false);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {{"open", tun_open},   {"configure", tun_configure}, {"poll", tun_poll},
             {"read", tun_read},   {"write", tun_write},         {"stats", tun_stats},
             {"close", tun_close}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    CHECK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f));
    CHECK(napi_set_named_property(env, exports, fns[i].name, f));
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
