#!/usr/bin/env bash
# Fetches the stock Debian cloud kernels of the kernel matrix and keeps only their vmlinuz.
#
# The kernels are never installed: each image package is fetched with `apt-get download` and only
# boot/vmlinuz-* is unpacked (dpkg-deb -x into a scratch directory). Debian replaces kernel
# versions in security updates, so each kernel is named through a meta package whose dependency is
# resolved with apt-cache to the current versioned image package; nothing pins x.y.z.
#
# Usage: .ci/vm/fetch-kernels.sh        prints one vmlinuz path per line (6.1 first, then 6.12)
# Env:   VIGIL_KERNEL_DIR  cache directory (default ${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}/kernels)
#        VIGIL_KERNEL_META meta packages to fetch (default "linux-image-cloud-amd64
#                          linux-image-6.12-cloud-amd64")
# Idempotent: a kernel whose vmlinuz is already cached is not downloaded again.
set -euo pipefail

CACHE_DIR="${VIGIL_KERNEL_DIR:-${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}/kernels}"
META="${VIGIL_KERNEL_META:-linux-image-cloud-amd64 linux-image-6.12-cloud-amd64}"

log() { echo "fetch-kernels: $*" >&2; }

# resolve META prints the versioned linux-image-* package the meta package depends on.
resolve() {
  local meta="$1" dep
  dep="$(apt-cache depends "$meta" 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')"
  if [[ -z "$dep" ]]; then
    log "cannot resolve $meta to a versioned linux-image package (is the Debian archive in the apt sources, and 'apt-get update' done?)"
    return 1
  fi
  echo "$dep"
}

mkdir -p "$CACHE_DIR"
for meta in $META; do
  pkg="$(resolve "$meta")"
  release="${pkg#linux-image-}"           # e.g. 6.12.117+deb12-cloud-amd64
  out="$CACHE_DIR/vmlinuz-$release"
  if [[ -s "$out" ]]; then
    log "$meta -> $pkg: cached"
    echo "$out"
    continue
  fi
  log "$meta -> $pkg: downloading"
  tmp="$(mktemp -d)"
  chmod 755 "$tmp" # apt-get download runs as _apt when root: let it write here
  # shellcheck disable=SC2064 # expand now: tmp changes per iteration
  trap "rm -rf '$tmp'" EXIT
  (cd "$tmp" && apt-get download -q "$pkg" >&2)
  deb="$(ls "$tmp"/*.deb)"
  mkdir "$tmp/x"
  dpkg-deb -x "$deb" "$tmp/x"
  src="$(ls "$tmp"/x/boot/vmlinuz-* | head -n1)"
  if [[ ! -s "$src" ]]; then
    log "$deb holds no boot/vmlinuz-*"
    exit 1
  fi
  cp "$src" "$out.tmp"
  mv "$out.tmp" "$out" # atomic: a cancelled run leaves no truncated kernel behind
  rm -rf "$tmp"
  trap - EXIT
  log "$meta -> $out ($(du -h "$out" | cut -f1))"
  echo "$out"
done
