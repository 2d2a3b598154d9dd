#!/usr/bin/env bash
# Builds kube-apiserver from the Go module proxy (no git clone, no internet besides the proxy)
# and caches it. Used by the Kubernetes integration tests (VIGIL_KUBE_APISERVER).
#
# The k8s.io/kubernetes module cannot be required directly: its go.mod points every staging
# module (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 with local replace paths. A small wrapper
# module requires k8s.io/kubernetes and replaces each staging module with its published version.
#
# Usage: .ci/k8s/build-kube-apiserver.sh          prints the path of the binary
# Env:   KUBE_VERSION (default v1.37.2), VIGIL_CACHE_DIR (default $HOME/.cache/vigil)
# Cost:  ~18 min and ~3 GB RAM cold on 2 cores; instant when cached.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
CACHE_DIR="${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}"
OUT="$CACHE_DIR/kube-apiserver-$KUBE_VERSION"

if [[ -x "$OUT" ]]; then
  echo "$OUT"
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
  echo "module vigil.local/kubeapiserverbuild"
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

cat >"$WORK/tools.go" <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO

cd "$WORK"
GOFLAGS=-mod=mod go mod tidy >&2

MINOR="${KUBE_VERSION#v1.}"
MINOR="${MINOR%%.*}"
LDFLAGS="-s -w"
LDFLAGS+=" -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
LDFLAGS+=" -X k8s.io/component-base/version.gitMajor=1"
LDFLAGS+=" -X k8s.io/component-base/version.gitMinor=$MINOR"
LDFLAGS+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"

CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$LDFLAGS" -o "$OUT.tmp" \
  k8s.io/kubernetes/cmd/kube-apiserver >&2
mv "$OUT.tmp" "$OUT"
echo "$OUT"
