/*
 * wasm/netif.c: packet interfaces. Each lwIP netif carries whole IP packets:
 * input copies a packet from JavaScript into a pbuf and hands it to
 * ip_input; output flattens the pbuf chain and hands it to js_output.
 */
#include <string.h>

#include "glue.h"
#include "lwip/ip.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/ip6.h"
#include "lwip/netif.h"
#include "lwip/ip4_frag.h"
#include "lwip/ip6_frag.h"
#include "lwip/pbuf.h"
#include "lwip/sys.h"
#include "lwip/timeouts.h"

#define MAX_NETIFS 16

struct lw_netif {
  struct netif netif; /* first: lwIP's netif pointers are ours */
  int used;
  int transparent; /* takes TCP for any destination (patch 0003) */
};

static struct lw_netif netifs[MAX_NETIFS];
static uint8_t flat[65536];
static uint32_t in_packets, in_dropped, out_packets;

static void send_out(struct netif *netif, struct pbuf *p) {
  int32_t id = (int32_t)(intptr_t)netif->state;
  out_packets++;
  if (p->len == p->tot_len) {
    lw_tcp_note_output(p->payload, p->tot_len);
    js_output(id, p->payload, p->tot_len);
    return;
  }
  u16_t n = pbuf_copy_partial(p, flat, p->tot_len, 0);
  lw_tcp_note_output(flat, n);
  js_output(id, flat, n);
}

static err_t output4(struct netif *netif, struct pbuf *p, const ip4_addr_t *dest) {
  (void)dest;
  send_out(netif, p);
  return ERR_OK;
}

static err_t output6(struct netif *netif, struct pbuf *p, const ip6_addr_t *dest) {
  (void)dest;
  send_out(netif, p);
  return ERR_OK;
}

static err_t init_netif(struct netif *netif) {
  netif->name[0] = 'w';
  netif->name[1] = 'a';
  netif->output = output4;
  netif->output_ip6 = output6;
  netif->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
  return ERR_OK;
}

int lw_netif_is_transparent(const struct netif *netif) {
  return ((const struct lw_netif *)netif)->transparent;
}

int lw_ip4_accept_any(struct netif *inp, const struct ip_hdr *iphdr) {
  return lw_netif_is_transparent(inp) && IPH_PROTO(iphdr) == IP_PROTO_TCP;
}

/* Not the unspecified address either: tcp_input would answer from "::",
 * and the output path puts an interface address in its place after the
 * checksum was computed (a bad RST/SYN-ACK; found by the fuzzer). IPv4's
 * 0.0.0.0 counts as broadcast, which tcp_input drops. */
int lw_ip6_accept_any(struct netif *inp, const struct ip6_hdr *ip6hdr) {
  return lw_netif_is_transparent(inp) && IP6H_NEXTH(ip6hdr) == IP6_NEXTH_TCP &&
         !ip6_addr_ismulticast(ip6_current_dest_addr()) &&
         !ip6_addr_isany(ip6_current_dest_addr());
}

static struct lw_netif *get(int32_t id) {
  if (id < 0 || id >= MAX_NETIFS || !netifs[id].used) return NULL;
  return &netifs[id];
}

LW_EXPORT int32_t lw_netif_add(uint32_t ip4, int32_t prefix4, const uint8_t *ip6,
                               int32_t prefix6, int32_t mtu) {
  if (mtu < 576 || mtu > 65535) return LW_ERR_BADARG;
  if (ip6 && !lw_range_ok(ip6, 16)) return LW_ERR_BADARG;
  if (prefix4 < 0 || prefix4 > 32 || prefix6 < 0 || prefix6 > 128) return LW_ERR_BADARG;
  int32_t id = 0;
  while (id < MAX_NETIFS && netifs[id].used) id++;
  if (id == MAX_NETIFS) return LW_ERR_LIMIT;
  struct lw_netif *n = &netifs[id];
  memset(n, 0, sizeof *n);
  ip4_addr_t addr, mask, gw;
  addr.addr = ip4;
  mask.addr = prefix4 ? lwip_htonl(0xFFFFFFFFu << (32 - prefix4)) : 0;
  gw.addr = 0;
  lw_enter();
  if (!netif_add(&n->netif, &addr, &mask, &gw, (void *)(intptr_t)id, init_netif, ip_input)) {
    lw_leave();
    return LW_ERR_BADARG;
  }
  n->used = 1;
  n->netif.mtu = (u16_t)mtu;
  n->netif.mtu6 = (u16_t)mtu;
  if (ip6) {
    ip6_addr_t a6;
    memcpy(&a6.addr, ip6, 16);
    ip6_addr_clear_zone(&a6);
    /* "::" means no address, as 0 does for IPv4: as an interface address it
     * made lwIP take packets for "::" and answer them with checksums over
     * "::" from another source address (found by the fuzzer). */
    if (!ip6_addr_isany(&a6)) {
      netif_ip6_addr_set(&n->netif, 0, &a6);
      netif_ip6_addr_set_state(&n->netif, 0, IP6_ADDR_PREFERRED);
    }
  }
  netif_set_up(&n->netif);
  netif_set_link_up(&n->netif);
  if (!netif_default) netif_set_default(&n->netif);
  lw_leave();
  return id;
}

LW_EXPORT int32_t lw_netif_set_transparent(int32_t id, int32_t on) {
  struct lw_netif *n = get(id);
  if (!n) return LW_ERR_BADARG;
  n->transparent = on ? 1 : 0;
  return 0;
}

LW_EXPORT int32_t lw_netif_remove(int32_t id) {
  struct lw_netif *n = get(id);
  if (!n) return LW_ERR_BADARG;
  lw_enter();
  netif_remove(&n->netif);
  n->used = 0;
  lw_leave();
  return 0;
}

/* Reassembly timers run only while fragments may be pending (patch 0002):
 * from the last fragment seen until every partial datagram has aged out. */
/* IPv6 keeps partial datagrams for IPV6_REASS_MAXAGE (60 s by default), longer
 * than IPv4; stopping after the IPv4 age left them held for good (found by the
 * fuzzer's heap check). */
#define REASS_MAXAGE \
  (IP_REASS_MAXAGE > IPV6_REASS_MAXAGE ? IP_REASS_MAXAGE : IPV6_REASS_MAXAGE)
/* lwIP ages a partial datagram by counting calls of ip_reass_tmr and
 * ip6_reass_tmr (one per IP_TMR_INTERVAL), not by the clock: it is freed on
 * the call after its count reached 0, so REASS_MAXAGE + 1 calls after its
 * last fragment free any datagram. The timer therefore counts the calls it
 * still owes, not a deadline: when the host runs the timers late (a
 * throttled page, or a long time advanced at once), a tick makes up every
 * interval that passed, and the timer never stops before it made all of
 * them. A deadline on the clock stopped it after a single late call, with
 * IPv6 fragments still held (found by the fuzzer's heap check). */
#define REASS_TICKS (REASS_MAXAGE + 2)
static u32_t reass_ticks_left; /* calls still owed since the last fragment */
static u32_t reass_last;       /* sys_now() when the current tick was scheduled */
static int reass_running;

static void reass_tick(void *arg) {
  (void)arg;
  u32_t now = sys_now();
  u32_t due = (now - reass_last) / IP_TMR_INTERVAL;
  if (due < 1) due = 1;
  if (due > reass_ticks_left) due = reass_ticks_left;
  for (u32_t i = 0; i < due; i++) {
    ip_reass_tmr();
    ip6_reass_tmr();
  }
  reass_ticks_left -= due;
  if (reass_ticks_left > 0) {
    reass_last = now;
    sys_timeout(IP_TMR_INTERVAL, reass_tick, NULL);
  } else {
    reass_running = 0;
  }
}

static int is_fragment(const uint8_t *ptr, int32_t len) {
  if (len >= 20 && (ptr[0] >> 4) == 4) {
    /* MF set or a non-zero fragment offset */
    return (ptr[6] & 0x20) || ((ptr[6] & 0x1F) | ptr[7]);
  }
  if (len >= 40 && (ptr[0] >> 4) == 6) {
    /* a Fragment header anywhere in the chain; checking the first next-header
     * and the common hop-by-hop/routing/destination cases is enough to start
     * the timer, which is all this decides */
    uint8_t next = ptr[6];
    int32_t off = 40;
    for (int i = 0; i < 8; i++) {
      if (next == 44) return 1;
      if ((next != 0 && next != 43 && next != 60) || off + 8 > len) return 0;
      next = ptr[off];
      off += 8 + ptr[off + 1] * 8;
    }
  }
  return 0;
}

static void note_fragment(void) {
  reass_ticks_left = REASS_TICKS;
  if (!reass_running) {
    reass_running = 1;
    reass_last = sys_now();
    sys_timeout(IP_TMR_INTERVAL, reass_tick, NULL);
  }
}

/* lwIP reads a header's length field before it checks that the packet
 * holds the header (ip6_input reads the payload length of a 1..5-byte
 * packet past the end of its pbuf; found by the fuzzer, test/fuzz), so
 * anything shorter than a fixed IP header is dropped before lwIP. */
static int too_short(const uint8_t *ptr, int32_t len) {
  return len < 20 || ((ptr[0] >> 4) == 6 && len < 40);
}

/* lwIP's tcp_parseopt() reads an option's length byte before checking that
 * it lies inside the TCP header, so a segment whose header ends in an option
 * kind is read one byte past its end (an lwIP bug, found by the fuzzer and
 * not patched here). Every input pbuf therefore carries a zeroed spare byte
 * after the packet: the stray read finds "end of options" inside the
 * allocation. (65535 bytes need no extra: alignment leaves a spare byte.) */
static struct pbuf *alloc_input(uint32_t len) {
  struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)(len < 65535 ? len + 1 : len), PBUF_RAM);
  if (!p) return NULL;
  if (len < 65535) pbuf_realloc(p, (u16_t)len);
  ((uint8_t *)p->payload)[len] = 0;
  return p;
}

static void input_one(struct lw_netif *n, const uint8_t *ptr, int32_t len) {
  in_packets++;
  if (len < 1 || len > 65535 || too_short(ptr, len)) {
    in_dropped++;
    return;
  }
  struct pbuf *p = alloc_input((uint32_t)len);
  if (!p) {
    in_dropped++;
    return;
  }
  memcpy(p->payload, ptr, (size_t)len);
  if (is_fragment(ptr, len)) note_fragment();
  if (n->netif.input(p, &n->netif) != ERR_OK) pbuf_free(p);
}

LW_EXPORT int32_t lw_netif_input(int32_t id, const uint8_t *ptr, int32_t len) {
  struct lw_netif *n = get(id);
  if (!n) return LW_ERR_BADARG;
  if (len < 0 || !lw_range_ok(ptr, (uint32_t)len)) return LW_ERR_BADARG;
  lw_enter();
  input_one(n, ptr, len);
  lw_leave();
  return 0;
}

/* Pbufs handed out by lw_input_reserve and not yet committed. */
static struct pbuf **reserved;
static int32_t nreserved, capreserved;

static void drop_reserved(void) {
  for (int32_t i = 0; i < nreserved; i++)
    if (reserved[i]) pbuf_free(reserved[i]);
  nreserved = 0;
}

LW_EXPORT int32_t lw_input_reserve(const uint32_t *lens, uint32_t *ptrs, int32_t count) {
  if (count < 0 || count > 0x1000000) return LW_ERR_BADARG;
  if (!lw_range_ok(lens, (uint32_t)count * 4) || !lw_range_ok(ptrs, (uint32_t)count * 4))
    return LW_ERR_BADARG;
  drop_reserved(); /* a reservation never committed is given back */
  if (count > capreserved) {
    int32_t grown = count < 64 ? 64 : count;
    struct pbuf **r = realloc(reserved, (size_t)grown * sizeof *r);
    if (!r) return 0;
    reserved = r;
    capreserved = grown;
  }
  for (int32_t i = 0; i < count; i++) {
    uint32_t len = lens[i];
    struct pbuf *p = NULL;
    if (len >= 1 && len <= 65535) p = alloc_input(len);
    reserved[nreserved++] = p;
    ptrs[i] = p ? (uint32_t)(uintptr_t)p->payload : 0;
  }
  return count;
}

LW_EXPORT int32_t lw_input_commit(int32_t id, int32_t count) {
  struct lw_netif *n = get(id);
  if (!n || count != nreserved) {
    drop_reserved();
    return LW_ERR_BADARG;
  }
  lw_enter();
  for (int32_t i = 0; i < count; i++) {
    struct pbuf *p = reserved[i];
    reserved[i] = NULL;
    in_packets++;
    if (!p || too_short(p->payload, p->tot_len)) {
      if (p) pbuf_free(p);
      in_dropped++;
      continue;
    }
    if (is_fragment(p->payload, p->tot_len)) note_fragment();
    if (n->netif.input(p, &n->netif) != ERR_OK) pbuf_free(p);
  }
  nreserved = 0;
  lw_leave();
  return count;
}

void lw_netif_count_stats(uint32_t *out) {
  out[LW_STAT_IN_PACKETS] = in_packets;
  out[LW_STAT_IN_DROPPED] = in_dropped;
  out[LW_STAT_OUT_PACKETS] = out_packets;
}
