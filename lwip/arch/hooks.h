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

#endif /* LWIP_WASM_ARCH_HOOKS_H */
