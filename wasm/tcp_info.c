/*
 * wasm/tcp_info.c: what the glue reports: one connection's state and
 * counters (lw_tcp_info), retransmissions counted at output (every outgoing
 * packet passes lw_tcp_note_output), and the TCP part of lw_stats.
 */
#include <string.h>

#include "lwip/prot/ip.h"
#include "tcp_glue.h"

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
  out[LW_INFO_OPTIONS] = (tcp_nagle_disabled(pcb) ? 1u : 0) | (ip_get_option(pcb, SOF_KEEPALIVE) ? 2u : 0);
  out[LW_INFO_KEEP_IDLE] = pcb->keep_idle;
  out[LW_INFO_KEEP_INTVL] = pcb->keep_intvl;
  out[LW_INFO_KEEP_CNT] = pcb->keep_cnt;
  out[LW_INFO_WND_MAX] = e->wnd;
  out[LW_INFO_SNDBUF_MAX] = e->sndbuf;
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
  struct lw_entry *e = lwt_entry_of(pcb);
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
  out[LW_STAT_REFUSED_LIMIT] = lwt_refused_limit;
  out[LW_STAT_REFUSED_MEMORY] = lwt_refused_memory;
}
