#!/usr/bin/env bash
# Fetches the pinned lwIP sources and prepares them for our build.
#
# lwIP 2.1.3 comes from Debian's source package `lwip` (2.1.3+dfsg1-2). We
# take its orig tarball, check it against the sha256 pinned below, unpack it
# into lwip/upstream/ (ignored by git) and apply our own patches from
# lwip/patches/ in name order. Nothing from upstream is committed.
#
# LWIP_SRC=/path/to/lwip-2.1.3 uses an existing tree instead of fetching
# (the tree must contain src/core/tcp.c); our patches are applied to a copy.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dest="$here/upstream"
version=2.1.3+dfsg1-2
orig=lwip_2.1.3+dfsg1.orig.tar.xz
sha256=0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24
stamp="$dest/.lwip-wasm-stamp"

# The stamp records which inputs the prepared tree was made from, so a new
# patch or a different LWIP_SRC re-prepares it.
shopt -s nullglob
patches=("$here"/patches/*.patch)
want=$( { echo "$sha256 ${LWIP_SRC:-}"; for p in "${patches[@]}"; do cat "$p"; done; } | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

rm -rf "$dest"
mkdir -p "$dest"
if [ -n "${LWIP_SRC:-}" ]; then
  if [ ! -f "$LWIP_SRC/src/core/tcp.c" ]; then
    echo "fetch.sh: LWIP_SRC=$LWIP_SRC does not look like an lwIP tree (no src/core/tcp.c)" >&2
    exit 1
  fi
  cp -a "$LWIP_SRC/src" "$dest/src"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if ! command -v apt-get >/dev/null; then
    echo "fetch.sh: apt-get not found; set LWIP_SRC to an lwIP 2.1.3 tree" >&2
    exit 1
  fi
  "$here/deb-src.sh"
  (cd "$work" && apt-get source --download-only "lwip=$version" >/dev/null 2>&1) || {
    echo "fetch.sh: 'apt-get source lwip=$version' failed; is a deb-src entry for Debian bookworm available?" >&2
    exit 1
  }
  got=$(sha256sum "$work/$orig" | cut -d' ' -f1)
  if [ "$got" != "$sha256" ]; then
    echo "fetch.sh: $orig has sha256 $got, expected $sha256" >&2
    exit 1
  fi
  tar -xJf "$work/$orig" -C "$work"
  mv "$work/lwip-2.1.3/src" "$dest/src"
fi

for p in "${patches[@]}"; do
  patch -s -d "$dest" -p1 <"$p"
done
echo "$want" >"$stamp"
echo "lwIP 2.1.3 prepared in $dest"
