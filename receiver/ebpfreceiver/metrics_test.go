//go:build linux

package ebpfreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
)

func settingsFor(t *testing.T, name string) receiver.Settings {
	t.Helper()
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, name)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set.TelemetrySettings = tel.NewTelemetrySettings()
	return set
}

// inner is the instance behind a factory-made receiver.
func inner(t *testing.T, c component.Component) *logsReceiver {
	t.Helper()
	h, ok := c.(*handle)
	require.True(t, ok, "the factory returns a shared handle, got %T", c)
	return h.s.r.(*logsReceiver)
}

func shutdown(t *testing.T, c component.Component) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Shutdown(ctx))
}

// The logs and the metrics receiver of one ID are one instance: the kernel
// objects load once, a second Start is a no-op, and the first Shutdown (from
// either signal) closes them once.
func TestFactorySharesOneInstancePerID(t *testing.T) {
	testenv.RequireRoot(t)
	f := NewFactory()
	cfg := f.CreateDefaultConfig()
	set := settingsFor(t, "")
	logs, err := f.CreateLogs(context.Background(), set, cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	metrics, err := f.CreateMetrics(context.Background(), set, cfg, new(consumertest.MetricsSink))
	require.NoError(t, err)
	r := inner(t, logs)
	require.Same(t, r, inner(t, metrics), "one instance for both signals")
	require.Nil(t, r.proc, "nothing is loaded before Start")

	host := componenttest.NewNopHost()
	require.NoError(t, logs.Start(context.Background(), host))
	proc := r.proc
	require.NotNil(t, proc, "Start loaded the kernel objects")
	require.NoError(t, metrics.Start(context.Background(), host))
	require.NoError(t, logs.Start(context.Background(), host), "starting twice is idempotent")
	assert.Same(t, proc, r.proc, "the kernel objects were loaded once")

	shutdown(t, metrics)
	assert.Nil(t, r.proc, "the first Shutdown closed the kernel objects")
	shutdown(t, logs) // the other signal's Shutdown: nothing left to close
	shutdown(t, metrics)

	// A new pipeline graph (a reload) gets a new instance.
	again, err := f.CreateLogs(context.Background(), set, cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	assert.NotSame(t, r, inner(t, again))
	shutdown(t, again) // never started: nothing to close
}

// A second ebpf receiver (another ID) is refused at Start while the first runs,
// and loads nothing.
func TestSecondReceiverIDRefused(t *testing.T) {
	testenv.RequireRoot(t)
	f := NewFactory()
	cfg := f.CreateDefaultConfig()
	first, err := f.CreateLogs(context.Background(), settingsFor(t, ""), cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	second, err := f.CreateMetrics(context.Background(), settingsFor(t, "2"), cfg, new(consumertest.MetricsSink))
	require.NoError(t, err)
	require.NotSame(t, inner(t, first), inner(t, second))

	host := componenttest.NewNopHost()
	require.NoError(t, first.Start(context.Background(), host))
	err = second.Start(context.Background(), host)
	require.EqualError(t, err, "only one ebpf receiver may run per collector: ebpf is already running")
	assert.Nil(t, inner(t, second).proc, "the refused receiver loaded nothing")
	shutdown(t, second)
	assert.NotNil(t, inner(t, first).proc, "refusing the second left the first running")

	// Another factory (another collector in this process) has its own registry.
	other, err := NewFactory().CreateLogs(context.Background(), settingsFor(t, "2"), cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	assert.NotSame(t, inner(t, first), inner(t, other))
	shutdown(t, other)

	shutdown(t, first)
	// Once the first is gone, the other ID may run.
	third, err := f.CreateLogs(context.Background(), settingsFor(t, "2"), cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	require.NoError(t, third.Start(context.Background(), host))
	shutdown(t, third)
}

// A counter keeps at most maxSeries label sets; the rest is counted as overflow.
func TestSeriesTotalsBounded(t *testing.T) {
	tot := newSeriesTotals()
	for i := range maxSeries + 10 {
		tot.add(attribute.NewSet(attribute.Int("i", i)), 2)
	}
	tot.add(attribute.NewSet(attribute.Int("i", 0)), 1) // a kept set still counts
	snap := tot.snapshot()
	require.Len(t, snap, maxSeries)
	assert.Equal(t, int64(20), tot.overflowed())
	var sum int64
	for _, s := range snap {
		sum += s.value
	}
	assert.Equal(t, int64(2*maxSeries+1), sum)
}

// point is one data point of the newest emission, flattened.
type point struct {
	name   string
	kind   pmetric.MetricType
	mono   bool
	value  int64
	labels map[string]string
}

// latest returns the data points of the newest emission and its resource.
func latest(sink *consumertest.MetricsSink) ([]point, map[string]any) {
	all := sink.AllMetrics()
	if len(all) == 0 {
		return nil, nil
	}
	md := all[len(all)-1]
	var out []point
	rm := md.ResourceMetrics().At(0)
	ms := rm.ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		var dps pmetric.NumberDataPointSlice
		mono := false
		switch m.Type() {
		case pmetric.MetricTypeSum:
			dps = m.Sum().DataPoints()
			mono = m.Sum().IsMonotonic() && m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		case pmetric.MetricTypeGauge:
			dps = m.Gauge().DataPoints()
		default:
			continue
		}
		for j := 0; j < dps.Len(); j++ {
			labels := map[string]string{}
			for k, v := range dps.At(j).Attributes().All() {
				labels[k] = v.AsString()
			}
			out = append(out, point{name: m.Name(), kind: m.Type(), mono: mono, value: dps.At(j).IntValue(), labels: labels})
		}
	}
	return out, rm.Resource().Attributes().AsRaw()
}

func valueOf(pts []point, name string, labels map[string]string) (int64, bool) {
	var total int64
	found := false
next:
	for _, p := range pts {
		if p.name != name {
			continue
		}
		for k, v := range labels {
			if p.labels[k] != v {
				continue next
			}
		}
		total += p.value
		found = true
	}
	return total, found
}

// In a metrics pipeline the receiver sends per rule counts (the kernel's count
// rules among them), policy actions and events received, with bounded labels.
func TestMetricsSignalCountsRulesAndEvents(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	watched := filepath.Join(dir, "watched") + "/"
	counted := filepath.Join(dir, "counted") + "/"
	require.NoError(t, os.Mkdir(watched, 0o755))
	require.NoError(t, os.Mkdir(counted, 0o755))
	writePolicy(t, dir, "watch.yaml", filePolicy("watch-files", watched))
	writePolicy(t, dir, "count.yaml", fmt.Sprintf("name: count-opens\nrules:\n  - name: opens\n    event: file.open\n    paths: [%s]\n    action: count\n", counted))

	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.PolicyPaths = []string{dir}
	cfg.NodeName = "node-a"
	cfg.Metrics.Interval = time.Second
	require.NoError(t, cfg.Validate())
	set := settingsFor(t, "")
	logsSink, metricsSink := new(consumertest.LogsSink), new(consumertest.MetricsSink)
	logs, err := f.CreateLogs(context.Background(), set, cfg, logsSink)
	require.NoError(t, err)
	metrics, err := f.CreateMetrics(context.Background(), set, cfg, metricsSink)
	require.NoError(t, err)
	host := componenttest.NewNopHost()
	require.NoError(t, metrics.Start(context.Background(), host))
	require.NoError(t, logs.Start(context.Background(), host))
	t.Cleanup(func() { shutdown(t, logs); shutdown(t, metrics) })

	// The first emission: what exec counted before the workload.
	var pts []point
	require.Eventually(t, func() bool { pts, _ = latest(metricsSink); return pts != nil }, 5*time.Second, 50*time.Millisecond)
	execs0, _ := valueOf(pts, "vigil.events.received", map[string]string{"event": "process.exec"})

	for i := range 5 {
		touchAndRead(t, filepath.Join(counted, fmt.Sprint(i)))
	}
	for i := range 3 {
		touchAndRead(t, filepath.Join(watched, fmt.Sprint(i)))
	}
	const execs = 20
	execStorm(t, execs)

	countLabels := map[string]string{"policy": "count-opens", "rule": "opens", "event": "file.open", "action": "count"}
	watchLabels := map[string]string{"policy": "watch-files", "rule": "watch", "event": "file.open", "action": "post"}
	var res map[string]any
	require.Eventually(t, func() bool {
		pts, res = latest(metricsSink)
		hits, _ := valueOf(pts, "vigil.policy.rule.hits", countLabels)
		watch, _ := valueOf(pts, "vigil.policy.actions", watchLabels)
		n, _ := valueOf(pts, "vigil.events.received", map[string]string{"event": "process.exec"})
		return hits == 10 && watch == 6 && n >= execs0+execs
	}, 10*time.Second, 100*time.Millisecond, "5 writes + 5 reads counted in the kernel, 3 writes + 3 reads posted, %d execs", execs)

	// The kernel's hits of the posted rule are the same opens.
	hits, ok := valueOf(pts, "vigil.policy.rule.hits", watchLabels)
	assert.True(t, ok)
	assert.Equal(t, int64(6), hits)
	// Count rules send no records, so no policy action is counted for them.
	_, ok = valueOf(pts, "vigil.policy.actions", map[string]string{"policy": "count-opens"})
	assert.False(t, ok, "a count rule is not a policy action")
	posted, _ := valueOf(pts, "vigil.policy.actions", map[string]string{"policy": "watch-files", "outcome": "posted"})
	assert.Equal(t, int64(6), posted)
	loaded, ok := valueOf(pts, "vigil.policies.loaded", nil)
	assert.True(t, ok)
	assert.Equal(t, int64(2), loaded)
	failed, ok := valueOf(pts, "vigil.policies.failed", nil)
	assert.True(t, ok)
	assert.Zero(t, failed)
	live, ok := valueOf(pts, "vigil.process_cache.size", map[string]string{"state": "live"})
	assert.True(t, ok)
	assert.Positive(t, live)
	_, ok = valueOf(pts, "vigil.kernel.events.lost", nil)
	assert.True(t, ok, "kernel losses are reported (summed over CPUs)")
	overflow, ok := valueOf(pts, "vigil.metrics.series_overflow", nil)
	assert.True(t, ok)
	assert.Zero(t, overflow)

	assert.Equal(t, "node-a", res["host.name"])
	assert.Equal(t, "node-a", res["k8s.node.name"])
	assert.Equal(t, "vigil", res["service.namespace"], "the same Vigil-only selector as the logs")
	allowed := map[string]bool{"policy": true, "rule": true, "event": true, "action": true, "outcome": true, "reason": true, "state": true}
	for _, p := range pts {
		for k := range p.labels {
			assert.True(t, allowed[k], "%s has an unbounded or unknown label %q", p.name, k)
		}
		switch p.name {
		case "vigil.process_cache.size", "vigil.policies.loaded", "vigil.policies.failed":
			assert.Equal(t, pmetric.MetricTypeGauge, p.kind, p.name)
		default:
			assert.True(t, p.mono, "%s is a cumulative monotonic sum", p.name)
		}
	}
	// The logs pipeline got the posted records and none of the counted opens.
	assert.Len(t, recordsWhere(logsSink, "file.open", "security_rule.ruleset.name", "watch-files"), 6)
	assert.Empty(t, recordsWhere(logsSink, "file.open", "security_rule.ruleset.name", "count-opens"))
}

// Without a logs pipeline the receiver runs the same (the counts need the
// kernel programs): a metrics-only receiver counts execs and reports no
// policies.
func TestMetricsOnlyReceiver(t *testing.T) {
	testenv.RequireRoot(t)
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Metrics.Interval = time.Second
	sink := new(consumertest.MetricsSink)
	metrics, err := f.CreateMetrics(context.Background(), settingsFor(t, ""), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, metrics.Start(context.Background(), componenttest.NewNopHost()))
	execStorm(t, 5)
	shutdown(t, metrics) // sends the final counts
	pts, res := latest(sink)
	require.NotNil(t, pts, "the final counts were sent at shutdown")
	n, _ := valueOf(pts, "vigil.events.received", map[string]string{"event": "process.exec"})
	assert.GreaterOrEqual(t, n, int64(5))
	loaded, ok := valueOf(pts, "vigil.policies.loaded", nil)
	assert.True(t, ok)
	assert.Zero(t, loaded)
	_, ok = valueOf(pts, "vigil.policy.rule.hits", nil)
	assert.False(t, ok, "no policies, no rule hits")
	md := sink.AllMetrics()[len(sink.AllMetrics())-1]
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		n := 0
		switch m.Type() {
		case pmetric.MetricTypeSum:
			n = m.Sum().DataPoints().Len()
		case pmetric.MetricTypeGauge:
			n = m.Gauge().DataPoints().Len()
		}
		assert.Positive(t, n, "%s is sent with data points", m.Name())
	}
	host, _ := os.Hostname()
	assert.Equal(t, host, res["host.name"])
	assert.NotContains(t, res, "k8s.node.name", "no node_name, no k8s.node.name")
}
