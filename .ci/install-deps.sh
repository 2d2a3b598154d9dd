#!/usr/bin/env bash
# Installs what building and testing Vigil needs on a fresh Debian machine, as root
# (or through sudo): clang-19 and bpftool for the BPF objects, qemu/busybox/cpio for
# the kernel matrix, etcd for the Kubernetes integration tests, containerd and runc for
# the real-container tests (they start their own containerd), tracefs mounted.
# Idempotent: installs only what is missing.
set -euo pipefail

pkgs=(clang-19 llvm-19 bpftool libbpf-dev qemu-system-x86 busybox-static cpio etcd-server containerd runc jq curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
if ((${#missing[@]} > 0)); then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's etcd-server package starts a system etcd on the default ports; the tests
# start their own on free ports, so the system one is not needed.
if command -v systemctl >/dev/null && systemctl is-active --quiet etcd 2>/dev/null; then
  $SUDO systemctl stop etcd || true
fi
# Likewise containerd's package starts a system containerd; the container tests run
# their own (private socket and namespace), so it is stopped too.
if command -v systemctl >/dev/null && systemctl is-active --quiet containerd 2>/dev/null; then
  $SUDO systemctl stop containerd || true
fi
if ! mountpoint -q /sys/kernel/tracing 2>/dev/null; then
  $SUDO mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi
# VictoriaLogs (Apache-2.0) for the deploy tests' real-backend check of the Loki alert
# rules' intent: built from the Go module proxy into $HOME/.cache/vigil (or
# $VIGIL_CACHE_DIR), where the tests find it.
if ! command -v victoria-logs >/dev/null; then
  "$(dirname "$0")/loki/build-victoria-logs.sh" >/dev/null
fi
