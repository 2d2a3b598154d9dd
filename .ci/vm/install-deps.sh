#!/usr/bin/env bash
# Installs what the kernel-matrix harness needs on a fresh Debian/Ubuntu machine: qemu to boot
# the stock kernels (TCG, no KVM needed), a static busybox for the initramfs (it has no libc),
# and cpio to pack it. Needs root. The kernels themselves come from fetch-kernels.sh.
set -euo pipefail

pkgs=(qemu-system-x86 busybox-static cpio)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: ${pkgs[*]} already installed" >&2
  exit 0
fi
SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
