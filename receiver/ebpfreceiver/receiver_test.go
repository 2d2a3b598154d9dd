//go:build linux

package ebpfreceiver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/cgroups"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

const testContainerID = "4f1c9e0d2b7a4c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6"
const testPodUID = "7d2a3c4e-5f60-4718-9a2b-3c4d5e6f7a8b"

type started struct {
	r    *logsReceiver
	sink *consumertest.LogsSink
	tel  *componenttest.Telemetry
}

func startReceiver(t *testing.T, mutate func(*Config), next func(*consumertest.LogsSink) consumer.Logs) started {
	t.Helper()
	return startReceiverWith(t, mutate, next, nil)
}

// startReceiverWith also replaces the ring buffer reader (nil keeps the real one).
func startReceiverWith(t *testing.T, mutate func(*Config), next func(*consumertest.LogsSink) consumer.Logs,
	newReader func(*sensor.Process) (ringReader, error)) started {
	t.Helper()
	testenv.RequireRoot(t)
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := new(consumertest.LogsSink)
	var c consumer.Logs = sink
	if next != nil {
		c = next(sink)
	}
	r, err := newLogsReceiver(set, cfg, c)
	require.NoError(t, err)
	if newReader != nil {
		r.newReader = newReader
	}
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, r.Shutdown(ctx))
	})
	return started{r: r, sink: sink, tel: tel}
}

// findRecords returns the records of an event for a pid, with their resources.
func findRecords(sink *consumertest.LogsSink, event string, pid int) (recs []plog.LogRecord, res []pcommon.Resource) {
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if lr.EventName() != event {
						continue
					}
					if v, ok := lr.Attributes().Get("process.pid"); ok && v.Int() == int64(pid) {
						recs = append(recs, lr)
						res = append(res, rl.Resource())
					}
				}
			}
		}
	}
	return recs, res
}

func waitRecord(t *testing.T, sink *consumertest.LogsSink, event string, pid int) (plog.LogRecord, pcommon.Resource) {
	t.Helper()
	var recs []plog.LogRecord
	var res []pcommon.Resource
	require.Eventually(t, func() bool {
		recs, res = findRecords(sink, event, pid)
		return len(recs) > 0
	}, 10*time.Second, 20*time.Millisecond, "no %s record for pid %d", event, pid)
	require.Len(t, recs, 1, "exactly one %s record for pid %d", event, pid)
	return recs[0], res[0]
}

// containerCgroup creates a real cgroup2 cgroup shaped like containerd's under
// Kubernetes and returns an open fd on it (for CLONE_INTO_CGROUP).
func containerCgroup(t *testing.T) int {
	t.Helper()
	root, err := cgroups.Cgroup2Mount("/proc/self/mountinfo")
	require.NoError(t, err)
	podDir := filepath.Join(root, "vigil-test.slice", "kubepods-besteffort-pod"+strings.ReplaceAll(testPodUID, "-", "_")+".slice")
	dir := filepath.Join(podDir, "cri-containerd-"+testContainerID+".scope")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Cleanup(func() {
		for _, d := range []string{dir, podDir, filepath.Dir(podDir)} {
			_ = os.Remove(d)
		}
	})
	fd, err := syscall.Open(dir, syscall.O_DIRECTORY|syscall.O_RDONLY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Close(fd) })
	return fd
}

func str(t *testing.T, m pcommon.Map, k string) string {
	t.Helper()
	v, ok := m.Get(k)
	require.True(t, ok, "attribute %s missing", k)
	return v.AsString()
}

func integer(t *testing.T, m pcommon.Map, k string) int64 {
	t.Helper()
	v, ok := m.Get(k)
	require.True(t, ok, "attribute %s missing", k)
	return v.Int()
}

func TestExecInContainerCgroup(t *testing.T) {
	s := startReceiver(t, nil, nil)
	fd := containerCgroup(t)
	dir := t.TempDir()
	cmd := exec.Command("/bin/sh", "-c", "exit 3", "vigil-helper", "--password=hunter2", "plain")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	before := time.Now()
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	_ = cmd.Wait()

	lr, res := waitRecord(t, s.sink, "process.exec", pid)
	sh, err := filepath.EvalSymlinks("/bin/sh")
	require.NoError(t, err)
	a := lr.Attributes()
	assert.Equal(t, sh, str(t, a, "process.executable.path"))
	// The kernel's task name: the base name of the path exec was given (/bin/sh), not of
	// the file it resolves to (dash), as /proc/PID/status says.
	assert.Equal(t, "sh", str(t, a, "process.executable.name"))
	assert.Equal(t, "/bin/sh -c exit 3 vigil-helper --password=*** plain", str(t, a, "process.command_line"))
	args, _ := a.Get("process.command_args")
	assert.Equal(t, []any{"/bin/sh", "-c", "exit 3", "vigil-helper", "--password=***", "plain"}, args.Slice().AsRaw())
	assert.Equal(t, dir, str(t, a, "process.working_directory"))
	assert.Equal(t, int64(os.Geteuid()), integer(t, a, "process.user.id"))
	assert.Equal(t, int64(os.Getpid()), integer(t, a, "process.parent_pid"))
	exe, _ := os.Executable()
	assert.Equal(t, exe, str(t, a, "vigil.parent.executable.path"), "the test binary, known from the start-up snapshot")
	assert.NotEmpty(t, str(t, a, "vigil.exec_id"))
	assert.NotEmpty(t, str(t, a, "vigil.parent.exec_id"))
	assert.True(t, a.AsRaw()["vigil.redacted"].(bool))
	assert.Equal(t, plog.SeverityNumberInfo, lr.SeverityNumber())
	assert.Equal(t, "exec /bin/sh -c exit 3 vigil-helper --password=*** plain", lr.Body().Str())
	ts := lr.Timestamp().AsTime()
	assert.WithinDuration(t, before, ts, 2*time.Second, "kernel boot-clock time converted to wall clock")
	assert.False(t, lr.ObservedTimestamp().AsTime().Before(ts.Add(-time.Millisecond)))

	assert.Equal(t, testContainerID, str(t, res.Attributes(), "container.id"))
	assert.Equal(t, "containerd", str(t, res.Attributes(), "container.runtime.name"))
	assert.Equal(t, testPodUID, str(t, res.Attributes(), "k8s.pod.uid"))
	assert.NotEmpty(t, str(t, res.Attributes(), "host.name"))

	xr, xres := waitRecord(t, s.sink, "process.exit", pid)
	assert.Equal(t, int64(3), integer(t, xr.Attributes(), "process.exit.code"))
	assert.Equal(t, sh, str(t, xr.Attributes(), "process.executable.path"))
	assert.Equal(t, str(t, a, "vigil.exec_id"), str(t, xr.Attributes(), "vigil.exec_id"))
	assert.Equal(t, testContainerID, str(t, xres.Attributes(), "container.id"))
	assert.Equal(t, "exit "+sh+" code 3", xr.Body().Str())
}

func TestHostProcessHasHostResource(t *testing.T) {
	s := startReceiver(t, nil, nil)
	cmd := exec.Command("/bin/true")
	require.NoError(t, cmd.Run())
	_, res := waitRecord(t, s.sink, "process.exec", cmd.Process.Pid)
	_, ok := res.Attributes().Get("container.id")
	assert.False(t, ok)
	assert.NotEmpty(t, str(t, res.Attributes(), "host.name"))
}

// node_name (the DaemonSet sets it from the downward API) names the node on
// every record, whatever the collector pod's own host name is.
func TestNodeNameOnRecords(t *testing.T) {
	s := startReceiver(t, func(c *Config) { c.NodeName = "node-under-test" }, nil)
	cmd := exec.Command("/bin/true")
	require.NoError(t, cmd.Run())
	_, res := waitRecord(t, s.sink, "process.exec", cmd.Process.Pid)
	assert.Equal(t, "node-under-test", str(t, res.Attributes(), "host.name"))
	assert.Equal(t, "node-under-test", str(t, res.Attributes(), "k8s.node.name"))
	assert.Equal(t, "vigil-host", str(t, res.Attributes(), "service.name"))
	assert.Equal(t, "node-under-test", str(t, res.Attributes(), "service.instance.id"))
}

func TestProcessStartedBeforeReceiverIsKnown(t *testing.T) {
	testenv.RequireRoot(t)
	sleeper := exec.Command("/bin/sleep", "60", "7")
	require.NoError(t, sleeper.Start())
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	time.Sleep(50 * time.Millisecond)

	s := startReceiver(t, nil, nil)
	// Its exit record can only name its command line if the start-up snapshot
	// put it in the process cache.
	require.NoError(t, sleeper.Process.Signal(syscall.SIGKILL))
	xr, _ := waitRecord(t, s.sink, "process.exit", sleeper.Process.Pid)
	a := xr.Attributes()
	assert.Equal(t, "/bin/sleep 60 7", str(t, a, "process.command_line"))
	assert.Equal(t, "SIGKILL", str(t, a, "vigil.exit.signal"))
	assert.Equal(t, int64(128+9), integer(t, a, "process.exit.code"))
	assert.Equal(t, plog.SeverityNumberWarn, xr.SeverityNumber())
}

func sumMetric(t *testing.T, tel *componenttest.Telemetry, name string, match func(map[string]string) bool) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0 // not recorded yet
	}
	var total int64
	// No require here: this runs inside Eventually's condition goroutine.
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Errorf("%s is not an int64 sum: %T", name, m.Data)
		return 0
	}
	for _, dp := range sum.DataPoints {
		attrs := map[string]string{}
		for _, kv := range dp.Attributes.ToSlice() {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		if match == nil || match(attrs) {
			total += dp.Value
		}
	}
	return total
}

func execStorm(t *testing.T, n int) {
	t.Helper()
	for range n {
		require.NoError(t, exec.Command("/bin/true").Run())
	}
}

// gatedReader holds the ring buffer reader back until released, so that the
// kernel fills the ring: the deterministic way to make it drop.
type gatedReader struct {
	*ringbuf.Reader
	gate chan struct{}
	once sync.Once
}

func (g *gatedReader) ReadInto(rec *ringbuf.Record) error {
	<-g.gate
	return g.Reader.ReadInto(rec)
}

func (g *gatedReader) release() { g.once.Do(func() { close(g.gate) }) }

func (g *gatedReader) Close() error {
	g.release()
	return g.Reader.Close()
}

// A one-page ring buffer cannot hold an exec storm while its reader is held back:
// the kernel's per-CPU loss counter must account for every record it could not
// write, and everything else is read once the reader runs.
func TestTinyRingBufferCountsKernelDrops(t *testing.T) {
	var gr *gatedReader
	testenv.RequireRoot(t)
	cfg := func(c *Config) { c.RingBufferSize = os.Getpagesize() }
	s := startReceiverWith(t, cfg, nil, func(p *sensor.Process) (ringReader, error) {
		rd, err := sensor.NewReader(p.Events())
		if err != nil {
			return nil, err
		}
		gr = &gatedReader{Reader: rd, gate: make(chan struct{})}
		return gr, nil
	})
	const n = 200
	execStorm(t, n)
	gr.release()
	var lost, received int64
	ok := assert.Eventually(t, func() bool {
		lost = sumMetric(t, s.tel, "otelcol_ebpf_kernel_events_lost", nil)
		received = sumMetric(t, s.tel, "otelcol_ebpf_events_received", nil)
		// fork + exec + exit per iteration, each either received or counted lost.
		return lost > 0 && received+lost >= 3*n
	}, 10*time.Second, 50*time.Millisecond)
	t.Logf("exec storm of %d with a held %d-byte ring buffer: %d records received, %d lost in the kernel (counted)", n, os.Getpagesize(), received, lost)
	require.True(t, ok, "every record must be received or counted lost, and some must be lost")
}

// A blocked pipeline fills the bounded queue; the reader waits while the kernel
// ring has room and, once it is half full (a 4-page ring here), drops and counts
// instead of letting the ring overflow. Every event is delivered or counted.
func TestQueueFullDropsAreCounted(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	s := startReceiver(t, func(c *Config) { c.QueueSize = 4; c.BatchSize = 1; c.RingBufferSize = 4 * os.Getpagesize() },
		func(sink *consumertest.LogsSink) consumer.Logs {
			next, err := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
				<-release
				return sink.ConsumeLogs(ctx, ld)
			})
			require.NoError(t, err)
			return next
		})
	// Registered after the receiver's shutdown, so run before it: a failed
	// assertion below must not leave the consumer blocked and the shutdown
	// waiting for it.
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	// With the consumer held, the reader waits for queue room while the ring
	// is less than half full and drops (queue_full) past that. One storm may
	// leave the ring just under half: storms follow until it is past (bounded).
	queueFull := func() bool {
		return sumMetric(t, s.tel, "otelcol_ebpf_events_dropped", func(a map[string]string) bool { return a["reason"] == "queue_full" }) > 0
	}
	for i := 0; i < 10 && !queueFull(); i++ {
		execStorm(t, 100)
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline) && !queueFull(); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	require.True(t, queueFull(), "no queue_full drop after 10 storms with the consumer held")
	once.Do(func() { close(release) })
	require.Eventually(t, func() bool {
		// forks only update the process cache unless emit_forks is set
		received := sumMetric(t, s.tel, "otelcol_ebpf_events_received", func(a map[string]string) bool { return a["event"] != "process.fork" })
		dropped := sumMetric(t, s.tel, "otelcol_ebpf_events_dropped", func(a map[string]string) bool { return a["reason"] == "queue_full" })
		return int64(s.sink.LogRecordCount()) == received-dropped
	}, 10*time.Second, 50*time.Millisecond, "every received event is delivered or counted as dropped")
}
