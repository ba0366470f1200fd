/*
 * wasm/checksum.c: the Internet checksum for lwIP (LWIP_CHKSUM), summing
 * 16 bytes per step with WebAssembly SIMD where available. Every TCP byte is
 * summed twice (generate on send, check on receive), so this is one of the
 * hottest loops of a bulk transfer.
 *
 * Contract (as lwip_standard_chksum): the one's-complement sum of the data
 * taken as 16-bit words in host order relative to `data`, folded to 16
 * bits, not inverted. A trailing odd byte counts as the low byte of a word.
 */
#include <stdint.h>
#include <string.h>

#include "lwip/arch.h"

#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

static uint32_t fold(uint64_t sum) {
  sum = (sum & 0xFFFFFFFFu) + (sum >> 32);
  sum = (sum & 0xFFFFFFFFu) + (sum >> 32);
  uint32_t s = (uint32_t)sum;
  s = (s & 0xFFFFu) + (s >> 16);
  s = (s & 0xFFFFu) + (s >> 16);
  return s;
}

u16_t lw_chksum(const void *data, int len) {
  const uint8_t *p = data;
  uint64_t sum = 0;
#ifdef __wasm_simd128__
  while (len >= 64) {
    /* Each u32 lane grows by at most 2 * 0xFFFF per vector; 256 vectors
     * stay far below 2^32 before we drain the lanes. */
    v128_t acc = wasm_i32x4_splat(0);
    int blocks = len / 16;
    if (blocks > 1024) blocks = 1024;
    for (int i = 0; i < blocks; i++) {
      acc = wasm_i32x4_add(acc, wasm_u32x4_extadd_pairwise_u16x8(wasm_v128_load(p)));
      p += 16;
    }
    len -= blocks * 16;
    sum += (uint64_t)wasm_u32x4_extract_lane(acc, 0) + wasm_u32x4_extract_lane(acc, 1) +
           wasm_u32x4_extract_lane(acc, 2) + wasm_u32x4_extract_lane(acc, 3);
  }
#endif
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    sum += (w & 0xFFFFFFFFu) + (w >> 32);
    p += 8;
    len -= 8;
  }
  while (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    sum += w;
    p += 2;
    len -= 2;
  }
  if (len) sum += *p;
  return (u16_t)fold(sum);
}
