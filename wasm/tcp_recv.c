/*
 * wasm/tcp_recv.c: the receive path. Delivered data is copied out (js_recv)
 * and credited with tcp_recved() at once. Before markActive, and while paused
 * with "hold", data is kept uncredited so the window closes; while delivery
 * is refused, the recv callback answers ERR_MEM and lwIP keeps the data as
 * refused data (dropping later segments); turning delivery back on
 * redelivers at once and tells the sender.
 */
#include <string.h>

#include "tcp_glue.h"

static uint8_t flat[65536]; /* flattens pbuf chains for js_recv */

static void deliver(struct lw_entry *e, int32_t h, struct tcp_pcb *pcb, struct pbuf *p);

int lwt_deliverable(const struct lw_entry *e) {
  return (e->flags & (LW_F_ACTIVE | LW_F_RECV_ENABLED)) == (LW_F_ACTIVE | LW_F_RECV_ENABLED) &&
         !(e->flags & LW_F_CLOSING);
}

int lwt_hold(struct lw_entry *e, struct pbuf *p) {
  if (e->nheld == e->capheld) {
    uint32_t grown = e->capheld ? e->capheld * 2u : 8u;
    if (grown > 0xFFFF) return 0;
    struct pbuf **h = realloc(e->held, grown * sizeof *h);
    if (!h) return 0;
    e->held = h;
    e->capheld = (uint16_t)grown;
  }
  e->held[e->nheld++] = p;
  return 1;
}

void lwt_free_held(struct lw_entry *e) {
  for (uint16_t i = 0; i < e->nheld; i++) pbuf_free(e->held[i]);
  free(e->held);
  e->held = NULL;
  e->nheld = e->capheld = 0;
}

err_t lwt_on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
  (void)err;
  int32_t h = (int32_t)(intptr_t)arg;
  struct lw_entry *e = lw_handle_get(h);
  if (!e || e->pcb != pcb) {
    /* Not ours any more: swallow, so lwIP does not hold it forever. */
    if (p) {
      tcp_recved(pcb, p->tot_len);
      pbuf_free(p);
    }
    return ERR_OK;
  }
  lwt_recheck(e); /* what it owes the application may change */
  if (!p) {
    if (lwt_deliverable(e)) {
      js_event(LW_EV_FIN, h, 0, 0);
    } else {
      e->flags |= LW_F_FIN_PENDING;
    }
    return ERR_OK;
  }
  if ((!(e->flags & LW_F_ACTIVE) || ((e->flags & LW_F_HOLD_PAUSE) && !lwt_deliverable(e))) &&
      !(e->flags & LW_F_CLOSING)) {
    if (lwt_hold(e, p)) return ERR_OK; /* not credited: the window closes */
    return ERR_MEM;
  }
  if (!lwt_deliverable(e)) return ERR_MEM; /* lwIP keeps it as refused data */
  deliver(e, h, pcb, p);
  return ERR_OK;
}

static void deliver(struct lw_entry *e, int32_t h, struct tcp_pcb *pcb, struct pbuf *p) {
  (void)e;
  u16_t tot = p->tot_len;
  if (p->len == tot) {
    js_recv(h, p->payload, tot);
  } else {
    js_recv(h, flat, pbuf_copy_partial(p, flat, tot, 0));
  }
  tcp_recved(pcb, tot);
  pbuf_free(p);
}

/* Redelivers refused data and a held FIN once delivery is allowed again. */
void lwt_resume(struct lw_entry *e) {
  struct tcp_pcb *pcb = e->pcb;
  int32_t h = lw_handle_of(e);
  if (e->nheld) {
    /* Delivery order: held data (pre-active) came before any refused data. */
    uint16_t n = e->nheld;
    struct pbuf **held = e->held;
    e->held = NULL;
    e->nheld = e->capheld = 0;
    for (uint16_t i = 0; i < n; i++) {
      if (lw_handle_get(h) == e && e->pcb == pcb) {
        deliver(e, h, pcb, held[i]);
      } else {
        pbuf_free(held[i]);
      }
    }
    free(held);
    if (lw_handle_get(h) != e || e->pcb != pcb) return;
  }
  int had_refused = pcb->refused_data != NULL;
  if (had_refused) {
    if (tcp_process_refused_data(pcb) == ERR_ABRT) return;
    if (lw_handle_get(h) != e || e->pcb != pcb) return;
  }
  if ((e->flags & LW_F_FIN_PENDING) && pcb->refused_data == NULL) {
    e->flags &= ~LW_F_FIN_PENDING;
    js_event(LW_EV_FIN, h, 0, 0);
  }
  if (had_refused && pcb->refused_data == NULL) {
    /* While data was refused lwIP dropped later segments unacknowledged.
     * Tell the sender at once: a window update, then duplicate ACKs so it
     * retransmits now instead of after its retransmission timeout. */
    tcp_ack_now(pcb);
    tcp_output(pcb);
    for (int i = 0; i < 3; i++) tcp_send_empty_ack(pcb);
  }
  if (lw_handle_get(h) == e && e->pcb == pcb) lwt_recheck(e);
}

/* ---- exports ---- */

LW_EXPORT int32_t lw_tcp_set_recv_enabled(int32_t handle, int32_t enabled) {
  struct lw_entry *e = lwt_conn(handle);
  if (!e) return LW_ERR_STALE;
  if (enabled != 1) {
    /* 0: refuse (lwIP keeps refused data and drops later segments);
     * 2: hold what arrives uncredited, so the window closes (no drops). */
    e->flags &= ~(LW_F_RECV_ENABLED | LW_F_HOLD_PAUSE);
    if (enabled == 2) e->flags |= LW_F_HOLD_PAUSE;
    return 0;
  }
  if (e->flags & LW_F_RECV_ENABLED) return 0;
  e->flags |= LW_F_RECV_ENABLED;
  if (e->flags & LW_F_ACTIVE) {
    lw_enter();
    lwt_resume(e);
    lw_leave();
  }
  return 0;
}
