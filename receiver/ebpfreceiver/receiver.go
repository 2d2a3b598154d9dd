//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/extension/k8smetaextension"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/cgroups"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/features"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/proctree"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/redact"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// ringReader is what the read loop needs from a ring buffer reader (a test seam).
type ringReader interface {
	ReadInto(*ringbuf.Record) error
	SetDeadline(time.Time)
	Close() error
}

// wakeupBytes is how much must wait in the ring buffer before the kernel wakes the
// reader: a quarter of the ring, at most 256 KiB. Below it the reader polls every
// poll_interval, so one wakeup serves hundreds of records instead of one.
func wakeupBytes(ring int) uint64 {
	return uint64(min(ring/4, 256<<10))
}

type logsReceiver struct {
	set      receiver.Settings
	cfg      *Config
	next     consumer.Logs
	obsrecv  *receiverhelper.ObsReport
	tb       *metadata.TelemetryBuilder
	telReg   metric.Registration // the observe callback, from Start to Shutdown
	redactor *redact.Redactor
	hostname string

	// newReader opens the ring buffer reader; replaced in tests.
	newReader func(*sensor.Process) (ringReader, error)

	proc   *sensor.Process
	pol    *sensor.Policy
	engine *policyEngine
	feats  features.Set
	reader ringReader
	queue  chan *event
	cancel context.CancelFunc
	wg     sync.WaitGroup

	cache *proctree.Cache // owned by the read loop (and Start before it runs)

	// Counters read by the telemetry callback.
	cacheLive, cacheExited, cacheEvicted atomic.Int64
	bootOffset                           atomic.Int64 // wall clock ns minus boot clock ns
	host                                 component.Host
	eventAttrs                           map[string]metric.AddOption
	podChanged                           chan struct{}
	podCancel                            context.CancelFunc
	unsubscribe                          func()
	actionAttrs                          map[actionKey]metric.AddOption // read loop only
	pending                              pendingCounts                  // read loop only
}

func newLogsReceiver(set receiver.Settings, cfg *Config, next consumer.Logs) (*logsReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: "ebpf", ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	red, err := redact.New(cfg.Redaction.Enabled, cfg.Redaction.ExtraPatterns)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	attrs := map[string]metric.AddOption{}
	for _, n := range []string{eventExec, eventExit, eventFork, eventAlert, "unknown"} {
		attrs[n] = metric.WithAttributeSet(attribute.NewSet(attribute.String("event", n)))
	}
	return &logsReceiver{
		set: set, cfg: cfg, next: next, obsrecv: obs, tb: tb, redactor: red, hostname: host, eventAttrs: attrs,
		actionAttrs: map[actionKey]metric.AddOption{}, podChanged: make(chan struct{}, 1),
		pending:   pendingCounts{received: map[string]int64{}, actions: map[actionKey]int64{}},
		newReader: func(p *sensor.Process) (ringReader, error) { return sensor.NewReader(p.Events()) },
	}, nil
}

// Start loads and attaches the sensors, learns the running processes from the
// task iterator, and starts reading.
func (r *logsReceiver) Start(_ context.Context, host component.Host) error {
	r.host = host
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
		r.set.Logger.Info("policy sensors loaded", zap.String("security_hooks", r.pol.SecurityHooks()),
			zap.Strings("direct_loads", r.pol.DirectLoads()))
	}
	if r.reader, err = r.newReader(proc); err != nil {
		return errors.Join(fmt.Errorf("opening ring buffer: %w", err), r.closeSensors())
	}
	if err := proc.Attach(); err != nil {
		return errors.Join(err, r.closeSensors())
	}
	r.refreshBootOffset()
	r.cache = proctree.New(r.cfg.ProcessCache.MaxProcesses, r.cfg.ProcessCache.MaxExited)
	// Hooks are attached first, so nothing starting now is missed; the iterator then
	// fills the cache with what already runs (later ring buffer records win).
	err = proc.Snapshot(func(ev *sensor.ProcEvent) {
		if ev.Flags&sensor.FlagNoMM != 0 && ev.Flags&sensor.FlagKthread == 0 {
			return // a zombie: it has exited, only its parent's wait() is pending
		}
		r.cache.Put(r.processOf(ev, ev.StartBoottime))
	})
	if err != nil {
		return errors.Join(err, r.closeSensors())
	}
	r.publishCacheStats()
	// One callback observes all asynchronous instruments, so one read of the kernel
	// counters serves them all (the generated builder registers one per instrument).
	reg, err := metadata.Meter(r.set.TelemetrySettings).RegisterCallback(r.observe,
		r.tb.EbpfKernelEventsLost, r.tb.EbpfKernelErrors, r.tb.EbpfProcessCacheEntries,
		r.tb.EbpfProcessCacheEvictions, r.tb.EbpfRuleMatches, r.tb.EbpfPoliciesLoaded, r.tb.EbpfKernelCapability)
	if err != nil {
		return errors.Join(err, r.closeSensors())
	}
	r.telReg = reg
	if r.pol != nil {
		r.engine = &policyEngine{logger: r.set.Logger, tb: r.tb, host: host, proc: proc, sensors: r.pol,
			emitAll: r.cfg.FilterInUserSpace, caps: capabilitiesOf(r.feats, r.pol.HasLSM()), slots: policy.NewSlots()}
		if id := r.cfg.K8sMetadata; id != nil {
			ext, ok := host.GetExtensions()[*id]
			meta, isMeta := ext.(k8smetaextension.Metadata)
			if !ok || !isMeta {
				return errors.Join(fmt.Errorf("k8s_metadata: %s is not a configured k8s_meta extension", id), r.closeSensors())
			}
			root, _ := cgroups.Cgroup2Mount("/proc/self/mountinfo")
			r.engine.pods = newPodSets(root)
			r.unsubscribe = meta.Subscribe(func(pod *k8smetaextension.PodInfo, deleted bool) {
				r.engine.pods.update(pod, deleted)
				select {
				case r.podChanged <- struct{}{}:
				default:
				}
			})
		}
		// A bad policy file does not stop the receiver: it is reported and the
		// others run. Only an unusable policy path set is fatal.
		if err := r.engine.start(r.cfg.PolicyPaths); err != nil {
			return errors.Join(fmt.Errorf("policy_paths: %w", err), r.closeSensors())
		}
	}

	running := r.cache.Stats().Live
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.queue = make(chan *event, r.cfg.QueueSize)
	r.wg.Add(2)
	go r.readLoop()
	go r.sendLoop(ctx)
	if r.engine != nil && r.engine.pods != nil {
		podCtx, podCancel := context.WithCancel(ctx)
		r.podCancel = podCancel
		r.wg.Add(1)
		go r.podLoop(podCtx)
	}
	r.set.Logger.Info("eBPF process sensor attached",
		zap.Int("running_processes", running), zap.Int("ring_buffer_size", r.cfg.RingBufferSize))
	return nil
}

// Shutdown closes the reader first (unblocking the read loop), lets the sender
// flush what was queued, then detaches and frees every kernel object.
func (r *logsReceiver) Shutdown(ctx context.Context) error {
	var errs []error
	if r.podCancel != nil {
		r.podCancel()
	}
	if r.reader != nil {
		errs = append(errs, r.reader.Close())
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if r.cancel != nil {
			r.cancel()
		}
		<-done
	}
	if r.cancel != nil {
		r.cancel()
	}
	if r.unsubscribe != nil {
		r.unsubscribe()
	}
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

// readLoop owns the process cache: it decodes every record, updates the cache in
// kernel order, and queues events without ever blocking on the pipeline.
func (r *logsReceiver) readLoop() {
	defer r.wg.Done()
	defer close(r.queue)
	defer r.flushCounts()
	var rec ringbuf.Record
	var ev sensor.ProcEvent
	ctx := context.Background()
	r.reader.SetDeadline(time.Now().Add(r.cfg.PollInterval))
	for {
		if err := r.reader.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// The ring was drained; records below the wakeup threshold are
				// picked up at the next deadline.
				r.flushCounts()
				r.reader.SetDeadline(time.Now().Add(r.cfg.PollInterval))
				continue
			}
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			componentstatus.ReportStatus(r.host, componentstatus.NewRecoverableErrorEvent(fmt.Errorf("reading ring buffer: %w", err)))
			continue
		}
		observed := time.Now()
		if r.pending.n >= flushEvery || observed.Sub(r.pending.since) >= r.cfg.PollInterval {
			r.flushCounts()
		}
		if sensor.RecordOp(rec.RawSample) == sensor.OpAlert {
			r.handleAlert(rec.RawSample, observed)
			continue
		}
		if err := sensor.DecodeProc(rec.RawSample, &ev); err != nil {
			r.tb.EbpfEventsDropped.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "decode_error")))
			continue
		}
		r.pending.received1(opEvent(ev.Op))
		out := r.handle(&ev, observed)
		if out == nil {
			continue
		}
		r.enqueue(out)
	}
}

// flushEvery bounds how many events the read loop counts before it adds them to
// its telemetry counters (it also adds them when the ring is drained and after
// each poll interval).
const flushEvery = 4096

// pendingCounts are the read loop's per-event counters, added to the telemetry
// counters in batches: an OpenTelemetry counter's Add looks up its attribute set
// on every call, which at 100,000+ events/s is a visible share of the loop.
type pendingCounts struct {
	received map[string]int64    // events received, by event name
	actions  map[actionKey]int64 // policy actions, by rule and outcome
	n        int
	since    time.Time
}

// received1 counts one event received.
func (p *pendingCounts) received1(name string) {
	p.received[name]++
	p.n++
}

func (r *logsReceiver) flushCounts() {
	ctx := context.Background()
	p := &r.pending
	for name, n := range p.received {
		if n != 0 {
			r.tb.EbpfEventsReceived.Add(ctx, n, r.eventAttrs[name])
			p.received[name] = 0
		}
	}
	for key, n := range p.actions {
		if n != 0 {
			r.tb.EbpfPolicyActions.Add(ctx, n, r.actionAttrs[key])
			p.actions[key] = 0
		}
	}
	p.n, p.since = 0, time.Now()
}

// enqueue hands an event to the sender without ever blocking the ring buffer
// reader: when the bounded queue is full the event is dropped and counted.
func (r *logsReceiver) enqueue(e *event) {
	select {
	case r.queue <- e:
	default:
		r.tb.EbpfEventsDropped.Add(context.Background(), 1, metric.WithAttributes(attribute.String("reason", "queue_full")))
	}
}

func opEvent(op sensor.Op) string {
	switch op {
	case sensor.OpExec:
		return eventExec
	case sensor.OpExit:
		return eventExit
	case sensor.OpFork:
		return eventFork
	}
	return "unknown"
}

// handle applies a record to the process cache and returns the event to emit, if any.
func (r *logsReceiver) handle(ev *sensor.ProcEvent, observed time.Time) *event {
	var out *event
	switch ev.Op {
	case sensor.OpExec:
		p := r.processOf(ev, ev.KTime)
		r.cache.Put(p)
		out = r.newEvent(eventExec, ev, observed, p)
		if ev.Match.Rules != 0 {
			out.match = r.matchOf(sensor.KindExec, ev.Match.Rules, ev.Match.Applied)
		}
	case sensor.OpFork:
		p := r.cache.Fork(ev.TGID, ev.PPID, ev.StartBoottime, ev.CgroupID, ev.UID, ev.GID, ev.EUID, ev.EGID)
		if r.cfg.EmitForks {
			out = r.newEvent(eventFork, ev, observed, p)
		}
	case sensor.OpExit:
		p, ok := r.cache.Exit(ev.TGID)
		if !ok {
			p = &proctree.Process{PID: ev.TGID, PPID: ev.PPID, ExecID: proctree.ExecID(ev.StartBoottime, ev.TGID), CgroupID: ev.CgroupID}
		}
		out = r.newEvent(eventExit, ev, observed, p)
		out.exitCode = ev.ExitCode
	}
	r.publishCacheStats()
	return out
}

// processOf builds a cache entry from an exec or iterator record.
func (r *logsReceiver) processOf(ev *sensor.ProcEvent, execTime uint64) *proctree.Process {
	ci := cgroups.Parse(ev.CgroupParent + "/" + ev.CgroupName)
	// Secrets are masked once, here: the cache never holds them and every event of
	// this process reuses the masked vector.
	args, redacted := r.redactor.Args(ev.Args)
	return &proctree.Process{
		ExecID: proctree.ExecID(execTime, ev.TGID), PID: ev.TGID, PPID: ev.PPID,
		Executable: ev.Path, Args: args, CommandLine: strings.Join(args, " "), Redacted: redacted, Cwd: ev.Cwd,
		UID: ev.UID, GID: ev.GID, EUID: ev.EUID, EGID: ev.EGID,
		StartBoottime: ev.StartBoottime, CgroupID: ev.CgroupID,
		ContainerID: ci.ContainerID, PodUID: ci.PodUID, Runtime: ci.Runtime,
		ArgsTruncated: ev.Flags&sensor.FlagTruncArgs != 0,
	}
}

func (r *logsReceiver) newEvent(name string, ev *sensor.ProcEvent, observed time.Time, p *proctree.Process) *event {
	out := &event{name: name, ktime: ev.KTime, observed: observed, proc: p}
	if parent, ok := r.cache.Parent(p); ok {
		out.parent = parent
	}
	if d := r.cfg.ProcessCache.AncestorDepth; d > 1 {
		// The parent has its own attributes; ancestors start at the grandparent.
		if anc := r.cache.Ancestors(p, d); len(anc) > 1 {
			for _, a := range anc[1:] {
				out.ancestors = append(out.ancestors, ancestor{execID: a.ExecID, path: a.Executable})
			}
		}
	}
	return out
}

func (r *logsReceiver) publishCacheStats() {
	st := r.cache.Stats()
	r.cacheLive.Store(int64(st.Live))
	r.cacheExited.Store(int64(st.Exited))
	r.cacheEvicted.Store(int64(st.Evicted))
}

// sendLoop batches queued events by size and time and hands them to the pipeline.
func (r *logsReceiver) sendLoop(ctx context.Context) {
	defer r.wg.Done()
	ticker := time.NewTicker(r.cfg.FlushInterval)
	defer ticker.Stop()
	batch := make([]*event, 0, r.cfg.BatchSize)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		r.refreshBootOffset()
		logs := r.buildLogs(batch)
		n := len(batch)
		opCtx := r.obsrecv.StartLogsOp(ctx)
		err := r.next.ConsumeLogs(opCtx, logs)
		r.obsrecv.EndLogsOp(opCtx, "ebpf", n, err)
		if err != nil {
			r.tb.EbpfEventsDropped.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", "consumer_refused")))
		}
		clear(batch)
		batch = batch[:0]
	}
	for {
		select {
		case e, ok := <-r.queue:
			if !ok {
				flush()
				return
			}
			batch = append(batch, e)
			if len(batch) >= r.cfg.BatchSize {
				flush()
			}
		case <-ticker.C:
			flush()
		case <-ctx.Done():
			return
		}
	}
}

// podLoop keeps the cgroup sets of Kubernetes selectors current: on pod changes
// and, for cgroups created without a pod event, every podRefreshInterval.
func (r *logsReceiver) podLoop(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(podRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.podChanged:
		case <-t.C:
		}
		r.engine.refreshPods()
	}
}

// refreshBootOffset measures wall clock minus boot clock, to convert kernel times.
func (r *logsReceiver) refreshBootOffset() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return
	}
	r.bootOffset.Store(time.Now().UnixNano() - ts.Nano())
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
	o.ObserveInt64(r.tb.EbpfProcessCacheEntries, r.cacheLive.Load(), metric.WithAttributes(attribute.String("state", "live")))
	o.ObserveInt64(r.tb.EbpfProcessCacheEntries, r.cacheExited.Load(), metric.WithAttributes(attribute.String("state", "exited")))
	o.ObserveInt64(r.tb.EbpfProcessCacheEvictions, r.cacheEvicted.Load())
	for name, v := range r.feats.MetricValues() {
		o.ObserveInt64(r.tb.EbpfKernelCapability, v, metric.WithAttributes(attribute.String("capability", name)))
	}
	if r.engine != nil {
		r.engine.observe(o)
	}
	return nil
}
