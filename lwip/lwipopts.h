/*
 * lwIP configuration for lwip-wasm.
 *
 * One lwIP instance runs inside one WebAssembly instance, driven by a single
 * JavaScript event loop: no OS, no threads (NO_SYS), raw API only. Packets
 * enter and leave as whole IP datagrams (no Ethernet, no ARP). Memory comes
 * from the C heap through our accounting allocator (wasm/runtime.c), so pool
 * sizes are not limits; the glue enforces the stack's limits itself.
 *
 * Compile-time TCP sizes below are maxima. Each connection's actual receive
 * window and send buffer are set at run time from the stack's options
 * (wasm/tcp.c), never above these values.
 */
#ifndef LWIP_WASM_LWIPOPTS_H
#define LWIP_WASM_LWIPOPTS_H

/* ---- system ---- */
#define NO_SYS 1
#define LWIP_TIMERS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
#define LWIP_NETIF_API 0
/* Only TCP counters (retransmissions for Stack.stats()), 32-bit. */
#define LWIP_STATS 1
#define LWIP_STATS_LARGE 1
#define LWIP_STATS_DISPLAY 0
#define LINK_STATS 0
#define ETHARP_STATS 0
#define IP_STATS 0
#define IPFRAG_STATS 0
#define ICMP_STATS 0
#define IGMP_STATS 0
#define UDP_STATS 0
#define TCP_STATS 1
#define MEM_STATS 0
#define MEMP_STATS 0
#define SYS_STATS 0
#define IP6_STATS 0
#define ICMP6_STATS 0
#define IP6_FRAG_STATS 0
#define MLD6_STATS 0
#define ND6_STATS 0
#define MIB2_STATS 0
#define LWIP_HAVE_LOOPIF 0
#define LWIP_NETIF_LOOPBACK 0

/* ---- memory: everything through mem_malloc -> our accounting allocator ---- */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 4
/* Only decides that mem_size_t is 32 bits wide; no static heap exists. */
#define MEM_SIZE (16 * 1024 * 1024)
#define mem_clib_malloc lw_mem_malloc
#define mem_clib_free lw_mem_free
#define mem_clib_calloc lw_mem_calloc
#define PBUF_POOL_BUFSIZE 1600

/* ---- link and network layers ---- */
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_ICMP 1
#define LWIP_ICMP6 1
#define LWIP_RAW 0
#define LWIP_UDP 0
#define LWIP_IGMP 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_DNS 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define IP_DEFAULT_TTL 64
#define LWIP_IPV6_FRAG 1
#define LWIP_IPV6_REASS 1
#define LWIP_IPV6_MLD 0
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_ND6_ALLOW_RA_UPDATES 1
#define LWIP_IPV6_NUM_ADDRESSES 3
#define LWIP_NUM_NETIF_CLIENT_DATA 0
#define LWIP_SINGLE_NETIF 0

/* Cyclic timers start on demand (patch 0002; reassembly in wasm/netif.c). */
#define LWIP_PORT_ON_DEMAND_TIMERS 1
/* Seconds a partly reassembled datagram is kept. */
#define IP_REASS_MAXAGE 15
#define IP_REASS_MAX_PBUFS 256

/* ---- checksums: always generated and always checked ---- */
/* Our SIMD implementation (wasm/checksum.c). */
#define LWIP_CHKSUM lw_chksum
unsigned short lw_chksum(const void *data, int len);
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_GEN_ICMP 1
#define CHECKSUM_GEN_ICMP6 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_TCP 1
#define CHECKSUM_CHECK_ICMP 1
#define CHECKSUM_CHECK_ICMP6 1

/* ---- TCP ---- */
#define LWIP_TCP 1
#define LWIP_CALLBACK_API 1
#define LWIP_EVENT_API 0
#define TCP_LISTEN_BACKLOG 1
#define TCP_DEFAULT_LISTEN_BACKLOG 128
#define LWIP_TCP_KEEPALIVE 1
#define LWIP_TCP_TIMESTAMPS 0
#define LWIP_TCP_SACK_OUT 0
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_PCB_NUM_EXT_ARGS 1
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 7
/* 65535 (largest MTU) - 40 (IPv6 header) - 20 (TCP header): one value that
 * fits a segment into a 16-bit pbuf for both IP versions. The effective MSS
 * of a connection is derived from the interface MTU (TCP_CALCULATE_EFF_SEND_MSS). */
#define TCP_MSS 65475
#define TCP_CALCULATE_EFF_SEND_MSS 1
#define TCP_WND (0xFFFF << TCP_RCV_SCALE)
#define TCP_SND_BUF (8 * 1024 * 1024)
#define TCP_SND_QUEUELEN 0xFFF0
#define TCP_SNDLOWAT 4096
#define TCP_SNDQUEUELOWAT 64
#define TCP_OVERSIZE 0
#define TCP_MAXRTX 12
#define TCP_SYNMAXRTX 6
/* Each connection's receive window maximum is its own (patch 0001); both
 * functions live in wasm/tcp.c. TCP_WND_UPDATE_THRESHOLD is only used in
 * tcp_recved(), where `pcb` names the connection. */
struct tcp_pcb;
unsigned int lw_tcp_wnd_max(const struct tcp_pcb *pcb);
unsigned int lw_tcp_wnd_update_threshold(const struct tcp_pcb *pcb);
#define TCP_WND_MAX(pcb) lw_tcp_wnd_max(pcb)
#define TCP_WND_UPDATE_THRESHOLD lw_tcp_wnd_update_threshold(pcb)
/* TCP_MSS above 16383 and the 8 MiB send buffer trip the sanity checks that
 * guard small static pools; our pools are the C heap. */
#define LWIP_DISABLE_TCP_SANITY_CHECKS 1
#define LWIP_DISABLE_MEMP_SANITY_CHECKS 1

/* ---- pcb index (patches 0004 and 0007; wasm/pcb_index.c) ---- */
struct tcp_pcb;
void lw_pcb_reg(struct tcp_pcb **list, struct tcp_pcb *pcb);
void lw_pcb_rmv(struct tcp_pcb **list, struct tcp_pcb *pcb);
int lw_pcb_port_in_use(unsigned short port);
struct tcp_pcb *lw_pcb_port_first(unsigned short port);
/* Every pcb links to the others on its local port (patch 0007). */
#define LWIP_TCP_PCB_PORT_INDEX 1
#define LWIP_HOOK_TCP_PORT_FIRST(port) lw_pcb_port_first(port)
#define LWIP_HOOK_TCP_REG(pcbs, npcb) lw_pcb_reg((struct tcp_pcb **)(pcbs), (struct tcp_pcb *)(npcb))
#define LWIP_HOOK_TCP_RMV(pcbs, npcb) lw_pcb_rmv((struct tcp_pcb **)(pcbs), (struct tcp_pcb *)(npcb))
#define LWIP_HOOK_TCP_PORT_IN_USE(port) lw_pcb_port_in_use(port)
#define LWIP_HOOK_TCP_LOOKUP(list, remote, rport, local, lport) \
  lw_pcb_lookup(list, remote, rport, local, lport)

/* ---- hooks, declared in arch/hooks.h and implemented in wasm/ ---- */
#define LWIP_HOOK_FILENAME "arch/hooks.h"
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) \
  lw_tcp_isn_hook(local_ip, local_port, remote_ip, remote_port)
#define LWIP_RAND() lw_rand_u32()
#define LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS 1
/* Transparent TCP (patch 0003): any destination on interfaces marked so. */
#define LWIP_HOOK_IP4_ACCEPT_ANY(inp, iphdr) lw_ip4_accept_any(inp, iphdr)
#define LWIP_HOOK_IP6_ACCEPT_ANY(inp, ip6hdr) lw_ip6_accept_any(inp, ip6hdr)
#define LWIP_HOOK_TCP_INPUT_LISTENER(inp, dest, port) lw_tcp_transparent_listener(inp, dest, port)

/* ---- debugging: LWIP_DEBUG stays undefined (its mere definition enables it) ---- */

#endif /* LWIP_WASM_LWIPOPTS_H */
