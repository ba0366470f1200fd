/*
 * wasm/tcp_open.c: opening and ending connections: listen, accept (accept is
 * not established: an accepted pcb is put on hold with tcp_backlog_delayed()
 * until lw_tcp_mark_active), held SYNs of transparent listeners, connect, and
 * the application's close and abort. Shared state and helpers: tcp_glue.h.
 */
#include <string.h>

#include "tcp_glue.h"

static err_t on_passive_open(u8_t id, struct tcp_pcb_listen *lpcb, struct tcp_pcb *cpcb);
const struct tcp_ext_arg_callbacks lwt_ext_callbacks = {lwt_on_destroy, on_passive_open};

void lwt_attach(struct tcp_pcb *pcb, int32_t h) {
  tcp_arg(pcb, (void *)(intptr_t)h);
  tcp_recv(pcb, lwt_on_recv);
  tcp_sent(pcb, lwt_on_sent);
  tcp_err(pcb, lwt_on_err);
  tcp_ext_arg_set(pcb, lwt_ext_id, (void *)(intptr_t)h);
}

static err_t on_passive_open(u8_t id, struct tcp_pcb_listen *lpcb, struct tcp_pcb *cpcb) {
  (void)id;
  (void)lpcb;
  int over_limit = lwt_max_connections && lwt_conn_pcbs >= lwt_max_connections;
  if (over_limit || lw_mem_headroom() < NEW_CONNECTION_RESERVE) {
    if (over_limit) {
      lwt_refused_limit++;
    } else {
      lwt_refused_memory++;
    }
    /* Refuse like a closed port: RST answering the SYN. */
    tcp_rst(cpcb, 0, cpcb->rcv_nxt, &cpcb->local_ip, &cpcb->remote_ip, cpcb->local_port,
            cpcb->remote_port);
    return ERR_MEM;
  }
  tcp_ext_arg_set_callbacks(cpcb, lwt_ext_id, &lwt_ext_callbacks);
  tcp_ext_arg_set(cpcb, lwt_ext_id, NO_HANDLE);
  lwt_conn_pcbs++;
  uint32_t max = lw_tcp_wnd_max(cpcb);
  if (cpcb->rcv_wnd > max) cpcb->rcv_wnd = cpcb->rcv_ann_wnd = max;
  cpcb->snd_buf = lwt_cfg_sndbuf;
  int32_t lh = (int32_t)(intptr_t)lpcb->callback_arg;
  struct lw_entry *le = lw_handle_get(lh);
  if (le && (le->flags & LW_F_HOLD_SYNS)) {
    /* Hold the SYN (patch 0003): the application decides how to answer. */
    int32_t h = lw_handle_new(LW_KIND_CONNECTION, cpcb);
    if (h < 0) return ERR_MEM; /* lwIP abandons it; the peer retries */
    struct lw_entry *e = lw_handle_get(h);
    e->flags = LW_F_RECV_ENABLED | LW_F_SYN_HELD;
    e->family = IP_IS_V6_VAL(cpcb->remote_ip) ? 6 : 4;
    e->wnd = lwt_cfg_wnd;
    e->sndbuf = lwt_cfg_sndbuf;
    lwt_attach(cpcb, h);
    js_event(LW_EV_SYN, lh, h, 0);
    return ERR_INPROGRESS;
  }
  return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
  if (err != ERR_OK || !pcb) {
    /* lwIP had no memory for the pcb or its SYN-ACK; patch 0011 sent an RST. */
    if (err == ERR_MEM) lwt_refused_memory++;
    return ERR_VAL;
  }
  int32_t lh = pcb->listener ? (int32_t)(intptr_t)pcb->listener->callback_arg : (int32_t)(intptr_t)arg;
  struct lw_entry *held = lwt_entry_of(pcb);
  if (held) {
    /* A SYN we held and answered: same handle from SYN to connection. */
    held->flags = (held->flags & ~LW_F_SYN_HELD) | LW_F_RECV_ENABLED | LW_F_WRITABLE | LW_F_ACCEPTED;
    tcp_backlog_delayed(pcb);
    js_event(LW_EV_ACCEPT, lh, lw_handle_of(held), 0);
    return ERR_OK;
  }
  int32_t h = lw_handle_new(LW_KIND_CONNECTION, pcb);
  if (h < 0 || !lw_handle_get(lh)) {
    if (h >= 0) lw_handle_release(h);
    tcp_abort(pcb);
    return ERR_ABRT;
  }
  struct lw_entry *e = lw_handle_get(h);
  e->flags = LW_F_RECV_ENABLED | LW_F_WRITABLE | LW_F_ACCEPTED;
  e->family = IP_IS_V6_VAL(pcb->remote_ip) ? 6 : 4;
  e->wnd = lwt_cfg_wnd;
  e->sndbuf = lwt_cfg_sndbuf;
  lwt_attach(pcb, h);
  tcp_backlog_delayed(pcb);
  js_event(LW_EV_ACCEPT, lh, h, 0);
  return ERR_OK;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err) {
  (void)err;
  int32_t h = (int32_t)(intptr_t)arg;
  struct lw_entry *e = lw_handle_get(h);
  if (!e || e->pcb != pcb) return ERR_OK;
  e->flags = (e->flags & ~LW_F_CONNECTING) | LW_F_ACTIVE | LW_F_WRITABLE;
  js_event(LW_EV_ACTIVE, h, 0, 0);
  return ERR_OK;
}

static int read_addr(int32_t family, const uint8_t *bytes, ip_addr_t *out) {
  if (bytes && !lw_range_ok(bytes, family == 4 ? 4 : 16)) return 0;
  if (family == 4) {
    if (!bytes) {
      ip_addr_set_any(0, out);
      return 1;
    }
    IP_SET_TYPE_VAL(*out, IPADDR_TYPE_V4);
    memcpy(&ip_2_ip4(out)->addr, bytes, 4);
    return 1;
  }
  if (family == 6) {
    if (!bytes) {
      ip_addr_set_any(1, out);
      return 1;
    }
    IP_SET_TYPE_VAL(*out, IPADDR_TYPE_V6);
    memcpy(ip_2_ip6(out)->addr, bytes, 16);
    ip6_addr_clear_zone(ip_2_ip6(out));
    return 1;
  }
  if (family == 0 && !bytes) {
    ip_addr_copy(*out, *IP_ANY_TYPE);
    return 1;
  }
  return 0;
}

/* ---- exports ---- */

LW_EXPORT int32_t lw_tcp_listen(int32_t family, const uint8_t *addr, int32_t port,
                                int32_t backlog, int32_t flags) {
  ip_addr_t ip;
  if (port < 0 || port > 65535 || !read_addr(family, addr, &ip)) return LW_ERR_BADARG;
  if (flags & ~(LW_LISTEN_TRANSPARENT | LW_LISTEN_HOLD_SYN)) return LW_ERR_BADARG;
  if ((flags & LW_LISTEN_TRANSPARENT) && (lwt_transparent_lpcb || family != 0)) return LW_ERR_STATE;
  if (backlog < 1) backlog = 1;
  if (backlog > 255) backlog = 255;
  lw_enter();
  int32_t result;
  struct tcp_pcb *pcb = tcp_new_ip_type(family == 0 ? IPADDR_TYPE_ANY : IP_GET_TYPE(&ip));
  if (!pcb) {
    result = ERR_MEM;
    goto out;
  }
  err_t err = tcp_bind(pcb, &ip, (u16_t)port);
  if (err != ERR_OK) {
    tcp_close(pcb);
    result = err;
    goto out;
  }
  tcp_ext_arg_set_callbacks(pcb, lwt_ext_id, &lwt_ext_callbacks);
  struct tcp_pcb *lpcb = tcp_listen_with_backlog_and_err(pcb, (u8_t)backlog, &err);
  if (!lpcb) {
    tcp_close(pcb);
    result = err;
    goto out;
  }
  result = lw_handle_new(LW_KIND_LISTENER, lpcb);
  if (result < 0) {
    tcp_close(lpcb);
    goto out;
  }
  lw_handle_get(result)->family = (uint8_t)family;
  if (flags & LW_LISTEN_HOLD_SYN) lw_handle_get(result)->flags |= LW_F_HOLD_SYNS;
  if (flags & LW_LISTEN_TRANSPARENT) lwt_transparent_lpcb = (struct tcp_pcb_listen *)lpcb;
  tcp_arg(lpcb, (void *)(intptr_t)result);
  tcp_accept(lpcb, on_accept);
out:
  lw_leave();
  return result;
}

LW_EXPORT int32_t lw_tcp_listener_close(int32_t handle) {
  struct lw_entry *e = lw_handle_get(handle);
  if (!e || e->kind != LW_KIND_LISTENER) return LW_ERR_STALE;
  lw_enter();
  struct tcp_pcb *pcb = e->pcb;
  if ((struct tcp_pcb_listen *)pcb == lwt_transparent_lpcb) lwt_transparent_lpcb = NULL;
  lwt_detach(e);
  lw_handle_release(handle);
  tcp_close(pcb);
  lw_leave();
  return 0;
}

LW_EXPORT int32_t lw_tcp_syn_answer(int32_t handle, int32_t action) {
  struct lw_entry *e = lw_handle_get(handle);
  if (!e || e->kind != LW_KIND_CONNECTION || !e->pcb) return LW_ERR_STALE;
  if (!(e->flags & LW_F_SYN_HELD)) return LW_ERR_STATE;
  if (action != LW_SYN_ACCEPT && action != LW_SYN_REFUSE && action != LW_SYN_DROP)
    return LW_ERR_BADARG;
  struct tcp_pcb *pcb = e->pcb;
  lw_enter();
  if (action == LW_SYN_ACCEPT) {
    err_t err = tcp_enqueue_flags(pcb, TCP_SYN | TCP_ACK);
    if (err == ERR_OK) {
      e->flags &= ~LW_F_SYN_HELD;
      tcp_output(pcb);
    }
    lw_leave();
    return err;
  }
  if (action == LW_SYN_REFUSE) {
    /* What a closed port answers: RST|ACK acknowledging the SYN. */
    tcp_rst(pcb, 0, pcb->rcv_nxt, &pcb->local_ip, &pcb->remote_ip, pcb->local_port,
            pcb->remote_port);
  }
  lwt_detach(e);
  tcp_abandon(pcb, 0);
  lwt_terminate(e, LW_REASON_ABORT, LW_CAUSE_LOCAL);
  lw_leave();
  return 0;
}

LW_EXPORT int32_t lw_tcp_connect(int32_t family, const uint8_t *addr, int32_t port,
                                 const uint8_t *local_addr, int32_t local_port) {
  ip_addr_t ip, local;
  if (!addr || port < 1 || port > 65535 || local_port < 0 || local_port > 65535)
    return LW_ERR_BADARG;
  if (!read_addr(family, addr, &ip) || !read_addr(family, local_addr, &local))
    return LW_ERR_BADARG;
  int32_t h = lw_handle_new(LW_KIND_CONNECTION, NULL);
  if (h < 0) return h;
  struct lw_entry *e = lw_handle_get(h);
  e->flags = LW_F_RECV_ENABLED | LW_F_CONNECTING;
  e->family = (uint8_t)family;
  e->wnd = lwt_cfg_wnd;
  e->sndbuf = lwt_cfg_sndbuf;
  lw_enter();
  if (lwt_max_connections && lwt_conn_pcbs >= lwt_max_connections) {
    lwt_refused_limit++;
    lwt_terminate(e, LW_REASON_DESTROYED, LW_CAUSE_LIMIT);
    goto out;
  }
  struct tcp_pcb *pcb = tcp_new_ip_type(IP_GET_TYPE(&ip));
  if (pcb && lw_mem_on_reserve()) {
    /* Allocated from the emergency reserve: no new connections now. */
    tcp_abort(pcb);
    pcb = NULL;
  }
  if (!pcb) {
    lwt_terminate(e, LW_REASON_DESTROYED, LW_CAUSE_NOMEM);
    goto out;
  }
  e->pcb = pcb;
  tcp_ext_arg_set_callbacks(pcb, lwt_ext_id, &lwt_ext_callbacks);
  lwt_attach(pcb, h);
  lwt_conn_pcbs++;
  pcb->rcv_wnd = pcb->rcv_ann_wnd = lw_tcp_wnd_max(pcb);
  pcb->snd_buf = e->sndbuf;
  err_t err = ERR_OK;
  if (local_addr || local_port) err = tcp_bind(pcb, &local, (u16_t)local_port);
  if (err == ERR_OK) err = tcp_connect(pcb, &ip, (u16_t)port, on_connected);
  if (err != ERR_OK) {
    lwt_detach(e);
    tcp_abort(pcb);
    enum lw_cause cause = err == ERR_USE ? LW_CAUSE_ADDRINUSE
                          : err == ERR_RTE ? LW_CAUSE_NOROUTE
                          : err == ERR_MEM ? LW_CAUSE_NOMEM
                          /* tcp_connect's ERR_BUF: tcp_new_port found no free port */
                          : err == ERR_BUF ? LW_CAUSE_ADDRNOTAVAIL
                                           : LW_CAUSE_ABORTED;
    lwt_terminate(e, LW_REASON_DESTROYED, cause);
  }
out:
  lw_leave();
  return h;
}

LW_EXPORT int32_t lw_tcp_mark_active(int32_t handle) {
  struct lw_entry *e = lwt_conn(handle);
  if (!e) return LW_ERR_STALE;
  if (e->flags & (LW_F_ACTIVE | LW_F_CONNECTING)) return LW_ERR_STATE;
  /* A held SYN, answered or not, is not a connection until its handshake
   * completes (LW_EV_ACCEPT): activating it emitted ACTIVE before ACCEPT and
   * gave its backlog slot back twice (caught by the fuzzer's event checks),
   * also once it was closed before its handshake completed (found again by
   * the fuzzer: the state test on SYN_RCVD missed it). */
  if (!(e->flags & LW_F_ACCEPTED)) return LW_ERR_STATE;
  lw_enter();
  e->flags |= LW_F_ACTIVE;
  tcp_backlog_accepted(e->pcb);
  js_event(LW_EV_ACTIVE, handle, 0, 0);
  if (e->flags & LW_F_RECV_ENABLED) lwt_resume(e);
  lw_leave();
  return 0;
}

LW_EXPORT int32_t lw_tcp_close(int32_t handle) {
  struct lw_entry *e = lwt_conn(handle);
  if (!e) return LW_ERR_STALE;
  if (e->flags & (LW_F_CLOSING | LW_F_CLOSE_PENDING)) return 0;
  /* A held SYN is answered with lw_tcp_syn_answer (or aborted): closing it
   * sent a FIN on a connection whose SYN-ACK never left. */
  if (e->flags & LW_F_SYN_HELD) return LW_ERR_STATE;
  lw_enter();
  if (!(e->flags & LW_F_ACTIVE) && !(e->flags & LW_F_CONNECTING)) tcp_backlog_accepted(e->pcb);
  err_t err = tcp_close(e->pcb);
  if (err == ERR_OK) {
    /* lwIP may have freed the pcb at once (SYN_SENT) or sent an RST because
     * data was left unread; the destroy callback has then run already. */
    e->flags |= LW_F_CLOSING;
    if (e->pcb) {
      tcp_poll(e->pcb, NULL, 0);
      lwt_watch_end(e);
    }
  } else {
    e->flags |= LW_F_CLOSE_PENDING;
    tcp_poll(e->pcb, lwt_on_poll, 1);
  }
  lw_leave();
  return 0;
}

LW_EXPORT int32_t lw_tcp_abort(int32_t handle) {
  struct lw_entry *e = lwt_conn(handle);
  if (!e) return LW_ERR_STALE;
  lw_enter();
  struct tcp_pcb *pcb = e->pcb;
  lwt_detach(e);
  tcp_abort(pcb);
  lwt_terminate(e, LW_REASON_ABORT, LW_CAUSE_LOCAL);
  lw_leave();
  return 0;
}
