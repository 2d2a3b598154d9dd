package components

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigilsec/vigil/internal/testenv"
)

// runCollector runs the distribution in this process on a configuration; the
// returned channel yields Run's result, stop shuts the collector down and waits.
func runCollector(t *testing.T, config string) (done <-chan error, stop func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		Factories: Components,
		BuildInfo: component.BuildInfo{Command: "otelcol-vigil", Version: "test"},
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs: []string{"file:" + path}, ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
			},
		},
		DisableGracefulShutdown: true,
	})
	require.NoError(t, err)
	result, stopped := make(chan error, 1), make(chan struct{})
	go func() { result <- col.Run(context.Background()); close(stopped) }()
	stop = func() {
		col.Shutdown()
		select {
		case <-stopped:
		case <-time.After(20 * time.Second):
			t.Error("the collector did not stop within 20s")
		}
	}
	t.Cleanup(stop)
	return result, stop
}

// ownSensorPrograms counts the process sensor's exec programs this test
// process holds (other processes on the machine may load their own).
func ownSensorPrograms(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	ids := map[ebpf.ProgramID]bool{}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err != nil || target != "anon_inode:bpf-prog" {
			continue
		}
		info, err := os.ReadFile(filepath.Join("/proc/self/fdinfo", fd.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "prog_id:"); ok {
				if id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
					ids[ebpf.ProgramID(id)] = true
				}
			}
		}
	}
	n := 0
	for id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil && strings.HasPrefix(info.Name, "handle_exec") {
			n++
		}
		p.Close()
	}
	return n
}

// lastSum returns the newest value of a cumulative sum's data points whose
// attributes include want, from an OTLP JSON lines file.
func lastSum(path, name string, want map[string]string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var last int64
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var um pmetric.JSONUnmarshaler
	for sc.Scan() {
		md, err := um.UnmarshalMetrics(sc.Bytes())
		if err != nil {
			continue // a line still being written
		}
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			sms := md.ResourceMetrics().At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					m := ms.At(k)
					if m.Name() != name || m.Type() != pmetric.MetricTypeSum {
						continue
					}
					var v int64
					dps := m.Sum().DataPoints()
				next:
					for d := 0; d < dps.Len(); d++ {
						for key, val := range want {
							if a, ok := dps.At(d).Attributes().Get(key); !ok || a.AsString() != val {
								continue next
							}
						}
						v += dps.At(d).IntValue()
					}
					last, found = v, true
				}
			}
		}
	}
	return last, found
}

// The real collector builds the ebpf receiver of a logs and a metrics pipeline
// as one instance: one set of kernel programs, and the counts reach the
// metrics exporter.
func TestCollectorEbpfLogsAndMetricsShareOneReceiver(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	logsOut, metricsOut := filepath.Join(dir, "logs.json"), filepath.Join(dir, "metrics.json")
	before := ownSensorPrograms(t)
	done, stop := runCollector(t, fmt.Sprintf(`
receivers:
  ebpf:
    metrics: {interval: 1s}
exporters:
  file/logs: {path: %s}
  file/metrics: {path: %s, flush_interval: 100ms}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    logs: {receivers: [ebpf], exporters: [file/logs]}
    metrics: {receivers: [ebpf], exporters: [file/metrics]}
`, logsOut, metricsOut))
	var execs0 int64
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("the collector stopped: %v", err)
		default:
		}
		// An exec of our own, so the count exists even on an idle machine.
		require.NoError(t, exec.Command("/bin/true").Run())
		var ok bool
		execs0, ok = lastSum(metricsOut, "vigil.events.received", map[string]string{"event": "process.exec"})
		return ok
	}, 30*time.Second, 100*time.Millisecond, "the metrics pipeline gets the receiver's counts")
	assert.Equal(t, before+1, ownSensorPrograms(t), "one set of kernel programs for both pipelines")

	const n = 10
	for range n {
		require.NoError(t, exec.Command("/bin/true").Run())
	}
	require.Eventually(t, func() bool {
		v, _ := lastSum(metricsOut, "vigil.events.received", map[string]string{"event": "process.exec"})
		return v >= execs0+n
	}, 10*time.Second, 100*time.Millisecond, "the execs are counted")
	st, err := os.Stat(logsOut)
	require.NoError(t, err)
	assert.NotZero(t, st.Size(), "the logs pipeline got the records")
	stop()
	assert.Eventually(t, func() bool { return ownSensorPrograms(t) == before }, 5*time.Second, 50*time.Millisecond,
		"shutdown unloaded the one set of programs")
}

// Two ebpf receivers (two IDs) in one collector: the second is refused and the
// collector does not start; nothing stays loaded.
func TestCollectorRefusesSecondEbpfReceiver(t *testing.T) {
	testenv.RequireRoot(t)
	before := ownSensorPrograms(t)
	done, _ := runCollector(t, `
receivers:
  ebpf:
  ebpf/2:
exporters:
  debug: {verbosity: basic}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    logs: {receivers: [ebpf], exporters: [debug]}
    logs/2: {receivers: [ebpf/2], exporters: [debug]}
`)
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the collector did not fail to start")
	}
	require.Error(t, err)
	assert.Regexp(t, regexp.MustCompile(`only one ebpf receiver may run per collector: ebpf(/2)? is already running`), err.Error())
	assert.Eventually(t, func() bool { return ownSensorPrograms(t) == before }, 5*time.Second, 50*time.Millisecond,
		"the receiver that started was shut down and unloaded")
}
