/*
 * Hooks lwIP calls into our glue (wasm/runtime.c, wasm/tcp.c). Included by
 * lwIP through LWIP_HOOK_FILENAME.
 */
#ifndef LWIP_WASM_ARCH_HOOKS_H
#define LWIP_WASM_ARCH_HOOKS_H

#include "lwip/arch.h"
#include "lwip/ip_addr.h"

/* Seeded random source of the stack: ISNs, ephemeral ports, jitter. */
u32_t lw_rand_u32(void);
/* Initial sequence number drawn from the seeded source, so runs with the same
 * seed and clock produce the same packets. */
u32_t lw_tcp_isn_hook(const ip_addr_t *local_ip, u16_t local_port,
                      const ip_addr_t *remote_ip, u16_t remote_port);

struct netif;
struct tcp_pcb;
/* The pcb index (patch 0004): the pcb of a 4-tuple on an active/TIME_WAIT list. */
struct tcp_pcb *lw_pcb_lookup(struct tcp_pcb **list, const ip_addr_t *remote, u16_t rport,
                              const ip_addr_t *local, u16_t lport);
struct ip_hdr;
struct ip6_hdr;
struct tcp_pcb_listen;
/* Transparent interfaces (patch 0003): take TCP for any unicast address. */
int lw_ip4_accept_any(struct netif *inp, const struct ip_hdr *iphdr);
int lw_ip6_accept_any(struct netif *inp, const struct ip6_hdr *ip6hdr);
/* The listener for a SYN no listening pcb matched (transparent mode). */
struct tcp_pcb_listen *lw_tcp_transparent_listener(struct netif *inp, const ip_addr_t *dest,
                                                   u16_t port);

#endif /* LWIP_WASM_ARCH_HOOKS_H */
