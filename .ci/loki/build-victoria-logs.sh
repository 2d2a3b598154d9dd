#!/usr/bin/env bash
# Installs VictoriaLogs (Apache-2.0) from the Go module proxy and caches it. The deploy
# tests send Vigil's OTLP records to it on 127.0.0.1 and run the LogsQL equivalents of
# the Loki alert rules (VIGIL_VICTORIA_LOGS names the binary).
#
# Usage: .ci/loki/build-victoria-logs.sh          prints the path of the binary
# Env:   VICTORIA_LOGS_VERSION (default v1.52.1), VIGIL_CACHE_DIR (default $HOME/.cache/vigil)
# Cost:  ~90 s cold on 2 cores; instant when cached.
set -euo pipefail

VERSION="${VICTORIA_LOGS_VERSION:-v1.52.1}"
CACHE_DIR="${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}"
OUT="$CACHE_DIR/victoria-logs-$VERSION"

if [[ -x "$OUT" ]]; then
  echo "$OUT"
  exit 0
fi

mkdir -p "$CACHE_DIR"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
CGO_ENABLED=0 GOBIN="$WORK" go install -trimpath -ldflags "-s -w" \
  "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$VERSION" >&2
mv "$WORK/victoria-logs" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$OUT"
