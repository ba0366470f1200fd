/*
 * tun/device.h: the TUN device itself, in plain C (no Node-API, no libuv):
 * opening /dev/net/tun, the interface ioctls, and moving packets in
 * batches. device.c is the only code in lwip-wasm that does ioctl or raw
 * file-descriptor work; tun/addon.c wraps it for JavaScript.
 *
 * Failures come back as a tun_fail_t (errno, the call that failed, a hint
 * for the person reading the error), for the addon to turn into an Error.
 */
#ifndef LWIP_WASM_TUN_DEVICE_H
#define LWIP_WASM_TUN_DEVICE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_net.h>

/* One read: a packet of up to 65535 bytes, after a virtio_net_hdr when `offload`. */
#define MAX_PACKET (65536 + 16)
#define VNET_HDR ((int)sizeof(struct virtio_net_hdr))
#define STAGE_BYTES (256 << 10)
/* The most packets one read batch takes. */
#define READ_MAX 1024

extern const char PERMISSION_HINT[];

/* Why a call failed: errno, the system call, and a hint (or NULL). */
typedef struct tun_fail {
  int err;
  const char *syscall;
  const char *hint;
} tun_fail_t;

/* An open device. Not thread-safe; one user at a time. */
typedef struct tun_dev {
  int fd; /* -1 once closed */
  char name[IFNAMSIZ];
  uint32_t write_errors;
  int last_write_errno;
  unsigned char *stage; /* STAGE_BYTES + MAX_PACKET */
  bool offload;         /* IFF_VNET_HDR: merged TCP writes (GSO), see device.c "writes" */
  unsigned char *merge; /* 65535 bytes: the packet being merged */
} tun_dev_t;

/* Opens the TUN device `name` (`len` bytes; empty: the kernel names it),
   non-blocking, with its buffers. 0, or -1 with *f set and nothing held. */
int tun_dev_open(tun_dev_t *d, const char *name, size_t len, bool mq, bool offload,
                 tun_fail_t *f);
/* Closes the fd (idempotent); the buffers stay until tun_dev_free. */
void tun_dev_close(tun_dev_t *d);
void tun_dev_free(tun_dev_t *d);

/* Sets the MTU (0: leave it) and, if `up`, IFF_UP; then reads the MTU back
   into *mtu_out. 0, or -1 with *f set. */
int tun_dev_configure(tun_dev_t *d, uint32_t mtu, bool up, uint32_t *mtu_out, tun_fail_t *f);

/* Reads packets into `stage` (STAGE_BYTES + MAX_PACKET bytes) until EAGAIN,
   `max` packets (at most READ_MAX) or the area is full. Packet i is at
   stage + offsets[i], lengths[i] long (after the virtio_net_hdr). *used:
   the bytes of stage filled; *err: errno of a failure other than EAGAIN,
   else 0. Returns the number of packets. */
uint32_t tun_dev_read(tun_dev_t *d, unsigned char *stage, uint32_t max, size_t *offsets,
                      size_t *lengths, size_t *used, int *err);

/* After a poll error: what a read says (errno), or 0 if it says nothing
   more (EAGAIN, EINTR, or a packet). */
int tun_dev_read_error(tun_dev_t *d);

/* ---- writes: a batch, one packet at a time (see device.c) ---- */

#define RUN_MAX 128

typedef struct {
  const unsigned char *p;
  size_t n;
} pkt_t;

typedef struct tun_writer {
  tun_dev_t *dev;
  uint32_t done; /* packets consumed (written, or failed and counted) */
  pkt_t run[RUN_MAX];
  uint32_t count; /* packets in the pending run */
  size_t hl, total;
} tun_writer_t;

/* Takes the next packet of the batch (which must stay valid until the
   batch ends). false at EAGAIN: stop; neither it nor a pending run is
   consumed. Other write failures are counted (write_errors) and skipped. */
bool tun_write_next(tun_writer_t *w, const unsigned char *p, size_t n);
/* After the last packet: writes the pending run, if any. */
void tun_write_end(tun_writer_t *w);

#endif /* LWIP_WASM_TUN_DEVICE_H */
