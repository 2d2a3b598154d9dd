#!/usr/bin/env bash
# Builds Kubernetes binaries (k8s.io/kubernetes/cmd/NAME) from the Go module proxy (no git
# clone, no internet besides the proxy) in one `go build`, and caches them. The Kubernetes
# integration tests use kube-apiserver (build-kube-apiserver.sh); the real-node tests also
# use kubelet, kube-controller-manager and kube-scheduler (build-kube-node.sh).
#
# The k8s.io/kubernetes module cannot be required directly: its go.mod points every staging
# module (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 with local replace paths. A small wrapper
# module requires k8s.io/kubernetes and replaces each staging module with its published version.
#
# Usage: .ci/k8s/build-kube.sh NAME...     prints one line per binary: NAME=PATH
# Env:   KUBE_VERSION (default v1.37.2), VIGIL_CACHE_DIR (default $HOME/.cache/vigil)
# Cost:  kube-apiserver ~18 min and ~3 GB RAM cold on 2 cores; the node binaries a few
#        minutes more (they share most packages with it); instant when cached.
set -euo pipefail

if [[ $# == 0 ]]; then
  echo "usage: $0 NAME... (kube-apiserver, kubelet, kube-controller-manager, kube-scheduler)" >&2
  exit 2
fi
BINS=("$@")
for b in "${BINS[@]}"; do
  if [[ ! $b =~ ^[a-z][a-z-]*$ ]]; then
    echo "$0: $b is not a k8s.io/kubernetes/cmd name" >&2
    exit 2
  fi
done

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
CACHE_DIR="${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}"

print_paths() {
  for b in "${BINS[@]}"; do
    echo "$b=$CACHE_DIR/$b-$KUBE_VERSION"
  done
}

missing=0
for b in "${BINS[@]}"; do
  [[ -x "$CACHE_DIR/$b-$KUBE_VERSION" ]] || missing=1
done
if [[ $missing == 0 ]]; then
  print_paths
  exit 0
fi

mkdir -p "$CACHE_DIR"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The staging modules are exactly the "=> ./staging/..." replace lines of k8s.io/kubernetes's go.mod.
KMOD="$(cd "$WORK" && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
if [[ -z "$KMOD" || ! -f "$KMOD" ]]; then
  echo "cannot download k8s.io/kubernetes@$KUBE_VERSION go.mod from the module proxy" >&2
  exit 1
fi
mapfile -t STAGING < <(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$KMOD")

{
  echo "module vigil.local/kubebuild"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes $KUBE_VERSION"
  echo
  echo "replace ("
  for m in "${STAGING[@]}"; do
    echo "	$m => $m $STAGING_VERSION"
  done
  echo ")"
} >"$WORK/go.mod"

PKGS=()
for b in "${BINS[@]}"; do
  PKGS+=("k8s.io/kubernetes/cmd/$b")
done
{
  echo "//go:build tools"
  echo
  echo "package tools"
  echo
  echo "import ("
  for p in "${PKGS[@]}"; do
    echo "	_ \"$p\""
  done
  echo ")"
} >"$WORK/tools.go"

cd "$WORK"
GOFLAGS=-mod=mod go mod tidy >&2

MINOR="${KUBE_VERSION#v1.}"
MINOR="${MINOR%%.*}"
LDFLAGS="-s -w"
LDFLAGS+=" -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
LDFLAGS+=" -X k8s.io/component-base/version.gitMajor=1"
LDFLAGS+=" -X k8s.io/component-base/version.gitMinor=$MINOR"
LDFLAGS+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"

# -o DIR/ writes each package's binary into DIR, one package or several.
mkdir -p "$WORK/bin"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$LDFLAGS" -o "$WORK/bin/" "${PKGS[@]}" >&2
for b in "${BINS[@]}"; do
  mv "$WORK/bin/$b" "$CACHE_DIR/$b-$KUBE_VERSION.tmp"
  mv "$CACHE_DIR/$b-$KUBE_VERSION.tmp" "$CACHE_DIR/$b-$KUBE_VERSION"
done
print_paths
