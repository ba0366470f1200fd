/*
 * Compiler and platform definitions for lwIP on wasm32 (Emscripten) and on
 * the native fuzzing build (clang). Both are little-endian with a C library.
 */
#ifndef LWIP_WASM_ARCH_CC_H
#define LWIP_WASM_ARCH_CC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef BYTE_ORDER
#define BYTE_ORDER LITTLE_ENDIAN
#endif

/* lwIP needs no errno values of its own: we use no sockets API. */
#define LWIP_ERRNO_STDINCLUDE 1

/* Diagnostics are compiled out: the stack reports through its own events. */
#define LWIP_PLATFORM_DIAG(x) do { } while (0)

/* An lwIP assertion means its state is no longer trustworthy. We report the
 * message to JavaScript and trap; the stack turns that into a fatal error
 * event and terminates every connection (see wasm/abi.h, js_fatal). */
void lw_platform_assert(const char *message, const char *file, int line);
#define LWIP_PLATFORM_ASSERT(x) lw_platform_assert((x), __FILE__, __LINE__)

/* LWIP_ERROR checks (bad arguments, bad input) stay silent without
 * LWIP_DEBUG and run their handler: they are not failures of the stack. */

void *lw_mem_malloc(size_t size);
void *lw_mem_calloc(size_t count, size_t size);
void lw_mem_free(void *ptr);

/* Functions kept out of line for V8's sake (see the file). */
#include "arch/noinline.h"

#endif /* LWIP_WASM_ARCH_CC_H */
