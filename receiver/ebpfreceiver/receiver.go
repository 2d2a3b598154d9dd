//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigilsec/vigil/extension/k8smetaextension"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/cgroups"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/features"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policyctl"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// wakeupBytes is how much must wait in the ring buffer before the kernel wakes the
// reader: a quarter of the ring, at most 256 KiB. Below it the reader polls every
// poll_interval, so one wakeup serves hundreds of records instead of one.
func wakeupBytes(ring int) uint64 {
	return uint64(min(ring/4, 256<<10))
}

// logsReceiver wires the sensors, the policy engine and the read pipeline, and
// reports their telemetry. The work happens in the pipeline (pipeline.go).
type logsReceiver struct {
	set    receiver.Settings
	cfg    *Config
	tb     *metadata.TelemetryBuilder
	telReg metric.Registration // the observe callback, from Start to Shutdown
	pipe   *pipeline

	// newReader opens the ring buffer reader; replaced in tests.
	newReader func(*sensor.Process) (ringReader, error)

	proc   *sensor.Process
	pol    *sensor.Policy
	engine *policyEngine
	feats  features.Set
	pods   *podWatch // nil without a k8s_meta extension

	// The metrics signal: nil metrics.next without a metrics pipeline.
	sig     *signalCounts
	metrics metricsSignal
}

// newSignalReceiver is the factory's constructor: the logs and metrics
// consumers are set by the pipelines that use the instance (setLogs,
// setMetrics); without a logs pipeline the records are built and discarded.
func newSignalReceiver(set receiver.Settings, cfg *Config) (signalReceiver, error) {
	return newLogsReceiver(set, cfg, consumer.Logs(discardLogs{}))
}

type discardLogs struct{}

func (discardLogs) Capabilities() consumer.Capabilities          { return consumer.Capabilities{} }
func (discardLogs) ConsumeLogs(context.Context, plog.Logs) error { return nil }

// setLogs and setMetrics connect a pipeline's consumer; called before Start.
func (r *logsReceiver) setLogs(next consumer.Logs)       { r.pipe.next = next }
func (r *logsReceiver) setMetrics(next consumer.Metrics) { r.metrics.next = next }

func newLogsReceiver(set receiver.Settings, cfg *Config, next consumer.Logs) (*logsReceiver, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	sig := teeTelemetry(tb)
	pipe, err := newPipeline(set, cfg, next, tb)
	if err != nil {
		return nil, err
	}
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: "ebpf", ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	r := &logsReceiver{
		set: set, cfg: cfg, tb: tb, pipe: pipe, sig: sig,
		newReader: func(p *sensor.Process) (ringReader, error) { return sensor.NewReader(p.Events()) },
	}
	r.metrics = metricsSignal{obsrecv: obs, interval: cfg.Metrics.Interval, build: r.buildMetrics}
	pipe.rules = r.ruleTable
	pipe.stage = &userRules{set: r.userRuleSet}
	pipe.filterInUserSpace = cfg.FilterInUserSpace
	return r, nil
}

// userRuleSet is the rule set of the rules files in force, nil without one.
func (r *logsReceiver) userRuleSet() *rulestage.Set {
	if r.engine == nil {
		return nil
	}
	return r.engine.ctl.UserRules()
}

// ruleTable is the read path's one view of policy state: the rule table in
// force, nil while none is applied.
func (r *logsReceiver) ruleTable() ruleTable {
	if r.engine == nil {
		return nil
	}
	if c := r.engine.ctl.Rules(); c != nil {
		return c
	}
	return nil
}

// Start loads and attaches the sensors, learns the running processes from the
// task iterator, and starts reading.
func (r *logsReceiver) Start(_ context.Context, host component.Host) error {
	btf, status := r.cfg.btfPath, r.cfg.procStatus
	if btf == "" {
		btf = "/sys/kernel/btf/vmlinux"
	}
	if status == "" {
		status = "/proc/self/status"
	}
	if err := sensor.Preflight(btf, status); err != nil {
		return err
	}
	proc, err := sensor.LoadProcess(sensor.ProcessOptions{
		RingBufferSize: r.cfg.RingBufferSize, ArgsMax: uint32(r.cfg.ArgsMaxBytes),
		WakeupBytes: wakeupBytes(r.cfg.RingBufferSize),
	})
	if err != nil {
		return err
	}
	r.proc = proc
	r.feats = features.Probe()
	r.set.Logger.Info(r.feats.String())
	if len(r.cfg.PolicyPaths) > 0 {
		if err := sensor.EnsureTracefs(); err != nil {
			return errors.Join(err, r.closeSensors())
		}
		root, err := cgroups.Cgroup2Mount("/proc/self/mountinfo")
		if err != nil {
			return errors.Join(fmt.Errorf("network policies attach to the cgroup2 root: %w", err), r.closeSensors())
		}
		var lsmErr error
		if r.pol, lsmErr, err = sensor.LoadPolicy(proc, wakeupBytes(r.cfg.RingBufferSize), root, sensor.Hooks{LSM: r.feats.LSM, FmodRet: r.feats.Fentry}); err != nil {
			return errors.Join(err, r.closeSensors())
		}
		if lsmErr != nil {
			r.set.Logger.Warn("the in-kernel hooks on the security functions (BPF LSM or fmod_ret) are available but did not load: deny rules and the LSM-only events are rejected, the other rules run on syscall hooks", zap.Error(lsmErr))
		}
		if _, err := r.pol.MountStatus(); err != nil {
			r.set.Logger.Warn("the host's mount table could not be read: opens through bind mounts are reported as unresolved and matched by every prefix rule (fail closed)", zap.Error(err))
		}
		r.set.Logger.Info("policy sensors loaded", zap.String("security_hooks", r.pol.SecurityHooks()),
			zap.Strings("direct_loads", r.pol.DirectLoads()))
		for name, why := range r.pol.HelperCallBuilds() {
			r.set.Logger.Info("a sensor runs its helper-call build (dearer per event): its direct-load build did not load",
				zap.String("sensor", name), zap.Error(why))
		}
	}
	reader, err := r.newReader(proc)
	if err != nil {
		return errors.Join(fmt.Errorf("opening ring buffer: %w", err), r.closeSensors())
	}
	closeAll := func(err error) error { return errors.Join(err, reader.Close(), r.closeSensors()) }
	if err := proc.Attach(); err != nil {
		return closeAll(err)
	}
	// Hooks are attached first, so nothing starting now is missed; the iterator then
	// fills the cache with what already runs (later ring buffer records win).
	if err := proc.Snapshot(r.pipe.seed); err != nil {
		return closeAll(err)
	}
	// One callback observes all asynchronous instruments, so one read of the kernel
	// counters serves them all (the generated builder registers one per instrument).
	reg, err := metadata.Meter(r.set.TelemetrySettings).RegisterCallback(r.observe,
		r.tb.EbpfKernelEventsLost, r.tb.EbpfKernelErrors, r.tb.EbpfProcessCacheEntries,
		r.tb.EbpfProcessCacheEvictions, r.tb.EbpfRuleMatches, r.tb.EbpfPoliciesLoaded, r.tb.EbpfKernelCapability,
		r.tb.EbpfUserRules)
	if err != nil {
		return closeAll(err)
	}
	r.telReg = reg
	if r.pol != nil {
		var pods *policyctl.PodSets
		var podMeta k8smetaextension.Metadata
		if id := r.cfg.K8sMetadata; id != nil {
			ext, ok := host.GetExtensions()[*id]
			meta, isMeta := ext.(k8smetaextension.Metadata)
			if !ok || !isMeta {
				return closeAll(fmt.Errorf("k8s_metadata: %s is not a configured k8s_meta extension", id))
			}
			root, _ := cgroups.Cgroup2Mount("/proc/self/mountinfo")
			pods = policyctl.NewPodSets(root)
			podMeta = meta
		}
		r.engine = newPolicyEngine(policyctl.Config{Logger: r.set.Logger, Telemetry: r.tb, Host: host, Process: proc,
			Sensors: r.pol, EmitAll: r.cfg.FilterInUserSpace, Caps: policyctl.CapabilitiesOf(r.feats, r.pol.HasLSM()), Pods: pods})
		if pods != nil {
			r.pods = watchPods(podMeta, r.engine)
		}
		// A bad policy file does not stop the receiver: it is reported and the
		// others run. Only an unusable policy path set is fatal.
		if err := r.engine.start(r.cfg.PolicyPaths); err != nil {
			return closeAll(fmt.Errorf("policy_paths: %w", err))
		}
	}

	running := r.pipe.tracker.cache.Stats().Live
	r.pipe.start(reader, host)
	if r.pods != nil {
		r.pods.start()
	}
	if r.metrics.next != nil {
		r.metrics.run()
	}
	r.set.Logger.Info("eBPF process sensor attached",
		zap.Int("running_processes", running), zap.Int("ring_buffer_size", r.cfg.RingBufferSize))
	return nil
}

// Shutdown closes the reader first (unblocking the read loop), lets the sender
// flush what was queued, then detaches and frees every kernel object.
func (r *logsReceiver) Shutdown(ctx context.Context) error {
	var errs []error
	if r.pods != nil {
		r.pods.stop()
	}
	errs = append(errs, r.pipe.shutdown(ctx))
	// The last counts, with the read loop's flushed, while the kernel objects
	// are still loaded.
	errs = append(errs, r.metrics.shutdown(ctx))
	if r.engine != nil {
		errs = append(errs, r.engine.close())
	}
	if r.telReg != nil {
		errs = append(errs, r.telReg.Unregister())
		r.telReg = nil
	}
	r.tb.Shutdown()
	errs = append(errs, r.closeSensors())
	return errors.Join(errs...)
}

func (r *logsReceiver) closeSensors() error {
	var errs []error
	if r.pol != nil {
		errs = append(errs, r.pol.Close())
		r.pol = nil
	}
	if r.proc != nil {
		errs = append(errs, r.proc.Close())
		r.proc = nil
	}
	return errors.Join(errs...)
}

// podWatch keeps the cgroup sets of Kubernetes selectors current: on pod changes
// from the k8s_meta extension and, for cgroups created without a pod event,
// every podRefreshInterval.
type podWatch struct {
	engine      *policyEngine
	changed     chan struct{}
	unsubscribe func()
	cancel      context.CancelFunc
	wg          sync.WaitGroup
}

func watchPods(meta k8smetaextension.Metadata, engine *policyEngine) *podWatch {
	w := &podWatch{engine: engine, changed: make(chan struct{}, 1), cancel: func() {}}
	w.unsubscribe = meta.Subscribe(func(pod *k8smetaextension.PodInfo, deleted bool) {
		engine.pods.Update(pod, deleted)
		select {
		case w.changed <- struct{}{}:
		default:
		}
	})
	return w
}

func (w *podWatch) start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(policyctl.PodRefreshInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.changed:
			case <-t.C:
			}
			w.engine.refreshPods()
		}
	}()
}

// stop ends the refresh loop, then the subscription.
func (w *podWatch) stop() {
	w.cancel()
	w.wg.Wait()
	w.unsubscribe()
}

func (r *logsReceiver) observe(_ context.Context, o metric.Observer) error {
	if p := r.proc; p != nil {
		sum, perCPU, err := p.Counters()
		if err == nil {
			for cpu, v := range perCPU {
				o.ObserveInt64(r.tb.EbpfKernelEventsLost, int64(v), metric.WithAttributes(attribute.Int("cpu", cpu)))
			}
			o.ObserveInt64(r.tb.EbpfKernelErrors, int64(sum[sensor.CounterArgsFault]), metric.WithAttributes(attribute.String("kind", "args_fault")))
			o.ObserveInt64(r.tb.EbpfKernelErrors, int64(sum[sensor.CounterScratchMiss]), metric.WithAttributes(attribute.String("kind", "scratch_miss")))
		}
	}
	t := &r.pipe.tracker
	o.ObserveInt64(r.tb.EbpfProcessCacheEntries, t.live.Load(), metric.WithAttributes(attribute.String("state", "live")))
	o.ObserveInt64(r.tb.EbpfProcessCacheEntries, t.exited.Load(), metric.WithAttributes(attribute.String("state", "exited")))
	o.ObserveInt64(r.tb.EbpfProcessCacheEvictions, t.evicted.Load())
	for name, v := range r.feats.MetricValues() {
		o.ObserveInt64(r.tb.EbpfKernelCapability, v, metric.WithAttributes(attribute.String("capability", name)))
	}
	if r.engine != nil {
		r.engine.ctl.Observe(o)
	}
	return nil
}
