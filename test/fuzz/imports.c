/*
 * test/fuzz/imports.c: native stand-ins for the JavaScript imports of
 * wasm/abi.h, for the fuzzer (harness.h says how the pieces fit).
 *
 * JavaScript only records what an import tells it; so does this file, and
 * it checks every promise abi.h makes about imports while it records:
 * imports come only from inside an export; each handle is reported once as
 * new (ACCEPT/SYN) and terminates exactly once; no event names a dead
 * handle; data and FIN arrive only on an active connection, data never
 * after FIN; every outgoing packet is a well-formed IP packet with correct
 * checksums. A broken promise aborts, and libFuzzer keeps the input.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "harness.h"

uint32_t fuzz_now;
int fuzz_in_export;
int fuzz_trace;
int fuzz_connecting;
int32_t fuzz_connect_ended;
int fuzz_in_input;

int32_t fuzz_pool[POOL_SIZE];
int fuzz_npool;
static int pool_next;

struct live fuzz_live[MAX_LIVE];
int fuzz_nlive;

struct outpkt fuzz_out[MAX_OUT];
int fuzz_nout;
static size_t out_bytes;

void fuzz_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "lwip-fuzz: ABI promise broken: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  abort();
}

void fuzz_forget_all(void) {
  fuzz_npool = 0;
  pool_next = 0;
}

void fuzz_remember(int32_t handle) {
  for (int i = 0; i < fuzz_npool; i++)
    if (fuzz_pool[i] == handle) return;
  fuzz_pool[pool_next] = handle;
  pool_next = (pool_next + 1) % POOL_SIZE;
  if (fuzz_npool < POOL_SIZE) fuzz_npool++;
}

struct live *fuzz_find_live(int32_t handle) {
  for (int i = 0; i < fuzz_nlive; i++)
    if (fuzz_live[i].handle == handle) return &fuzz_live[i];
  return NULL;
}

void fuzz_add_live(int32_t handle, uint8_t kind, uint8_t held) {
  if (handle <= 0) fuzz_fail("new handle %d is not positive", handle);
  if (fuzz_find_live(handle)) fuzz_fail("handle %#x handed out twice while live", handle);
  if (fuzz_nlive == MAX_LIVE) fuzz_fail("more than %d live handles", MAX_LIVE);
  fuzz_live[fuzz_nlive++] = (struct live){.handle = handle, .kind = kind, .held = held};
  fuzz_remember(handle);
}

static void remove_live(struct live *l) { *l = fuzz_live[--fuzz_nlive]; }

static void need_export(const char *what) {
  if (!fuzz_in_export) fuzz_fail("%s called outside an export", what);
}

/* ---- the imports ---- */

uint32_t js_now(void) { return fuzz_now; }

void js_event(int32_t kind, int32_t handle, int32_t a, int32_t b) {
  need_export("js_event");
  if (fuzz_trace) fprintf(stderr, "  event %d handle %#x a %#x b %d\n", kind, handle, a, b);
  struct live *l = fuzz_find_live(handle);
  if (!l && fuzz_connecting && kind == LW_EV_TERMINATED && !fuzz_connect_ended) {
    fuzz_connect_ended = handle;
    return;
  }
  switch (kind) {
    case LW_EV_ACCEPT: {
      if (!l || l->kind != LIVE_LISTENER) fuzz_fail("ACCEPT on %#x, not a live listener", handle);
      struct live *c = fuzz_find_live(a);
      if (c) {
        if (c->kind != LIVE_CONNECTION || !c->held)
          fuzz_fail("ACCEPT of live handle %#x that was not a held SYN", a);
        c->held = 0;
      } else {
        fuzz_add_live(a, LIVE_CONNECTION, 0);
      }
      return;
    }
    case LW_EV_SYN:
      if (!l || l->kind != LIVE_LISTENER) fuzz_fail("SYN on %#x, not a live listener", handle);
      fuzz_add_live(a, LIVE_CONNECTION, 1);
      return;
    case LW_EV_ACTIVE:
      if (!l || l->kind != LIVE_CONNECTION) fuzz_fail("ACTIVE on dead handle %#x", handle);
      if (l->active) fuzz_fail("second ACTIVE on %#x", handle);
      if (l->held) fuzz_fail("ACTIVE on %#x, a held SYN not yet accepted", handle);
      l->active = 1;
      return;
    case LW_EV_FIN:
      if (!l || l->kind != LIVE_CONNECTION) fuzz_fail("FIN on dead handle %#x", handle);
      if (!l->active) fuzz_fail("FIN on %#x before ACTIVE", handle);
      if (l->fin) fuzz_fail("second FIN on %#x", handle);
      l->fin = 1;
      return;
    case LW_EV_WRITABLE:
      if (!l || l->kind != LIVE_CONNECTION) fuzz_fail("WRITABLE on dead handle %#x", handle);
      return;
    case LW_EV_TERMINATED:
      if (!l || l->kind != LIVE_CONNECTION) fuzz_fail("TERMINATED on dead handle %#x", handle);
      if (a < LW_REASON_CLOSE || a > LW_REASON_DESTROYED) fuzz_fail("reason %d", a);
      if (b < LW_CAUSE_NONE || b > LW_CAUSE_LIMIT) fuzz_fail("cause %d", b);
      remove_live(l);
      return;
    default:
      fuzz_fail("unknown event kind %d", kind);
  }
}

void js_recv(int32_t handle, const void *ptr, int32_t len) {
  need_export("js_recv");
  if (fuzz_trace) fprintf(stderr, "  recv handle %#x %d bytes\n", handle, len);
  struct live *l = fuzz_find_live(handle);
  if (!l || l->kind != LIVE_CONNECTION) fuzz_fail("data on dead handle %#x", handle);
  if (!l->active) fuzz_fail("data on %#x before ACTIVE", handle);
  if (l->fin) fuzz_fail("data on %#x after FIN", handle);
  if (len < 1 || len > 65535 || !ptr) fuzz_fail("js_recv(%p, %d)", ptr, len);
  /* Touch every byte, so AddressSanitizer checks the whole range. */
  volatile uint32_t sum = fuzz_sum(ptr, (size_t)len, 0);
  (void)sum;
}

void js_output(int32_t netif, const void *ptr, int32_t len) {
  need_export("js_output");
  if (netif < 0 || netif >= 16) fuzz_fail("output on interface %d", netif);
  if (len < 20 || len > 65535 || !ptr) fuzz_fail("js_output(%p, %d)", ptr, len);
  fuzz_check_output(netif, ptr, (uint32_t)len);
  if (fuzz_nout == MAX_OUT || out_bytes + (size_t)len > (8u << 20)) return; /* a full wire drops */
  uint8_t *copy = malloc((size_t)len);
  if (!copy) return;
  memcpy(copy, ptr, (size_t)len);
  fuzz_out[fuzz_nout++] = (struct outpkt){netif, (uint32_t)len, copy};
  out_bytes += (size_t)len;
}

void js_fatal(const char *message, const char *file, int32_t line) {
  fprintf(stderr, "lwip-fuzz: lwIP assertion: %s at %s:%d\n", message ? message : "?",
          file ? file : "?", line);
  abort();
}

void fuzz_out_clear(void) {
  for (int i = 0; i < fuzz_nout; i++) free(fuzz_out[i].data);
  fuzz_nout = 0;
  out_bytes = 0;
}

/* ---- checksums and packet checks ---- */

uint32_t fuzz_sum(const uint8_t *p, size_t len, uint32_t sum) {
  size_t i = 0;
  for (; i + 1 < len; i += 2) {
    sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (sum > 0xFFFF0000u) sum = (sum & 0xFFFF) + (sum >> 16);
  }
  if (i < len) sum += (uint32_t)p[i] << 8;
  return sum;
}

uint16_t fuzz_fold(uint32_t sum) {
  while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
  return (uint16_t)~sum;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* Offset of the upper-layer header of an IPv6 packet and its protocol, or
 * -1 when it is a non-first fragment or the chain does not fit. */
static long ip6_upper(const uint8_t *p, size_t len, uint8_t *proto, int *fragment) {
  uint8_t next = p[6];
  size_t off = 40;
  *fragment = 0;
  for (int hops = 0; hops < 16; hops++) {
    if (next != 0 && next != 43 && next != 44 && next != 60) {
      *proto = next;
      return (long)off;
    }
    if (off + 8 > len) return -1;
    if (next == 44) {
      *fragment = 1;
      if ((get16(p + off + 2) & 0xFFF8) != 0) return -1;
      next = p[off];
      off += 8;
      continue;
    }
    next = p[off];
    off += 8u + p[off + 1] * 8u;
  }
  return -1;
}

/* The checksum of a TCP/ICMPv6/ICMP segment at p[off..len), including the
 * pseudo-header where the protocol has one. 0 when correct. */
static uint16_t l4_sum(const uint8_t *p, size_t off, size_t len, uint8_t proto, int v6) {
  uint32_t sum = 0;
  size_t n = len - off;
  if (v6) {
    sum = fuzz_sum(p + 8, 32, 0);
    sum += (uint32_t)(n >> 16) + (uint32_t)(n & 0xFFFF) + proto;
  } else if (proto != 1) {
    sum = fuzz_sum(p + 12, 8, 0);
    sum += (uint32_t)n + proto;
  }
  return fuzz_fold(fuzz_sum(p + off, n, sum));
}

static size_t checksum_field(uint8_t proto) {
  if (proto == 6) return 16;
  return 2; /* ICMP, ICMPv6 */
}

void fuzz_fix_packet(uint8_t *p, size_t len, int what) {
  if (len < 1) return;
  int version = p[0] >> 4;
  if (version == 4 && len >= 20) {
    size_t ihl = (size_t)(p[0] & 15) * 4;
    if (ihl < 20 || ihl > len) return;
    if (what & FIX_LEN) put16(p + 2, (uint16_t)len);
    int frag = (get16(p + 6) & 0x3FFF) != 0;
    uint8_t proto = p[9];
    if ((what & FIX_L4) && !frag && (proto == 6 || proto == 1)) {
      size_t cf = ihl + checksum_field(proto);
      if (cf + 2 <= len) {
        put16(p + cf, 0);
        put16(p + cf, l4_sum(p, ihl, len, proto, 0));
      }
    }
    if (what & FIX_IP) {
      put16(p + 10, 0);
      put16(p + 10, fuzz_fold(fuzz_sum(p, ihl, 0)));
    }
  } else if (version == 6 && len >= 40) {
    if (what & FIX_LEN) put16(p + 4, (uint16_t)(len - 40));
    uint8_t proto;
    int frag;
    long off = ip6_upper(p, len, &proto, &frag);
    if (!(what & FIX_L4) || off < 0 || frag || (proto != 6 && proto != 58)) return;
    size_t cf = (size_t)off + checksum_field(proto);
    if (cf + 2 > len) return;
    put16(p + cf, 0);
    put16(p + cf, l4_sum(p, (size_t)off, len, proto, 1));
  }
}

static const char *output_problem(const uint8_t *p, uint32_t len) {
  int version = p[0] >> 4;
  if (version == 4) {
    size_t ihl = (size_t)(p[0] & 15) * 4;
    if (ihl < 20 || ihl > len) return "IPv4 header length";
    if (get16(p + 2) != len) return "IPv4 total length";
    if (fuzz_fold(fuzz_sum(p, ihl, 0)) != 0) return "IPv4 header checksum";
    int frag = (get16(p + 6) & 0x3FFF) != 0;
    uint8_t proto = p[9];
    if (!frag && proto == 6 && len - ihl >= 20 && l4_sum(p, ihl, len, 6, 0) != 0)
      return "TCP checksum (IPv4)";
    if (!frag && proto == 1 && len - ihl >= 8 && l4_sum(p, ihl, len, 1, 0) != 0)
      return "ICMP checksum";
    return NULL;
  }
  if (version == 6) {
    if (len < 40) return "IPv6 shorter than its header";
    if (get16(p + 4) + 40u != len) return "IPv6 payload length";
    uint8_t proto;
    int frag;
    long off = ip6_upper(p, len, &proto, &frag);
    if (off < 0 || frag) return NULL;
    if ((proto == 6 || proto == 58) && (size_t)off + 8 <= len &&
        l4_sum(p, (size_t)off, len, proto, 1) != 0)
      return proto == 6 ? "TCP checksum (IPv6)" : "ICMPv6 checksum";
    return NULL;
  }
  return "IP version";
}

/* A TCP segment from a held SYN that was not answered yet. A held SYN sends
 * nothing of its own accord (no application call or timer makes it speak).
 * Answering a segment from the peer, lwIP may send an RST built from that
 * segment's numbers (an unacceptable ACK, RFC 9293 3.10.7.4) or a bare ACK
 * (the challenge ACK for an in-window RST, RFC 5961): neither answers the
 * SYN. A SYN-ACK or data never leaves. */
static const char *from_held_syn(const uint8_t *p, uint32_t len) {
  int v6 = p[0] >> 4 == 6;
  size_t off;
  if (v6) {
    uint8_t proto;
    int frag;
    long o = ip6_upper(p, len, &proto, &frag);
    if (o < 0 || frag || proto != 6) return NULL;
    off = (size_t)o;
  } else {
    if (p[9] != 6 || (get16(p + 6) & 0x3FFF)) return NULL;
    off = (size_t)(p[0] & 15) * 4;
  }
  if (off + 20 > len || (p[off + 13] & 0x04)) return NULL;
  size_t payload = len - off - (size_t)(p[off + 12] >> 4) * 4;
  if (fuzz_in_input && !(p[off + 13] & 0x02) && payload == 0) return NULL;
  const uint8_t *src = p + (v6 ? 8 : 12), *dst = p + (v6 ? 24 : 16);
  size_t n = v6 ? 16 : 4;
  for (int i = 0; i < fuzz_nlive; i++) {
    struct live *l = &fuzz_live[i];
    if (!l->held || l->answered || !l->known) continue;
    if (l->lport == get16(p + off) && l->rport == get16(p + off + 2) &&
        !memcmp(l->local, src, n) && !memcmp(l->remote, dst, n))
      return "a segment from a held SYN that was never answered";
  }
  return NULL;
}

void fuzz_check_output(int32_t netif, const uint8_t *p, uint32_t len) {
  const char *problem = output_problem(p, len);
  if (!problem) problem = from_held_syn(p, len);
  if (!problem) return;
  fprintf(stderr, "lwip-fuzz: bad packet out of interface %d (%u bytes):", netif, len);
  for (uint32_t i = 0; i < len && i < 128; i++) fprintf(stderr, "%s%02x", i % 16 ? " " : "\n  ", p[i]);
  fprintf(stderr, "\n");
  fuzz_fail("output on %d: %s", netif, problem);
}
