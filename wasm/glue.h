/*
 * wasm/glue.h: what the glue files share among themselves (not part of the
 * ABI; that is abi.h). The handle table maps JavaScript's integer handles to
 * lwIP pcbs; the "leave" step runs at the end of every export that ran lwIP.
 */
#ifndef LWIP_WASM_GLUE_H
#define LWIP_WASM_GLUE_H

#include <stdint.h>

#include "abi.h"
#include "arch/hooks.h"
#include "lwip/tcp.h"

enum lw_kind { LW_KIND_FREE = 0, LW_KIND_LISTENER = 1, LW_KIND_CONNECTION = 2 };

enum lw_flag {
  LW_F_ACTIVE = 1 << 0,        /* markActive done (accepted) or connected (outgoing) */
  LW_F_RECV_ENABLED = 1 << 1,  /* the application accepts data */
  LW_F_WRITABLE = 1 << 2,      /* last write was not cut short */
  LW_F_WRITE_SHUT = 1 << 3,    /* FIN queued */
  LW_F_CLOSING = 1 << 4,       /* tcp_close succeeded; waiting for the end */
  LW_F_CLOSE_PENDING = 1 << 5, /* tcp_close hit ERR_MEM; poll retries */
  LW_F_CONNECTING = 1 << 6,    /* outgoing, SYN sent, not yet connected */
  LW_F_FIN_PENDING = 1 << 7,   /* peer FIN seen while delivery was held */
  LW_F_GONE = 1 << 8,          /* lwIP freed the pcb; termination pending */
  LW_F_WATCH_END = 1 << 9,     /* check at leave() whether the close finished */
  LW_F_SYN_HELD = 1 << 10,     /* passive open waiting for lw_tcp_syn_answer */
  LW_F_HOLD_SYNS = 1 << 11,    /* listener: hold every SYN (transparent proxying) */
  LW_F_SENT_ANY = 1 << 12,     /* snd_max is valid */
  LW_F_HOLD_PAUSE = 1 << 13,   /* paused by closing the window (hold) rather than refusing */
  LW_F_DUE = 1 << 14,          /* watched and queued for a check at leave() */
  LW_F_ACCEPTED = 1 << 15,     /* LW_EV_ACCEPT was emitted (markActive allowed once) */
};

struct lw_entry {
  struct tcp_pcb *pcb; /* NULL once lwIP freed it or we detached */
  uint32_t flags;
  uint16_t gen;
  uint8_t kind;
  uint8_t family;
  uint8_t cause;        /* lw_cause recorded when lwIP freed the pcb */
  uint32_t wnd;         /* receive window maximum */
  uint32_t sndbuf;      /* send buffer size */
  uint32_t retransmits;  /* segments sent again (seen at output) */
  uint32_t snd_max;      /* highest sequence number sent + 1 */
  int32_t next_free;
  /* Data that arrived before markActive, held uncredited (the window closes
   * as it fills, so the peer is flow-controlled rather than dropped). */
  struct pbuf **held;
  uint16_t nheld, capheld;
};

/* Handle table (wasm/handles.c). */
int32_t lw_handle_new(uint8_t kind, struct tcp_pcb *pcb);
struct lw_entry *lw_handle_get(int32_t handle);
struct lw_entry *lw_handle_at(uint32_t slot);
uint32_t lw_handle_slots(void);
int32_t lw_handle_of(const struct lw_entry *e);
void lw_handle_release(int32_t handle);
uint32_t lw_handle_count(uint8_t kind);

/* Runtime (wasm/runtime.c). */
/* True when [ptr, ptr+len) lies inside the heap: every pointer an export
 * receives is checked with it (NULL is never in range). */
int lw_range_ok(const void *ptr, uint32_t len);
void lw_enter(void);
void lw_leave(void);
int lw_in_timers(void);
/* Bytes the memory limit still allows (UINT32_MAX without a limit). */
uint32_t lw_mem_headroom(void);
/* Whether the stack runs on its emergency reserve (WASM memory could not grow). */
int lw_mem_on_reserve(void);

/* TCP (wasm/tcp.c): set-up after lwip_init, and lw_leave's deferred work. */
void lw_tcp_init(void);
void lw_tcp_finish_pending(void);
/* The pcb index saw `pcb` join the TIME_WAIT list: a close may have ended. */
void lw_tcp_entered_time_wait(struct tcp_pcb *pcb);
/* ... and leave it: remembered for the ISS of a connection it reopens. */
void lw_tcp_left_time_wait(const struct tcp_pcb *pcb);
void lw_tcp_stats(uint32_t *out);
/* Called for every outgoing IP packet: counts TCP retransmissions. */
void lw_tcp_note_output(const uint8_t *packet, uint32_t len);

/* Interfaces (wasm/netif.c). */
int lw_netif_is_transparent(const struct netif *netif);
void lw_netif_count_stats(uint32_t *out);

#endif /* LWIP_WASM_GLUE_H */
