/*
 * The entry points of lwIP's input path stay functions of their own in the
 * WASM module.
 *
 * Each has a single caller, so link-time optimisation inlines them all into
 * ip_input(), which becomes one 13 KB WASM function. When traffic starts, V8
 * compiles that hot function with TurboFan on its worker thread, and for
 * this one function it took ~10 MiB of memory (--trace-wasm-compilation-
 * times): the largest allocation of the proxy's life, and the moment of its
 * peak RSS. The noinline attribute keeps LLVM from merging them; the
 * Makefile's INLINE_CAP keeps Binaryen, which ignores the attribute, from
 * doing the same. A call more per packet costs nothing measurable.
 *
 * The declarations repeat lwIP's own (err_t is s8_t, a signed char); the
 * attribute on a declaration applies to the definition that follows.
 */
#ifndef LWIP_WASM_ARCH_NOINLINE_H
#define LWIP_WASM_ARCH_NOINLINE_H

struct pbuf;
struct netif;

#define LW_OWN_FUNCTION __attribute__((noinline))

LW_OWN_FUNCTION signed char ip4_input(struct pbuf *p, struct netif *inp);
LW_OWN_FUNCTION signed char ip6_input(struct pbuf *p, struct netif *inp);
LW_OWN_FUNCTION void icmp_input(struct pbuf *p, struct netif *inp);
LW_OWN_FUNCTION void icmp6_input(struct pbuf *p, struct netif *inp);
LW_OWN_FUNCTION void nd6_input(struct pbuf *p, struct netif *inp);
LW_OWN_FUNCTION void mld6_input(struct pbuf *p, struct netif *inp);
LW_OWN_FUNCTION void udp_input(struct pbuf *p, struct netif *inp);
LW_OWN_FUNCTION struct pbuf *ip4_reass(struct pbuf *p);
LW_OWN_FUNCTION struct pbuf *ip6_reass(struct pbuf *p);

#endif /* LWIP_WASM_ARCH_NOINLINE_H */
