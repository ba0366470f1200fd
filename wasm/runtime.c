/*
 * wasm/runtime.c: lwIP's platform inside the WASM instance. Time comes from
 * JavaScript (js_now), randomness from a seeded generator, memory from the C
 * heap through an accounting allocator that enforces the stack's memory
 * limit. Every export that runs lwIP code brackets it with lw_enter() /
 * lw_leave(); lw_leave() finishes deferred work so that each export's events
 * are complete when it returns.
 */
#include <malloc.h>
#include <string.h>

#include "glue.h"
#include "lwip/init.h"
#include "lwip/stats.h"
#include "lwip/sys.h"
#include "lwip/timeouts.h"

static uint64_t rng_state;
static uint32_t mem_limit;
static uint32_t mem_used;
static uint32_t mem_peak;
static uint32_t mem_refused;
static int depth;
static int timers_running;
static int initialised;

/* ---- time ---- */

u32_t sys_now(void) { return js_now(); }

/* ---- randomness: splitmix64, seeded by lw_init ---- */

u32_t lw_rand_u32(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (u32_t)((z ^ (z >> 31)) >> 32);
}

/* ---- memory: a size header in front of every lwIP block ---- */

#define HDR 8u

/* lwIP asserts, and the instance traps, when it cannot allocate a timer
 * record (sys_timeout_abs in timeouts.c). A memory limit must make lwIP
 * refuse work, not fail the stack, so allocations of that size (a few bytes)
 * are never refused by the limit; they are counted all the same. Found by
 * the fuzzer (test/fuzz). */
#define TIMER_BYTES LWIP_MEM_ALIGN_SIZE(sizeof(struct sys_timeo))

/* An emergency reserve for when WASM memory cannot grow (its maximum, or a
 * host that refuses): lwIP's first allocation that fails gives it back and
 * is retried, and while the stack runs on it (lw_mem_on_reserve) every new
 * connection is refused: an incoming SYN gets an RST, as at the memory
 * limit, instead of being dropped for want of a buffer to copy it into, and
 * connect() ends with ENOMEM. Established connections use what is left. It
 * is taken again as soon as 16 KiB can be had. */
#define RESERVE_BYTES (16u * 1024u)
static void *reserve;
static int on_reserve;

static void reserve_take(void) {
  if (!reserve) reserve = malloc(RESERVE_BYTES);
  if (reserve) on_reserve = 0;
}

int lw_mem_on_reserve(void) { return on_reserve; }

void *lw_mem_malloc(size_t size) {
  if (size > 0x7FFFFFF0u) return NULL;
  uint32_t total = (uint32_t)size + HDR;
  if (mem_limit && mem_used + total > mem_limit && size != TIMER_BYTES) {
    mem_refused++;
    return NULL;
  }
  uint8_t *p = malloc(total);
  if (!p && reserve) {
    mem_refused++; /* refused by the host; served from the reserve */
    free(reserve);
    reserve = NULL;
    on_reserve = 1;
    p = malloc(total);
  }
  if (!p) {
    mem_refused++;
    return NULL;
  }
  memcpy(p, &total, sizeof total);
  mem_used += total;
  if (mem_used > mem_peak) mem_peak = mem_used;
  return p + HDR;
}

void *lw_mem_calloc(size_t count, size_t size) {
  if (size && count > 0x7FFFFFF0u / size) return NULL;
  void *p = lw_mem_malloc(count * size);
  if (p) memset(p, 0, count * size);
  return p;
}

uint32_t lw_mem_headroom(void) {
  if (on_reserve) return 0;
  if (!mem_limit) return UINT32_MAX;
  return mem_used < mem_limit ? mem_limit - mem_used : 0;
}

void lw_mem_free(void *ptr) {
  if (!ptr) return;
  uint8_t *p = (uint8_t *)ptr - HDR;
  uint32_t total;
  memcpy(&total, p, sizeof total);
  mem_used -= total;
  free(p);
  if (on_reserve) reserve_take();
}

/* ---- argument checks ---- */

#ifdef __wasm__
extern unsigned char __heap_base;
#endif

int lw_range_ok(const void *ptr, uint32_t len) {
  uintptr_t p = (uintptr_t)ptr;
  if (!p) return 0;
#ifdef __wasm__
  uintptr_t end = p + len;
  if (end < p) return 0;
  if (p < (uintptr_t)&__heap_base) return 0;
  if (end > (uintptr_t)__builtin_wasm_memory_size(0) * 65536u) return 0;
#else
  (void)len;
#endif
  return 1;
}

/* ---- failure ---- */

void lw_platform_assert(const char *message, const char *file, int line) {
  js_fatal(message, file, line);
  __builtin_trap();
}

/* ---- export bracketing ---- */

void lw_enter(void) { depth++; }

void lw_leave(void) {
  if (--depth == 0) lw_tcp_finish_pending();
}

int lw_in_timers(void) { return timers_running; }

/* ---- exports ---- */

LW_EXPORT int32_t lw_init(uint32_t seed_lo, uint32_t seed_hi, uint32_t limit) {
  if (initialised) return LW_ERR_STATE;
  initialised = 1;
  rng_state = ((uint64_t)seed_hi << 32) | seed_lo;
  mem_limit = limit;
  reserve_take();
  lw_enter();
  lwip_init();
  lw_tcp_init();
  lw_leave();
  return 0;
}

static int32_t sleeptime(void) {
  u32_t t = sys_timeouts_sleeptime();
  return t == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? -1 : (int32_t)(t > 0x7FFFFFFF ? 0x7FFFFFFF : t);
}

LW_EXPORT int32_t lw_timers_run(void) {
  lw_enter();
  timers_running = 1;
  sys_check_timeouts();
  timers_running = 0;
  lw_leave();
  return sleeptime();
}

LW_EXPORT int32_t lw_timers_next(void) { return sleeptime(); }

LW_EXPORT void lw_set_mem_limit(uint32_t limit) { mem_limit = limit; }

/* Buffers handed to JavaScript, so lw_buf_free never frees anything else. */
#define MAX_BUFS 64
static void *bufs[MAX_BUFS];

LW_EXPORT void *lw_buf_alloc(uint32_t size) {
  for (int i = 0; i < MAX_BUFS; i++) {
    if (bufs[i]) continue;
    bufs[i] = malloc(size ? size : 1);
    return bufs[i];
  }
  return NULL;
}

LW_EXPORT int32_t lw_buf_free(void *ptr) {
  if (!ptr) return 0;
  for (int i = 0; i < MAX_BUFS; i++) {
    if (bufs[i] == ptr) {
      free(ptr);
      bufs[i] = NULL;
      return 0;
    }
  }
  return LW_ERR_BADARG;
}

/* Test hook: makes the instance fail as an lwIP assertion would, so the
 * failure path (fatal event, every connection Destroyed) can be tested. */
LW_EXPORT void lw_debug_fail(void) { lw_platform_assert("lw_debug_fail called", __FILE__, __LINE__); }

LW_EXPORT int32_t lw_stats(uint32_t *out) {
  if (!lw_range_ok(out, LW_STATS_WORDS * sizeof *out)) return LW_ERR_BADARG;
  memset(out, 0, LW_STATS_WORDS * sizeof *out);
  out[LW_STAT_HEAP_BYTES] = mem_used;
  out[LW_STAT_HEAP_PEAK] = mem_peak;
  out[LW_STAT_HEAP_REFUSED] = mem_refused;
  out[LW_STAT_HANDLES] = lw_handle_count(LW_KIND_LISTENER) + lw_handle_count(LW_KIND_CONNECTION);
  out[LW_STAT_CONNECTIONS] = lw_handle_count(LW_KIND_CONNECTION);
  out[LW_STAT_TCP_DROPPED] = (uint32_t)lwip_stats.tcp.drop;
  out[LW_STAT_TCP_CHKERR] = (uint32_t)lwip_stats.tcp.chkerr;
  struct mallinfo mi = mallinfo();
  out[LW_STAT_SYS_HEAP] = (uint32_t)mi.uordblks;
  lw_tcp_stats(out);
  lw_netif_count_stats(out);
  return 0;
}
