#!/usr/bin/env bash
# Builds kubelet, kube-controller-manager and kube-scheduler from the Go module proxy in one
# `go build` (build-kube.sh has the recipe), and caches them. Used by the real-node tests
# (VIGIL_KUBELET, VIGIL_KUBE_CONTROLLER_MANAGER, VIGIL_KUBE_SCHEDULER).
#
# Usage: .ci/k8s/build-kube-node.sh          prints one line per binary: NAME=PATH
#        (NAME is kubelet, kube-controller-manager, kube-scheduler)
# Env:   KUBE_VERSION (default v1.37.2), VIGIL_CACHE_DIR (default $HOME/.cache/vigil)
# Cost:  a few minutes and ~2.5 GB RAM cold on 2 cores (shares most packages with
#        kube-apiserver's build cache); instant when cached.
set -euo pipefail

exec "$(dirname "$0")/build-kube.sh" kubelet kube-controller-manager kube-scheduler
