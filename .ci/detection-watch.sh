#!/usr/bin/env bash
# Runs a command (the test suites) while a second collector, the ocb-built binary with
# the default detection pack exactly as shipped (rules/, monitor mode), watches the
# whole machine. At the end it prints every detection it recorded, split into:
#   - intended: raised by vigil-trigger's own actions (the process, its parent or an
#     ancestor is vigil-trigger or one of its helper copies, by executable path), or by
#     a test's deliberate action, marked with the word vigil-test-intended in the
#     process's or its parent's command line (the receiver's container tests: a shell
#     with a terminal, debugfs in a privileged container);
#   - false positives: everything else, however close to a test it is.
# The classification is .ci/detection-classify.jq (tested by
# internal/containertest's TestDetectionClassify on a recorded file).
# This is how the false-positive count of the pack on a CI run is measured. The
# command's exit status is returned; the watcher's own failure to start fails too,
# since the default pack must load on the real kernel.
#
# Usage: VIGIL_COLLECTOR_BIN=path detection-watch.sh CMD [ARGS...]
# VIGIL_DETECTIONS_OUT (default: out/ci-detections) keeps the records and the summary.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${VIGIL_COLLECTOR_BIN:?VIGIL_COLLECTOR_BIN must name the collector binary}
out=${VIGIL_DETECTIONS_OUT:-out/ci-detections}
rm -rf "$out" && install -d -m 0700 "$out"
out=$(cd "$out" && pwd)
health=127.0.0.1:13197

cat >"$out/config.yaml" <<EOF
receivers:
  ebpf:
    policy_paths: [$(pwd)/rules]
processors:
  # Only rule matches are kept: every other record is the normal event stream.
  filter/detections:
    error_mode: propagate
    logs:
      log_record:
        - 'attributes["security_rule.name"] == nil'
exporters:
  file:
    path: $out/detections.json
extensions:
  health_check:
    endpoint: $health
service:
  extensions: [health_check]
  pipelines:
    logs:
      receivers: [ebpf]
      processors: [filter/detections]
      exporters: [file]
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
EOF

"$bin" --config "$out/config.yaml" >"$out/collector.log" 2>&1 &
pid=$!
ready=0
for _ in $(seq 1 120); do
  if ! kill -0 "$pid" 2>/dev/null; then break; fi
  if curl -fsS "http://$health/" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.5
done
if [[ $ready != 1 ]]; then
  echo "detection-watch: the collector with the default pack did not become ready:" >&2
  tail -n 30 "$out/collector.log" >&2
  kill "$pid" 2>/dev/null
  exit 1
fi
echo "detection-watch: collector $pid watching with the default pack; records in $out"

"$@"
rc=$?

kill -TERM "$pid" 2>/dev/null
for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

# One line per detection: class, why, rule, executable, parent, command line.
touch "$out/detections.json"
if ! jq -r -f .ci/detection-classify.jq "$out/detections.json" >"$out/detections.tsv"; then
  echo "detection-watch: could not classify the records in $out/detections.json" >&2
  exit 1
fi

trig=$(awk -F'\t' '$1=="intended" && $2=="vigil-trigger"' "$out/detections.tsv" | wc -l)
marked=$(awk -F'\t' '$1=="intended" && $2=="test-mark"' "$out/detections.tsv" | wc -l)
falsepos=$(awk -F'\t' '$1=="false"' "$out/detections.tsv" | wc -l)
{
  echo "detection-watch: default pack over this run: $trig detections from vigil-trigger, $marked from tests' marked actions, $falsepos false positives"
  if ((falsepos > 0)); then
    echo "false positives by rule:"
    awk -F'\t' '$1=="false"{print $3}' "$out/detections.tsv" | sort | uniq -c | sort -rn
    echo "first false positives (rule, executable, parent, command line):"
    awk -F'\t' '$1=="false"' "$out/detections.tsv" | cut -f3- | head -n 20
  fi
  if ((trig + marked > 0)); then
    echo "intended detections by rule (why):"
    awk -F'\t' '$1=="intended"{print $3 " (" $2 ")"}' "$out/detections.tsv" | sort | uniq -c | sort -rn
  fi
} | tee "$out/summary.txt"
exit $rc
