/*
 * test/fuzz/checks.c: what the native fuzzer checks around the operations
 * ops.c runs (imports.c checks the events; harness.h says how the pieces
 * fit): that a call on a live handle never answers "stale" and one on a
 * dead handle always does, that lw_stats agrees with the events after
 * every operation, and that each program leaves no trace.
 *
 * Set-up records where the stack starts; after each program everything is
 * torn down (abort/close every live handle, limits and interfaces restored,
 * time advanced until no lwIP timer is pending) and the stack must be back
 * where it started: no handle, no pcb, lwIP's heap at its baseline. So
 * state never piles up between inputs, and a leak is a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "harness.h"
#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

/* ---- calls and events ---- */

/* A call on a live handle of the right kind must not answer "stale"; a
 * call on any other handle must answer exactly that. */
int fuzz_expect_live(int32_t h, uint8_t kind) {
  struct live *l = fuzz_find_live(h);
  return l && l->kind == kind;
}

void fuzz_check_handle_result(const char *what, int32_t h, int32_t rc, int live) {
  if (fuzz_trace) fprintf(stderr, "  %s %#x -> %d\n", what, h, rc);
  if (live && rc == LW_ERR_STALE) fuzz_fail("%s: live handle %#x answered stale", what, h);
  if (!live && rc != LW_ERR_STALE) fuzz_fail("%s: dead handle %#x answered %d", what, h, rc);
}

/* lwIP's heap in use (bytes), from lw_stats. */
uint32_t fuzz_heap_used(void) {
  uint32_t s[LW_STATS_WORDS];
  X(lw_stats(s));
  return s[LW_STAT_HEAP_BYTES];
}

/* ---- after every operation ---- */

/* Learns the addresses of new held SYNs (between calls, as JavaScript would). */
void fuzz_learn_held(void) {
  for (int i = 0; i < fuzz_nlive; i++) {
    struct live *l = &fuzz_live[i];
    if (!l->held || l->known) continue;
    uint32_t w[LW_INFO_WORDS];
    if (X(lw_tcp_info(l->handle, w)) != 0) fuzz_fail("info on held SYN %#x failed", l->handle);
    size_t n = w[LW_INFO_FAMILY] == 6 ? 16 : 4;
    memcpy(l->local, &w[LW_INFO_LOCAL_IP], n);
    memcpy(l->remote, &w[LW_INFO_REMOTE_IP], n);
    l->lport = (uint16_t)w[LW_INFO_LOCAL_PORT];
    l->rport = (uint16_t)w[LW_INFO_REMOTE_PORT];
    l->known = 1;
  }
}

void fuzz_check_stats(void) {
  uint32_t s[LW_STATS_WORDS];
  if (X(lw_stats(s)) != 0) fuzz_fail("lw_stats failed");
  uint32_t conns = 0;
  for (int i = 0; i < fuzz_nlive; i++) conns += fuzz_live[i].kind == LIVE_CONNECTION;
  if (s[LW_STAT_HANDLES] != (uint32_t)fuzz_nlive || s[LW_STAT_CONNECTIONS] != conns)
    fuzz_fail("stats: %u handles (%u connections), the events say %d (%u)", s[LW_STAT_HANDLES],
              s[LW_STAT_CONNECTIONS], fuzz_nlive, conns);
}

/* ---- set-up and tear-down ---- */

static uint32_t baseline_heap;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_trace = getenv("LWFUZZ_TRACE") != NULL;
  fuzz_now = 1000;
  if (X(lw_init(1, 2, 0)) != 0) fuzz_fail("lw_init failed");
  for (int i = 0; i < BASE_NETIFS; i++) {
    if (fuzz_add_base(i) != i) fuzz_fail("base interface %d", i);
    fuzz_netif_used[i] = 1;
  }
  baseline_heap = fuzz_heap_used();
  return 0;
}

static int pcbs_left(void) {
  int n = 0;
  for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next) n++;
  for (struct tcp_pcb *p = tcp_tw_pcbs; p; p = p->next) n++;
  for (struct tcp_pcb_listen *p = tcp_listen_pcbs.listen_pcbs; p; p = p->next) n++;
  return n;
}

void fuzz_teardown(void) {
  if (fuzz_trace) fprintf(stderr, "teardown (t=%u)\n", fuzz_now);
  fuzz_out_clear();
  /* Give back a reservation that was never committed. */
  static uint32_t none[1];
  X(lw_input_reserve(none, none, 0));
  XV(lw_set_mem_limit(0));
  XV(lw_set_max_connections(0));
  XV(lw_set_tcp_buffers(1u << 20, 1u << 20));
  while (fuzz_nlive > 0) {
    fuzz_live[fuzz_nlive - 1].answered = 1; /* an RST is an answer */
    struct live l = fuzz_live[fuzz_nlive - 1];
    int32_t rc = l.kind == LIVE_LISTENER ? X(lw_tcp_listener_close(l.handle)) : X(lw_tcp_abort(l.handle));
    if (rc != 0) fuzz_fail("teardown: live handle %#x refused (%d)", l.handle, rc);
    if (l.kind == LIVE_LISTENER) fuzz_nlive--;
    else if (fuzz_find_live(l.handle)) fuzz_fail("teardown: abort of %#x without TERMINATED", l.handle);
  }
  for (int i = 0; i < NBUFS; i++) {
    if (fuzz_bufs[i]) X(lw_buf_free(fuzz_bufs[i]));
    fuzz_bufs[i] = NULL;
  }
  for (int i = 0; i < 16; i++) {
    if (fuzz_netif_used[i] == 2) {
      X(lw_netif_remove(i));
      fuzz_netif_used[i] = 0;
    }
  }
  for (int i = 0; i < BASE_NETIFS; i++) {
    if (!fuzz_netif_used[i]) {
      if (fuzz_add_base(i) != i) fuzz_fail("teardown: base interface %d came back elsewhere", i);
      fuzz_netif_used[i] = 1;
    }
    X(lw_netif_set_transparent(i, i == 2));
  }
  /* The first base interface is the default route, as at the start. */
  struct netif *n;
  NETIF_FOREACH(n) {
    if (n->state == (void *)(intptr_t)0) netif_set_default(n);
  }
  /* Time runs on, output goes nowhere, until no timer is left. */
  for (int iter = 0; iter < 100000; iter++) {
    int32_t next = lw_timers_next();
    if (next < 0) break;
    fuzz_now += (uint32_t)(next ? next : 1);
    X(lw_timers_run());
    fuzz_out_clear();
    if (fuzz_nlive) fuzz_fail("teardown: an event created handle %#x", fuzz_live[0].handle);
  }
  if (lw_timers_next() >= 0) fuzz_fail("teardown: lwIP timers never stop");
  int left = pcbs_left();
  if (left) fuzz_fail("teardown: %d pcbs left with no handle and no timer", left);
  fuzz_check_stats();
  uint32_t heap = fuzz_heap_used();
  if (heap != baseline_heap)
    fuzz_fail("teardown: lwIP heap %u bytes, %u at the start (a leak)", heap, baseline_heap);
}
