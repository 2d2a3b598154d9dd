//go:build linux

package ebpfreceiver

import (
	"context"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/otlplogs"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// The metrics signal: every metrics.interval the receiver sends its counts to
// the metrics pipeline as cumulative Sums and Gauges. They are the same counts
// as the self-telemetry (one source): the read path adds to the self-telemetry
// counters, and each of those counters also keeps its running totals here
// (teeCounter), by label set. Kernel counters (rule hits, ring buffer losses)
// and the cache sizes are read when the metrics are built.

// maxSeries bounds the label sets one counter keeps for the metrics signal.
// Labels are policy, rule, action, outcome, event, reason: bounded by the
// policies loaded (at most 64 rules per event kind) and by fixed sets; the cap
// protects against a bug, and what is over it is counted, not kept.
const maxSeries = 4096

// seriesTotals are a counter's cumulative values by label set.
type seriesTotals struct {
	mu       sync.Mutex
	byLabels map[attribute.Distinct]*series
	overflow int64
}

type series struct {
	labels attribute.Set
	value  int64
}

func newSeriesTotals() *seriesTotals {
	return &seriesTotals{byLabels: map[attribute.Distinct]*series{}}
}

func (t *seriesTotals) add(labels attribute.Set, n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byLabels[labels.Equivalent()]
	if !ok {
		if len(t.byLabels) >= maxSeries {
			t.overflow += n
			return
		}
		s = &series{labels: labels}
		t.byLabels[labels.Equivalent()] = s
	}
	s.value += n
}

func (t *seriesTotals) overflowed() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.overflow
}

// snapshot returns a copy of the series, sorted by label set (stable output).
func (t *seriesTotals) snapshot() []series {
	t.mu.Lock()
	out := make([]series, 0, len(t.byLabels))
	for _, s := range t.byLabels {
		out = append(out, *s)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].labels.Encoded(attribute.DefaultEncoder()) < out[j].labels.Encoded(attribute.DefaultEncoder())
	})
	return out
}

// teeCounter is a self-telemetry counter that also keeps its totals.
type teeCounter struct {
	metric.Int64Counter
	totals *seriesTotals
}

func (c teeCounter) Add(ctx context.Context, n int64, opts ...metric.AddOption) {
	c.Int64Counter.Add(ctx, n, opts...)
	c.totals.add(metric.NewAddConfig(opts).Attributes(), n)
}

// signalCounts are the totals the metrics signal reports from the
// self-telemetry counters.
type signalCounts struct {
	received, dropped, actions, policyErrors *seriesTotals
}

// teeTelemetry makes the read path's and the policy controller's counters
// keep their totals for the metrics signal.
func teeTelemetry(tb *metadata.TelemetryBuilder) *signalCounts {
	c := &signalCounts{received: newSeriesTotals(), dropped: newSeriesTotals(), actions: newSeriesTotals(), policyErrors: newSeriesTotals()}
	tb.EbpfEventsReceived = teeCounter{tb.EbpfEventsReceived, c.received}
	tb.EbpfEventsDropped = teeCounter{tb.EbpfEventsDropped, c.dropped}
	tb.EbpfPolicyActions = teeCounter{tb.EbpfPolicyActions, c.actions}
	tb.EbpfPolicyErrors = teeCounter{tb.EbpfPolicyErrors, c.policyErrors}
	return c
}

// metricsSignal sends the counts to the metrics pipeline every interval.
type metricsSignal struct {
	next     consumer.Metrics
	obsrecv  *receiverhelper.ObsReport
	interval time.Duration
	build    func(start, now time.Time) pmetric.Metrics

	start  time.Time
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

func (m *metricsSignal) run() {
	m.start = time.Now()
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(m.done)
		t := time.NewTicker(m.interval)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.send(context.Background())
			}
		}
	}()
}

// shutdown stops the loop and sends the final counts (the kernel objects are
// still loaded: the receiver closes them after).
func (m *metricsSignal) shutdown(ctx context.Context) error {
	if m.stop == nil || m.closed {
		return nil
	}
	m.closed = true
	close(m.stop)
	<-m.done
	// A refusal is counted by the ObsReport (refused metric points), as for
	// every emission; it does not fail the shutdown.
	_ = m.send(ctx)
	return nil
}

func (m *metricsSignal) send(ctx context.Context) error {
	md := m.build(m.start, time.Now())
	opCtx := m.obsrecv.StartMetricsOp(ctx)
	err := m.next.ConsumeMetrics(opCtx, md)
	m.obsrecv.EndMetricsOp(opCtx, "ebpf", md.DataPointCount(), err)
	return err
}

// metricsBuilder appends the data points of one emission.
type metricsBuilder struct {
	sm         pmetric.ScopeMetrics
	start, now pcommon.Timestamp
}

func (b *metricsBuilder) sum(name, unit, desc string) pmetric.NumberDataPointSlice {
	m := b.sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	m.SetDescription(desc)
	s := m.SetEmptySum()
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	s.SetIsMonotonic(true)
	return s.DataPoints()
}

func (b *metricsBuilder) gauge(name, unit, desc string) pmetric.NumberDataPointSlice {
	m := b.sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	m.SetDescription(desc)
	return m.SetEmptyGauge().DataPoints()
}

// point appends one data point; labels are key, value pairs.
func (b *metricsBuilder) point(dps pmetric.NumberDataPointSlice, v int64, cumulative bool, labels ...string) {
	dp := dps.AppendEmpty()
	if cumulative {
		dp.SetStartTimestamp(b.start)
	}
	dp.SetTimestamp(b.now)
	dp.SetIntValue(v)
	for i := 0; i+1 < len(labels); i += 2 {
		dp.Attributes().PutStr(labels[i], labels[i+1])
	}
}

// totals appends a cumulative sum from a counter's totals, its label set
// copied (plus event, for policy actions, from the rule that was matched).
func (b *metricsBuilder) totals(dps pmetric.NumberDataPointSlice, t *seriesTotals, extra func(attribute.Set) []string) {
	for _, s := range t.snapshot() {
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(b.start)
		dp.SetTimestamp(b.now)
		dp.SetIntValue(s.value)
		for _, kv := range s.labels.ToSlice() {
			dp.Attributes().PutStr(string(kv.Key), kv.Value.String())
		}
		if extra != nil {
			l := extra(s.labels)
			for i := 0; i+1 < len(l); i += 2 {
				dp.Attributes().PutStr(l[i], l[i+1])
			}
		}
	}
}

// The metric names of the metrics signal (docs/telemetry.md#metrics-as-a-signal).
const (
	metricEventsReceived    = "vigil.events.received"
	metricEventsDropped     = "vigil.events.dropped"
	metricKernelEventsLost  = "vigil.kernel.events.lost"
	metricKernelErrors      = "vigil.kernel.errors"
	metricRuleHits          = "vigil.policy.rule.hits"
	metricPolicyActions     = "vigil.policy.actions"
	metricPolicyErrors      = "vigil.policy.errors"
	metricPoliciesLoaded    = "vigil.policies.loaded"
	metricPoliciesFailed    = "vigil.policies.failed"
	metricProcessCacheSize  = "vigil.process_cache.size"
	metricProcessCacheEvict = "vigil.process_cache.evictions"
	metricSeriesOverflow    = "vigil.metrics.series_overflow"
)

// buildMetrics reads every count now: the totals of the self-telemetry
// counters, the kernel counters, the cache sizes and the policy state.
func (r *logsReceiver) buildMetrics(start, now time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := rm.Resource().Attributes()
	res.PutStr("host.name", r.pipe.builder.HostName)
	res.PutStr("service.namespace", otlplogs.ServiceNamespace)
	if n := r.pipe.builder.NodeName; n != "" {
		res.PutStr("k8s.node.name", n)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	b := &metricsBuilder{sm: sm, start: pcommon.NewTimestampFromTime(start), now: pcommon.NewTimestampFromTime(now)}
	// A counter with no label set yet (no drops so far) is left out, not sent empty.
	defer sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
		return m.Type() == pmetric.MetricTypeSum && m.Sum().DataPoints().Len() == 0
	})

	b.totals(b.sum(metricEventsReceived, "{events}", "Records read from the kernel ring buffer, by event (policy.match: a policy sensor's record)."), r.sig.received, nil)
	b.totals(b.sum(metricEventsDropped, "{events}", "Events lost in user space, by reason (queue_full, consumer_refused, shutdown, decode errors)."), r.sig.dropped, nil)
	if p := r.proc; p != nil {
		if sum, perCPU, err := p.Counters(); err == nil {
			var lost uint64
			for _, v := range perCPU {
				lost += v
			}
			b.point(b.sum(metricKernelEventsLost, "{events}", "Events the kernel could not write because the ring buffer was full (all CPUs)."), int64(lost), true)
			errs := b.sum(metricKernelErrors, "{errors}", "Kernel-side faults, by reason: args_fault (argument memory unreadable), scratch_miss.")
			b.point(errs, int64(sum[sensor.CounterArgsFault]), true, "reason", "args_fault")
			b.point(errs, int64(sum[sensor.CounterScratchMiss]), true, "reason", "scratch_miss")
		}
	}
	var overflow int64
	for _, t := range []*seriesTotals{r.sig.received, r.sig.dropped, r.sig.actions, r.sig.policyErrors} {
		overflow += t.overflowed()
	}
	b.point(b.sum(metricSeriesOverflow, "{increments}", "Counts not kept for these metrics because a metric reached its limit of label sets (a bug if not 0)."), overflow, true)
	t := &r.pipe.tracker
	size := b.gauge(metricProcessCacheSize, "{processes}", "Processes in the cache, by state (live, exited).")
	b.point(size, t.live.Load(), false, "state", "live")
	b.point(size, t.exited.Load(), false, "state", "exited")
	b.point(b.sum(metricProcessCacheEvict, "{processes}", "Live processes evicted because the cache was full."), t.evicted.Load(), true)

	loaded := b.gauge(metricPoliciesLoaded, "{policies}", "Policies running in the kernel.")
	failed := b.gauge(metricPoliciesFailed, "{errors}", "Policy errors in force now (a rejected file or policy; the others run).")
	if r.engine == nil {
		b.point(loaded, 0, false)
		b.point(failed, 0, false)
		return md
	}
	ctl := r.engine.ctl
	b.point(loaded, ctl.Loaded(), false)
	b.point(failed, int64(len(ctl.Errors())), false)
	hits := ctl.RuleHits()
	eventOf := map[[2]string]string{} // policy, rule -> event
	if rt := ctl.Rules(); rt != nil {
		for _, ref := range rt.Refs {
			eventOf[[2]string{ref.Policy, ref.Rule}] = string(ref.Event)
		}
	}
	refs := make([]sensor.RuleRef, 0, len(hits))
	for ref := range hits {
		refs = append(refs, ref)
		if _, ok := eventOf[[2]string{ref.Policy, ref.Rule}]; !ok {
			eventOf[[2]string{ref.Policy, ref.Rule}] = string(ref.Event)
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		a, b := refs[i], refs[j]
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Action < b.Action
	})
	rh := b.sum(metricRuleHits, "{events}", "Rule matches counted in the kernel, by policy, rule, event and action; count rules send nothing else.")
	for _, ref := range refs {
		b.point(rh, hits[ref], true, "policy", ref.Policy, "rule", ref.Rule, "event", string(ref.Event), "action", string(ref.Action))
	}
	b.totals(b.sum(metricPolicyActions, "{events}", "Policy matches sent as records, by policy, rule, event, action and outcome (applied; monitored: would have been applied in enforce mode; posted)."),
		r.sig.actions, func(l attribute.Set) []string {
			p, _ := l.Value("policy")
			ru, _ := l.Value("rule")
			if ev, ok := eventOf[[2]string{p.AsString(), ru.AsString()}]; ok {
				return []string{"event", ev}
			}
			return nil
		})
	var rejected int64
	for _, s := range r.sig.policyErrors.snapshot() {
		rejected += s.value
	}
	b.point(b.sum(metricPolicyErrors, "{errors}", "Policy errors reported (parse, validation, capability or load), each once."), rejected, true)
	return md
}
