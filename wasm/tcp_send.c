/*
 * wasm/tcp_send.c: the send path. lw_tcp_write copies what fits in the send
 * buffer and returns the count; after a short write the connection is not
 * writable, and the sent and poll callbacks emit LW_EV_WRITABLE on the edge
 * back. Also shutdown (FIN) and the per-connection options.
 */
#include "tcp_glue.h"

static int writable_now(const struct lw_entry *e) {
  uint32_t threshold = e->sndbuf / 4;
  if (threshold > 16384) threshold = 16384;
  if (threshold == 0) threshold = 1;
  return tcp_sndbuf(e->pcb) >= threshold && tcp_sndqueuelen(e->pcb) < TCP_SND_QUEUELEN / 2;
}

void lwt_check_writable(struct lw_entry *e) {
  if ((e->flags & LW_F_WRITABLE) || !(e->flags & LW_F_ACTIVE) || (e->flags & LW_F_WRITE_SHUT))
    return;
  if (writable_now(e)) {
    e->flags |= LW_F_WRITABLE;
    if (!(e->flags & LW_F_CLOSE_PENDING)) tcp_poll(e->pcb, NULL, 0);
    js_event(LW_EV_WRITABLE, lw_handle_of(e), 0, 0);
  }
}

err_t lwt_on_sent(void *arg, struct tcp_pcb *pcb, u16_t len) {
  (void)len;
  struct lw_entry *e = lw_handle_get((int32_t)(intptr_t)arg);
  if (e && e->pcb == pcb) lwt_check_writable(e);
  return ERR_OK;
}

err_t lwt_on_poll(void *arg, struct tcp_pcb *pcb) {
  struct lw_entry *e = lw_handle_get((int32_t)(intptr_t)arg);
  if (!e || e->pcb != pcb) return ERR_OK;
  if (e->flags & LW_F_CLOSE_PENDING) {
    if (tcp_close(pcb) == ERR_OK) {
      e->flags = (e->flags & ~LW_F_CLOSE_PENDING) | LW_F_CLOSING;
      tcp_poll(pcb, NULL, 0);
      lwt_watch_end(e);
    }
    return ERR_OK;
  }
  lwt_check_writable(e);
  return ERR_OK;
}

/* ---- exports ---- */

LW_EXPORT int32_t lw_tcp_write(int32_t handle, const uint8_t *ptr, int32_t len) {
  struct lw_entry *e = lwt_conn(handle);
  if (!e) return LW_ERR_STALE;
  if (len < 0 || (len && !lw_range_ok(ptr, (uint32_t)len))) return LW_ERR_BADARG;
  if (e->flags & (LW_F_WRITE_SHUT | LW_F_CLOSING | LW_F_CLOSE_PENDING)) return LW_ERR_STATE;
  struct tcp_pcb *pcb = e->pcb;
  if (!(e->flags & LW_F_ACTIVE) || (pcb->state != ESTABLISHED && pcb->state != CLOSE_WAIT)) {
    e->flags &= ~LW_F_WRITABLE;
    return 0;
  }
  lw_enter();
  int32_t done = 0;
  err_t err = ERR_OK;
  while (done < len) {
    uint32_t room = tcp_sndbuf(pcb);
    uint32_t n = (uint32_t)(len - done);
    if (n > room) n = room;
    if (n > 0xFFFF) n = 0xFFFF;
    if (n == 0) break;
    u8_t flags = TCP_WRITE_FLAG_COPY | ((uint32_t)done + n < (uint32_t)len ? TCP_WRITE_FLAG_MORE : 0);
    err = tcp_write(pcb, ptr + done, (u16_t)n, flags);
    if (err != ERR_OK) break;
    done += (int32_t)n;
  }
  if (done < len) {
    e->flags &= ~LW_F_WRITABLE;
    tcp_poll(pcb, lwt_on_poll, 1);
  }
  if (done > 0) tcp_output(pcb);
  lw_leave();
  if (err != ERR_OK && err != ERR_MEM && done == 0) return err;
  return done;
}

LW_EXPORT int32_t lw_tcp_shutdown_write(int32_t handle) {
  struct lw_entry *e = lwt_conn(handle);
  if (!e) return LW_ERR_STALE;
  if (e->flags & (LW_F_WRITE_SHUT | LW_F_CLOSING | LW_F_CLOSE_PENDING)) return 0;
  if (!(e->flags & LW_F_ACTIVE)) return LW_ERR_STATE;
  lw_enter();
  err_t err = tcp_shutdown(e->pcb, 0, 1);
  if (err == ERR_OK) {
    e->flags = (e->flags | LW_F_WRITE_SHUT) & ~LW_F_WRITABLE;
    lwt_watch_end(e);
  }
  lw_leave();
  return err;
}

LW_EXPORT int32_t lw_tcp_set_buffers(int32_t handle, uint32_t wnd, uint32_t sndbuf) {
  struct lw_entry *e = lwt_conn(handle);
  if (!e) return LW_ERR_STALE;
  struct tcp_pcb *pcb = e->pcb;
  lw_enter();
  if (wnd) {
    if (wnd < 1024) wnd = 1024;
    if (wnd > TCP_WND) wnd = TCP_WND;
    uint32_t before = lw_tcp_wnd_max(pcb);
    e->wnd = wnd;
    uint32_t after = lw_tcp_wnd_max(pcb);
    if (after > before) {
      pcb->rcv_wnd += after - before;
      /* Tell the peer about the larger window now; but a held SYN answers
       * nothing until lw_tcp_syn_answer (a bare ACK made the peer reset it;
       * found by the fuzzer's check on held SYNs). */
      if (!(e->flags & LW_F_SYN_HELD)) {
        tcp_ack_now(pcb);
        tcp_output(pcb);
      }
    } else if (after < before) {
      /* Credit not yet announced is taken back; the announced window is
       * never shrunk (lwIP's tcp_update_rcv_ann_wnd keeps its edge). */
      uint32_t d = before - after;
      pcb->rcv_wnd = pcb->rcv_wnd > d ? pcb->rcv_wnd - d : 0;
    }
  }
  if (sndbuf) {
    if (sndbuf < 2048) sndbuf = 2048;
    if (sndbuf > TCP_SND_BUF) sndbuf = TCP_SND_BUF;
    if (sndbuf > e->sndbuf) {
      pcb->snd_buf += sndbuf - e->sndbuf;
      lwt_check_writable(e);
    } else {
      uint32_t d = e->sndbuf - sndbuf;
      pcb->snd_buf = pcb->snd_buf > d ? pcb->snd_buf - d : 0;
    }
    e->sndbuf = sndbuf;
  }
  lw_leave();
  return 0;
}

LW_EXPORT int32_t lw_tcp_set_nodelay(int32_t handle, int32_t on) {
  struct lw_entry *e = lwt_conn(handle);
  if (!e) return LW_ERR_STALE;
  if (on) {
    tcp_nagle_disable(e->pcb);
  } else {
    tcp_nagle_enable(e->pcb);
  }
  return 0;
}

LW_EXPORT int32_t lw_tcp_set_keepalive(int32_t handle, int32_t on, uint32_t idle_ms,
                                       uint32_t interval_ms, uint32_t count) {
  struct lw_entry *e = lwt_conn(handle);
  if (!e) return LW_ERR_STALE;
  if (!on) {
    ip_reset_option(e->pcb, SOF_KEEPALIVE);
    return 0;
  }
  ip_set_option(e->pcb, SOF_KEEPALIVE);
  if (idle_ms) e->pcb->keep_idle = idle_ms;
  if (interval_ms) e->pcb->keep_intvl = interval_ms;
  if (count) e->pcb->keep_cnt = count;
  return 0;
}
