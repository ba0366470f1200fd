/*
 * wasm/abi.h: the one contract between lwIP-in-WebAssembly and TypeScript.
 *
 * Every function the WASM module exports to JavaScript and every function it
 * imports from JavaScript is declared here, and nowhere else. The TypeScript
 * side of this contract is src/wasm/abi.ts; keep the two in step.
 *
 * Conventions
 * - Handles, never pointers. Connections and listeners are named by a 32-bit
 *   handle: bits 0..19 are a slot index + 1, bits 20..30 a generation. A
 *   handle goes stale when its object terminates; every call checks the
 *   generation and a stale handle gets LW_ERR_STALE, never a memory access.
 * - Results are int32: >= 0 success (a count or a handle), < 0 an lw_err
 *   (LW_ERR_* below, the negated lwIP err_t for lwIP's own codes).
 * - Memory: JavaScript owns the buffers it obtains from lw_buf_alloc and
 *   gives them back with lw_buf_free. Every pointer passed in is checked to
 *   lie inside the heap together with its length (lw_range_ok); a bad one
 *   gets LW_ERR_BADARG and changes nothing. Pointers passed out to imports are valid only
 *   during that import call: JavaScript copies what it keeps.
 * - Re-entrancy: imports (js_*) are called from inside exports. An import
 *   must not call any export; JavaScript queues what it learns and acts
 *   after the export returns. Every export that runs lwIP code ends by
 *   flushing deferred terminations (see "Termination" below), so all events
 *   for one export call arrive before it returns, in order.
 */
#ifndef LWIP_WASM_ABI_H
#define LWIP_WASM_ABI_H

#include <stdint.h>

#define LW_EXPORT __attribute__((used, visibility("default")))
#ifdef __EMSCRIPTEN__
#define LW_IMPORT(name) __attribute__((import_module("env"), import_name(name)))
#else
#define LW_IMPORT(name)
#endif

/* ---- error codes ---- */
/* lwIP's err_t values are returned as they are (ERR_MEM = -1 ... ERR_ARG =
 * -16). Ours start below them. */
#define LW_ERR_STALE (-100)    /* handle unknown or already terminated */
#define LW_ERR_STATE (-101)    /* call not valid in the object's state */
#define LW_ERR_LIMIT (-102)    /* a configured limit (connections, memory) */
#define LW_ERR_BADARG (-103)   /* length, pointer, family or value out of range */

/* ---- events delivered through js_event(kind, handle, a, b) ---- */
enum lw_event {
  LW_EV_ACCEPT = 1,     /* handle = listener, a = new connection handle */
  LW_EV_ACTIVE = 2,     /* handle = connection: handshake done (outgoing) or
                           markActive (accepted); data may follow */
  LW_EV_FIN = 3,        /* peer sent FIN and every byte before it was delivered */
  LW_EV_WRITABLE = 4,   /* not-writable -> writable edge */
  LW_EV_TERMINATED = 5, /* a = lw_reason, b = lw_cause; the handle is stale after */
  LW_EV_SYN = 6,        /* handle = listener, a = held connection handle (LW_LISTEN_HOLD_SYN) */
};

/* Why a connection ended; mirrors TerminationReason in TypeScript. */
enum lw_reason {
  LW_REASON_CLOSE = 1,     /* orderly close finished */
  LW_REASON_RESET = 2,     /* peer sent RST */
  LW_REASON_ABORT = 3,     /* local abort (lw_tcp_abort) */
  LW_REASON_DESTROYED = 4, /* lwIP freed the pcb itself (timeouts, memory, stack closed) */
};

/* Finer detail for errno mapping in TypeScript. */
enum lw_cause {
  LW_CAUSE_NONE = 0,
  LW_CAUSE_REFUSED = 1,  /* RST answered our SYN: ECONNREFUSED */
  LW_CAUSE_RESET = 2,    /* RST on an established connection: ECONNRESET */
  LW_CAUSE_TIMEOUT = 3,  /* retransmissions, keepalive or a close timer ran out: ETIMEDOUT */
  LW_CAUSE_ABORTED = 4,  /* lwIP aborted it (data after close, memory): ECONNABORTED */
  LW_CAUSE_NOROUTE = 5,  /* no interface routes to the peer: ENETUNREACH */
  LW_CAUSE_CLOSED = 6,   /* orderly close */
  LW_CAUSE_LOCAL = 7,    /* our own abort */
  LW_CAUSE_ADDRINUSE = 8, /* local address/port taken: EADDRINUSE */
  LW_CAUSE_NOMEM = 9,    /* out of memory before the SYN left: ENOMEM */
  LW_CAUSE_LIMIT = 10,   /* the connection limit: ECONNREFUSED (locally) */
  LW_CAUSE_ADDRNOTAVAIL = 11, /* no free ephemeral port: EADDRNOTAVAIL */
};

/* ---- imports: implemented in src/wasm/abi.ts ---- */

/* Milliseconds of the stack's clock (real or virtual); lwIP's sys_now(). */
LW_IMPORT("js_now") uint32_t js_now(void);
/* One outgoing IP packet on interface `netif`. [ptr, ptr+len) is valid only
 * during the call: JavaScript copies it. */
LW_IMPORT("js_output") void js_output(int32_t netif, const void *ptr, int32_t len);
/* A connection/listener event, see enum lw_event. */
LW_IMPORT("js_event") void js_event(int32_t kind, int32_t handle, int32_t a, int32_t b);
/* Bytes received on a connection, already credited to the window. The
 * range is valid only during the call: JavaScript copies it. */
LW_IMPORT("js_recv") void js_recv(int32_t handle, const void *ptr, int32_t len);
/* lwIP asserted: its state can no longer be trusted. The module traps right
 * after this returns; JavaScript marks the stack failed. */
LW_IMPORT("js_fatal") void js_fatal(const char *message, const char *file, int32_t line);

/* ---- exports: runtime (wasm/runtime.c) ---- */

/* Initialises lwIP once per instance. `seed_lo/hi` seed the random source;
 * `mem_limit` caps lwIP's heap bytes (0 = no cap). Returns 0. */
LW_EXPORT int32_t lw_init(uint32_t seed_lo, uint32_t seed_hi, uint32_t mem_limit);
/* Runs due lwIP timers. Returns milliseconds until the next deadline, or
 * -1 when no timer is pending. */
LW_EXPORT int32_t lw_timers_run(void);
/* Milliseconds until the next lwIP deadline without running anything; -1
 * when none is pending. */
LW_EXPORT int32_t lw_timers_next(void);
/* Buffers for JavaScript to fill (packets, write data) or to read (stats). */
LW_EXPORT void *lw_buf_alloc(uint32_t size);
/* Frees a buffer from lw_buf_alloc; anything else is refused (LW_ERR_BADARG). */
LW_EXPORT int32_t lw_buf_free(void *ptr);
/* Test hook: fails the instance as an lwIP assertion would (js_fatal, then a
 * trap), so the failure path can be exercised. */
LW_EXPORT void lw_debug_fail(void);
/* Fills `out` (LW_STATS_WORDS uint32 words, see enum lw_stat) with figures. */
LW_EXPORT int32_t lw_stats(uint32_t *out);
enum lw_stat {
  LW_STAT_HEAP_BYTES = 0,     /* bytes lwIP holds through mem_malloc */
  LW_STAT_HEAP_PEAK,          /* highest LW_STAT_HEAP_BYTES seen */
  LW_STAT_HEAP_REFUSED,       /* allocations refused by the memory limit */
  LW_STAT_HANDLES,            /* live handles (connections + listeners) */
  LW_STAT_CONNECTIONS,        /* live connection handles */
  LW_STAT_PCB_ACTIVE,         /* pcbs on lwIP's active list */
  LW_STAT_PCB_LISTEN,         /* pcbs on the listen list */
  LW_STAT_PCB_TIME_WAIT,      /* pcbs in TIME_WAIT */
  LW_STAT_PCB_SYN_RCVD,       /* active pcbs in SYN_RCVD */
  LW_STAT_PCB_ESTABLISHED,    /* active pcbs in ESTABLISHED */
  LW_STAT_PCB_CLOSING,        /* active pcbs in FIN_WAIT_1/2, CLOSING, CLOSE_WAIT, LAST_ACK */
  LW_STAT_PCB_SYN_SENT,       /* active pcbs in SYN_SENT */
  LW_STAT_IN_PACKETS,         /* packets given to lw_netif_input* */
  LW_STAT_IN_DROPPED,         /* of those, rejected before lwIP (length) */
  LW_STAT_OUT_PACKETS,        /* packets handed to js_output */
  LW_STAT_REFUSED_LIMIT,      /* connections refused by the connection limit */
  LW_STAT_SYS_HEAP,           /* bytes in use in the whole C heap (mallinfo) */
  LW_STAT_TCP_REXMIT,         /* TCP segments sent again (any connection of ours) */
  LW_STAT_TCP_DROPPED,        /* TCP segments dropped (checksum, no pcb, refused...) */
  LW_STAT_TCP_CHKERR,         /* TCP segments with a bad checksum */
  LW_STAT_REFUSED_MEMORY,     /* incoming connections refused (RST) for want of memory */
  LW_STATS_WORDS
};
/* Memory limit for lwIP's heap in bytes (0 = none); applies from now on. */
LW_EXPORT void lw_set_mem_limit(uint32_t limit);
/* Connection limit (0 = none). Beyond it new connections get an RST. */
LW_EXPORT void lw_set_max_connections(uint32_t max);
/* Receive window and send buffer for connections created from now on,
 * clamped to lwIP's compile-time maxima. */
LW_EXPORT void lw_set_tcp_buffers(uint32_t wnd, uint32_t sndbuf);

/* ---- exports: interfaces (wasm/netif.c) ---- */

/* Adds an interface. `ip4` is the IPv4 address in network byte order (0 =
 * none) with `prefix4` bits; `ip6` points at 16 bytes (NULL = none) with
 * `prefix6`. MTU 576..65535. Returns the interface id (>= 0). */
LW_EXPORT int32_t lw_netif_add(uint32_t ip4, int32_t prefix4, const uint8_t *ip6,
                               int32_t prefix6, int32_t mtu);
LW_EXPORT int32_t lw_netif_remove(int32_t netif);
/* Marks an interface transparent: TCP to any unicast address is taken as
 * local (see LW_LISTEN_TRANSPARENT). */
LW_EXPORT int32_t lw_netif_set_transparent(int32_t netif, int32_t on);
/* One raw IPv4/IPv6 packet; copied before this returns. 0 or an error. */
LW_EXPORT int32_t lw_netif_input(int32_t netif, const uint8_t *ptr, int32_t len);
/* Batch input without an extra copy, in two steps. lw_input_reserve
 * allocates one pbuf per packet (lengths: `count` uint32 at `lens`) and
 * writes each payload address to `ptrs` (0 where the length is out of
 * 1..65535 or memory ran out); JavaScript then copies the packets straight
 * into place (memory may have grown: refresh views) and lw_input_commit
 * hands them to interface `netif` in order. A new reservation gives back an
 * uncommitted one. Returns count, or an error (the pbufs are freed). */
LW_EXPORT int32_t lw_input_reserve(const uint32_t *lens, uint32_t *ptrs, int32_t count);
LW_EXPORT int32_t lw_input_commit(int32_t netif, int32_t count);

/* ---- exports: TCP (wasm/tcp.c) ---- */

/* Address arguments: `family` 4 or 6, `addr` points at 4 or 16 bytes
 * (network order) or is NULL for "any". Ports are in host order. */

/* Listens (family 0 and addr NULL: IPv4 and IPv6 at once). Returns the
 * listener handle or an error (ERR_USE: port in use). Port 0 picks one;
 * lw_tcp_info tells which. Flags:
 * - LW_LISTEN_TRANSPARENT: also take SYNs to any address and port arriving
 *   on transparent interfaces that no other listener matches (one such
 *   listener per stack; LW_ERR_STATE if there is one already);
 * - LW_LISTEN_HOLD_SYN: answer no SYN at once; report it as LW_EV_SYN and
 *   wait for lw_tcp_syn_answer. Held SYNs count in the backlog; lwIP drops
 *   one that waits longer than its SYN_RCVD timeout (LW_EV_TERMINATED). */
#define LW_LISTEN_TRANSPARENT 1
#define LW_LISTEN_HOLD_SYN 2
LW_EXPORT int32_t lw_tcp_listen(int32_t family, const uint8_t *addr, int32_t port,
                                int32_t backlog, int32_t flags);
/* Answers a held SYN: LW_SYN_ACCEPT sends the SYN-ACK (LW_EV_ACCEPT follows
 * when the handshake completes, with the same handle); LW_SYN_REFUSE answers
 * with RST (the peer sees "connection refused"); LW_SYN_DROP answers nothing.
 * After refuse/drop, LW_EV_TERMINATED follows. */
#define LW_SYN_ACCEPT 1
#define LW_SYN_REFUSE 2
#define LW_SYN_DROP 3
LW_EXPORT int32_t lw_tcp_syn_answer(int32_t handle, int32_t action);
/* Connects; returns the connection handle at once. The outcome arrives as
 * LW_EV_ACTIVE or LW_EV_TERMINATED (also for failures found at once: no
 * route, address in use, limits). A local address/port binds first. Only
 * bad arguments and a full handle table return < 0. */
LW_EXPORT int32_t lw_tcp_connect(int32_t family, const uint8_t *addr, int32_t port,
                                 const uint8_t *local_addr, int32_t local_port);
/* Closes a listener. No event follows; connections it accepted live on. */
LW_EXPORT int32_t lw_tcp_listener_close(int32_t handle);
/* Accept != established: releases the backlog slot and starts delivery.
 * Returns 0, or LW_ERR_STATE if already active. */
LW_EXPORT int32_t lw_tcp_mark_active(int32_t handle);
/* enabled = 1 allows delivery. 0 refuses it: the recv callback answers
 * ERR_MEM, lwIP keeps the data as refused data and drops later segments
 * (the sender is left without acknowledgements). 2 pauses by holding what
 * arrives uncredited: the window closes and the sender probes it, nothing
 * is dropped. Enabling redelivers at once and tells the sender. */
LW_EXPORT int32_t lw_tcp_set_recv_enabled(int32_t handle, int32_t enabled);
/* Copies up to `len` bytes into the send queue and pushes them. Returns the
 * number of bytes taken (possibly 0; then LW_EV_WRITABLE follows later). */
LW_EXPORT int32_t lw_tcp_write(int32_t handle, const uint8_t *ptr, int32_t len);
/* Sends FIN; reading goes on. */
LW_EXPORT int32_t lw_tcp_shutdown_write(int32_t handle);
/* Orderly close; retried from the poll timer when lwIP is out of memory. */
LW_EXPORT int32_t lw_tcp_close(int32_t handle);
/* Sends RST and frees the connection; LW_EV_TERMINATED (abort) follows. */
LW_EXPORT int32_t lw_tcp_abort(int32_t handle);
/* This connection's receive window maximum and send buffer size in bytes
 * (0 = unchanged), clamped like lw_set_tcp_buffers. A larger window is
 * announced at once; a smaller one takes back only credit not yet announced. */
LW_EXPORT int32_t lw_tcp_set_buffers(int32_t handle, uint32_t wnd, uint32_t sndbuf);
/* Sets TCP_NODELAY (1) or Nagle (0). */
LW_EXPORT int32_t lw_tcp_set_nodelay(int32_t handle, int32_t on);
/* Keepalive: idle/interval in ms, count probes; on = 0 turns it off. */
LW_EXPORT int32_t lw_tcp_set_keepalive(int32_t handle, int32_t on, uint32_t idle_ms,
                                       uint32_t interval_ms, uint32_t count);
/* Fills `out` (LW_INFO_WORDS uint32 words, enum lw_info) about a handle. */
LW_EXPORT int32_t lw_tcp_info(int32_t handle, uint32_t *out);
enum lw_info {
  LW_INFO_STATE = 0,    /* lwIP enum tcp_state */
  LW_INFO_FAMILY,       /* 4 or 6 */
  LW_INFO_LOCAL_PORT,
  LW_INFO_REMOTE_PORT,
  LW_INFO_LOCAL_IP,     /* 4 words: the address bytes, network order */
  LW_INFO_REMOTE_IP = LW_INFO_LOCAL_IP + 4,
  LW_INFO_SNDBUF = LW_INFO_REMOTE_IP + 4, /* free send buffer bytes */
  LW_INFO_SNDQUEUELEN,  /* pbufs queued for sending */
  LW_INFO_RCV_WND,      /* current receive window */
  LW_INFO_SND_WND,      /* peer's advertised window */
  LW_INFO_CWND,
  LW_INFO_MSS,
  LW_INFO_NRTX,         /* retransmissions of the current segment */
  LW_INFO_RETRANSMITS,  /* segments this connection sent again, cumulative */
  LW_INFO_UNACKED,      /* bytes sent and not yet acknowledged */
  LW_INFO_FLAGS,        /* bit 0 active, 1 recv enabled, 2 writable, 3 write shut, 4 closing */
  LW_INFO_OPTIONS,      /* bit 0 TCP_NODELAY, 1 SO_KEEPALIVE */
  LW_INFO_KEEP_IDLE,    /* keepalive idle time, ms */
  LW_INFO_KEEP_INTVL,   /* keepalive probe interval, ms */
  LW_INFO_KEEP_CNT,     /* keepalive probes before giving up */
  LW_INFO_WND_MAX,      /* this connection's receive window size (lw_tcp_set_buffers) */
  LW_INFO_SNDBUF_MAX,   /* this connection's send buffer size (lw_tcp_set_buffers) */
  LW_INFO_WORDS
};

#endif /* LWIP_WASM_ABI_H */
