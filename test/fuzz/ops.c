/*
 * test/fuzz/ops.c: the program interpreter of the native fuzzer, with
 * libFuzzer's per-input entry point and the operations that call the API.
 * It decodes each input as a program (format in harness.h) and runs its
 * operations against the glue: here the calls JavaScript makes (listen,
 * connect, write, close, options, batch input, limits, interfaces,
 * buffers), each on live, stale and garbage handles with good and bad
 * lengths and pointers; packets.c the operations that put packets on the
 * wire (crafted, fragmented, or the stack's own output with faults) and
 * the loopback wire itself; checks.c the checks made around them and the
 * set-up and tear-down that bracket every program; imports.c the stand-in
 * for JavaScript. The address tables live here, next to the other
 * selectors that decode the program, and both kinds of operation pick from
 * them (fuzz_pick_addr).
 *
 * One lwIP instance lives for the whole process (lw_init works once), with
 * three interfaces: 0 = 10.0.0.2/24 fd00::2/64 (the "b" side of the tests'
 * pair(), so captured traffic fits), 1 = 10.0.1.1/24 fd01::1/64 MTU 9000,
 * 2 = 10.0.2.1/24 fd02::1/64 MTU 1280, transparent. Output an interface
 * sends is delivered back into it when time advances, so the stack talks
 * to itself over real connections (connect to 10.0.0.2, 10.0.1.1 or
 * anything in 10.0.2.0/24).
 */
#include <stdio.h>
#include <string.h>

#include "abi.h"
#include "harness.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"

#define MAX_OPS 512

/* ---- addresses ---- */

struct addr {
  uint8_t b[16];
};
static const struct addr v4[] = {
    {{10, 0, 0, 1}},    {{10, 0, 0, 2}},      {{10, 0, 1, 1}},       {{10, 0, 2, 1}},
    {{10, 0, 2, 77}},   {{10, 0, 0, 255}},    {{255, 255, 255, 255}}, {{224, 0, 0, 1}},
    {{0, 0, 0, 0}},     {{127, 0, 0, 1}},     {{192, 168, 9, 9}},     {{10, 0, 1, 200}},
};
#define V6(a, b, c) {{0xfd, a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b, c}}
static const struct addr v6[] = {
    V6(0, 0, 1),
    V6(0, 0, 2),
    V6(1, 0, 1),
    V6(2, 0, 1),
    V6(2, 0, 0x77),
    {{0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
    {{0}},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
    {{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
    {{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}},
    V6(1, 0x12, 0x34),
};
#define N4 (sizeof v4 / sizeof v4[0])
#define N6 (sizeof v6 / sizeof v6[0])

/* sel 0xFF: raw bytes follow; otherwise an entry of the family's table. */
void fuzz_pick_addr(struct rd *r, int is6, uint8_t sel, uint8_t *out) {
  size_t n = is6 ? 16 : 4;
  memset(out, 0, 16);
  if (sel == 0xFF) {
    take(r, out, n);
    return;
  }
  memcpy(out, is6 ? v6[sel % N6].b : v4[sel % N4].b, n);
}

/* ---- handles ---- */

static int32_t pick_handle(struct rd *r) {
  uint8_t b = u8(r);
  int32_t h = fuzz_npool ? fuzz_pool[b % fuzz_npool] : 1;
  if (b < 0xC0) return h;
  if (b < 0xE0) return fuzz_nlive ? fuzz_live[b % fuzz_nlive].handle : h;
  switch (b) {
    case 0xE0: return 0;
    case 0xE1: return -1;
    case 0xE2: return INT32_MIN;
    case 0xE3: return INT32_MAX;
    case 0xE4: return (int32_t)((uint32_t)h + (1u << 20)); /* next generation */
    case 0xE5: return h + 1;                               /* next slot */
    case 0xE6: return (int32_t)u32(r);
    case 0xE7: return 0xFFFFF;
    default: return (int32_t)((uint32_t)h ^ (1u << (b & 31)));
  }
}

static int32_t port_of(uint16_t v) {
  switch (v) {
    case 0xFFFF: return -1;
    case 0xFFFE: return 65536;
    case 0xFFFD: return INT32_MAX;
    case 0xFFFC: return INT32_MIN;
    default: return v;
  }
}

static int32_t family_of(struct rd *r) {
  uint8_t f = u8(r);
  switch (f & 3) {
    case 0: return 4;
    case 1: return 6;
    case 2: return 0;
    default: return (int8_t)u8(r);
  }
}

/* ---- operations ---- */

static uint8_t wbuf[1 << 20];

static void op_listen(struct rd *r) {
  int32_t family = family_of(r);
  uint8_t sel = u8(r);
  int32_t port = port_of(u16(r));
  int32_t backlog = (int8_t)u8(r);
  int32_t flags = u8(r);
  if (flags >= 0x80) flags = (int32_t)((uint32_t)flags << 24);
  uint8_t a[16];
  const uint8_t *addr = NULL;
  if (sel != 0xFE && !(family == 0 && sel < 0x80)) {
    fuzz_pick_addr(r, family == 6, sel, a);
    addr = a;
  }
  int32_t h = X(lw_tcp_listen(family, addr, port, backlog, flags));
  if (fuzz_trace) fprintf(stderr, "  listen family %d port %d flags %d -> %#x\n", family, port, flags, h);
  if (h > 0) {
    fuzz_add_live(h, LIVE_LISTENER, 0);
  } else if (h == 0) {
    fuzz_fail("lw_tcp_listen returned handle 0");
  }
}

static void op_connect(struct rd *r) {
  int32_t family = family_of(r);
  uint8_t sel = u8(r);
  int32_t port = port_of(u16(r));
  uint8_t lsel = u8(r);
  int32_t lport = port_of(u16(r));
  uint8_t a[16], l[16];
  const uint8_t *addr = NULL, *local = NULL;
  if (sel != 0xFE) {
    fuzz_pick_addr(r, family == 6, sel, a);
    addr = a;
  }
  if (lsel >= 0x80) {
    fuzz_pick_addr(r, family == 6, lsel, l);
    local = l;
  }
  /* The new handle is known only when the call returns, but a failure
   * found at once arrives as its TERMINATED from inside the call
   * (JavaScript queues it); imports.c lets exactly one such event through. */
  fuzz_connecting = 1;
  fuzz_connect_ended = 0;
  int32_t h = X(lw_tcp_connect(family, addr, port, local, lport));
  fuzz_connecting = 0;
  if (fuzz_trace) fprintf(stderr, "  connect family %d port %d -> %#x\n", family, port, h);
  if (h == 0) fuzz_fail("lw_tcp_connect returned handle 0");
  if (h < 0) {
    if (fuzz_connect_ended) fuzz_fail("lw_tcp_connect failed (%d) after a TERMINATED", h);
    return;
  }
  if (fuzz_connect_ended && fuzz_connect_ended != h)
    fuzz_fail("lw_tcp_connect returned %#x, terminated %#x", h, fuzz_connect_ended);
  if (fuzz_connect_ended) {
    fuzz_remember(h);
  } else {
    fuzz_add_live(h, LIVE_CONNECTION, 0);
  }
}

static void op_write(struct rd *r) {
  int32_t h = pick_handle(r);
  uint32_t len = u16(r);
  uint8_t mode = u8(r);
  const uint8_t *ptr = wbuf;
  int32_t n = (int32_t)len;
  switch (mode % 8) {
    case 1: n = (int32_t)(len * 16 > sizeof wbuf ? sizeof wbuf : len * 16); break;
    case 2: ptr = NULL; n = (int32_t)len + 1; break;
    case 3: n = -(int32_t)len - 1; break;
    case 4: ptr = NULL; n = 0; break;
    case 5: n = INT32_MIN; break;
    case 6: n = (int32_t)(len & 15); break;
    case 7: n = (int32_t)sizeof wbuf; break;
    default: break;
  }
  int live = fuzz_expect_live(h, LIVE_CONNECTION);
  int32_t rc = X(lw_tcp_write(h, ptr, n));
  fuzz_check_handle_result("write", h, rc, live);
  if (rc > n && n >= 0) fuzz_fail("lw_tcp_write took %d of %d bytes", rc, n);
  if (n < 0 && rc >= 0) fuzz_fail("lw_tcp_write(len %d) returned %d", n, rc);
  if (!ptr && n > 0 && rc >= 0) fuzz_fail("lw_tcp_write(NULL, %d) returned %d", n, rc);
}

static void op_simple(struct rd *r, uint8_t op) {
  int32_t h = pick_handle(r);
  int live = fuzz_expect_live(h, op == OP_LCLOSE ? LIVE_LISTENER : LIVE_CONNECTION);
  int32_t rc;
  switch (op) {
    case OP_CLOSE:
      rc = X(lw_tcp_close(h));
      fuzz_check_handle_result("close", h, rc, live);
      break;
    case OP_ABORT:
      if (live) fuzz_find_live(h)->answered = 1; /* an RST is an answer */
      rc = X(lw_tcp_abort(h));
      fuzz_check_handle_result("abort", h, rc, live);
      if (rc == 0 && fuzz_find_live(h)) fuzz_fail("abort of %#x: no TERMINATED", h);
      break;
    case OP_SHUTDOWN:
      rc = X(lw_tcp_shutdown_write(h));
      fuzz_check_handle_result("shutdown", h, rc, live);
      break;
    case OP_ACTIVE:
      rc = X(lw_tcp_mark_active(h));
      fuzz_check_handle_result("mark_active", h, rc, live);
      break;
    case OP_RECV:
      rc = X(lw_tcp_set_recv_enabled(h, u8(r) & 1));
      fuzz_check_handle_result("set_recv_enabled", h, rc, live);
      break;
    case OP_LCLOSE:
      rc = X(lw_tcp_listener_close(h));
      fuzz_check_handle_result("listener_close", h, rc, live);
      if (rc == 0) *fuzz_find_live(h) = fuzz_live[--fuzz_nlive];
      break;
    case OP_SYN: {
      int32_t action = (int8_t)u8(r);
      struct live *l = fuzz_find_live(h);
      uint8_t was = l ? l->answered : 0;
      if (l && (action == LW_SYN_ACCEPT || action == LW_SYN_REFUSE)) l->answered = 1;
      rc = X(lw_tcp_syn_answer(h, action));
      fuzz_check_handle_result("syn_answer", h, rc, live);
      if (rc != 0 && (l = fuzz_find_live(h))) l->answered = was;
      break;
    }
    default: break;
  }
}

static void op_info(struct rd *r) {
  int32_t h = pick_handle(r);
  uint8_t null = u8(r);
  uint32_t out[LW_INFO_WORDS + 1];
  out[LW_INFO_WORDS] = 0xA5A5A5A5u;
  int32_t rc = X(lw_tcp_info(h, (null & 1) ? NULL : out));
  struct live *l = fuzz_find_live(h);
  if (!l && rc != LW_ERR_STALE) fuzz_fail("info on dead handle %#x returned %d", h, rc);
  if (l && rc == LW_ERR_STALE) fuzz_fail("info: live handle %#x reported stale", h);
  if ((null & 1) && rc == 0) fuzz_fail("info(NULL) returned 0");
  if (out[LW_INFO_WORDS] != 0xA5A5A5A5u) fuzz_fail("info wrote past its %d words", LW_INFO_WORDS);
  if (rc == 0 && !(null & 1)) {
    if (out[LW_INFO_STATE] > TIME_WAIT) fuzz_fail("info: state %u", out[LW_INFO_STATE]);
    if (out[LW_INFO_FAMILY] != 4 && out[LW_INFO_FAMILY] != 6) fuzz_fail("info: family %u", out[LW_INFO_FAMILY]);
  }
}

static void op_opts(struct rd *r) {
  int32_t h = pick_handle(r);
  uint8_t which = u8(r);
  uint32_t a = u32(r), b = u32(r), c = u32(r);
  int live = fuzz_expect_live(h, LIVE_CONNECTION);
  int32_t rc;
  switch (which % 3) {
    case 0: rc = X(lw_tcp_set_keepalive(h, (int32_t)(a & 1), b, c, a >> 8)); break;
    case 1: rc = X(lw_tcp_set_nodelay(h, (int32_t)a)); break;
    default: rc = X(lw_tcp_set_buffers(h, b, c)); break;
  }
  fuzz_check_handle_result("options", h, rc, live);
}

/* fuzz_recorded holds the pbufs pbuf_alloc returned during the call. */
static void op_reserve(struct rd *r) {
  uint8_t c = u8(r);
  static uint32_t lens[64], ptrs[64];
  int32_t count;
  const uint32_t *lp = lens;
  uint32_t *pp = ptrs;
  int bad = 0;
  if (c < 0x80) {
    count = c % 65;
  } else {
    bad = 1;
    switch ((c - 0x80) % 6) {
      case 0: count = -1; break;
      case 1: count = 0x1000001; lp = NULL; pp = NULL; break;
      case 2: count = 4; lp = NULL; break;
      case 3: count = 4; pp = NULL; break;
      case 4: count = INT32_MIN; break;
      default: count = 0; bad = 0; break;
    }
  }
  for (int32_t i = 0; i < count && i < 64; i++) {
    uint16_t v = u16(r);
    lens[i] = v == 0xFFFF ? 70000 : v == 0xFFFE ? 0xFFFFFFFFu : v;
    ptrs[i] = 0xDEADBEEF;
  }
  fuzz_nrecorded = 0;
  fuzz_recording = 1;
  int32_t rc = X(lw_input_reserve(lp, pp, count));
  fuzz_recording = 0;
  if (fuzz_trace) fprintf(stderr, "  reserve %d -> %d\n", count, rc);
  if (bad) {
    if (rc != LW_ERR_BADARG) fuzz_fail("lw_input_reserve(count %d, %p, %p) returned %d", count, (void *)lp, (void *)pp, rc);
  } else if (rc != count && rc != 0) {
    fuzz_fail("lw_input_reserve(%d) returned %d", count, rc);
  }
  if (rc > 0) {
    int k = 0;
    for (int32_t i = 0; i < rc; i++) {
      uint8_t fix = u8(r);
      if (lens[i] < 1 || lens[i] > 65535) {
        if (ptrs[i] != 0) fuzz_fail("reserve: length %u got a buffer", lens[i]);
        continue;
      }
      if (k >= fuzz_nrecorded) fuzz_fail("reserve: fewer pbufs than packets");
      struct pbuf *p = fuzz_recorded[k++];
      if (!p) {
        if (ptrs[i] != 0) fuzz_fail("reserve: no pbuf but address %#x", ptrs[i]);
        continue;
      }
      if (ptrs[i] != (uint32_t)(uintptr_t)p->payload) fuzz_fail("reserve: wrong address");
      if (p->tot_len != lens[i] || p->len != lens[i]) fuzz_fail("reserve: pbuf of %u for %u", p->tot_len, lens[i]);
      memset(p->payload, 0, lens[i]);
      size_t n = take(r, p->payload, lens[i]);
      fuzz_fix_packet(p->payload, n ? lens[i] : 0, fix & 7);
    }
  }
  uint8_t sel = u8(r), d = u8(r);
  if (d == 0xEF) return; /* never committed: the next reservation gives it back */
  int32_t netif = sel < 0xF0 ? sel % 4 : (int8_t)sel;
  int32_t commit = d < 0xF0 ? (rc > 0 ? rc : count) : (int32_t)((uint32_t)count + (uint32_t)(d - 0xF8));
  fuzz_in_input = 1;
  int32_t crc = X(lw_input_commit(netif, commit));
  fuzz_in_input = 0;
  if (fuzz_trace) fprintf(stderr, "  commit %d on %d -> %d\n", commit, netif, crc);
  if (crc >= 0 && crc != commit) fuzz_fail("lw_input_commit(%d) returned %d", commit, crc);
}

static void op_limits(struct rd *r) {
  uint8_t which = u8(r);
  uint32_t v = u32(r);
  switch (which % 3) {
    case 0: XV(lw_set_mem_limit((v & 0x80000000u) ? v : fuzz_heap_used() + (v & 0xFFFF) * 4)); break;
    case 1: XV(lw_set_max_connections(v % 8)); break;
    default: XV(lw_set_tcp_buffers(v, v * 7)); break;
  }
}

int fuzz_netif_used[16];

static const uint32_t base_mtu[BASE_NETIFS] = {1500, 9000, 1280};

int32_t fuzz_add_base(int i) {
  uint8_t a4[4] = {10, 0, (uint8_t)i, (uint8_t)(i == 0 ? 2 : 1)};
  uint32_t ip4;
  memcpy(&ip4, a4, 4);
  struct addr a6 = V6((uint8_t)i, 0, (uint8_t)(i == 0 ? 2 : 1));
  int32_t id = X(lw_netif_add(ip4, 24, a6.b, 64, (int32_t)base_mtu[i]));
  if (id == 2) X(lw_netif_set_transparent(2, 1));
  return id;
}

static void op_netif(struct rd *r) {
  uint8_t which = u8(r);
  switch (which % 3) {
    case 0: {
      uint32_t ip4 = u32(r);
      int32_t p4 = (int32_t)u8(r) - 8;
      uint8_t sel = u8(r);
      int32_t p6 = (int32_t)u8(r) - 8;
      uint16_t m = u16(r);
      int32_t mtu = m == 0xFFFF ? 70000 : m;
      uint8_t a6[16];
      const uint8_t *ip6 = NULL;
      if (sel != 0xFE) {
        fuzz_pick_addr(r, 1, sel, a6);
        ip6 = a6;
      }
      int32_t id = X(lw_netif_add(ip4, p4, ip6, p6, mtu));
      if (fuzz_trace) fprintf(stderr, "  netif_add mtu %d -> %d\n", mtu, id);
      if (id >= 0) {
        if (id >= 16 || fuzz_netif_used[id]) fuzz_fail("lw_netif_add returned id %d in use", id);
        fuzz_netif_used[id] = 2;
      }
      break;
    }
    case 1: {
      int32_t id = (int32_t)(u8(r) % 20) - 2;
      int32_t rc = X(lw_netif_remove(id));
      int was = id >= 0 && id < 16 && fuzz_netif_used[id];
      if ((rc == 0) != was) fuzz_fail("lw_netif_remove(%d) returned %d", id, rc);
      if (rc == 0) fuzz_netif_used[id] = 0;
      break;
    }
    default: {
      int32_t id = (int32_t)(u8(r) % 20) - 2;
      X(lw_netif_set_transparent(id, (int32_t)u8(r)));
      break;
    }
  }
}

void *fuzz_bufs[NBUFS];

static void op_buf(struct rd *r) {
  uint8_t which = u8(r);
  uint32_t v = u32(r);
  int i = (int)(v % NBUFS);
  switch (which % 3) {
    case 0:
      if (!fuzz_bufs[i]) fuzz_bufs[i] = X(lw_buf_alloc(v & 0xFFFFF));
      break;
    case 1: {
      int32_t rc = X(lw_buf_free(fuzz_bufs[i]));
      if (rc != 0) fuzz_fail("lw_buf_free of its own buffer returned %d", rc);
      fuzz_bufs[i] = NULL;
      break;
    }
    default: {
      /* Not one of its buffers (never dereferenced: it is only compared). */
      void *bogus = (void *)(uintptr_t)(v | 1);
      int32_t rc = X(lw_buf_free(bogus));
      if (rc != LW_ERR_BADARG) fuzz_fail("lw_buf_free(%p) returned %d", bogus, rc);
      break;
    }
  }
}

static void op_stats(struct rd *r) {
  uint8_t b = u8(r);
  if (b & 1) {
    if (X(lw_stats(NULL)) != LW_ERR_BADARG) fuzz_fail("lw_stats(NULL) accepted");
  }
  if (b & 2) {
    if (X(lw_init(1, 2, 0)) != LW_ERR_STATE) fuzz_fail("a second lw_init did not fail");
  }
  int32_t next = lw_timers_next();
  if (next < -1) fuzz_fail("lw_timers_next returned %d", next);
}

/* ---- one program (set-up and tear-down are in checks.c) ---- */

static uint64_t rng;

/* The glue's random source, seeded afresh for every program so a program
 * replays the same ISNs and ports (linked with --wrap=lw_rand_u32). */
u32_t __wrap_lw_rand_u32(void) {
  uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (u32_t)((z ^ (z >> 31)) >> 32);
}

int fuzz_recording;
void *fuzz_recorded[MAX_RECORDED];
int fuzz_nrecorded;
struct pbuf *__real_pbuf_alloc(pbuf_layer l, u16_t length, pbuf_type type);
struct pbuf *__wrap_pbuf_alloc(pbuf_layer l, u16_t length, pbuf_type type) {
  struct pbuf *p = __real_pbuf_alloc(l, length, type);
  if (fuzz_recording && fuzz_nrecorded < MAX_RECORDED) fuzz_recorded[fuzz_nrecorded++] = p;
  return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct rd r = {data, size, 0};
  /* Every program starts alike: the same clock, random source and ids. */
  fuzz_now = 1000;
  rng = 0x1234567;
  fuzz_forget_all();
  fuzz_packets_reset();
  for (int ops = 0; r.i < r.n && ops < MAX_OPS; ops++) {
    uint8_t op = u8(&r) % OP_COUNT;
    if (fuzz_trace) fprintf(stderr, "op %d at %zu (t=%u)\n", op, r.i - 1, fuzz_now);
    switch (op) {
      case OP_INPUT: fuzz_op_input(&r); break;
      case OP_TCP: fuzz_op_tcp(&r); break;
      case OP_ADVANCE: fuzz_op_advance(&r); break;
      case OP_PUMP: fuzz_op_pump(&r); break;
      case OP_LISTEN: op_listen(&r); break;
      case OP_CONNECT: op_connect(&r); break;
      case OP_WRITE: op_write(&r); break;
      case OP_INFO: op_info(&r); break;
      case OP_OPTS: op_opts(&r); break;
      case OP_RESERVE: op_reserve(&r); break;
      case OP_LIMITS: op_limits(&r); break;
      case OP_NETIF: op_netif(&r); break;
      case OP_BUF: op_buf(&r); break;
      case OP_STATS: op_stats(&r); break;
      default: op_simple(&r, op); break;
    }
    fuzz_check_stats();
    fuzz_learn_held();
  }
  fuzz_teardown();
  return 0;
}
