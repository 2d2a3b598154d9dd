//go:build linux

package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigilsec/vigil/internal/testkit"
	"github.com/vigilsec/vigil/internal/testkit/collector"
)

// collectorBinary is the ocb-built distribution ($VIGIL_COLLECTOR_BIN, set by `make test`).
// Missing: skipped, a failure when CI=true.
func collectorBinary(t *testing.T) string {
	t.Helper()
	return collector.Binary(t)
}

// startCollector runs the distribution with the config files and environment, and stops it
// (SIGTERM, then SIGKILL after 15 s) when the test ends; its output is logged on failure.
func startCollector(t *testing.T, env []string, configs ...string) *testkit.SyncBuffer {
	t.Helper()
	return collector.Start(t, collectorBinary(t), env, configs...).Out
}

// postLogs sends logs to an OTLP/HTTP receiver, retrying (up to 30 s) while it starts.
func postLogs(t *testing.T, endpoint string, logs plog.Logs) {
	t.Helper()
	body, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
	require.NoError(t, err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/v1/logs", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-protobuf")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			cancel()
			require.Equal(t, http.StatusOK, resp.StatusCode, "OTLP/HTTP receiver refused the request")
			return
		}
		cancel()
		require.True(t, time.Now().Before(deadline), "the collector's OTLP receiver did not come up: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
}

// sinkBodies waits until the sink holds n records (10 s at most) and returns their bodies,
// event names and attributes; then it waits a second more and checks no other record came.
func sinkBodies(t *testing.T, s *otlpSink, n int) []plog.LogRecord {
	t.Helper()
	all := func() []plog.LogRecord {
		s.mu.Lock()
		defer s.mu.Unlock()
		var out []plog.LogRecord
		for _, ld := range s.logs {
			for i := 0; i < ld.ResourceLogs().Len(); i++ {
				sls := ld.ResourceLogs().At(i).ScopeLogs()
				for j := 0; j < sls.Len(); j++ {
					for k := 0; k < sls.At(j).LogRecords().Len(); k++ {
						out = append(out, sls.At(j).LogRecords().At(k))
					}
				}
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(all()) >= n }, 10*time.Second, 20*time.Millisecond,
		"waiting for %d exported records", n)
	time.Sleep(time.Second)
	got := all()
	require.Len(t, got, n, "no more records than expected")
	return got
}

// The shipped OCSF file in the real distribution: an OTLP receiver takes golden records of
// the ebpf receiver (its record builder's output) and the two pipelines docs/ocsf.md shows
// (activity events; findings) export to a loopback OTLP sink. The bodies are checked field
// by field against literal OCSF events: a denied file open, a killed exec and a monitor-mode
// would-deny, the activity event of each and the Detection Finding of each match; a record
// without a mapping (process.fork) and a match of a kind without an activity class
// (network.socket) pass the activity pipeline unchanged; records without a rule make no
// finding.
func TestOCSFInRealCollector(t *testing.T) {
	sink := newOTLPSink(t)
	port := freeLoopbackPort(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "collector.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
exporters:
  otlp_http/siem:
    endpoint: http://%s
    compression: none
    retry_on_failure: {initial_interval: 100ms}
service:
  pipelines:
    logs:
      receivers: [otlp]
      processors: [transform/ocsf]
      exporters: [otlp_http/siem]
    logs/ocsf_findings:
      receivers: [otlp]
      processors: [filter/ocsf_findings, transform/ocsf_finding]
      exporters: [otlp_http/siem]
  telemetry:
    metrics:
      level: none
`, port, sink.addr)), 0o600))
	out := startCollector(t, nil, cfg, filepath.Join("ocsf", "transform.yaml"))
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)

	// Each golden alone: its records, then what the sink holds.
	send := func(name string, n int) []plog.LogRecord {
		t.Helper()
		sink.reset()
		postLogs(t, endpoint, golden(t, name))
		return sinkBodies(t, sink, n)
	}
	byClass := func(recs []plog.LogRecord) map[any]map[string]any {
		out := map[any]map[string]any{}
		for _, r := range recs {
			if r.Body().Type().String() != "Map" {
				out[r.Body().Str()] = nil
				continue
			}
			b := r.Body().Map().AsRaw()
			out[b["class_uid"]] = b
		}
		return out
	}
	device := map[string]any{"hostname": "node-1"}
	meta := func(event string) map[string]any {
		return map[string]any{"version": "1.3.0", "event_code": event,
			"product": map[string]any{"name": "Vigil", "vendor_name": "Vigil"}}
	}
	curl := map[string]any{"pid": int64(200), "name": "curl", "cmd_line": "curl -H Authorization: Bearer *** http://10.0.0.1/",
		"file": map[string]any{"path": "/usr/bin/curl"}, "user": map[string]any{"uid": "0"},
		"parent_process": map[string]any{"pid": int64(100)}}
	const t0 = int64(1767323135000) // the goldens' time, epoch ms

	// A denied open (enforce mode, applied): File System Activity and a Blocked finding.
	recs := send("file_open", 2)
	got := byClass(recs)
	require.Contains(t, got, int64(1001))
	require.Contains(t, got, int64(2004))
	assert.Equal(t, map[string]any{
		"class_uid": int64(1001), "category_uid": int64(1), "activity_id": int64(14), "type_uid": int64(100114),
		"severity_id": int64(4), "time": t0, "message": "denied file.open /etc/shadow by /usr/bin/curl [baseline/r1]",
		"metadata": meta("file.open"), "device": device,
		"actor": map[string]any{"process": curl},
		"file":  map[string]any{"path": "/etc/shadow", "name": "shadow"},
	}, got[int64(1001)])
	assert.Equal(t, map[string]any{
		"class_uid": int64(2004), "category_uid": int64(2), "activity_id": int64(1), "type_uid": int64(200401),
		"status_id": int64(1), "severity_id": int64(4), "time": t0,
		"message":  "denied file.open /etc/shadow by /usr/bin/curl [baseline/r1]",
		"metadata": meta("file.open"), "device": device,
		"finding_info": map[string]any{
			"uid":   "14f46b0400-200:1767323135000000000:baseline:r1",
			"title": "r1", "desc": "denied file.open /etc/shadow by /usr/bin/curl [baseline/r1]",
			"analytic": map[string]any{"name": "r1", "type_id": int64(1), "type": "Rule", "category": "baseline"},
		},
		"action_id": int64(2), "action": "Denied", "disposition_id": int64(2), "disposition": "Blocked",
		"evidences": []any{map[string]any{
			"actor":   map[string]any{"process": curl},
			"process": curl,
			"file":    map[string]any{"path": "/etc/shadow", "name": "shadow"},
		}},
	}, got[int64(2004)])

	// A monitor-mode would-deny exec: Process Activity (the caller acts, the path it tried
	// is the launched file) and an Allowed / Detected finding.
	bash := map[string]any{"pid": int64(100), "name": "bash", "cmd_line": "bash", "file": map[string]any{"path": "/usr/bin/bash"},
		"user": map[string]any{"uid": "0"}, "parent_process": map[string]any{"pid": int64(1)}}
	got = byClass(send("exec_attempt", 2))
	require.Contains(t, got, int64(1007))
	require.Contains(t, got, int64(2004))
	assert.Equal(t, map[string]any{"process": bash}, got[int64(1007)]["actor"])
	assert.Equal(t, map[string]any{"pid": int64(100), "file": map[string]any{"path": "/tmp/evil"}}, got[int64(1007)]["process"])
	assert.EqualValues(t, 100701, got[int64(1007)]["type_uid"])
	f := got[int64(2004)]
	assert.Equal(t, []any{int64(1), "Allowed", int64(15), "Detected", int64(3)},
		[]any{f["action_id"], f["action"], f["disposition_id"], f["disposition"], f["severity_id"]}, "would deny: allowed, detected; WARN is Medium")
	assert.Equal(t, map[string]any{"uid": "3b9aca00-100:1767323135000000000:audit:r3", "title": "r3",
		"desc":     "would deny (monitor) process.exec /tmp/evil by /usr/bin/bash [audit/r3]",
		"analytic": map[string]any{"name": "r3", "type_id": int64(1), "type": "Rule", "category": "audit"}}, f["finding_info"])
	assert.Equal(t, []any{map[string]any{"actor": map[string]any{"process": bash},
		"process": map[string]any{"pid": int64(100), "file": map[string]any{"path": "/tmp/evil"}}}}, f["evidences"])

	// A killed exec (enforce, applied): Denied / Other "Killed", Critical.
	got = byClass(send("process_exec_match", 2))
	require.Contains(t, got, int64(2004))
	f = got[int64(2004)]
	assert.Equal(t, []any{int64(2), "Denied", int64(99), "Killed", int64(5)},
		[]any{f["action_id"], f["action"], f["disposition_id"], f["disposition"], f["severity_id"]})
	assert.EqualValues(t, 1, got[int64(1007)]["activity_id"], "the exec itself is a Launch")

	// An exec without a rule: Process Activity only, no finding.
	got = byClass(send("process_exec", 1))
	require.Contains(t, got, int64(1007))
	assert.NotContains(t, got, int64(2004))

	// process.fork has no OCSF class and no rule: exported once, exactly as it came.
	recs = send("process_fork", 1)
	want := golden(t, "process_fork").ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, want.Body().AsRaw(), recs[0].Body().AsRaw(), "no OCSF body on an unmapped record")
	assert.Equal(t, want.Attributes().AsRaw(), recs[0].Attributes().AsRaw())
	assert.Equal(t, "process.fork", recs[0].EventName())

	// network.socket matched a rule but has no activity class: unchanged in the activity
	// pipeline, and a finding with the process as its evidence.
	recs = send("network_socket", 2)
	got = byClass(recs)
	wantSock := golden(t, "network_socket").ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	require.Contains(t, got, wantSock.Body().Str(), "the activity pipeline passes the record as it is")
	require.Contains(t, got, int64(2004))
	sockProc := map[string]any{}
	for k, v := range curl {
		sockProc[k] = v
	}
	assert.Equal(t, []any{map[string]any{"process": sockProc}}, got[int64(2004)]["evidences"])
	assert.Equal(t, []any{int64(1), "Allowed", int64(19), "Alert"},
		[]any{got[int64(2004)]["action_id"], got[int64(2004)]["action"], got[int64(2004)]["disposition_id"], got[int64(2004)]["disposition"]})

	// The collector reported no statement error (error_mode: ignore would log one).
	assert.NotContains(t, strings.ToLower(out.String()), "failed to execute statement")
}
