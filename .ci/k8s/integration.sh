#!/usr/bin/env bash
# Runs the Kubernetes integration tests (k8s_meta extension + k8s_enrich processor) against a
# real kube-apiserver and etcd started by the test harness on 127.0.0.1.
#
#   kube-apiserver: built from the module proxy and cached by build-kube-apiserver.sh
#                   ($HOME/.cache/vigil by default; keep that directory between CI steps)
#   etcd:           Debian's etcd-server package (apt-get install etcd-server), /usr/bin/etcd
#   openssl:        makes the service-account keys
#
# With CI=true the tests fail (never skip) when the binaries are missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

VIGIL_KUBE_APISERVER="${VIGIL_KUBE_APISERVER:-$(.ci/k8s/build-kube-apiserver.sh)}"
VIGIL_ETCD="${VIGIL_ETCD:-$(command -v etcd || true)}"
if [[ -z "$VIGIL_ETCD" ]]; then
  echo "etcd not found: apt-get install etcd-server, or set VIGIL_ETCD" >&2
  exit 1
fi
export VIGIL_KUBE_APISERVER VIGIL_ETCD
exec go test -count=1 -race -run 'Integration' -v "$@" ./extension/k8smetaextension/... ./processor/k8senrichprocessor/...
