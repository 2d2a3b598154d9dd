#!/usr/bin/env bash
# Runs a command (the test suites) while a second collector, the ocb-built binary with
# the default detection pack exactly as shipped (rules/, monitor mode), watches the
# whole machine. At the end it prints every detection it recorded, split into:
#   - intended: raised by vigil-trigger's own actions (the end-to-end tests run them
#     detached, so they do not descend from the Go tool), recognised by a
#     "vigil-trigger" in the record's process, parent or ancestry attributes;
#   - false positives: everything else.
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

# One line per detection: intended|false, rule, process, parent, command line.
touch "$out/detections.json"
jq -r '
  .resourceLogs[]?.scopeLogs[]?.logRecords[]? |
  (.attributes // []) as $a |
  ($a | map({key: .key, value: (.value.stringValue // (.value.arrayValue.values // [] | map(.stringValue) | join(" ")) // "")}) | from_entries) as $m |
  ([$m | to_entries[] | select(.key | test("^(process\\.|vigil\\.process|vigil\\.parent|vigil\\.ancestor)")) | .value | tostring] | join(" ")) as $proc |
  [ (if ($proc | test("vigil-trigger")) then "intended" else "false" end),
    ($m["security_rule.name"] // "?"),
    ($m["process.executable.path"] // "?"),
    ($m["process.parent.executable.path"] // $m["process.parent.executable.name"] // "?"),
    (($m["process.command_line"] // "") | .[0:160]) ] | @tsv' "$out/detections.json" >"$out/detections.tsv"

intended=$(awk -F'\t' '$1=="intended"' "$out/detections.tsv" | wc -l)
falsepos=$(awk -F'\t' '$1=="false"' "$out/detections.tsv" | wc -l)
{
  echo "detection-watch: default pack over this run: $intended detections from vigil-trigger, $falsepos false positives"
  if ((falsepos > 0)); then
    echo "false positives by rule:"
    awk -F'\t' '$1=="false"{print $2}' "$out/detections.tsv" | sort | uniq -c | sort -rn
    echo "first false positives (rule, executable, parent, command line):"
    awk -F'\t' '$1=="false"' "$out/detections.tsv" | cut -f2- | head -n 20
  fi
  if ((intended > 0)); then
    echo "intended detections by rule:"
    awk -F'\t' '$1=="intended"{print $2}' "$out/detections.tsv" | sort | uniq -c | sort -rn
  fi
} | tee "$out/summary.txt"
exit $rc
