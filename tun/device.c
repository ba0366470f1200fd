/*
 * tun/device.c: the TUN device, and the only code in lwip-wasm that does
 * ioctl or raw file-descriptor work (device.h is its interface; the
 * Node-API side is tun/addon.c). It opens /dev/net/tun as an L3 device
 * (IFF_TUN | IFF_NO_PI: every read or write is one bare IPv4/IPv6 packet),
 * sets MTU and link state, and moves packets in batches.
 *
 * Reads go into a staging area until EAGAIN, the packet limit or the area
 * is full. A write batch is one call from JavaScript: one write(2) per
 * packet (a TUN file takes exactly one packet per write, so writev could
 * only gather pieces of one packet, and ours are contiguous), no JavaScript
 * round trip in between; with `offload`, runs of TCP segments of one flow
 * become one GSO packet each (see "writes").
 */
#define _GNU_SOURCE
#include "device.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

const char PERMISSION_HINT[] = "a TUN device needs root or the CAP_NET_ADMIN capability";

static int fail(tun_fail_t *f, int err, const char *syscall, const char *hint) {
  f->err = err;
  f->syscall = syscall;
  f->hint = hint;
  return -1;
}

/* ---- open and configure ---- */

int tun_dev_open(tun_dev_t *d, const char *name, size_t len, bool mq, bool offload,
                 tun_fail_t *f) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    const char *hint = e == ENOENT ? "/dev/net/tun is missing: no TUN support in this system "
                                     "or container (modprobe tun, or mknod /dev/net/tun c 10 200)"
                       : e == EACCES || e == EPERM ? PERMISSION_HINT
                       : e == ENODEV || e == ENXIO ? "the tun kernel module is not loaded"
                                                   : NULL;
    return fail(f, e, "open /dev/net/tun", hint);
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0) | (offload ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    if (e == EPERM || e == EACCES) return fail(f, e, "TUNSETIFF", PERMISSION_HINT);
    if (e == EBUSY)
      return fail(f, e, "TUNSETIFF",
                  "the interface name is in use: another file holds that TUN device");
    /* The kernel says EINVAL when the name belongs to a device of another
       kind (or a TUN device with other flags): to the caller, a name in use. */
    if (e == EINVAL && len > 0 && if_nametoindex(name) != 0)
      return fail(f, EBUSY, "TUNSETIFF",
                  "the interface name is in use by a device that is not a TUN device "
                  "with the same flags; the kernel said EINVAL");
    return fail(f, e, "TUNSETIFF", NULL);
  }
  /* No offloads towards us: what we read is always a whole, checksummed
     packet (its virtio_net_hdr says nothing we need). */
  if (offload && ioctl(fd, TUNSETOFFLOAD, 0) < 0) {
    int e = errno;
    close(fd);
    return fail(f, e, "TUNSETOFFLOAD", NULL);
  }

  unsigned char *stage = malloc(STAGE_BYTES + MAX_PACKET);
  unsigned char *merge = offload ? malloc(65536) : NULL;
  if (!stage || (offload && !merge)) {
    free(stage);
    free(merge);
    close(fd);
    return fail(f, ENOMEM, "tun", NULL);
  }
  memset(d, 0, sizeof *d);
  d->offload = offload;
  d->merge = merge;
  d->fd = fd;
  d->stage = stage;
  memcpy(d->name, ifr.ifr_name, IFNAMSIZ);
  d->name[IFNAMSIZ - 1] = 0;
  return 0;
}

void tun_dev_close(tun_dev_t *d) {
  if (d->fd < 0) return;
  close(d->fd);
  d->fd = -1;
}

void tun_dev_free(tun_dev_t *d) {
  free(d->merge);
  free(d->stage);
  d->merge = d->stage = NULL;
}

/* An ioctl on the interface by name, through a throwaway AF_INET socket. */
static int if_ioctl(unsigned long request, struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int e = ioctl(s, request, ifr) < 0 ? errno : 0;
  close(s);
  return e;
}

int tun_dev_configure(tun_dev_t *d, uint32_t mtu, bool up, uint32_t *mtu_out, tun_fail_t *f) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, d->name, IFNAMSIZ);
  int e;
  if (mtu) {
    ifr.ifr_mtu = (int)mtu;
    if ((e = if_ioctl(SIOCSIFMTU, &ifr)))
      return fail(f, e, "SIOCSIFMTU", e == EPERM ? PERMISSION_HINT : "a TUN MTU is 68..65535");
  }
  if (up) {
    if ((e = if_ioctl(SIOCGIFFLAGS, &ifr))) return fail(f, e, "SIOCGIFFLAGS", NULL);
    ifr.ifr_flags |= IFF_UP;
    if ((e = if_ioctl(SIOCSIFFLAGS, &ifr)))
      return fail(f, e, "SIOCSIFFLAGS", e == EPERM ? PERMISSION_HINT : NULL);
  }
  if ((e = if_ioctl(SIOCGIFMTU, &ifr))) return fail(f, e, "SIOCGIFMTU", NULL);
  *mtu_out = (uint32_t)ifr.ifr_mtu;
  return 0;
}

/* ---- reads ---- */

uint32_t tun_dev_read(tun_dev_t *d, unsigned char *stage, uint32_t max, size_t *offsets,
                      size_t *lengths, size_t *used, int *err) {
  uint32_t n = 0;
  *used = 0;
  *err = 0;
  if (max > READ_MAX) max = READ_MAX;
  while (n < max && *used <= STAGE_BYTES) {
    ssize_t r = read(d->fd, stage + *used, MAX_PACKET);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) *err = errno;
      break;
    }
    size_t skip = d->offload ? VNET_HDR : 0;
    if ((size_t)r <= skip) continue;
    offsets[n] = *used + skip;
    lengths[n++] = (size_t)r - skip;
    *used += (size_t)r;
  }
  return n;
}

int tun_dev_read_error(tun_dev_t *d) {
  if (read(d->fd, d->stage, MAX_PACKET) < 0 && errno != EAGAIN && errno != EINTR) return errno;
  return 0;
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
static int write_packet(tun_dev_t *t, const unsigned char *p, size_t n, struct virtio_net_hdr *h) {
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
static int write_run(tun_dev_t *t, const pkt_t *run, uint32_t count, size_t hl) {
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
static void write_failed(tun_dev_t *t, int err) {
  t->write_errors++;
  t->last_write_errno = err;
}

bool tun_write_next(tun_writer_t *w, const unsigned char *data, size_t n) {
  tun_dev_t *t = w->dev;
  pkt_t q = {data, n};
  int err;
  if (t->offload) {
    if (w->count > 0 && w->count < RUN_MAX &&
        continues(&w->run[0], &w->run[w->count - 1], &q, w->hl, w->total)) {
      w->run[w->count++] = q;
      w->total += n - w->hl;
      return true;
    }
    if (w->count > 0) {
      if ((err = write_run(t, w->run, w->count, w->hl)) == EAGAIN) return false;
      if (err) write_failed(t, err);
      w->done += w->count;
      w->count = 0;
    }
    if ((w->hl = mergeable(data, n)) != 0) {
      w->run[0] = q;
      w->count = 1;
      w->total = n;
      return true;
    }
  }
  if ((err = write_packet(t, data, n, NULL)) == EAGAIN) return false;
  if (err) write_failed(t, err);
  w->done++;
  return true;
}

void tun_write_end(tun_writer_t *w) {
  int err;
  if (w->count > 0) {
    if ((err = write_run(w->dev, w->run, w->count, w->hl)) != EAGAIN) {
      if (err) write_failed(w->dev, err);
      w->done += w->count;
    }
  }
}
