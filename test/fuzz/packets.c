/*
 * test/fuzz/packets.c: the operations of the native fuzzer that put packets
 * on the wire, apart from the API calls of ops.c because they are a
 * different kind of input: raw bytes (OP_INPUT), TCP segments crafted from
 * fields and aimed at live pcbs, whole or in fragments (OP_TCP), and the
 * stack's own output delivered back with faults (OP_PUMP). Here too is the
 * loopback wire itself: every packet goes in through input(), and
 * OP_ADVANCE hands what the interfaces sent back to them as time passes,
 * so the stack talks to itself over real connections.
 *
 * These reach into lwIP's pcb lists (lwip/priv/tcp_priv.h) to aim segments
 * at live connections; the API operations never do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "harness.h"
#include "lwip/ip_addr.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"

/* Which base interface owns (or routes) an address. */
static int32_t netif_for(int is6, const uint8_t *a) {
  if (is6) return (a[0] == 0xfd && a[1] <= 2) ? a[1] : 0;
  return (a[0] == 10 && a[1] == 0 && a[2] <= 2) ? a[2] : 0;
}

/* ---- the wire ---- */

/* Packets one program may feed in: two stacks echoing duplicates can
 * multiply traffic without end, and a slow input is a useless one. */
#define INPUT_BUDGET 20000
static int input_budget;

static void input(int32_t netif, const uint8_t *p, uint32_t len) {
  if (input_budget-- <= 0) return;
  if (fuzz_trace) fprintf(stderr, "  in netif %d: %u bytes\n", netif, len);
  fuzz_in_input = 1;
  int32_t rc = X(lw_netif_input(netif, p, (int32_t)len));
  fuzz_in_input = 0;
  if (rc != 0 && rc != LW_ERR_BADARG) fuzz_fail("lw_netif_input returned %d", rc);
  if (rc == LW_ERR_BADARG && netif >= 0 && netif < 16 && fuzz_netif_used[netif] && p)
    fuzz_fail("lw_netif_input refused interface %d", netif);
}

/* Hands every queued output back to the interface that sent it, until the
 * wire is quiet (or a budget ran out: two stacks can talk forever). */
static void loopback(void) {
  int budget = 4096;
  static struct outpkt batch[MAX_OUT];
  while (fuzz_nout > 0 && budget > 0) {
    int n = fuzz_nout;
    memcpy(batch, fuzz_out, (size_t)n * sizeof *batch);
    fuzz_nout = 0;
    for (int i = 0; i < n; i++) {
      if (budget-- > 0) input(batch[i].netif, batch[i].data, batch[i].len);
      free(batch[i].data);
    }
  }
  fuzz_out_clear();
}

static void advance(uint32_t ms) {
  uint64_t left = ms;
  for (int iter = 0; iter < 4000; iter++) {
    loopback();
    int32_t next = lw_timers_next();
    if (next < 0 || (uint64_t)next > left) break;
    fuzz_now += (uint32_t)next;
    left -= (uint64_t)next;
    X(lw_timers_run());
  }
  fuzz_now += (uint32_t)left;
  X(lw_timers_run());
  loopback();
}

/* ---- operations ---- */

static uint8_t pkt[70000];
static uint16_t ip_id = 1;
static uint32_t id6 = 1;

void fuzz_packets_reset(void) {
  input_budget = INPUT_BUDGET;
  ip_id = 1;
  id6 = 1;
}

void fuzz_op_input(struct rd *r) {
  uint8_t sel = u8(r), fix = u8(r);
  uint16_t len = u16(r);
  int32_t netif = sel < 0xF0 ? sel % 4 : (int8_t)sel;
  size_t n = take(r, pkt, len);
  fuzz_fix_packet(pkt, n, fix & 7);
  if (fix & 0x80) {
    /* NULL with a length: must be refused, not read. */
    int32_t rc = X(lw_netif_input(netif, NULL, (int32_t)n));
    if (rc != LW_ERR_BADARG && n > 0) fuzz_fail("lw_netif_input(NULL, %zu) returned %d", n, rc);
    return;
  }
  if (fix & 0x40) {
    int32_t rc = X(lw_netif_input(netif, pkt, -(int32_t)n - 1));
    if (rc != LW_ERR_BADARG) fuzz_fail("lw_netif_input(len < 0) returned %d", rc);
    return;
  }
  input(netif, pkt, (uint32_t)n);
}

/* The pcbs a crafted segment may aim at: active, TIME_WAIT, listening. */
static void *pick_pcb(uint8_t sel, int *listening) {
  void *all[256];
  int n = 0;
  for (struct tcp_pcb *p = tcp_active_pcbs; p && n < 256; p = p->next) all[n++] = p;
  for (struct tcp_pcb *p = tcp_tw_pcbs; p && n < 256; p = p->next) all[n++] = p;
  int first_listen = n;
  for (struct tcp_pcb_listen *p = tcp_listen_pcbs.listen_pcbs; p && n < 256; p = p->next)
    all[n++] = p;
  if (n == 0) return NULL;
  int i = sel % n;
  *listening = i >= first_listen;
  return all[i];
}

static void copy_ip(const ip_addr_t *ip, uint8_t *out) {
  if (IP_IS_V6_VAL(*ip)) {
    memcpy(out, ip_2_ip6(ip)->addr, 16);
  } else {
    memcpy(out, &ip_2_ip4(ip)->addr, 4);
  }
}

static void put16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v);
}

/* Sends pkt[0..len) as IPv4 fragments or with an IPv6 Fragment header. */
static void fragment(int32_t netif, int is6, size_t hl, size_t len, uint8_t fb) {
  static uint8_t frag[70000];
  size_t unit = ((size_t)(fb & 31) + 1) * 8;
  size_t body = len - hl;
  size_t count = (body + unit - 1) / unit;
  if (count == 0) count = 1;
  id6++;
  for (size_t k = 0; k < count; k++) {
    size_t i = (fb & 0x80) ? count - 1 - k : k; /* in order or reversed */
    size_t off = i * unit;
    size_t n = body - off < unit ? body - off : unit;
    int more = i + 1 < count;
    size_t flen;
    if (!is6) {
      memcpy(frag, pkt, hl);
      memcpy(frag + hl, pkt + hl + off, n);
      put16(frag + 6, (uint32_t)((more ? 0x2000 : 0) | (off / 8)));
      flen = hl + n;
      fuzz_fix_packet(frag, flen, FIX_LEN | FIX_IP);
    } else {
      memcpy(frag, pkt, 40);
      frag[6] = 44;
      frag[40] = pkt[6];
      frag[41] = 0;
      put16(frag + 42, (uint32_t)(off | (more ? 1 : 0)));
      put32(frag + 44, id6);
      memcpy(frag + 48, pkt + 40 + off, n);
      flen = 48 + n;
      fuzz_fix_packet(frag, flen, FIX_LEN);
    }
    input(netif, frag, (uint32_t)flen);
    if ((fb & 0x40) && k == 0) input(netif, frag, (uint32_t)flen); /* a duplicate */
  }
}

/* A TCP segment from fields. Layout (harness.h, OP_TCP): mode(u8)
 * [netif(u8) if mode&0x80] target(u8) src(u8 [raw]) dst(u8 [raw])
 * sport(u16) dport(u16) seq(u32) ack(u32) flags(u8) wnd(u16) urp(u16)
 * opt(u8 [bytes]) [ipx(u8 [bytes]) if mode&0x40] [frag(u8) if mode&0x20]
 * paylen(u16 [bytes]).
 * mode: 1 IPv6, 2 aim at a pcb (addresses and ports from it), 4 seq +=
 * its rcv_nxt, 8 ack += its snd_nxt, 0x10 wrong TCP checksum, 0x20
 * fragment, 0x40 IPv4 options / IPv6 extension header, 0x80 pick netif. */
void fuzz_op_tcp(struct rd *r) {
  uint8_t mode = u8(r);
  int is6 = mode & 1;
  int32_t netif = -100;
  if (mode & 0x80) {
    uint8_t b = u8(r);
    netif = b < 0xF0 ? b % 4 : (int8_t)b;
  }
  uint8_t target = u8(r);
  uint8_t src[16], dst[16];
  fuzz_pick_addr(r, is6, u8(r), src);
  fuzz_pick_addr(r, is6, u8(r), dst);
  uint32_t sport = u16(r), dport = u16(r), seq = u32(r), ack = u32(r);
  uint8_t flags = u8(r);
  uint32_t wnd = u16(r), urp = u16(r);
  uint8_t optv = u8(r);
  uint8_t opts[40] = {0};
  size_t optlen = 0;
  uint32_t doff;
  if ((optv & 63) <= 40) {
    optlen = take(r, opts, optv & 63);
    doff = 5 + (uint32_t)(optlen + 3) / 4;
  } else {
    doff = optv & 15; /* a data offset that lies */
  }
  uint8_t ipx[40] = {0};
  size_t ipxlen = 0;
  uint8_t ipxtype = 0;
  if (mode & 0x40) {
    ipxtype = u8(r);
    ipxlen = is6 ? 8 : (size_t)(ipxtype % 11) * 4;
    take(r, is6 ? ipx + 2 : ipx, is6 ? 6 : ipxlen);
  }
  uint8_t fb = (mode & 0x20) ? u8(r) : 0;
  uint16_t pl = u16(r);

  if (mode & 2) {
    int listening = 0;
    struct tcp_pcb *pcb = pick_pcb(target, &listening);
    if (pcb) {
      if (!listening) {
        is6 = IP_IS_V6_VAL(pcb->local_ip);
        memset(src, 0, 16);
        memset(dst, 0, 16);
        copy_ip(&pcb->remote_ip, src);
        copy_ip(&pcb->local_ip, dst);
        sport = pcb->remote_port;
        if (mode & 4) seq += pcb->rcv_nxt;
        if (mode & 8) ack += pcb->snd_nxt;
      }
      dport = pcb->local_port;
    }
  }
  if (netif == -100) netif = netif_for(is6, dst);

  size_t iphl = is6 ? 40 + ipxlen : 20 + ipxlen;
  size_t tcphl = 20 + ((optlen + 3) & ~(size_t)3);
  size_t paylen = pl & 0x7FFF;
  if (iphl + tcphl + paylen > 65535) paylen = 65535 - iphl - tcphl;
  memset(pkt, 0, iphl + tcphl);
  uint8_t *t = pkt + iphl;
  if (pl & 0x8000) {
    for (size_t i = 0; i < paylen; i++) t[tcphl + i] = (uint8_t)(i * 7 + 3);
  } else {
    paylen = take(r, t + tcphl, paylen);
  }
  size_t len = iphl + tcphl + paylen;
  if (!is6) {
    pkt[0] = (uint8_t)(0x40 | (iphl / 4));
    put16(pkt + 4, ip_id++);
    pkt[8] = 64;
    pkt[9] = 6;
    memcpy(pkt + 12, src, 4);
    memcpy(pkt + 16, dst, 4);
    memcpy(pkt + 20, ipx, ipxlen);
  } else {
    pkt[0] = 0x60;
    pkt[7] = 64;
    memcpy(pkt + 8, src, 16);
    memcpy(pkt + 24, dst, 16);
    if (ipxlen) {
      static const uint8_t kinds[] = {0, 60, 43, 60, 0, 59};
      pkt[6] = kinds[ipxtype % sizeof kinds];
      ipx[0] = 6;
      ipx[1] = 0;
      memcpy(pkt + 40, ipx, 8);
    } else {
      pkt[6] = 6;
    }
  }
  put16(t, sport);
  put16(t + 2, dport);
  put32(t + 4, seq);
  put32(t + 8, ack);
  t[12] = (uint8_t)(doff << 4);
  t[13] = flags;
  put16(t + 14, wnd);
  put16(t + 18, urp);
  memcpy(t + 20, opts, optlen);
  fuzz_fix_packet(pkt, len, FIX_LEN | FIX_IP | FIX_L4);
  if (mode & 0x10) t[17] ^= 1;
  if (fuzz_trace)
    fprintf(stderr, "  tcp %s %u -> %u seq %u ack %u flags %#x len %zu\n", is6 ? "v6" : "v4",
            sport, dport, seq, ack, flags, paylen);
  if (mode & 0x20) {
    fragment(netif, is6, is6 ? 40 : iphl, len, fb);
  } else {
    input(netif, pkt, (uint32_t)len);
  }
}

void fuzz_op_advance(struct rd *r) {
  uint16_t v = u16(r);
  advance(v >= 0xF000 ? (uint32_t)(v - 0xF000) << 20 : v);
}

void fuzz_op_pump(struct rd *r) {
  uint8_t mode = u8(r), n = u8(r);
  int count = n && n < fuzz_nout ? n : fuzz_nout;
  static struct outpkt batch[MAX_OUT];
  memcpy(batch, fuzz_out, (size_t)count * sizeof *batch);
  memmove(fuzz_out, fuzz_out + count, (size_t)(fuzz_nout - count) * sizeof *fuzz_out);
  fuzz_nout -= count;
  for (int k = 0; k < count; k++) {
    struct outpkt *o = &batch[(mode & 4) ? count - 1 - k : k];
    uint32_t len = o->len;
    if (!((mode & 1) && k % 3 == 0)) {
      memcpy(pkt, o->data, len);
      if (mode & 0x40) len = len / 2 + 1;
      if (mode & 8) pkt[(k * 7u + mode) % len] ^= (uint8_t)(1u << (k & 7));
      if (mode & 0x10) fuzz_fix_packet(pkt, len, FIX_LEN | FIX_IP | FIX_L4);
      int32_t to = (mode & 0x20) ? (o->netif + 1) % BASE_NETIFS : o->netif;
      input(to, pkt, len);
      if (mode & 2) input(to, pkt, len);
    }
  }
  for (int k = 0; k < count; k++) free(batch[k].data);
}
