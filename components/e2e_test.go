package components

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/internal/testkit/collector"
)

// collectorBinary returns the ocb-built distribution, or skips (fails in CI); the
// distribution runs the real ebpf receiver, so the tests need root.
func collectorBinary(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	return collector.Binary(t)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

type proc = collector.Process

func startCollector(t *testing.T, bin, config string, env ...string) *proc {
	t.Helper()
	return collector.Start(t, bin, env, config)
}

// readPeer parses the peer's OTLP JSON lines.
func readPeer(t *testing.T, path string) []plog.LogRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []plog.LogRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var um plog.JSONUnmarshaler
	for sc.Scan() {
		ld, err := um.UnmarshalLogs(sc.Bytes())
		if err != nil {
			continue // a line still being written
		}
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					out = append(out, lrs.At(k))
				}
			}
		}
	}
	return out
}

// policyActions sums the last otelcol_ebpf_policy_actions data points of a
// rule in the peer's OTLP JSON metrics (a cumulative counter: the last is the total).
func policyActions(t *testing.T, path, rule string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	var last int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var um pmetric.JSONUnmarshaler
	for sc.Scan() {
		md, err := um.UnmarshalMetrics(sc.Bytes())
		if err != nil {
			continue // a line still being written
		}
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			sms := rms.At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					m := ms.At(k)
					if m.Name() != "otelcol_ebpf_policy_actions" || m.Type() != pmetric.MetricTypeSum {
						continue
					}
					dps := m.Sum().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						if r, ok := dps.At(d).Attributes().Get("rule"); ok && r.Str() == rule {
							last = dps.At(d).IntValue()
						}
					}
				}
			}
		}
	}
	return last
}

// sensorPrograms counts loaded BPF programs named like our process sensor's.
func sensorPrograms(t *testing.T) int {
	t.Helper()
	n := 0
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return n
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil && strings.HasPrefix(info.Name, "handle_exec") {
			n++
		}
		p.Close()
	}
}

// TestE2EProcessEventsReachOTLPPeer runs the ocb-built distribution with the eBPF
// receiver (and one policy) exporting over OTLP/gRPC to a second collector
// process on loopback, logs and its own metrics, and reads back what the peer
// wrote.
func TestE2EProcessEventsReachOTLPPeer(t *testing.T) {
	bin := collectorBinary(t)
	dir := t.TempDir()
	peerAddr, health := freePort(t), freePort(t)
	peerOut, peerMetrics := filepath.Join(dir, "peer.json"), filepath.Join(dir, "peer-metrics.json")
	policies, watched := filepath.Join(dir, "policies"), filepath.Join(dir, "watched")
	require.NoError(t, os.Mkdir(policies, 0o755))
	require.NoError(t, os.Mkdir(watched, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(policies, "e2e.yaml"), []byte(
		"name: e2e\nrules:\n  - name: watched\n    event: file.open\n    paths: ["+watched+"/]\n"), 0o600))
	env := []string{"PEER_ENDPOINT=" + peerAddr, "PEER_OUTPUT=" + peerOut, "PEER_METRICS_OUTPUT=" + peerMetrics,
		"HEALTH_ENDPOINT=" + health, "POLICY_DIR=" + policies}
	before := sensorPrograms(t)

	peer := startCollector(t, bin, filepath.Join("..", "testdata", "e2e", "peer.yaml"), env...)
	vigil := startCollector(t, bin, filepath.Join("..", "testdata", "e2e", "vigil.yaml"), env...)
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + health + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond, "vigil did not become healthy")
	assert.Equal(t, before+1, sensorPrograms(t), "the process sensor is loaded while running")

	marker := fmt.Sprintf("vigil-e2e-%d", time.Now().UnixNano())
	cmd := exec.Command("/bin/sh", "-c", "exit 5", marker, "--token=abc")
	require.NoError(t, cmd.Start())
	pid := int64(cmd.Process.Pid)
	_ = cmd.Wait()

	var execRec, exitRec plog.LogRecord
	require.Eventually(t, func() bool {
		for _, lr := range readPeer(t, peerOut) {
			v, ok := lr.Attributes().Get("process.pid")
			if !ok || v.Int() != pid {
				continue
			}
			switch lr.EventName() {
			case "process.exec":
				execRec = lr
			case "process.exit":
				exitRec = lr
			}
		}
		return execRec != (plog.LogRecord{}) && exitRec != (plog.LogRecord{})
	}, 30*time.Second, 200*time.Millisecond, "exec and exit records must reach the OTLP peer")

	// A policy event: an open in the watched directory is a file.open record at
	// the peer, and the policy action is counted in the OTLP metrics.
	secret := filepath.Join(watched, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("x"), 0o600))
	var openRec plog.LogRecord
	require.Eventually(t, func() bool {
		for _, lr := range readPeer(t, peerOut) {
			if p, ok := lr.Attributes().Get("file.path"); ok && lr.EventName() == "file.open" && p.Str() == secret {
				openRec = lr
				return true
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond, "the policy's file.open record must reach the OTLP peer")
	rule, _ := openRec.Attributes().Get("security_rule.name")
	assert.Equal(t, "watched", rule.Str())
	require.Eventually(t, func() bool { return policyActions(t, peerMetrics, "watched") >= 1 }, 30*time.Second,
		200*time.Millisecond, "otelcol_ebpf_policy_actions must reach the OTLP peer as a metric")

	cl, _ := execRec.Attributes().Get("process.command_line")
	assert.Equal(t, "/bin/sh -c exit 5 "+marker+" --token=***", cl.Str(), "redacted by default")
	code, _ := exitRec.Attributes().Get("process.exit.code")
	assert.Equal(t, int64(5), code.Int())
	assert.Equal(t, plog.SeverityNumberInfo, execRec.SeverityNumber())
	assert.NotZero(t, execRec.Timestamp())

	vigil.Stop(t)
	peer.Stop(t)
	// The kernel frees programs after an RCU grace period: poll briefly.
	assert.Eventually(t, func() bool { return sensorPrograms(t) == before }, 5*time.Second, 50*time.Millisecond,
		"shutdown detaches and unloads every program")
	entries, err := os.ReadDir("/sys/fs/bpf")
	if err == nil {
		for _, e := range entries {
			assert.NotContains(t, e.Name(), "vigil", "nothing is pinned")
		}
	}
}
