#!/usr/bin/env bash
# Builds kube-apiserver from the Go module proxy and caches it (build-kube.sh has the
# recipe). Used by the Kubernetes integration tests (VIGIL_KUBE_APISERVER).
#
# Usage: .ci/k8s/build-kube-apiserver.sh          prints the path of the binary
# Env:   KUBE_VERSION (default v1.37.2), VIGIL_CACHE_DIR (default $HOME/.cache/vigil)
# Cost:  ~18 min and ~3 GB RAM cold on 2 cores; instant when cached.
set -euo pipefail

line="$("$(dirname "$0")/build-kube.sh" kube-apiserver)"
echo "${line#kube-apiserver=}"
