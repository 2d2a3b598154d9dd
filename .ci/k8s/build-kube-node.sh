#!/usr/bin/env bash
# Builds kubelet, kube-controller-manager and kube-scheduler from the Go module proxy (the same
# wrapper-module recipe as build-kube-apiserver.sh) in one `go build`, and caches them. Used by
# the real-node tests (VIGIL_KUBELET, VIGIL_KUBE_CONTROLLER_MANAGER, VIGIL_KUBE_SCHEDULER).
#
# Usage: .ci/k8s/build-kube-node.sh          prints one line per binary: NAME=PATH
#        (NAME is kubelet, kube-controller-manager, kube-scheduler)
# Env:   KUBE_VERSION (default v1.37.2), VIGIL_CACHE_DIR (default $HOME/.cache/vigil)
# Cost:  a few minutes and ~2.5 GB RAM cold on 2 cores (shares most packages with
#        kube-apiserver's build cache); instant when cached.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
CACHE_DIR="${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}"
BINS=(kubelet kube-controller-manager kube-scheduler)

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
  echo "module vigil.local/kubenodebuild"
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

{
  echo "//go:build tools"
  echo
  echo "package tools"
  echo
  echo "import ("
  for b in "${BINS[@]}"; do
    echo "	_ \"k8s.io/kubernetes/cmd/$b\""
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

PKGS=()
for b in "${BINS[@]}"; do
  PKGS+=("k8s.io/kubernetes/cmd/$b")
done
mkdir -p "$WORK/bin"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$LDFLAGS" -o "$WORK/bin/" "${PKGS[@]}" >&2
for b in "${BINS[@]}"; do
  mv "$WORK/bin/$b" "$CACHE_DIR/$b-$KUBE_VERSION.tmp"
  mv "$CACHE_DIR/$b-$KUBE_VERSION.tmp" "$CACHE_DIR/$b-$KUBE_VERSION"
done
print_paths
