# test/fuzz/fuzz.mk: the native fuzzer of the C side (lwIP + wasm/ glue +
# the harness, test/fuzz/*.c: ops.c, packets.c, checks.c, imports.c) built
# with clang, libFuzzer, AddressSanitizer and UBSan. Included by the top
# Makefile; also usable alone:
#
#   make -f test/fuzz/fuzz.mk fuzz FUZZ_SECONDS=600   fuzz for ten minutes
#   make -f test/fuzz/fuzz.mk fuzz-regress            replay test/fuzz/regressions
#
# New corpus entries go to build/fuzz/work, crashes to build/fuzz/crashes.
# All names here start with FUZZ_ / fuzz- so they do not clash with the top
# Makefile's.

FUZZ_MK := $(lastword $(MAKEFILE_LIST))
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR := build/fuzz
FUZZ_BIN := $(FUZZ_DIR)/lwip-fuzz
FUZZ_LWIP := lwip/upstream/src
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# 64-bit pointers do not fit lwIP's in-place IPv6 reassembly helper (it
# asserts so); wasm32's do. Natively, copy the header instead.
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -Ilwip -I$(FUZZ_LWIP)/include -Iwasm \
	-DIPV6_FRAG_COPYHEADER=1
# The glue and the harness build warning-free; lwIP's own files are exempt.
# mallinfo() is deprecated in glibc but is what the WASM libc offers.
FUZZ_WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-deprecated-declarations
# --wrap=lw_rand_u32: the harness reseeds the random source for every program;
# --wrap=pbuf_alloc: it sees the pbufs lw_input_reserve hands out (whose
# 32-bit addresses in the ABI are cut short on a 64-bit host).
FUZZ_LDFLAGS := -fsanitize=fuzzer $(FUZZ_SAN) -Wl,--wrap=lw_rand_u32 -Wl,--wrap=pbuf_alloc
FUZZ_RUN_FLAGS := -max_len=16384 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1

FUZZ_LWIP_SRC = $(wildcard $(FUZZ_LWIP)/core/*.c $(FUZZ_LWIP)/core/ipv4/*.c $(FUZZ_LWIP)/core/ipv6/*.c)
FUZZ_LWIP_OBJ = $(patsubst $(FUZZ_LWIP)/%.c,$(FUZZ_DIR)/obj/lwip/%.o,$(FUZZ_LWIP_SRC))
FUZZ_GLUE_OBJ = $(patsubst wasm/%.c,$(FUZZ_DIR)/obj/glue/%.o,$(wildcard wasm/*.c))
FUZZ_HARNESS_OBJ = $(patsubst test/fuzz/%.c,$(FUZZ_DIR)/obj/harness/%.o,$(wildcard test/fuzz/*.c))
FUZZ_HEADERS = $(wildcard wasm/*.h test/fuzz/*.h) lwip/lwipopts.h $(wildcard lwip/arch/*.h)

.PHONY: fuzz fuzz-check fuzz-deps fuzz-build fuzz-corpus fuzz-regress fuzz-clean

# clang with the libFuzzer and sanitizer runtimes (Debian: clang and the
# compiler-rt package of its version). fuzz-check only looks; fuzz-deps
# installs them when missing (as root).
FUZZ_PROBE = probe=$$(mktemp); \
	printf 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }\n' | \
	  $(FUZZ_CC) -x c - -fsanitize=fuzzer,address,undefined -o $$probe >/dev/null 2>&1; \
	ok=$$?; rm -f $$probe; test $$ok = 0

fuzz-check:
	@$(FUZZ_PROBE) || { echo "fuzz: $(FUZZ_CC) cannot build a libFuzzer target" >&2; exit 1; }

fuzz-deps:
	@if ! { $(FUZZ_PROBE); }; then \
	  if [ "$$(id -u)" != 0 ]; then echo "fuzz: clang with libFuzzer is missing; need root to install it" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang >/dev/null && \
	  v=$$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p') && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libclang-rt-$$v-dev >/dev/null; \
	fi

# The object list depends on the fetched lwIP tree, so build in a second make.
fuzz-build: fuzz-deps
	@test -f lwip/upstream/.lwip-wasm-stamp || bash lwip/fetch.sh
	@$(MAKE) --no-print-directory -f $(FUZZ_MK) -j$$(nproc) $(FUZZ_BIN)

# lwIP takes member addresses of pointers it then checks for NULL
# (ip_2_ip6(NULL) in icmp6_send_response): harmless, but UBSan's null check
# says otherwise. A real NULL dereference still crashes natively.
$(FUZZ_DIR)/obj/lwip/%.o: $(FUZZ_LWIP)/%.c $(FUZZ_HEADERS) lwip/upstream/.lwip-wasm-stamp
	@mkdir -p $(dir $@)
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fno-sanitize=null -fsanitize=fuzzer-no-link -w -c $< -o $@

$(FUZZ_DIR)/obj/glue/%.o: wasm/%.c $(FUZZ_HEADERS) lwip/upstream/.lwip-wasm-stamp
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_WARN) -c $< -o $@

# The harness itself gets no coverage instrumentation: its checksums and
# checks would cost more than they tell libFuzzer.
$(FUZZ_DIR)/obj/harness/%.o: test/fuzz/%.c $(FUZZ_HEADERS) lwip/upstream/.lwip-wasm-stamp
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_WARN) -c $< -o $@

$(FUZZ_BIN): $(FUZZ_LWIP_OBJ) $(FUZZ_GLUE_OBJ) $(FUZZ_HARNESS_OBJ)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) $^ -o $@

# Seed programs from real captures (test/fuzz/corpus.ts).
fuzz-corpus:
	node --import tsx test/fuzz/corpus.ts $(FUZZ_DIR)/corpus

# Every input that once crashed must pass.
FUZZ_REGRESSIONS = $(wildcard test/fuzz/regressions/*.in)
fuzz-regress: fuzz-build
	$(if $(FUZZ_REGRESSIONS),$(FUZZ_BIN) $(FUZZ_REGRESSIONS),@true)

# Fuzzing for FUZZ_SECONDS from the seeds, the regressions and what earlier
# runs found. Exits non-zero on a crash (the input is in build/fuzz/crashes),
# including the known lwIP bugs of test/fuzz/known-lwip (the test command
# reports those and goes on).
fuzz: wasm npm fuzz-build fuzz-corpus fuzz-regress
	@mkdir -p $(FUZZ_DIR)/work $(FUZZ_DIR)/crashes
	$(FUZZ_BIN) $(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	  -artifact_prefix=$(FUZZ_DIR)/crashes/ $(FUZZ_DIR)/work $(FUZZ_DIR)/corpus test/fuzz/regressions

fuzz-clean:
	rm -rf $(FUZZ_DIR)
