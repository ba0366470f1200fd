/*
 * wasm/tcp.c: the TCP connection model on lwIP's raw API (seed 001): handles
 * and pcbs, termination, and lwIP's hooks. The other concerns are in
 * tcp_open.c, tcp_recv.c, tcp_send.c and tcp_info.c (see tcp_glue.h).
 *
 * Every pcb we hand to JavaScript is named by a handle (handles.c). lwIP
 * calls us back from inside tcp_input and the timers; we translate each
 * callback into an event for JavaScript (js_event / js_recv) and never let
 * JavaScript touch a pcb. The rules these files keep:
 *
 * - accept != established: an accepted pcb is put on hold with
 *   tcp_backlog_delayed() and gets no data delivered until lw_tcp_mark_active.
 *   Data that arrives meanwhile is accepted but not credited (held): the
 *   window closes as it fills, so the peer waits instead of losing segments.
 * - Receive credit ("A-route"): delivered data is copied out and credited with
 *   tcp_recved() at once. While delivery is off, the recv callback answers
 *   ERR_MEM, so lwIP keeps the data as refused data and drops further
 *   segments; turning delivery back on redelivers at once.
 * - Alive guard: tcp_err and the ext-arg destroy callback both mean "the pcb
 *   is gone". From then on the entry's pcb is NULL and no lwIP call is made.
 *   lwIP frees some pcbs (tcp_abandon) before calling tcp_err, so a
 *   destroy without an error is only turned into a termination at lw_leave().
 * - Exactly one LW_EV_TERMINATED per connection handle; the handle is stale
 *   right after it.
 */
#include <string.h>

#include "tcp_glue.h"

u8_t lwt_ext_id;
uint32_t lwt_max_connections;
uint32_t lwt_cfg_wnd = 1024 * 1024;
uint32_t lwt_cfg_sndbuf = 1024 * 1024;
uint32_t lwt_conn_pcbs;
uint32_t lwt_refused_limit;
uint32_t lwt_refused_memory;
struct tcp_pcb_listen *lwt_transparent_lpcb;

/* Handles whose pcb lwIP freed without an error callback (yet). */
static int32_t *pending;
static uint32_t npending, cap_pending;
/* Handles whose close/shutdown we watch for the end of the exchange
 * (LW_F_WATCH_END) and that something happened to since the last leave: only
 * these are checked, so a call costs the same with 50,000 connections closing
 * as with none. An entry is queued when it starts being watched, when its pcb
 * enters TIME_WAIT (pcb_index.c) and when data or a FIN is delivered or
 * refused (what it may still owe the application). */
static int32_t *due;
static uint32_t ndue, cap_due;

static int push(int32_t **list, uint32_t *n, uint32_t *cap, int32_t h) {
  if (*n == *cap) {
    uint32_t grown = *cap ? *cap * 2 : 64;
    int32_t *l = realloc(*list, grown * sizeof *l);
    if (!l) return 0;
    *list = l;
    *cap = grown;
  }
  (*list)[(*n)++] = h;
  return 1;
}

/* ---- window sizing hooks (lwipopts.h, patch 0001) ---- */

struct lw_entry *lwt_entry_of(const struct tcp_pcb *pcb) {
  void *data = pcb->ext_args[lwt_ext_id].data;
  if (data == NULL || data == NO_HANDLE) return NULL;
  return lw_handle_get((int32_t)(intptr_t)data);
}

unsigned int lw_tcp_wnd_max(const struct tcp_pcb *pcb) {
  const struct lw_entry *e = lwt_entry_of(pcb);
  uint32_t w = e ? e->wnd : lwt_cfg_wnd;
  return (pcb->flags & TF_WND_SCALE) ? w : (w > 0xFFFF ? 0xFFFF : w);
}

unsigned int lw_tcp_wnd_update_threshold(const struct tcp_pcb *pcb) {
  uint32_t quarter = lw_tcp_wnd_max(pcb) / 4;
  uint32_t four_mss = 4u * pcb->mss;
  uint32_t t = quarter < four_mss ? quarter : four_mss;
  return t ? t : 1;
}

/* The last pcb that left TIME_WAIT. A SYN that reopens a connection from
 * TIME_WAIT (lwIP patch 0010) frees the old pcb just before the listener
 * makes the new one; RFC 1122 4.2.2.13 wants the new ISS above everything
 * the old connection sent, so that none of its segments still in flight
 * fits the new connection's window. */
static struct {
  ip_addr_t local, remote;
  u16_t local_port, remote_port;
  u32_t snd_nxt;
  int valid;
} last_time_wait;

void lw_tcp_left_time_wait(const struct tcp_pcb *pcb) {
  ip_addr_copy(last_time_wait.local, pcb->local_ip);
  ip_addr_copy(last_time_wait.remote, pcb->remote_ip);
  last_time_wait.local_port = pcb->local_port;
  last_time_wait.remote_port = pcb->remote_port;
  last_time_wait.snd_nxt = pcb->snd_nxt;
  last_time_wait.valid = 1;
}

u32_t lw_tcp_isn_hook(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
                      u16_t remote_port) {
  u32_t isn = lw_rand_u32();
  if (last_time_wait.valid && last_time_wait.local_port == local_port &&
      last_time_wait.remote_port == remote_port && ip_addr_cmp(&last_time_wait.local, local_ip) &&
      ip_addr_cmp(&last_time_wait.remote, remote_ip)) {
    last_time_wait.valid = 0;
    return last_time_wait.snd_nxt + 1 + (isn & 0xFFFF);
  }
  return isn;
}

struct tcp_pcb_listen *lw_tcp_transparent_listener(struct netif *inp, const ip_addr_t *dest,
                                                   u16_t port) {
  (void)dest;
  (void)port;
  if (!lwt_transparent_lpcb || !inp || !lw_netif_is_transparent(inp)) return NULL;
  return lwt_transparent_lpcb;
}

/* ---- handles and termination ---- */

struct lw_entry *lwt_conn(int32_t handle) {
  struct lw_entry *e = lw_handle_get(handle);
  if (!e || e->kind != LW_KIND_CONNECTION || !e->pcb) return NULL;
  return e;
}

void lwt_detach(struct lw_entry *e) {
  struct tcp_pcb *pcb = e->pcb;
  if (!pcb) return;
  tcp_arg(pcb, NULL);
  if (pcb->state != LISTEN) {
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
    tcp_poll(pcb, NULL, 0);
    if (pcb->ext_args[lwt_ext_id].data != NULL) {
      tcp_ext_arg_set(pcb, lwt_ext_id, NULL);
      lwt_conn_pcbs--;
    }
  }
  e->pcb = NULL;
}

void lwt_terminate(struct lw_entry *e, enum lw_reason reason, enum lw_cause cause) {
  int32_t h = lw_handle_of(e);
  lwt_free_held(e);
  lwt_detach(e);
  lw_handle_release(h);
  js_event(LW_EV_TERMINATED, h, reason, cause);
}

void lwt_on_err(void *arg, err_t err) {
  struct lw_entry *e = lw_handle_get((int32_t)(intptr_t)arg);
  if (!e) return;
  e->pcb = NULL; /* lwIP has freed it (or is about to): never touch it again */
  if (err == ERR_RST) {
    lwt_terminate(e, LW_REASON_RESET,
              (e->flags & LW_F_CONNECTING) ? LW_CAUSE_REFUSED : LW_CAUSE_RESET);
  } else if (err == ERR_CLSD) {
    lwt_owe_fin(e);
    lwt_terminate(e, LW_REASON_CLOSE, LW_CAUSE_CLOSED);
  } else {
    lwt_terminate(e, LW_REASON_DESTROYED, lw_in_timers() ? LW_CAUSE_TIMEOUT : LW_CAUSE_ABORTED);
  }
}

void lwt_on_destroy(u8_t id, void *data) {
  (void)id;
  if (data == NULL) return;
  lwt_conn_pcbs--;
  if (data == NO_HANDLE) return;
  int32_t h = (int32_t)(intptr_t)data;
  struct lw_entry *e = lw_handle_get(h);
  if (!e || !e->pcb) return;
  e->pcb = NULL;
  e->flags |= LW_F_GONE;
  e->cause = lw_in_timers() ? LW_CAUSE_TIMEOUT : LW_CAUSE_ABORTED;
  if (!push(&pending, &npending, &cap_pending, h)) {
    /* No memory to defer: end it now rather than leave it dangling. */
    lwt_terminate(e, (e->flags & LW_F_CLOSING) ? LW_REASON_CLOSE : LW_REASON_DESTROYED, e->cause);
  }
}

/* An orderly end still owes the application the peer's FIN if it arrived
 * while delivery was held: readEOF always precedes terminated(close)
 * (unless the application closed: then it reads nothing more). */
void lwt_owe_fin(struct lw_entry *e) {
  if (!(e->flags & LW_F_FIN_PENDING)) return;
  e->flags &= ~LW_F_FIN_PENDING;
  if (e->flags & LW_F_CLOSING) return; /* after gracefulClose nothing is delivered */
  js_event(LW_EV_FIN, lw_handle_of(e), 0, 0);
}

void lw_tcp_finish_pending(void) {
  for (uint32_t i = 0; i < npending; i++) {
    struct lw_entry *e = lw_handle_get(pending[i]);
    if (!e || !(e->flags & LW_F_GONE)) continue;
    if (e->flags & (LW_F_CLOSING | LW_F_WRITE_SHUT)) {
      lwt_owe_fin(e);
      lwt_terminate(e, LW_REASON_CLOSE, LW_CAUSE_CLOSED);
    } else {
      lwt_terminate(e, LW_REASON_DESTROYED, e->cause);
    }
  }
  npending = 0;
  /* Terminating does not queue anything, so the queue does not grow here. */
  for (uint32_t i = 0; i < ndue; i++) {
    struct lw_entry *e = lw_handle_get(due[i]);
    if (!e) continue;
    e->flags &= ~LW_F_DUE;
    if (!e->pcb) continue;
    enum tcp_state s = e->pcb->state;
    /* Done once nothing is left for the application: no refused or held
     * data, and a pending FIN only if delivery is allowed (it is sent now). */
    int owed = !(e->flags & LW_F_CLOSING) &&
               (e->pcb->refused_data != NULL || e->nheld != 0 ||
                ((e->flags & LW_F_FIN_PENDING) && !lwt_deliverable(e)));
    if ((s == TIME_WAIT || s == CLOSED) && !owed) {
      lwt_owe_fin(e);
      lwt_terminate(e, LW_REASON_CLOSE, LW_CAUSE_CLOSED);
    }
  }
  ndue = 0;
}

/* Queues a watched entry for a check at leave (once per leave). */
void lwt_recheck(struct lw_entry *e) {
  if ((e->flags & (LW_F_WATCH_END | LW_F_DUE)) != LW_F_WATCH_END) return;
  if (push(&due, &ndue, &cap_due, lw_handle_of(e))) e->flags |= LW_F_DUE;
}

void lwt_watch_end(struct lw_entry *e) {
  e->flags |= LW_F_WATCH_END;
  lwt_recheck(e);
}

void lw_tcp_entered_time_wait(struct tcp_pcb *pcb) {
  struct lw_entry *e = lwt_entry_of(pcb);
  if (e && e->pcb == pcb) lwt_recheck(e);
}

/* ---- exports: set-up ---- */

void lw_tcp_init(void) { lwt_ext_id = tcp_ext_arg_alloc_id(); }

LW_EXPORT void lw_set_max_connections(uint32_t max) { lwt_max_connections = max; }

LW_EXPORT void lw_set_tcp_buffers(uint32_t wnd, uint32_t sndbuf) {
  if (wnd < 1024) wnd = 1024;
  if (wnd > TCP_WND) wnd = TCP_WND;
  if (sndbuf < 2048) sndbuf = 2048;
  if (sndbuf > TCP_SND_BUF) sndbuf = TCP_SND_BUF;
  lwt_cfg_wnd = wnd;
  lwt_cfg_sndbuf = sndbuf;
}
