# lwip-wasm build. `make demo` and `make test` set everything up on a fresh
# Debian machine (as root): apt packages, npm packages, the lwIP sources, the
# WASM module, the TypeScript build. See README.md.

SHELL := /bin/bash
LWIP := lwip/upstream/src
BUILD := build
WASM := $(BUILD)/lwip.wasm

LWIP_CORE := $(wildcard $(LWIP)/core/*.c $(LWIP)/core/ipv4/*.c $(LWIP)/core/ipv6/*.c)
GLUE := $(wildcard wasm/*.c)
CPUFLAGS := -mbulk-memory -msimd128
INCLUDES := -Ilwip -I$(LWIP)/include -Iwasm
# Binaryen inlines every function that has a single caller, whatever its
# size, and ignores LLVM's noinline: together with lwip/arch/noinline.h, this
# cap keeps lwIP's input path from becoming one 13 KB function that V8 needs
# ~10 MiB to compile with TurboFan (see that file). No function is then over
# 6 KB, and no compilation over ~3 MiB (dlmalloc, the largest, 2.9 MiB).
INLINE_CAP := -sBINARYEN_EXTRA_PASSES=--one-caller-inline-max-function-size=800
EMFLAGS := -O3 -flto $(CPUFLAGS) -sSTANDALONE_WASM --no-entry -sERROR_ON_UNDEFINED_SYMBOLS=0 \
	-sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=2MB -sMAXIMUM_MEMORY=2GB -sTOTAL_STACK=256KB \
	-sMALLOC=dlmalloc -sFILESYSTEM=0 -sSUPPORT_ERRNO=0 $(INLINE_CAP)
GLUE_WARN := -Wall -Wextra -Werror -Wno-unused-parameter

APT_PACKAGES := emscripten patch xz-utils dpkg-dev g++ make python3 iproute2 iputils-ping curl

.PHONY: all deps apt npm lwip wasm build tun test demo bench bench-tun bench-tun-run fmt clean check-fmt

all: build

# ---- set-up ----
apt:
	@missing=""; for p in $(APT_PACKAGES) $(EXTRA_APT); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

npm: node_modules/.stamp

deps: apt npm

# ---- lwIP sources ----
$(LWIP)/core/tcp.c lwip/upstream/.lwip-wasm-stamp: lwip/fetch.sh lwip/deb-src.sh $(wildcard lwip/patches/*.patch)
	bash lwip/fetch.sh

lwip: lwip/upstream/.lwip-wasm-stamp

# ---- WASM module ----
LWIP_OBJS = $(patsubst $(LWIP)/%.c,$(BUILD)/obj/lwip/%.o,$(LWIP_CORE))
GLUE_OBJS = $(patsubst wasm/%.c,$(BUILD)/obj/glue/%.o,$(GLUE))
HEADERS := $(wildcard wasm/*.h) lwip/lwipopts.h $(wildcard lwip/arch/*.h)

$(BUILD)/obj/lwip/%.o: $(LWIP)/%.c $(HEADERS) lwip/upstream/.lwip-wasm-stamp
	@mkdir -p $(dir $@)
	@emcc -O3 -flto $(CPUFLAGS) $(INCLUDES) -w -c $< -o $@

$(BUILD)/obj/glue/%.o: wasm/%.c $(HEADERS) lwip/upstream/.lwip-wasm-stamp
	@mkdir -p $(dir $@)
	emcc -O3 -flto $(CPUFLAGS) $(INCLUDES) $(GLUE_WARN) -c $< -o $@

$(WASM): $(LWIP_OBJS) $(GLUE_OBJS)
	emcc $(EMFLAGS) $^ -o $@
	@echo "built $@ ($$(stat -c %s $@) bytes)"

# The object list depends on the fetched tree, so build it in a second make.
wasm: apt lwip
	@$(MAKE) --no-print-directory -j$$(nproc) $(WASM)

build: deps wasm
	npm run --silent build

# ---- the native TUN bridge (Linux) ----
# npm's own node-gyp, offline, against the installed Node's headers.
NODE_GYP = node $(shell dirname $$(readlink -f $$(command -v npm)))/../node_modules/node-gyp/bin/node-gyp.js
NODEDIR = $(shell d=$$(dirname $$(dirname $$(readlink -f $$(command -v node)))); [ -f $$d/include/node/common.gypi ] && echo --nodedir=$$d)
ifeq ($(shell uname -s),Linux)
TUN_ADDON := tun/build/Release/tun.node
endif

tun/build/Release/tun.node: tun/addon.c tun/device.c tun/device.h tun/binding.gyp
	$(NODE_GYP) rebuild -C tun $(NODEDIR) --loglevel=error

tun: apt $(TUN_ADDON)

# ---- the two commands of the README ----
test: build tun
	$(MAKE) --no-print-directory check-fmt
	npm run --silent typecheck
	node --import tsx test/run.ts

demo: build tun
	node dist/cli/main.js demo

# Speed and memory figures (not tests): core throughput and rates, the
# simulation's speed, and scale (what exists of bench/*.ts, in this order).
BENCHES := $(wildcard bench/run.ts bench/sim.ts bench/scale.ts)
bench: build
	@for b in $(BENCHES); do echo "== $$b"; node --expose-gc --import tsx $$b || exit 1; done

# The transparent proxy against slirp4netns, side by side (bench/tun.ts):
# iperf3 both ways at MTU 65520 and 1500, new connections per second, peak
# RSS. Root only (TUN devices, network namespaces); installs slirp4netns and
# iperf3 with the apt target.
bench-tun:
	@if [ "$$(id -u)" != 0 ]; then echo "bench-tun: skipped: needs root (TUN devices, network namespaces)"; \
	else $(MAKE) --no-print-directory bench-tun-run; fi

bench-tun-run: build tun
	@$(MAKE) --no-print-directory apt EXTRA_APT="slirp4netns iperf3"
	node --import tsx bench/tun.ts

fmt: npm
	npx prettier --write 'src/**/*.ts' 'test/**/*.ts' 'bench/**/*.ts'

check-fmt: npm
	npx prettier --check 'src/**/*.ts' 'test/**/*.ts' 'bench/**/*.ts' >/dev/null || \
	  { echo "unformatted TypeScript: run 'make fmt'" >&2; exit 1; }

clean:
	rm -rf $(BUILD) dist tun/build

# ---- fuzzing: `make fuzz FUZZ_SECONDS=N` (the test command runs ~60 s) ----
include test/fuzz/fuzz.mk
