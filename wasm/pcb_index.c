/*
 * wasm/pcb_index.c: an index of lwIP's pcb lists (patch 0004), so that
 * finding a segment's pcb and picking a free local port cost the same with
 * 50,000 connections as with ten.
 *
 * - Two open-addressing hash tables (active, TIME_WAIT) map a 4-tuple to its
 *   pcb; linear probing with backward-shift deletion, kept at most half full.
 *   Each starts in a small built-in table, so the first pcbs need no memory;
 *   when a table cannot grow (the heap is exhausted) it fills further, which
 *   only makes probing longer, until memory returns. Only a table with no
 *   free slot left fails the stack (an lwIP invariant would break).
 * - The pcbs of each local port, over all lists, chained through the links
 *   patch 0007 adds to every pcb: "is this port in use" for tcp_new_port()
 *   is one load, and tcp_bind() asks only the pcbs on its port whether the
 *   new address overlaps theirs.
 * lwIP reports every pcb joining or leaving a list through the REG/RMV hooks,
 * while the pcb's addresses and ports are fixed (they are set before a pcb
 * is registered and never changed while it is).
 */
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "lwip/priv/tcp_priv.h"

struct table {
  struct tcp_pcb **slots;
  uint32_t mask; /* capacity - 1 (capacity a power of two) */
  uint32_t count;
};

#define INITIAL_SLOTS 64
static struct tcp_pcb *active_initial[INITIAL_SLOTS], *timewait_initial[INITIAL_SLOTS];
static struct table active = {active_initial, INITIAL_SLOTS - 1, 0};
static struct table timewait = {timewait_initial, INITIAL_SLOTS - 1, 0};
static struct tcp_pcb **port_head; /* 65536 chains, allocated on first use */

static uint32_t mix(uint32_t h) {
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

static uint32_t addr_hash(const ip_addr_t *a) {
  if (IP_IS_V6_VAL(*a)) {
    const u32_t *w = ip_2_ip6(a)->addr;
    return w[0] ^ mix(w[1]) ^ mix(w[2] + 0x9e3779b9u) ^ mix(w[3] + 0x7f4a7c15u);
  }
  return ip_2_ip4(a)->addr;
}

static uint32_t key_hash(const ip_addr_t *remote, u16_t rport, const ip_addr_t *local, u16_t lport) {
  return mix(addr_hash(remote) ^ mix(addr_hash(local) + ((uint32_t)rport << 16 | lport)));
}

static uint32_t pcb_hash(const struct tcp_pcb *pcb) {
  return key_hash(&pcb->remote_ip, pcb->remote_port, &pcb->local_ip, pcb->local_port);
}

static int grow(struct table *t) {
  uint32_t cap = (t->mask + 1) * 2;
  struct tcp_pcb **slots = calloc(cap, sizeof *slots);
  if (!slots) return 0;
  struct tcp_pcb **old = t->slots;
  uint32_t old_cap = t->mask + 1;
  t->slots = slots;
  t->mask = cap - 1;
  for (uint32_t i = 0; i < old_cap; i++) {
    struct tcp_pcb *p = old[i];
    if (!p) continue;
    uint32_t j = pcb_hash(p) & t->mask;
    while (t->slots[j]) j = (j + 1) & t->mask;
    t->slots[j] = p;
  }
  if (old != active_initial && old != timewait_initial) free(old);
  return 1;
}

static void insert(struct table *t, struct tcp_pcb *pcb) {
  if ((t->count + 1) * 2 > t->mask + 1 && !grow(t) && t->count + 2 > t->mask + 1) {
    /* No free slot would be left (probing needs one) and no memory to grow:
     * the pcb could not be found again, an lwIP invariant would break. */
    lw_platform_assert("pcb index: out of memory", __FILE__, __LINE__);
  }
  uint32_t j = pcb_hash(pcb) & t->mask;
  while (t->slots[j]) j = (j + 1) & t->mask;
  t->slots[j] = pcb;
  t->count++;
}

static void erase(struct table *t, struct tcp_pcb *pcb) {
  uint32_t j = pcb_hash(pcb) & t->mask;
  while (t->slots[j] && t->slots[j] != pcb) j = (j + 1) & t->mask;
  if (!t->slots[j]) return;
  t->slots[j] = NULL;
  t->count--;
  /* Backward-shift: move later members of the run into the hole. */
  uint32_t hole = j;
  for (uint32_t k = (j + 1) & t->mask; t->slots[k]; k = (k + 1) & t->mask) {
    uint32_t home = pcb_hash(t->slots[k]) & t->mask;
    int between = hole <= k ? (home > hole && home <= k) : (home > hole || home <= k);
    if (!between) {
      t->slots[hole] = t->slots[k];
      t->slots[k] = NULL;
      hole = k;
    }
  }
}

static struct table *table_of(struct tcp_pcb **list) {
  if (list == &tcp_active_pcbs) return &active;
  if (list == &tcp_tw_pcbs) return &timewait;
  return NULL;
}

void lw_pcb_reg(struct tcp_pcb **list, struct tcp_pcb *pcb) {
  if (!port_head) {
    port_head = calloc(65536, sizeof *port_head);
    if (!port_head) lw_platform_assert("pcb index: out of memory", __FILE__, __LINE__);
  }
  struct tcp_pcb **head = &port_head[pcb->local_port];
  pcb->port_next = *head;
  if (*head) (*head)->port_pprev = &pcb->port_next;
  *head = pcb;
  pcb->port_pprev = head;
  struct table *t = table_of(list);
  if (t) insert(t, pcb);
  if (list == &tcp_tw_pcbs) lw_tcp_entered_time_wait(pcb);
}

void lw_pcb_rmv(struct tcp_pcb **list, struct tcp_pcb *pcb) {
  if (!pcb->port_pprev) return; /* on no list */
  *pcb->port_pprev = pcb->port_next;
  if (pcb->port_next) pcb->port_next->port_pprev = pcb->port_pprev;
  pcb->port_next = NULL;
  pcb->port_pprev = NULL;
  struct table *t = table_of(list);
  if (t) erase(t, pcb);
  if (list == &tcp_tw_pcbs) lw_tcp_left_time_wait(pcb);
}

struct tcp_pcb *lw_pcb_lookup(struct tcp_pcb **list, const ip_addr_t *remote, u16_t rport,
                              const ip_addr_t *local, u16_t lport) {
  struct table *t = table_of(list);
  if (!t) return NULL;
  uint32_t j = key_hash(remote, rport, local, lport) & t->mask;
  for (struct tcp_pcb *p; (p = t->slots[j]); j = (j + 1) & t->mask) {
    if (p->remote_port == rport && p->local_port == lport && ip_addr_cmp(&p->remote_ip, remote) &&
        ip_addr_cmp(&p->local_ip, local))
      return p;
  }
  return NULL;
}

int lw_pcb_port_in_use(u16_t port) { return port_head && port_head[port] != NULL; }

struct tcp_pcb *lw_pcb_port_first(u16_t port) { return port_head ? port_head[port] : NULL; }
