#!/usr/bin/env bash
# Makes sure apt knows a deb-src entry, so `apt-get source lwip` works.
# The entry is derived from the machine's own apt sources (deb822 files or
# one-line lists): every `deb` source is mirrored as `deb-src`. Nothing about
# where packages come from is written into this repository.
set -euo pipefail

if apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -qx 'Sources'; then
  exit 0
fi

out=/etc/apt/sources.list.d/lwip-wasm-deb-src
wrote=0
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
  case "$f" in "$out"*) continue ;; esac
  if grep -q '^Types:.*\bdeb\b' "$f"; then
    sed -e 's/^Types:.*/Types: deb-src/' "$f" >>"$out.sources"
    printf '\n' >>"$out.sources"
    wrote=1
  fi
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  case "$f" in "$out"*) continue ;; esac
  grep -E '^deb[[:space:]]' "$f" | sed -e 's/^deb[[:space:]]/deb-src /' >>"$out.list" || true
  [ -s "$out.list" ] && wrote=1
done
if [ "$wrote" = 0 ]; then
  echo "deb-src.sh: found no apt 'deb' sources to derive a deb-src entry from" >&2
  exit 1
fi
apt-get update -qq
