/*
 * test/fuzz/harness.h: what the native fuzzer's four files share.
 *
 * The fuzzer (build/fuzz/lwip-fuzz) links lwIP and the C glue (the .c files of wasm/)
 * natively, with libFuzzer, AddressSanitizer and UBSan. ops.c reads
 * each input as a small program of operations (the format is below; the
 * seed generator test/fuzz/corpus.ts writes the same format) and makes the
 * calls JavaScript can make; packets.c runs the operations that feed the
 * stack packets (crafted ones, and its own output over a loopback wire,
 * with faults); checks.c checks their results, the stack's
 * counts after each one, and that each program leaves nothing behind
 * (set-up and tear-down). imports.c stands in for JavaScript: it
 * implements the js_* imports of wasm/abi.h and checks, on every event, the
 * promises abi.h makes (one termination per handle, no event for a dead
 * handle, data only while active, well-formed outgoing packets).
 *
 * Program format: a sequence of operations, each an opcode byte (taken
 * modulo OP_COUNT) and its arguments. Multi-byte integers are little-endian.
 * Reading past the end gives zeros; the program ends with the input.
 */
#ifndef LWIP_FUZZ_HARNESS_H
#define LWIP_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum fuzz_op {
  /* netif(u8) fix(u8: 1 IP length, 2 IP checksum, 4 TCP/ICMP checksum)
   * len(u16) bytes[len] -> lw_netif_input */
  OP_INPUT = 0,
  /* A TCP segment built from fields (see packets.c, fuzz_op_tcp): valid headers
   * and checksums unless asked otherwise; seq/ack relative to a live pcb. */
  OP_TCP,
  /* ms(u16; >= 0xF000 means (v - 0xF000) << 20): advance the clock, running
   * timers and delivering each interface's output back into it. */
  OP_ADVANCE,
  /* mode(u8) n(u8): deliver queued output with faults (drop, duplicate,
   * reverse, corrupt, other interface). */
  OP_PUMP,
  /* family(u8) addr(u8) port(u16) backlog(u8) flags(u8) */
  OP_LISTEN,
  /* family(u8) addr(u8) port(u16) local(u8) lport(u16) */
  OP_CONNECT,
  /* handle(u8) len(u16) mode(u8) */
  OP_WRITE,
  OP_CLOSE,    /* handle(u8) */
  OP_ABORT,    /* handle(u8) */
  OP_SHUTDOWN, /* handle(u8) */
  OP_ACTIVE,   /* handle(u8) */
  OP_RECV,     /* handle(u8) on(u8) */
  OP_LCLOSE,   /* handle(u8): lw_tcp_listener_close */
  OP_SYN,      /* handle(u8) action(u8) */
  OP_INFO,     /* handle(u8) null(u8) */
  OP_OPTS,     /* handle(u8) which(u8) a(u32) b(u32) c(u32): keepalive / nodelay / buffers */
  /* count(u8) lens... fills... commit netif(u8) delta(u8): batch input */
  OP_RESERVE,
  OP_LIMITS, /* which(u8) value(u32) */
  OP_NETIF,  /* which(u8) ... : add / remove / transparent */
  OP_BUF,    /* which(u8) value(u32): lw_buf_alloc / lw_buf_free */
  OP_STATS,  /* null(u8): lw_stats, lw_timers_next, a second lw_init */
  OP_COUNT
};

/* Fix-up bits of OP_INPUT. */
#define FIX_LEN 1
#define FIX_IP 2
#define FIX_L4 4

/* Interfaces every program starts with (ids 0, 1, 2; 2 is transparent). */
#define BASE_NETIFS 3

/* The fake clock (ms): js_now() returns it. */
extern uint32_t fuzz_now;
/* Nonzero while an export runs; imports must only be called then. */
extern int fuzz_in_export;
/* Set around lw_tcp_connect; the TERMINATED of its own new handle, which
 * may come before the handle is known, is recorded in fuzz_connect_ended. */
extern int fuzz_connecting;
extern int32_t fuzz_connect_ended;
/* Set while a packet from the wire is being taken in (lw_netif_input,
 * lw_input_commit): what lwIP sends then answers that packet. */
extern int fuzz_in_input;
/* Print each operation and event to stderr (LWFUZZ_TRACE=1). */
extern int fuzz_trace;

/* Calls an export with the "inside an export" flag set. */
#define X(call)                        \
  ({                                   \
    fuzz_in_export++;                  \
    __typeof__(call) result_ = (call); \
    fuzz_in_export--;                  \
    result_;                           \
  })
#define XV(call)       \
  do {                 \
    fuzz_in_export++;  \
    call;              \
    fuzz_in_export--;  \
  } while (0)

/* ---- ops.c: the program and its operations ---- */

/* The program being run; each operation reads its arguments from it in
 * order. The readers are here (static inline) because the operations of
 * ops.c and packets.c both decode from the same program. */
struct rd {
  const uint8_t *p;
  size_t n, i;
};

static inline uint8_t u8(struct rd *r) { return r->i < r->n ? r->p[r->i++] : 0; }
static inline uint16_t u16(struct rd *r) {
  uint16_t lo = u8(r);
  return (uint16_t)(lo | (uint16_t)u8(r) << 8);
}
static inline uint32_t u32(struct rd *r) {
  uint32_t lo = u16(r);
  return lo | (uint32_t)u16(r) << 16;
}
/* Copies up to `want` bytes of the program; returns how many there were. */
static inline size_t take(struct rd *r, uint8_t *dst, size_t want) {
  size_t n = r->n - r->i < want ? r->n - r->i : want;
  memcpy(dst, r->p + r->i, n);
  r->i += n;
  return n;
}

/* An address of the family (is6: IPv6) into out[16], zero-padded: sel 0xFF
 * reads raw bytes from the program, anything else picks from ops.c's table
 * of addresses in play (the interfaces' own, their neighbours, broadcast,
 * multicast, unspecified, loopback, off-link). */
void fuzz_pick_addr(struct rd *r, int is6, uint8_t sel, uint8_t *out);

/* Which interface ids are in use: 1 = a base interface as set up, 2 =
 * added by the program (teardown removes those and restores the base). */
extern int fuzz_netif_used[16];
/* Adds base interface i (0..BASE_NETIFS-1); returns the id lwIP gave it. */
int32_t fuzz_add_base(int i);
/* Buffers the program got from lw_buf_alloc (teardown frees them). */
#define NBUFS 8
extern void *fuzz_bufs[NBUFS];

/* ---- packets.c: packets on the wire ---- */

/* Before each program: the input budget, IPv4 ids and IPv6 fragment ids
 * start afresh, so a program replays the same packets. */
void fuzz_packets_reset(void);
/* OP_INPUT, OP_TCP, OP_ADVANCE and OP_PUMP (arguments in enum fuzz_op). */
void fuzz_op_input(struct rd *r);
void fuzz_op_tcp(struct rd *r);
void fuzz_op_advance(struct rd *r);
void fuzz_op_pump(struct rd *r);

/* ---- checks.c: checks around the operations, set-up and tear-down ---- */

/* Whether h is a live handle of that kind (then a call must not answer stale). */
int fuzz_expect_live(int32_t h, uint8_t kind);
/* Checks a call's result on h against fuzz_expect_live's answer. */
void fuzz_check_handle_result(const char *what, int32_t h, int32_t rc, int live);
uint32_t fuzz_heap_used(void);
/* After every operation: lw_stats agrees with the events. */
void fuzz_check_stats(void);
/* After every operation: learns the addresses of new held SYNs. */
void fuzz_learn_held(void);
/* After every program: back to the start, and nothing leaked. */
void fuzz_teardown(void);

/* ---- imports.c: the stand-in for JavaScript ---- */

/* Handles the fuzzer has seen (live or not), for picking stale ones. */
#define POOL_SIZE 64
extern int32_t fuzz_pool[POOL_SIZE];
extern int fuzz_npool;

enum live_kind { LIVE_LISTENER = 1, LIVE_CONNECTION = 2 };
struct live {
  int32_t handle;
  uint8_t kind;
  uint8_t held;     /* a held SYN not yet accepted */
  uint8_t answered; /* ... but lw_tcp_syn_answer sent its SYN-ACK or RST */
  uint8_t active;   /* LW_EV_ACTIVE seen */
  uint8_t fin;      /* LW_EV_FIN seen */
  /* A held SYN's addresses (lw_tcp_info, between calls): nothing may leave
   * from them until it is answered. */
  uint8_t known;
  uint8_t local[16], remote[16];
  uint16_t lport, rport;
};
#define MAX_LIVE 4096
extern struct live fuzz_live[MAX_LIVE];
extern int fuzz_nlive;

void fuzz_remember(int32_t handle);
void fuzz_forget_all(void);
void fuzz_add_live(int32_t handle, uint8_t kind, uint8_t held);
struct live *fuzz_find_live(int32_t handle);
/* Reports a broken promise of the ABI and aborts (libFuzzer keeps the input). */
void fuzz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Outgoing packets queued by js_output, delivered by OP_ADVANCE / OP_PUMP. */
struct outpkt {
  int32_t netif;
  uint32_t len;
  uint8_t *data;
};
#define MAX_OUT 512
extern struct outpkt fuzz_out[MAX_OUT];
extern int fuzz_nout;
void fuzz_out_clear(void);

/* The pbufs lw_input_reserve allocates, seen through pbuf_alloc (the
 * ABI's 32-bit payload addresses are truncated natively). */
extern int fuzz_recording;
extern void *fuzz_recorded[];
extern int fuzz_nrecorded;
#define MAX_RECORDED 4096

/* The Internet checksum (one's-complement sum, big-endian words). */
uint32_t fuzz_sum(const uint8_t *p, size_t len, uint32_t sum);
uint16_t fuzz_fold(uint32_t sum);
/* Fixes length fields and checksums of an IPv4/IPv6 packet (FIX_* bits). */
void fuzz_fix_packet(uint8_t *p, size_t len, int what);
/* Checks an outgoing packet: well-formed IP, correct checksums. */
void fuzz_check_output(int32_t netif, const uint8_t *p, uint32_t len);

#endif /* LWIP_FUZZ_HARNESS_H */
