/*
 * wasm/tcp.c: the TCP connection model on lwIP's raw API (seed 001).
 *
 * Every pcb we hand to JavaScript is named by a handle (handles.c). lwIP
 * calls us back from inside tcp_input and the timers; we translate each
 * callback into an event for JavaScript (js_event / js_recv) and never let
 * JavaScript touch a pcb. The rules this file keeps:
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

#include "glue.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/ip.h"
#include "lwip/tcp.h"

static u8_t ext_id;
static uint32_t max_connections;
static uint32_t cfg_wnd = 1024 * 1024;
static uint32_t cfg_sndbuf = 1024 * 1024;
static uint32_t conn_pcbs;      /* pcbs we count against max_connections */
static uint32_t refused_limit;  /* connections refused by the limit */
static uint32_t refused_memory; /* incoming connections refused for want of memory */
/* Memory-limit headroom a new incoming connection needs: its pcb, the
 * SYN-ACK and a segment or two. Admitting one with less only makes it
 * starve with the rest; it is refused with RST instead. */
#define NEW_CONNECTION_RESERVE 4096u
static uint8_t flat[65536];     /* flattens pbuf chains for js_recv */
static struct tcp_pcb_listen *transparent_lpcb; /* LW_LISTEN_TRANSPARENT */

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

/* The ext-arg data of a pcb: 0 = not ours, -1 = counted but no handle yet
 * (SYN_RCVD), otherwise the handle. */
#define NO_HANDLE ((void *)(intptr_t)-1)

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

static void on_destroy(u8_t id, void *data);
static int deliverable(const struct lw_entry *e);
static void owe_fin(struct lw_entry *e);
static err_t on_passive_open(u8_t id, struct tcp_pcb_listen *lpcb, struct tcp_pcb *cpcb);
static const struct tcp_ext_arg_callbacks ext_callbacks = {on_destroy, on_passive_open};

/* ---- window sizing hooks (lwipopts.h, patch 0001) ---- */

static struct lw_entry *entry_of_pcb(const struct tcp_pcb *pcb) {
  void *data = pcb->ext_args[ext_id].data;
  if (data == NULL || data == NO_HANDLE) return NULL;
  return lw_handle_get((int32_t)(intptr_t)data);
}

unsigned int lw_tcp_wnd_max(const struct tcp_pcb *pcb) {
  const struct lw_entry *e = entry_of_pcb(pcb);
  uint32_t w = e ? e->wnd : cfg_wnd;
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
  if (!transparent_lpcb || !inp || !lw_netif_is_transparent(inp)) return NULL;
  return transparent_lpcb;
}

/* ---- termination ---- */

static void detach(struct lw_entry *e) {
  struct tcp_pcb *pcb = e->pcb;
  if (!pcb) return;
  tcp_arg(pcb, NULL);
  if (pcb->state != LISTEN) {
    tcp_recv(pcb, NULL);
    tcp_sent(pcb, NULL);
    tcp_err(pcb, NULL);
    tcp_poll(pcb, NULL, 0);
    if (pcb->ext_args[ext_id].data != NULL) {
      tcp_ext_arg_set(pcb, ext_id, NULL);
      conn_pcbs--;
    }
  }
  e->pcb = NULL;
}

static void free_held(struct lw_entry *e) {
  for (uint16_t i = 0; i < e->nheld; i++) pbuf_free(e->held[i]);
  free(e->held);
  e->held = NULL;
  e->nheld = e->capheld = 0;
}

static int hold(struct lw_entry *e, struct pbuf *p) {
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

static void terminate(struct lw_entry *e, enum lw_reason reason, enum lw_cause cause) {
  int32_t h = lw_handle_of(e);
  free_held(e);
  detach(e);
  lw_handle_release(h);
  js_event(LW_EV_TERMINATED, h, reason, cause);
}

static void on_err(void *arg, err_t err) {
  struct lw_entry *e = lw_handle_get((int32_t)(intptr_t)arg);
  if (!e) return;
  e->pcb = NULL; /* lwIP has freed it (or is about to): never touch it again */
  if (err == ERR_RST) {
    terminate(e, LW_REASON_RESET,
              (e->flags & LW_F_CONNECTING) ? LW_CAUSE_REFUSED : LW_CAUSE_RESET);
  } else if (err == ERR_CLSD) {
    owe_fin(e);
    terminate(e, LW_REASON_CLOSE, LW_CAUSE_CLOSED);
  } else {
    terminate(e, LW_REASON_DESTROYED, lw_in_timers() ? LW_CAUSE_TIMEOUT : LW_CAUSE_ABORTED);
  }
}

static void on_destroy(u8_t id, void *data) {
  (void)id;
  if (data == NULL) return;
  conn_pcbs--;
  if (data == NO_HANDLE) return;
  int32_t h = (int32_t)(intptr_t)data;
  struct lw_entry *e = lw_handle_get(h);
  if (!e || !e->pcb) return;
  e->pcb = NULL;
  e->flags |= LW_F_GONE;
  e->cause = lw_in_timers() ? LW_CAUSE_TIMEOUT : LW_CAUSE_ABORTED;
  if (!push(&pending, &npending, &cap_pending, h)) {
    /* No memory to defer: end it now rather than leave it dangling. */
    terminate(e, (e->flags & LW_F_CLOSING) ? LW_REASON_CLOSE : LW_REASON_DESTROYED, e->cause);
  }
}

/* An orderly end still owes the application the peer's FIN if it arrived
 * while delivery was held: readEOF always precedes terminated(close)
 * (unless the application closed: then it reads nothing more). */
static void owe_fin(struct lw_entry *e) {
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
      owe_fin(e);
      terminate(e, LW_REASON_CLOSE, LW_CAUSE_CLOSED);
    } else {
      terminate(e, LW_REASON_DESTROYED, e->cause);
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
                ((e->flags & LW_F_FIN_PENDING) && !deliverable(e)));
    if ((s == TIME_WAIT || s == CLOSED) && !owed) {
      owe_fin(e);
      terminate(e, LW_REASON_CLOSE, LW_CAUSE_CLOSED);
    }
  }
  ndue = 0;
}

/* Queues a watched entry for a check at leave (once per leave). */
static void recheck(struct lw_entry *e) {
  if ((e->flags & (LW_F_WATCH_END | LW_F_DUE)) != LW_F_WATCH_END) return;
  if (push(&due, &ndue, &cap_due, lw_handle_of(e))) e->flags |= LW_F_DUE;
}

static void watch_end(struct lw_entry *e) {
  e->flags |= LW_F_WATCH_END;
  recheck(e);
}

void lw_tcp_entered_time_wait(struct tcp_pcb *pcb) {
  struct lw_entry *e = entry_of_pcb(pcb);
  if (e && e->pcb == pcb) recheck(e);
}

/* ---- receive path ---- */

static int deliverable(const struct lw_entry *e) {
  return (e->flags & (LW_F_ACTIVE | LW_F_RECV_ENABLED)) == (LW_F_ACTIVE | LW_F_RECV_ENABLED) &&
         !(e->flags & LW_F_CLOSING);
}

static void deliver(struct lw_entry *e, int32_t h, struct tcp_pcb *pcb, struct pbuf *p);

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
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
  recheck(e); /* what it owes the application may change */
  if (!p) {
    if (deliverable(e)) {
      js_event(LW_EV_FIN, h, 0, 0);
    } else {
      e->flags |= LW_F_FIN_PENDING;
    }
    return ERR_OK;
  }
  if ((!(e->flags & LW_F_ACTIVE) || ((e->flags & LW_F_HOLD_PAUSE) && !deliverable(e))) &&
      !(e->flags & LW_F_CLOSING)) {
    if (hold(e, p)) return ERR_OK; /* not credited: the window closes */
    return ERR_MEM;
  }
  if (!deliverable(e)) return ERR_MEM; /* lwIP keeps it as refused data */
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
static void resume(struct lw_entry *e) {
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
  if (lw_handle_get(h) == e && e->pcb == pcb) recheck(e);
}

/* ---- send path ---- */

static int writable_now(const struct lw_entry *e) {
  uint32_t threshold = e->sndbuf / 4;
  if (threshold > 16384) threshold = 16384;
  if (threshold == 0) threshold = 1;
  return tcp_sndbuf(e->pcb) >= threshold && tcp_sndqueuelen(e->pcb) < TCP_SND_QUEUELEN / 2;
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb);

static void check_writable(struct lw_entry *e) {
  if ((e->flags & LW_F_WRITABLE) || !(e->flags & LW_F_ACTIVE) || (e->flags & LW_F_WRITE_SHUT))
    return;
  if (writable_now(e)) {
    e->flags |= LW_F_WRITABLE;
    if (!(e->flags & LW_F_CLOSE_PENDING)) tcp_poll(e->pcb, NULL, 0);
    js_event(LW_EV_WRITABLE, lw_handle_of(e), 0, 0);
  }
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len) {
  (void)len;
  struct lw_entry *e = lw_handle_get((int32_t)(intptr_t)arg);
  if (e && e->pcb == pcb) check_writable(e);
  return ERR_OK;
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb) {
  struct lw_entry *e = lw_handle_get((int32_t)(intptr_t)arg);
  if (!e || e->pcb != pcb) return ERR_OK;
  if (e->flags & LW_F_CLOSE_PENDING) {
    if (tcp_close(pcb) == ERR_OK) {
      e->flags = (e->flags & ~LW_F_CLOSE_PENDING) | LW_F_CLOSING;
      tcp_poll(pcb, NULL, 0);
      watch_end(e);
    }
    return ERR_OK;
  }
  check_writable(e);
  return ERR_OK;
}

/* ---- setting up a connection ---- */

static void attach(struct tcp_pcb *pcb, int32_t h) {
  tcp_arg(pcb, (void *)(intptr_t)h);
  tcp_recv(pcb, on_recv);
  tcp_sent(pcb, on_sent);
  tcp_err(pcb, on_err);
  tcp_ext_arg_set(pcb, ext_id, (void *)(intptr_t)h);
}

static err_t on_passive_open(u8_t id, struct tcp_pcb_listen *lpcb, struct tcp_pcb *cpcb) {
  (void)id;
  (void)lpcb;
  int over_limit = max_connections && conn_pcbs >= max_connections;
  if (over_limit || lw_mem_headroom() < NEW_CONNECTION_RESERVE) {
    if (over_limit) {
      refused_limit++;
    } else {
      refused_memory++;
    }
    /* Refuse like a closed port: RST answering the SYN. */
    tcp_rst(cpcb, 0, cpcb->rcv_nxt, &cpcb->local_ip, &cpcb->remote_ip, cpcb->local_port,
            cpcb->remote_port);
    return ERR_MEM;
  }
  tcp_ext_arg_set_callbacks(cpcb, ext_id, &ext_callbacks);
  tcp_ext_arg_set(cpcb, ext_id, NO_HANDLE);
  conn_pcbs++;
  uint32_t max = lw_tcp_wnd_max(cpcb);
  if (cpcb->rcv_wnd > max) cpcb->rcv_wnd = cpcb->rcv_ann_wnd = max;
  cpcb->snd_buf = cfg_sndbuf;
  int32_t lh = (int32_t)(intptr_t)lpcb->callback_arg;
  struct lw_entry *le = lw_handle_get(lh);
  if (le && (le->flags & LW_F_HOLD_SYNS)) {
    /* Hold the SYN (patch 0003): the application decides how to answer. */
    int32_t h = lw_handle_new(LW_KIND_CONNECTION, cpcb);
    if (h < 0) return ERR_MEM; /* lwIP abandons it; the peer retries */
    struct lw_entry *e = lw_handle_get(h);
    e->flags = LW_F_RECV_ENABLED | LW_F_SYN_HELD;
    e->family = IP_IS_V6_VAL(cpcb->remote_ip) ? 6 : 4;
    e->wnd = cfg_wnd;
    e->sndbuf = cfg_sndbuf;
    attach(cpcb, h);
    js_event(LW_EV_SYN, lh, h, 0);
    return ERR_INPROGRESS;
  }
  return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
  if (err != ERR_OK || !pcb) {
    /* lwIP had no memory for the pcb or its SYN-ACK; patch 0011 sent an RST. */
    if (err == ERR_MEM) refused_memory++;
    return ERR_VAL;
  }
  int32_t lh = pcb->listener ? (int32_t)(intptr_t)pcb->listener->callback_arg : (int32_t)(intptr_t)arg;
  struct lw_entry *held = entry_of_pcb(pcb);
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
  e->wnd = cfg_wnd;
  e->sndbuf = cfg_sndbuf;
  attach(pcb, h);
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

void lw_tcp_init(void) { ext_id = tcp_ext_arg_alloc_id(); }

LW_EXPORT void lw_set_max_connections(uint32_t max) { max_connections = max; }

LW_EXPORT void lw_set_tcp_buffers(uint32_t wnd, uint32_t sndbuf) {
  if (wnd < 1024) wnd = 1024;
  if (wnd > TCP_WND) wnd = TCP_WND;
  if (sndbuf < 2048) sndbuf = 2048;
  if (sndbuf > TCP_SND_BUF) sndbuf = TCP_SND_BUF;
  cfg_wnd = wnd;
  cfg_sndbuf = sndbuf;
}

LW_EXPORT int32_t lw_tcp_listen(int32_t family, const uint8_t *addr, int32_t port,
                                int32_t backlog, int32_t flags) {
  ip_addr_t ip;
  if (port < 0 || port > 65535 || !read_addr(family, addr, &ip)) return LW_ERR_BADARG;
  if (flags & ~(LW_LISTEN_TRANSPARENT | LW_LISTEN_HOLD_SYN)) return LW_ERR_BADARG;
  if ((flags & LW_LISTEN_TRANSPARENT) && (transparent_lpcb || family != 0)) return LW_ERR_STATE;
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
  tcp_ext_arg_set_callbacks(pcb, ext_id, &ext_callbacks);
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
  if (flags & LW_LISTEN_TRANSPARENT) transparent_lpcb = (struct tcp_pcb_listen *)lpcb;
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
  if ((struct tcp_pcb_listen *)pcb == transparent_lpcb) transparent_lpcb = NULL;
  detach(e);
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
  detach(e);
  tcp_abandon(pcb, 0);
  terminate(e, LW_REASON_ABORT, LW_CAUSE_LOCAL);
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
  e->wnd = cfg_wnd;
  e->sndbuf = cfg_sndbuf;
  lw_enter();
  if (max_connections && conn_pcbs >= max_connections) {
    refused_limit++;
    terminate(e, LW_REASON_DESTROYED, LW_CAUSE_LIMIT);
    goto out;
  }
  struct tcp_pcb *pcb = tcp_new_ip_type(IP_GET_TYPE(&ip));
  if (!pcb) {
    terminate(e, LW_REASON_DESTROYED, LW_CAUSE_NOMEM);
    goto out;
  }
  e->pcb = pcb;
  tcp_ext_arg_set_callbacks(pcb, ext_id, &ext_callbacks);
  attach(pcb, h);
  conn_pcbs++;
  pcb->rcv_wnd = pcb->rcv_ann_wnd = lw_tcp_wnd_max(pcb);
  pcb->snd_buf = e->sndbuf;
  err_t err = ERR_OK;
  if (local_addr || local_port) err = tcp_bind(pcb, &local, (u16_t)local_port);
  if (err == ERR_OK) err = tcp_connect(pcb, &ip, (u16_t)port, on_connected);
  if (err != ERR_OK) {
    detach(e);
    tcp_abort(pcb);
    enum lw_cause cause = err == ERR_USE ? LW_CAUSE_ADDRINUSE
                          : err == ERR_RTE ? LW_CAUSE_NOROUTE
                          : err == ERR_MEM ? LW_CAUSE_NOMEM
                                           : LW_CAUSE_ABORTED;
    terminate(e, LW_REASON_DESTROYED, cause);
  }
out:
  lw_leave();
  return h;
}

static struct lw_entry *conn(int32_t handle) {
  struct lw_entry *e = lw_handle_get(handle);
  if (!e || e->kind != LW_KIND_CONNECTION || !e->pcb) return NULL;
  return e;
}

LW_EXPORT int32_t lw_tcp_mark_active(int32_t handle) {
  struct lw_entry *e = conn(handle);
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
  if (e->flags & LW_F_RECV_ENABLED) resume(e);
  lw_leave();
  return 0;
}

LW_EXPORT int32_t lw_tcp_set_recv_enabled(int32_t handle, int32_t enabled) {
  struct lw_entry *e = conn(handle);
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
    resume(e);
    lw_leave();
  }
  return 0;
}

LW_EXPORT int32_t lw_tcp_write(int32_t handle, const uint8_t *ptr, int32_t len) {
  struct lw_entry *e = conn(handle);
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
    tcp_poll(pcb, on_poll, 1);
  }
  if (done > 0) tcp_output(pcb);
  lw_leave();
  if (err != ERR_OK && err != ERR_MEM && done == 0) return err;
  return done;
}

LW_EXPORT int32_t lw_tcp_shutdown_write(int32_t handle) {
  struct lw_entry *e = conn(handle);
  if (!e) return LW_ERR_STALE;
  if (e->flags & (LW_F_WRITE_SHUT | LW_F_CLOSING | LW_F_CLOSE_PENDING)) return 0;
  if (!(e->flags & LW_F_ACTIVE)) return LW_ERR_STATE;
  lw_enter();
  err_t err = tcp_shutdown(e->pcb, 0, 1);
  if (err == ERR_OK) {
    e->flags = (e->flags | LW_F_WRITE_SHUT) & ~LW_F_WRITABLE;
    watch_end(e);
  }
  lw_leave();
  return err;
}

LW_EXPORT int32_t lw_tcp_close(int32_t handle) {
  struct lw_entry *e = conn(handle);
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
      watch_end(e);
    }
  } else {
    e->flags |= LW_F_CLOSE_PENDING;
    tcp_poll(e->pcb, on_poll, 1);
  }
  lw_leave();
  return 0;
}

LW_EXPORT int32_t lw_tcp_abort(int32_t handle) {
  struct lw_entry *e = conn(handle);
  if (!e) return LW_ERR_STALE;
  lw_enter();
  struct tcp_pcb *pcb = e->pcb;
  detach(e);
  tcp_abort(pcb);
  terminate(e, LW_REASON_ABORT, LW_CAUSE_LOCAL);
  lw_leave();
  return 0;
}

LW_EXPORT int32_t lw_tcp_set_buffers(int32_t handle, uint32_t wnd, uint32_t sndbuf) {
  struct lw_entry *e = conn(handle);
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
      check_writable(e);
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
  struct lw_entry *e = conn(handle);
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
  struct lw_entry *e = conn(handle);
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

static void put_addr(uint32_t *out, const ip_addr_t *ip) {
  memset(out, 0, 16);
  if (IP_IS_V6_VAL(*ip)) {
    memcpy(out, ip_2_ip6(ip)->addr, 16);
  } else {
    memcpy(out, &ip_2_ip4(ip)->addr, 4);
  }
}

LW_EXPORT int32_t lw_tcp_info(int32_t handle, uint32_t *out) {
  struct lw_entry *e = lw_handle_get(handle);
  if (!e || !e->pcb) return LW_ERR_STALE;
  if (!lw_range_ok(out, LW_INFO_WORDS * sizeof *out)) return LW_ERR_BADARG;
  struct tcp_pcb *pcb = e->pcb;
  memset(out, 0, LW_INFO_WORDS * sizeof *out);
  out[LW_INFO_STATE] = pcb->state;
  out[LW_INFO_FAMILY] = IP_IS_V6_VAL(pcb->local_ip) ? 6 : 4;
  out[LW_INFO_LOCAL_PORT] = pcb->local_port;
  put_addr(&out[LW_INFO_LOCAL_IP], &pcb->local_ip);
  out[LW_INFO_FLAGS] = ((e->flags & LW_F_ACTIVE) ? 1u : 0) | ((e->flags & LW_F_RECV_ENABLED) ? 2u : 0) |
                       ((e->flags & LW_F_WRITABLE) ? 4u : 0) | ((e->flags & LW_F_WRITE_SHUT) ? 8u : 0) |
                       ((e->flags & (LW_F_CLOSING | LW_F_CLOSE_PENDING)) ? 16u : 0);
  if (e->kind == LW_KIND_LISTENER) return 0;
  out[LW_INFO_REMOTE_PORT] = pcb->remote_port;
  put_addr(&out[LW_INFO_REMOTE_IP], &pcb->remote_ip);
  out[LW_INFO_SNDBUF] = pcb->snd_buf;
  out[LW_INFO_SNDQUEUELEN] = pcb->snd_queuelen;
  out[LW_INFO_RCV_WND] = pcb->rcv_wnd;
  out[LW_INFO_SND_WND] = pcb->snd_wnd;
  out[LW_INFO_CWND] = pcb->cwnd;
  out[LW_INFO_MSS] = pcb->mss;
  out[LW_INFO_NRTX] = pcb->nrtx;
  out[LW_INFO_RETRANSMITS] = e->retransmits;
  out[LW_INFO_UNACKED] = pcb->snd_nxt - pcb->lastack;
  return 0;
}

static uint32_t retransmits_total;

static uint32_t be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void lw_tcp_note_output(const uint8_t *pkt, uint32_t len) {
  ip_addr_t src, dst;
  uint32_t off;
  if (len >= 20 && (pkt[0] >> 4) == 4) {
    off = (uint32_t)(pkt[0] & 15) * 4;
    if (pkt[9] != IP_PROTO_TCP || len < off + 20) return;
    IP_SET_TYPE_VAL(src, IPADDR_TYPE_V4);
    IP_SET_TYPE_VAL(dst, IPADDR_TYPE_V4);
    memcpy(&ip_2_ip4(&src)->addr, pkt + 12, 4);
    memcpy(&ip_2_ip4(&dst)->addr, pkt + 16, 4);
  } else if (len >= 40 && (pkt[0] >> 4) == 6) {
    off = 40;
    if (pkt[6] != IP_PROTO_TCP || len < off + 20) return;
    IP_SET_TYPE_VAL(src, IPADDR_TYPE_V6);
    IP_SET_TYPE_VAL(dst, IPADDR_TYPE_V6);
    memcpy(ip_2_ip6(&src)->addr, pkt + 8, 16);
    memcpy(ip_2_ip6(&dst)->addr, pkt + 24, 16);
    ip6_addr_clear_zone(ip_2_ip6(&src));
    ip6_addr_clear_zone(ip_2_ip6(&dst));
  } else {
    return;
  }
  const uint8_t *t = pkt + off;
  uint8_t flags = t[13];
  uint32_t hlen = (uint32_t)(t[12] >> 4) * 4;
  if (hlen < 20 || off + hlen > len) return;
  uint32_t seglen = len - off - hlen + ((flags & TCP_SYN) ? 1 : 0) + ((flags & TCP_FIN) ? 1 : 0);
  if (seglen == 0 || (flags & TCP_RST)) return;
  u16_t sport = (u16_t)((t[0] << 8) | t[1]), dport = (u16_t)((t[2] << 8) | t[3]);
  struct tcp_pcb *pcb = lw_pcb_lookup(&tcp_active_pcbs, &dst, dport, &src, sport);
  if (!pcb) return;
  struct lw_entry *e = entry_of_pcb(pcb);
  if (!e) return;
  uint32_t seq = be32(t + 4), end = seq + seglen;
  if ((e->flags & LW_F_SENT_ANY) && TCP_SEQ_LT(seq, e->snd_max)) {
    e->retransmits++;
    retransmits_total++;
  }
  if (!(e->flags & LW_F_SENT_ANY) || TCP_SEQ_GT(end, e->snd_max)) {
    e->snd_max = end;
    e->flags |= LW_F_SENT_ANY;
  }
}

void lw_tcp_stats(uint32_t *out) {
  out[LW_STAT_TCP_REXMIT] = retransmits_total;
  for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next) {
    out[LW_STAT_PCB_ACTIVE]++;
    switch (p->state) {
      case SYN_RCVD: out[LW_STAT_PCB_SYN_RCVD]++; break;
      case SYN_SENT: out[LW_STAT_PCB_SYN_SENT]++; break;
      case ESTABLISHED: out[LW_STAT_PCB_ESTABLISHED]++; break;
      default: out[LW_STAT_PCB_CLOSING]++; break;
    }
  }
  for (struct tcp_pcb *p = tcp_tw_pcbs; p; p = p->next) out[LW_STAT_PCB_TIME_WAIT]++;
  for (struct tcp_pcb_listen *p = tcp_listen_pcbs.listen_pcbs; p; p = p->next)
    out[LW_STAT_PCB_LISTEN]++;
  out[LW_STAT_REFUSED_LIMIT] = refused_limit;
  out[LW_STAT_REFUSED_MEMORY] = refused_memory;
}
