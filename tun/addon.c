/*
 * tun/addon.c: tun.node's Node-API side of the Linux TUN bridge: argument
 * checks, handles, errors as JavaScript objects, readiness and callbacks.
 * The device work (open, ioctls, reads, writes, offload merging) is
 * tun/device.c, the only code in lwip-wasm that does ioctl or raw fd work;
 * this file calls it and touches the fd only to hand it to libuv.
 * src/tun/native.ts is its only caller and holds the typed view.
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
 * fresh one. A write batch is one call (device.c says how it is written).
 *
 * Exports (all synchronous; errors are thrown Error objects with `code` set
 * to the errno name, plus `errno` and `syscall`):
 *   open(name, multiQueue, offload) -> [handle, actualName]  ('' lets the kernel name
 *       it; offload: IFF_VNET_HDR, merged TCP writes, see "writes" in device.c)
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <uv.h>

#include "device.h"

enum { KIND_PACKETS = 0, KIND_WRITABLE = 1, KIND_ERROR = 2 };

typedef struct tun {
  tun_dev_t dev;      /* the device; dev.fd < 0 once closed */
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
} tun_t;

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
  tun_dev_free(&t->dev);
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
  if (t->dev.fd < 0) return;
  uv_poll_stop(&t->poll); /* also drops the fd from epoll, so closing it next is safe */
  t->events = 0;
  drop_js(t);
  if (t->borrowed) napi_delete_reference(t->env, t->borrowed);
  t->borrowed = NULL;
  tun_dev_close(&t->dev);
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
  if (t->dev.fd < 0) {
    throw_sys(env, EBADF, "tun", "the TUN device is closed");
    return NULL;
  }
  return t;
}

/* ---- open and configure ---- */

/* A two-element array [a, b]: what open() and stats() return. */
static napi_value pair(napi_env env, napi_value a, napi_value b) {
  napi_value out;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_set_element(env, out, 0, a));
  CHECK(napi_set_element(env, out, 1, b));
  return out;
}

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

  tun_dev_t dev;
  tun_fail_t f;
  if (tun_dev_open(&dev, name, len, mq, offload, &f) < 0)
    return throw_sys(env, f.err, f.syscall, f.hint);

  tun_t *t = calloc(1, sizeof *t);
  uv_loop_t *loop = NULL;
  if (!t) {
    tun_dev_close(&dev);
    tun_dev_free(&dev);
    return throw_sys(env, ENOMEM, "tun", NULL);
  }
  t->dev = dev;
  t->env = env;
  t->batch = 256;
  t->refs = 1;
  int r = UV_EINVAL;
  if (napi_get_uv_event_loop(env, &loop) == napi_ok) r = uv_poll_init(loop, &t->poll, t->dev.fd);
  if (r < 0) {
    tun_dev_close(&t->dev);
    release(t);
    return throw_sys(env, -r, "uv_poll_init", NULL);
  }
  t->poll.data = t;
  t->refs = 2;
  napi_value handle, actual;
  if (napi_create_external(env, t, finalize, NULL, &handle) != napi_ok) {
    close_tun(t, true);
    release(t);
    napi_throw_error(env, "ERR_TUN_NATIVE", "tun: napi_create_external failed");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, cleanup_hook, t);
  CHECK(napi_create_string_utf8(env, t->dev.name, NAPI_AUTO_LENGTH, &actual));
  return pair(env, handle, actual);
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
  tun_fail_t f;
  if (tun_dev_configure(&t->dev, mtu, up, &mtu, &f) < 0)
    return throw_sys(env, f.err, f.syscall, f.hint);
  CHECK(napi_create_uint32(env, mtu, &out));
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
  size_t offsets[READ_MAX], lengths[READ_MAX], used = 0;
  uint32_t n = 0;
  napi_value out, ab, view;
  void *data = NULL;
  unsigned char *stage = t->dev.stage;
  *err = 0;
  if (borrow && !(stage = borrowed_stage(env, t, &ab))) return NULL;
  n = tun_dev_read(&t->dev, stage, max, offsets, lengths, &used, err);
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
  if (t->dev.fd < 0 || !t->callback || napi_open_handle_scope(env, &scope) != napi_ok) return;
  t->in_callback = true;
  if (status < 0) {
    /* libuv says EBADF for any POLLERR; a read tells the real cause (EBADFD
       when the interface was deleted under us). */
    int err = -status;
    const char *syscall = "poll";
    int e = tun_dev_read_error(&t->dev);
    if (e) {
      err = e;
      syscall = "read";
    }
    stop_polling(t);
    call_js(t, KIND_ERROR, sys_error(env, err, syscall, failure_hint(err)));
  } else {
    if ((events & UV_WRITABLE) && (t->events & UV_WRITABLE)) call_js(t, KIND_WRITABLE, NULL);
    if ((events & UV_READABLE) && (t->events & UV_READABLE) && t->dev.fd >= 0) {
      int err = 0;
      uint32_t n = 0;
      napi_value batch = read_batch(env, t, t->batch, t->borrow, &err);
      if (batch && napi_get_array_length(env, batch, &n) == napi_ok && n > 0)
        call_js(t, KIND_PACKETS, batch);
      if (err && t->dev.fd >= 0) {
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

/* Writes packets[start..] until EAGAIN; returns how many were consumed. */
static napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  uint32_t start = 0, len = 0, i;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  tun_t *t = get_open(env, argv[0]);
  if (!t) return NULL;
  CHECK(napi_get_array_length(env, argv[1], &len));
  CHECK(napi_get_value_uint32(env, argv[2], &start));
  tun_writer_t w = {.dev = &t->dev};
  for (i = start; i < len; i++) {
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
    if (!tun_write_next(&w, data, n)) break;
  }
  if (i == len) tun_write_end(&w);
  CHECK(napi_create_uint32(env, w.done, &out));
  return out;
}

static napi_value tun_stats(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], a, b;
  void *p = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_external(env, argv[0], &p));
  tun_t *t = p;
  CHECK(napi_create_uint32(env, t->dev.write_errors, &a));
  CHECK(napi_create_int32(env, t->dev.last_write_errno, &b));
  return pair(env, a, b);
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
