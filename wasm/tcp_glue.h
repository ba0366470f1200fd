/*
 * wasm/tcp_glue.h: what the TCP glue files share (private; the ABI is
 * wasm/abi.h). The connection model is split by concern, as gVisor splits
 * its TCP:
 *
 *   tcp.c       handles and pcbs, termination, the deferred end-of-close
 *               checks, lwIP's hooks (window sizes, ISN, transparent listener)
 *   tcp_open.c  listen, accept (and held SYNs), connect, markActive, close, abort
 *   tcp_recv.c  the receive path: delivery, holding, refusing, resuming
 *   tcp_send.c  the send path: write, the writable edge, shutdown, options
 *   tcp_info.c  per-connection info, retransmission counts, stack statistics
 *
 * All run on lwIP's single thread of control; the re-entrancy rules are
 * those of tcp.c's header.
 */
#ifndef LWIP_WASM_TCP_GLUE_H
#define LWIP_WASM_TCP_GLUE_H

#include "glue.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

/* The ext-arg data of a pcb: 0 = not ours, -1 = counted but no handle yet
 * (SYN_RCVD), otherwise the handle. */
#define NO_HANDLE ((void *)(intptr_t)-1)

/* Memory-limit headroom a new incoming connection needs: its pcb, the
 * SYN-ACK and a segment or two. Admitting one with less only makes it
 * starve with the rest; it is refused with RST instead. */
#define NEW_CONNECTION_RESERVE 4096u

/* ---- state (tcp.c) ---- */
extern u8_t lwt_ext_id;
extern uint32_t lwt_max_connections;
extern uint32_t lwt_cfg_wnd, lwt_cfg_sndbuf;  /* defaults for new connections */
extern uint32_t lwt_conn_pcbs;                /* pcbs we count against max_connections */
extern uint32_t lwt_refused_limit;            /* connections refused by the limit */
extern uint32_t lwt_refused_memory;           /* incoming connections refused for want of memory */
extern struct tcp_pcb_listen *lwt_transparent_lpcb; /* LW_LISTEN_TRANSPARENT */
extern const struct tcp_ext_arg_callbacks lwt_ext_callbacks; /* tcp_open.c */

/* ---- handles and termination (tcp.c) ---- */
/* The entry of a pcb of ours that has a handle, or NULL. */
struct lw_entry *lwt_entry_of(const struct tcp_pcb *pcb);
/* The live connection entry of a handle, or NULL (stale, listener, no pcb). */
struct lw_entry *lwt_conn(int32_t handle);
/* Registers the callbacks of a connection handle on its pcb. */
void lwt_attach(struct tcp_pcb *pcb, int32_t h);
/* Unregisters them: lwIP will not call us about this pcb again. */
void lwt_detach(struct lw_entry *e);
/* Emits LW_EV_TERMINATED and releases the handle (exactly once). */
void lwt_terminate(struct lw_entry *e, enum lw_reason reason, enum lw_cause cause);
/* Delivers a FIN held back while delivery was off, before an orderly end. */
void lwt_owe_fin(struct lw_entry *e);
/* Watches a closing connection for the end of its exchange (checked at leave). */
void lwt_watch_end(struct lw_entry *e);
/* Queues a watched connection for that check (something happened to it). */
void lwt_recheck(struct lw_entry *e);
void lwt_on_err(void *arg, err_t err);
void lwt_on_destroy(u8_t id, void *data);

/* ---- receive path (tcp_recv.c) ---- */
int lwt_deliverable(const struct lw_entry *e);
err_t lwt_on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err);
/* Keeps data that arrived before markActive, uncredited (0: no memory). */
int lwt_hold(struct lw_entry *e, struct pbuf *p);
void lwt_free_held(struct lw_entry *e);
/* Redelivers held and refused data and a held FIN once delivery is allowed. */
void lwt_resume(struct lw_entry *e);

/* ---- send path (tcp_send.c) ---- */
err_t lwt_on_sent(void *arg, struct tcp_pcb *pcb, u16_t len);
/* Retries a close that was short of memory, and watches for the writable edge. */
err_t lwt_on_poll(void *arg, struct tcp_pcb *pcb);
/* Emits LW_EV_WRITABLE on the blocked -> writable edge. */
void lwt_check_writable(struct lw_entry *e);

#endif /* LWIP_WASM_TCP_GLUE_H */
