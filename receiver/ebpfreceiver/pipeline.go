//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/cgroups"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/otlplogs"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/proctree"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/redact"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// The read path, one direction:
//
//	ring buffer -> decode (sensor.Decoder) -> track (process cache, redaction,
//	cgroups) -> match (kernel rule bits -> rule table -> event.Match) ->
//	user-space rule stage (rulestage) -> respond (user-space kill) ->
//	bounded queue -> batch (size/time) -> otlplogs -> ConsumeLogs (ObsReport)
//
// The read loop runs every stage up to the queue and owns their state; the send
// loop runs the rest. See docs/pipeline.md for where each loss is counted.

// ringReader is what the read loop needs from a ring buffer reader (a test seam).
type ringReader interface {
	ReadInto(*ringbuf.Record) error
	// AvailableBytes is how many bytes of records wait in the ring;
	// BufferSize is its size.
	AvailableBytes() int
	BufferSize() int
	SetDeadline(time.Time)
	// Flush makes ReadInto return every record pending now, then ringbuf.ErrFlushed.
	Flush() error
	Close() error
}

// drainTimeout bounds how long Shutdown processes the records still in the
// ring; past it (or past the shutdown context) the rest is read and counted as
// dropped (reason "shutdown") for at most discardTimeout, never silently lost.
const (
	drainTimeout   = 2 * time.Second
	discardTimeout = 500 * time.Millisecond
)

// ruleTable is all the read path knows of policy state: which rule a kernel
// verdict stands for, and (filter_in_user_space only) the kernel's file.open
// decision taken in Go. The policy side serves it; the read path never reaches
// further into policy state.
type ruleTable interface {
	Strongest(kind int, rules uint64) (sensor.RuleRef, bool)
	MatchFileInUserSpace(o sensor.FileOpen, p sensor.FileProcess) uint64
	MatchExecInUserSpace(path string, id sensor.FileID, flags uint32, p sensor.FileProcess) uint64
	// IdentityPaths are the exact rule paths a file identity resolved to.
	IdentityPaths(id sensor.FileID) []string
}

// ruleStage is the user-space rule stage: the loaded rule conditions (Falco
// rules files), evaluated on every event that reaches user space, after the
// matcher and before any user-space action. Match appends one match per rule
// that fires; it must not allocate when none does.
type ruleStage interface {
	Match(ev *event.Event, dst []*event.Match) []*event.Match
	// Active reports whether any rule is loaded.
	Active() bool
}

// userRules is the rule stage over the rule set in force (swapped on reloads).
type userRules struct {
	set   func() *rulestage.Set
	stage rulestage.Stage // read loop only
}

func (u *userRules) Match(ev *event.Event, dst []*event.Match) []*event.Match {
	return u.stage.Match(u.set(), ev, dst)
}

func (u *userRules) Active() bool { return u.set().Len() > 0 }

// pipeline is the receiver's read path: the read loop (decode, track, match,
// respond, enqueue) and the send loop (batch, build, consume).
type pipeline struct {
	cfg     *Config
	next    consumer.Logs
	obsrecv *receiverhelper.ObsReport
	tb      *metadata.TelemetryBuilder
	host    component.Host // for status reports; set by start

	// rules returns the rule table in force, nil while no policy is applied.
	rules func() ruleTable
	// filterInUserSpace: the kernel sends every file.open; the matcher decides.
	filterInUserSpace bool
	// stage is the user-space rule stage; nil: no rule conditions.
	stage ruleStage
	// matches and more are the read loop's scratch: the rule stage's matches,
	// and the records beyond the first that one event produced (one per
	// further rule that fired), enqueued after it.
	matches []*event.Match
	more    []*event.Event
	// slab holds the events emit hands out next (read loop only).
	slab []event.Event
	// kill sends SIGKILL to a process (the respond stage); a test seam.
	kill func(pid int) error
	// conds evaluates the policy rules' conditions decided in user space;
	// refs is the matched rules' scratch (read loop only).
	conds rulestage.Stage
	refs  []sensor.RuleRef
	// killRef is the rule of a kill decided in user space that respond
	// sends next (killPending).
	killRef     sensor.RuleRef
	killPending bool

	decoder sensor.Decoder // read loop only
	tracker tracker        // read loop only
	matcher matcher        // read loop only
	builder otlplogs.Builder

	reader   ringReader
	queue    chan *event.Event
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	readDone chan struct{} // closed when the read loop returns
	// draining: Shutdown flushed the ring; the read loop ends when it is empty.
	// discarding: out of time; records are counted as dropped, not processed.
	draining, discarding atomic.Bool
	stopped              atomic.Bool // shutdown ran

	bootOffset atomic.Int64 // wall clock ns minus boot clock ns
	counts     pendingCounts
	// wait is the read loop's timer while it waits for queue room (enqueue).
	wait *time.Timer
}

// cgroupRescan bounds how often the read path walks the cgroup2 hierarchy for a
// cgroup id the kernel could not open directly.
const cgroupRescan = time.Second

func newPipeline(set receiver.Settings, cfg *Config, next consumer.Logs, tb *metadata.TelemetryBuilder) (*pipeline, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: set.ID, Transport: "ebpf", ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	red, err := redact.New(cfg.Redaction.Enabled, cfg.Redaction.ExtraPatterns)
	if err != nil {
		return nil, err
	}
	host := cfg.NodeName
	if host == "" {
		host, _ = os.Hostname()
	}
	p := &pipeline{
		cfg: cfg, next: next, obsrecv: obs, tb: tb,
		kill:    func(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) },
		builder: otlplogs.Builder{HostName: host, NodeName: cfg.NodeName, Scope: metadata.ScopeName},
		tracker: tracker{redactor: red, ancestorDepth: cfg.ProcessCache.AncestorDepth, emitForks: cfg.EmitForks,
			fullCaps: fullCapabilities(), users: proctree.NewUsers(passwdFile)},
		counts: newPendingCounts(),
	}
	p.matcher = matcher{rules: func() ruleTable { return p.ruleTable() }, counts: &p.counts}
	p.tracker.cache = proctree.New(cfg.ProcessCache.MaxProcesses, cfg.ProcessCache.MaxExited)
	if root, err := cgroups.Cgroup2Mount("/proc/self/mountinfo"); err == nil {
		p.tracker.cgroupPath = cgroups.NewResolver(root, cgroupRescan).Path
	}
	return p, nil
}

func (p *pipeline) ruleTable() ruleTable {
	if p.rules == nil {
		return nil
	}
	return p.rules()
}

// seed caches a process running at start-up (a task iterator record).
func (p *pipeline) seed(pe *sensor.ProcEvent) {
	var ev event.Event
	p.decoder.FromProc(pe, &ev)
	p.tracker.seed(&ev)
}

// start runs the loops on reader. The tracker must be seeded before.
func (p *pipeline) start(reader ringReader, host component.Host) {
	p.reader, p.host = reader, host
	p.refreshBootOffset()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.queue = make(chan *event.Event, p.cfg.QueueSize)
	p.readDone = make(chan struct{})
	p.wg.Add(2)
	go p.readLoop()
	go p.sendLoop(ctx)
}

// shutdown drains the ring: every record the kernel wrote before it is read
// and sent (within drainTimeout and ctx); then it closes the reader, lets the
// sender flush the queue, and stops it when ctx ends first. What cannot be sent
// in time is counted as dropped with reason "shutdown".
func (p *pipeline) shutdown(ctx context.Context) error {
	if p.reader == nil || !p.stopped.CompareAndSwap(false, true) {
		return nil
	}
	readDone := p.readDone
	p.draining.Store(true)
	flushErr := p.reader.Flush()
	timer := time.NewTimer(drainTimeout)
	defer timer.Stop()
	select {
	case <-readDone:
	case <-ctx.Done():
	case <-timer.C:
	}
	select {
	case <-readDone:
	default:
		p.discarding.Store(true)
		select {
		case <-readDone:
		case <-time.After(discardTimeout):
		}
	}
	err := p.reader.Close()
	if flushErr != nil && !errors.Is(flushErr, os.ErrClosed) {
		err = errors.Join(err, fmt.Errorf("flushing ring buffer: %w", flushErr))
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.cancel()
		<-done
	}
	p.cancel()
	return err
}

// readLoop decodes every record and runs the stages up to the queue in kernel
// order. It waits for the send side only while the kernel ring has room
// (enqueue).
func (p *pipeline) readLoop() {
	defer p.wg.Done()
	defer close(p.readDone)
	defer close(p.queue)
	defer p.flushCounts()
	var rec ringbuf.Record
	var ev event.Event
	// Records read but not processed once Shutdown ran out of time: counted
	// here and added to the drop counter once, when the loop ends.
	var discarded int64
	defer func() {
		if discarded > 0 {
			p.tb.EbpfEventsDropped.Add(context.Background(), discarded, metric.WithAttributes(attribute.String("reason", "shutdown")))
		}
	}()
	p.reader.SetDeadline(time.Now().Add(p.cfg.PollInterval))
	for {
		if err := p.reader.ReadInto(&rec); err != nil {
			if p.draining.Load() && (errors.Is(err, ringbuf.ErrFlushed) || errors.Is(err, os.ErrDeadlineExceeded)) {
				return // Shutdown: every record written before it was read
			}
			if errors.Is(err, ringbuf.ErrFlushed) {
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// The ring was drained; records below the wakeup threshold are
				// picked up at the next deadline.
				p.flushCounts()
				p.reader.SetDeadline(time.Now().Add(p.cfg.PollInterval))
				continue
			}
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			componentstatus.ReportStatus(p.host, componentstatus.NewRecoverableErrorEvent(fmt.Errorf("reading ring buffer: %w", err)))
			continue
		}
		if p.discarding.Load() {
			discarded++
			continue
		}
		observed := time.Now()
		if p.counts.n >= flushEvery || observed.Sub(p.counts.since) >= p.cfg.PollInterval {
			p.flushCounts()
		}
		if err := p.decoder.Decode(rec.RawSample, &ev); err != nil {
			p.tb.EbpfEventsDropped.Add(context.Background(), 1,
				metric.WithAttributes(attribute.String("reason", string(sensor.KindOf(err)))))
			continue
		}
		ev.Observed = observed
		if out := p.process(&ev); out != nil {
			p.enqueue(out)
		}
		for i, m := range p.more {
			p.enqueue(m)
			p.more[i] = nil
		}
		p.more = p.more[:0]
	}
}

// completeFile fills what the decoder cannot know of a file record: the
// absolute path of a failed open given relative to the working directory, and
// the policy path a record matched by identity names.
func (p *pipeline) completeFile(ev *event.Event, f *event.File) {
	if f.Failed && f.Path == "" && f.Raw != "" && ev.Proc != nil && path.IsAbs(ev.Proc.Cwd) {
		f.Path = path.Join(ev.Proc.Cwd, f.Raw)
	}
	if f.IDMatch {
		if rt := p.ruleTable(); rt != nil {
			if ps := rt.IdentityPaths(sensor.FileID{Dev: f.Dev, Ino: f.Ino}); len(ps) > 0 {
				f.PolicyPath = ps[0]
			}
		}
	}
}

// process runs one decoded event through tracking, matching, the rule stage
// and the response; it returns the event to send, or nil.
func (p *pipeline) process(ev *event.Event) *event.Event {
	if !policyRecord(ev) {
		p.counts.received1(ev.Name)
		if !p.tracker.track(ev) {
			return nil // a fork: cached, not emitted unless emit_forks
		}
		p.loaderExec(ev) // ld.so PROGRAM: the exec rules apply to PROGRAM
		if ev.Kernel.Rules != 0 {
			ev.Match = p.kernelMatch(ev)
		}
		if ev.Match != nil {
			p.respond(ev)
		}
		// Process records are always emitted; a rule that fires makes the
		// record its alert (or, when a kernel rule already matched, adds one).
		ms := p.ruleMatches(ev)
		if ev.Match == nil && len(ms) > 0 {
			ev.Match, ms = ms[0], ms[1:]
		}
		return p.emitWith(ev, ms)
	}
	p.tracker.lookup(ev)
	p.tracker.capset(ev)
	if f, ok := ev.Detail.(*event.File); ok {
		p.completeFile(ev, f)
	}
	if p.filterInUserSpace && ev.Name == event.FileOpen {
		// filter_in_user_space: the kernel sent every open; decide here.
		rt := p.ruleTable()
		if rt == nil {
			return nil
		}
		f := ev.Detail.(*event.File)
		ev.Kernel.Rules = rt.MatchFileInUserSpace(sensor.FileOpen{Path: f.Path, Flags: f.OpenFlags,
			ID: sensor.FileID{Dev: f.Dev, Ino: f.Ino}, Truncated: f.Truncated, Subtree: f.SubtreeMount, Canonical: f.Canonical},
			p.tracker.fileProcess(ev, ev.Cred.UID))
		if ev.Kernel.Rules == 0 {
			return nil
		}
	}
	if ev.Match = p.kernelMatch(ev); ev.Match == nil {
		// The policy was removed while the record was in flight, or the
		// conditions of the rules the kernel passed it for do not hold.
		return nil
	}
	ms := p.ruleMatches(ev)
	if rulestage.IsGenerated(ev.Match.Policy) {
		// A kernel filter generated for a rule let the event through; the
		// rule's full condition decides.
		if len(ms) == 0 {
			return nil
		}
		ev.Match, ms = ms[0], ms[1:]
	}
	p.respond(ev)
	p.counts.received1(event.PolicyMatchMetric)
	if ev.Match.Action == event.ActionCount && !ev.Match.Applied {
		ev.Match = nil // count rules are metrics only (emit-all mode lands here)
		if len(ms) == 0 {
			return nil
		}
		ev.Match, ms = ms[0], ms[1:]
	}
	return p.emitWith(ev, ms)
}

// ruleMatches runs the rule stage and counts its matches.
func (p *pipeline) ruleMatches(ev *event.Event) []*event.Match {
	if p.stage == nil {
		return nil
	}
	p.matches = p.stage.Match(ev, p.matches[:0])
	for _, m := range p.matches {
		p.matcher.countUser(m)
	}
	return p.matches
}

// emitWith emits ev, and one more record for each further rule match.
func (p *pipeline) emitWith(ev *event.Event, more []*event.Match) *event.Event {
	out := p.emit(ev)
	for i, m := range more {
		extra := p.emit(ev)
		extra.Match = m
		p.more = append(p.more, extra)
		more[i] = nil
	}
	return out
}

// emitChunk is how many queued events are allocated at once: one allocation
// per chunk instead of one per event (a chunk is freed when the last of its
// events is sent).
const emitChunk = 64

// emit copies the read loop's scratch event for the queue.
func (p *pipeline) emit(ev *event.Event) *event.Event {
	if len(p.slab) == 0 {
		p.slab = make([]event.Event, emitChunk)
	}
	out := &p.slab[0]
	p.slab = p.slab[1:]
	*out = *ev
	return out
}

// respond carries out the actions the kernel could not: a network kill (the
// cgroup hook refuses the connect but cannot signal on every kernel), and the
// kill of a rule whose condition the receiver decided (the kernel only
// posted): an after-the-fact SIGKILL.
func (p *pipeline) respond(ev *event.Event) {
	m := ev.Match
	if m.Action != event.ActionKill || !m.Enforce || m.Applied {
		return
	}
	_, isNet := ev.Detail.(*event.Network)
	switch {
	case isNet:
		_ = p.kill(int(ev.Proc.PID))
	case m.UserSpace && p.killPending:
		ref := p.killRef
		p.killPending = false
		m.Applied = p.kill(int(ev.Proc.PID)) == nil
		outcome := "applied"
		if !m.Applied {
			outcome = "failed" // the process was gone
		}
		p.matcher.count(actionKey{ref, outcome})
	}
}

// condTable is what the read path needs of a rule table whose rules carry
// conditions decided in user space.
type condTable interface {
	HasConditions() bool
	Matching(kind int, mask uint64, dst []sensor.RuleRef) []sensor.RuleRef
}

// deciding is the rule that decides the kernel's verdict on ev: the strongest
// matched rule; with rules whose conditions user space decides, the strongest
// matched rule whose condition holds (the kernel passed the event for each of
// them).
func (p *pipeline) deciding(ev *event.Event) (sensor.RuleRef, bool) {
	rt := p.ruleTable()
	if rt == nil {
		return sensor.RuleRef{}, false
	}
	ct, ok := rt.(condTable)
	if !ok || !ct.HasConditions() {
		return rt.Strongest(ev.Kernel.Kind, ev.Kernel.Rules)
	}
	p.refs = ct.Matching(ev.Kernel.Kind, ev.Kernel.Rules, p.refs[:0])
	for _, ref := range p.refs {
		if !ref.Cond.UserSpace() || p.conds.HoldsCond(ref.Cond, ev) {
			return ref, true
		}
	}
	return sensor.RuleRef{}, false
}

// kernelMatch resolves the kernel's verdict into the match of the rule that
// decides (deciding).
func (p *pipeline) kernelMatch(ev *event.Event) *event.Match {
	ref, ok := p.deciding(ev)
	if !ok {
		return nil
	}
	c := ref.Cond
	m := p.matcher.matchRef(ref, ev.Kernel.Applied && !c.UserSpace())
	if m.UserSpace = c != nil; c.UserSpace() && ref.Action == policy.ActionKill && ref.Enforce {
		p.killRef, p.killPending = ref, true
	}
	if c != nil { // the record carries the full process context, and the output
		m.Body = p.conds.RenderCond(c, ev)
	}
	return m
}

// policyRecord reports whether an event came from a policy sensor.
func policyRecord(ev *event.Event) bool {
	switch ev.Detail.(type) {
	case *event.Exec, event.Exit, event.Fork:
		return false
	}
	return true
}

// enqueue hands an event to the sender without ever blocking the ring buffer
// reader: when the bounded queue is full the event is dropped and counted (added
// to the drop counter with the read loop's other counts).
func (p *pipeline) enqueue(e *event.Event) {
	select {
	case p.queue <- e:
		return
	default:
	}
	// The queue is full: the sender is behind. While the kernel ring is less
	// than half full, wait for room instead of dropping: records wait in the
	// ring at no CPU cost, and a reader that decodes and matches events only to
	// drop them takes the CPU the sender needs to catch up (on 2 cores, a storm
	// of 500,000 matching opens lost 72% of its events that way). Past half
	// full the reader drops and counts again, so that the kernel ring never
	// overflows because of a slow consumer.
	for p.ringHasRoom() && !p.discarding.Load() {
		if p.wait == nil {
			p.wait = time.NewTimer(queueWaitStep)
		} else {
			p.wait.Reset(queueWaitStep)
		}
		select {
		case p.queue <- e:
			p.wait.Stop()
			return
		case <-p.wait.C:
		}
	}
	p.counts.queueFull++
	p.counts.n++
}

// queueWaitStep is how often a reader waiting for queue room looks at the ring.
const queueWaitStep = time.Millisecond

// ringHasRoom reports whether less than half of the kernel ring is taken.
func (p *pipeline) ringHasRoom() bool {
	if p.reader == nil {
		return false
	}
	size := p.reader.BufferSize()
	return size > 0 && p.reader.AvailableBytes() < size/2
}

// sendLoop batches queued events by size and time, builds OTLP and hands it on.
func (p *pipeline) sendLoop(ctx context.Context) {
	defer p.wg.Done()
	ticker := time.NewTicker(p.cfg.FlushInterval)
	defer ticker.Stop()
	batch := make([]*event.Event, 0, p.cfg.BatchSize)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		p.refreshBootOffset()
		logs := p.builder.Build(batch, p.bootOffset.Load())
		n := len(batch)
		if err := p.consume(ctx, logs, n); err != nil {
			p.tb.EbpfEventsDropped.Add(context.Background(), int64(n), metric.WithAttributes(attribute.String("reason", "consumer_refused")))
		}
		clear(batch)
		batch = batch[:0]
	}
	for {
		select {
		case e, ok := <-p.queue:
			if !ok {
				flush()
				return
			}
			batch = append(batch, e)
			if len(batch) >= p.cfg.BatchSize {
				flush()
			}
		case <-ticker.C:
			flush()
		case <-ctx.Done():
			// Shutdown ran out of time: what was not sent is counted.
			if n := len(batch) + len(p.queue); n > 0 {
				p.tb.EbpfEventsDropped.Add(context.Background(), int64(n), metric.WithAttributes(attribute.String("reason", "shutdown")))
			}
			return
		}
	}
}

// Back-off between attempts to hand a refused batch on again.
const (
	retryFirst = 50 * time.Millisecond
	retryMax   = 2 * time.Second
)

// consume hands one batch to the next consumer. A refusal that is not permanent
// (memory_limiter's "data refused", a full exporter queue) is back-pressure: the
// batch is offered again with a growing pause while the bounded queue in front of
// the sender absorbs new events (its overflow is counted as queue_full). It gives
// up, returning the error, on a permanent error, once shutdown has begun, or when
// ctx ends.
func (p *pipeline) consume(ctx context.Context, logs plog.Logs, n int) error {
	wait := retryFirst
	for {
		opCtx := p.obsrecv.StartLogsOp(ctx)
		err := p.next.ConsumeLogs(opCtx, logs)
		p.obsrecv.EndLogsOp(opCtx, "ebpf", n, err)
		if err == nil || consumererror.IsPermanent(err) || p.stopped.Load() {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
	}
}

// refreshBootOffset measures wall clock minus boot clock, to convert kernel times.
func (p *pipeline) refreshBootOffset() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return
	}
	p.bootOffset.Store(time.Now().UnixNano() - ts.Nano())
}

// tracker is the process-tracking stage: it keeps the process cache in kernel
// order and attaches the process, its parent and ancestors to each event.
// Secrets are masked once, when a process is cached.
type tracker struct {
	cache         *proctree.Cache
	redactor      *redact.Redactor
	ancestorDepth int
	emitForks     bool
	// fullCaps is every capability of the running kernel (bits 0..cap_last_cap):
	// a container process with all of them in its bounding set is privileged.
	fullCaps uint64
	// users names the effective users of host processes.
	users *proctree.Users
	// cgroupPath resolves a cgroup id to its path under the cgroup2 root; nil when
	// the hierarchy is not visible. unresolved remembers ids it could not resolve
	// (bounded), so that a process in such a cgroup costs one lookup per
	// unresolvedRetry, not one per event.
	cgroupPath func(id uint64) (string, bool)
	unresolved map[uint64]time.Time

	// Cache sizes, read by the telemetry callback.
	live, exited, evicted atomic.Int64
}

// seed caches a process that was running at start-up.
func (t *tracker) seed(ev *event.Event) {
	if x := ev.Detail.(*event.Exec); x.NoMM && !x.Kthread {
		return // a zombie: it has exited, only its parent's wait() is pending
	}
	t.cache.Put(t.processOf(ev, ev.Proc.StartBoottime), ev.Detail.(*event.Exec).ParentStartBoottime)
	t.publish()
}

// track applies a process record to the cache and completes the event. It
// returns false when the event is not to be emitted.
func (t *tracker) track(ev *event.Event) bool {
	defer t.publish()
	rec := ev.Proc // the decoder's scratch: replaced below
	switch ev.Detail.(type) {
	case *event.Exec:
		ev.Proc = t.processOf(ev, ev.KTime)
		t.cache.Put(ev.Proc, ev.Detail.(*event.Exec).ParentStartBoottime)
	case event.Fork:
		parent, hasParent := t.cache.Get(rec.PPID)
		ev.Proc = t.cache.Fork(rec.PID, rec.PPID, rec.StartBoottime, rec.CgroupID, rec.UID, rec.GID, rec.EUID, rec.EGID)
		if !hasParent || parent.CgroupID != rec.CgroupID {
			// Born into another cgroup than its parent's cached one (the parent
			// moved, or clone3 placed the child): the inherited identity is not its.
			ev.Proc = t.rebind(ev.Proc, rec.CgroupID, true)
		}
		if !t.emitForks {
			return false
		}
	case event.Exit:
		p, ok := t.cache.Exit(rec.PID)
		if !ok {
			p = t.rebind(&proctree.Process{PID: rec.PID, PPID: rec.PPID, ExecID: proctree.ExecID(rec.StartBoottime, rec.PID)}, rec.CgroupID, false)
		} else if p.CgroupID != rec.CgroupID {
			p = t.rebind(p, rec.CgroupID, false) // exited: the cache keeps the old entry
		}
		ev.Proc = p
	}
	t.family(ev)
	return true
}

// family attaches the process's parent and ancestors.
func (t *tracker) family(ev *event.Event) {
	ev.Parent, ev.Ancestors = nil, nil
	if parent, ok := t.cache.Parent(ev.Proc); ok {
		ev.Parent = parent
	}
	if d := t.ancestorDepth; d > 1 {
		// The parent has its own attributes; ancestors start at the grandparent.
		if anc := t.cache.Ancestors(ev.Proc, d); len(anc) > 1 {
			ev.Ancestors = make([]event.Ancestor, 0, len(anc)-1)
			for _, a := range anc[1:] {
				ev.Ancestors = append(ev.Ancestors, event.Ancestor{ExecID: a.ExecID, Executable: a.Executable, Name: a.Name})
			}
		}
	}
}

// lookup attaches the cached process to a policy event; a process the cache
// does not know is described by the record's own fields.
func (t *tracker) lookup(ev *event.Event) {
	rec := ev.Proc
	p, ok := t.cache.Get(rec.PID)
	switch {
	case !ok:
		p = t.rebind(&proctree.Process{PID: rec.PID, PPID: rec.PPID, UID: rec.UID, EUID: rec.EUID, GID: rec.GID,
			ExecID: proctree.ExecID(rec.StartBoottime, rec.PID)}, rec.CgroupID, false)
	case p.CgroupID != rec.CgroupID:
		p = t.rebind(p, rec.CgroupID, true)
	}
	ev.Proc = p
	// The alert carries the parent and ancestors (self-contained), and a
	// rule's condition sees them.
	t.family(ev)
}

// nrCapset is capset(2)'s number on x86-64.
const nrCapset = 126

// capset refreshes the cached capability sets from a privilege.change of a
// security hook, which reports the sets capset commits (effective,
// inheritable, permitted): later events of the process see them. A syscall
// hook only sees capset's user pointers, and a set*id's effect on the sets is
// not reported: those leave the exec-time sets.
func (t *tracker) capset(ev *event.Event) {
	pc, ok := ev.Detail.(*event.Privilege)
	if !ok || pc.Nr != nrCapset || ev.Compat || (ev.Hook != event.HookLSM && ev.Hook != event.HookFmodRet) {
		return
	}
	ev.Proc = t.cache.SetCaps(ev.Proc, pc.New[0], pc.New[2])
}

// unresolvedRetry is how long a cgroup id that did not resolve is not looked up
// again; maxUnresolved bounds how many such ids are remembered.
const (
	unresolvedRetry = time.Second
	maxUnresolved   = 4096
)

// rebind gives p the container identity of the cgroup the kernel reported it in,
// when that is not the cgroup p was cached with. A process changes cgroups without
// an exec: runc moves its `runc init` child into the new container's cgroup after
// the fork, so everything that child does before it execs the entrypoint (and the
// exit records of its short-lived helpers) used to carry the host identity
// inherited at fork time: the first records of a new container landed on the host
// resource. p is never modified (events may hold it): a copy is returned and,
// when stored is true, replaces p in the cache. An id that does not resolve leaves
// p as it is.
func (t *tracker) rebind(p *proctree.Process, cgroupID uint64, stored bool) *proctree.Process {
	if cgroupID == 0 || p.CgroupID == cgroupID {
		return p
	}
	q := *p
	q.CgroupID = cgroupID
	if path, ok := t.resolveCgroup(cgroupID); ok {
		ci := cgroups.Parse(path)
		q.ContainerID, q.PodUID, q.Runtime = ci.ContainerID, ci.PodUID, ci.Runtime
	} else if p.CgroupID != 0 {
		return p // unknown: keep what the cache knew rather than guess
	}
	if stored {
		t.cache.Replace(p, &q)
	}
	return &q
}

func (t *tracker) resolveCgroup(id uint64) (string, bool) {
	if t.cgroupPath == nil {
		return "", false
	}
	now := time.Now()
	if at, ok := t.unresolved[id]; ok && now.Sub(at) < unresolvedRetry {
		return "", false
	}
	path, ok := t.cgroupPath(id)
	if ok {
		delete(t.unresolved, id)
		return path, true
	}
	if t.unresolved == nil || len(t.unresolved) >= maxUnresolved {
		t.unresolved = make(map[uint64]time.Time)
	}
	t.unresolved[id] = now
	return "", false
}

// processOf builds a cache entry from an exec or iterator record.
func (t *tracker) processOf(ev *event.Event, execTime uint64) *proctree.Process {
	rec, x := ev.Proc, ev.Detail.(*event.Exec)
	ci := cgroups.Parse(x.CgroupPath)
	// Secrets are masked once, here: the cache never holds them and every event of
	// this process reuses the masked vector.
	args, redacted := t.redactor.Args(rec.Args)
	return &proctree.Process{
		ExecID: proctree.ExecID(execTime, rec.PID), PID: rec.PID, PPID: rec.PPID,
		Executable: rec.Executable, Args: args, CommandLine: strings.Join(args, " "), Redacted: redacted, Cwd: rec.Cwd,
		UID: rec.UID, GID: rec.GID, EUID: rec.EUID, EGID: rec.EGID,
		StartBoottime: rec.StartBoottime, CgroupID: rec.CgroupID,
		ContainerID: ci.ContainerID, PodUID: ci.PodUID, Runtime: ci.Runtime,
		ArgsTruncated: rec.ArgsTruncated,
		Name:          rec.Name, TTY: rec.TTY, LoginUID: rec.LoginUID, CapEffective: rec.CapEffective, CapPermitted: rec.CapPermitted,
		CapBounding: rec.CapBounding, ExecAttrs: rec.ExecAttrs, Exe: rec.Exe,
		UserName:   t.userName(rec.EUID, ci.ContainerID),
		Privileged: ci.ContainerID != "" && rec.ExecAttrs && t.fullCaps != 0 && rec.CapBounding&t.fullCaps == t.fullCaps,
	}
}

// passwdFile is the host's user database.
const passwdFile = "/etc/passwd"

// userName names an effective user: from the host's user database for a host
// process; in a container only root, whose name is the same everywhere (the
// container's own database is not read).
func (t *tracker) userName(euid uint32, containerID string) string {
	if containerID == "" {
		return t.users.Name(euid)
	}
	if euid == 0 {
		return "root"
	}
	return ""
}

func (t *tracker) publish() {
	st := t.cache.Stats()
	t.live.Store(int64(st.Live))
	t.exited.Store(int64(st.Exited))
	t.evicted.Store(int64(st.Evicted))
}

// matcher resolves the kernel's verdict (matched rule slots) into the rule that
// decided, through the rule table, and counts the action.
type matcher struct {
	rules  func() ruleTable
	counts *pendingCounts
}

type actionKey struct {
	ref     sensor.RuleRef
	outcome string
}

// actionState is what the read loop keeps per rule and outcome: the counter's
// attribute set and the count not yet added to the counter. Kept in one map so
// that an event costs one lookup. (Each event gets a match of its own: the
// respond stage may still set Applied or Body on it.)
type actionState struct {
	attrs   metric.AddOption // nil: not counted (a kernel filter generated for a rule)
	pending int64
}

// matchRef builds the match of a rule and counts its action; a kill decided in
// user space is counted by the respond stage, once it is sent.
func (m *matcher) matchRef(ref sensor.RuleRef, applied bool) *event.Match {
	outcome := "posted"
	userKill := ref.Cond.UserSpace() && ref.Action == policy.ActionKill && ref.Enforce
	switch {
	case applied:
		outcome = "applied"
	case ref.Action == policy.ActionDeny || ref.Action == policy.ActionKill:
		outcome = "monitored"
	}
	if !userKill {
		m.count(actionKey{ref, outcome})
	}
	// A new match per event: the respond stage may still change it (a kill the
	// receiver sends itself sets Applied).
	return &event.Match{Policy: ref.Policy, Rule: ref.Rule, Event: string(ref.Event), Action: string(ref.Action),
		Severity: string(ref.Severity), Enforce: ref.Enforce, Applied: applied}
}

// countUser counts a user-space rule's match as a posted action of the rule
// (its ruleset standing for the policy).
func (m *matcher) countUser(mt *event.Match) {
	st := m.state(actionKey{sensor.RuleRef{Policy: mt.Policy, Rule: mt.Rule, Event: policy.Event(mt.Event), Action: policy.ActionPost}, "posted"})
	st.pending++
}

// count adds one to an action's pending count (policy rules only: the rules
// files' generated policies are counted by the rule stage). The key leaves out the
// rule's compiled condition, which every reload compiles anew: a rule keeps one
// series across reloads and the state map stays bounded.
func (m *matcher) count(key actionKey) {
	key.ref.Cond = nil
	if st := m.state(key); st.attrs != nil {
		st.pending++
	}
}

// state returns an action's state, made on first use. The map is bounded by the
// rules x outcomes of the policies ever loaded.
func (m *matcher) state(key actionKey) *actionState {
	if st, ok := m.counts.actions[key]; ok {
		return st
	}
	ref, outcome := key.ref, key.outcome
	st := &actionState{}
	if !rulestage.IsGenerated(ref.Policy) {
		st.attrs = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("policy", ref.Policy), attribute.String("rule", ref.Rule),
			attribute.String("action", string(ref.Action)), attribute.String("outcome", outcome)))
	}
	m.counts.actions[key] = st
	return st
}

// flushEvery bounds how many events the read loop counts before it adds them to
// its telemetry counters (it also adds them when the ring is drained and after
// each poll interval).
const flushEvery = 4096

// pendingCounts are the read loop's per-event counters, added to the telemetry
// counters in batches: an OpenTelemetry counter's Add looks up its attribute set
// on every call, which at 100,000+ events/s is a visible share of the loop.
type pendingCounts struct {
	received   map[string]int64           // events received, by event name
	actions    map[actionKey]*actionState // policy actions, by rule and outcome
	eventAttrs map[string]metric.AddOption
	// queueFull counts the events dropped because the queue was full: a
	// storm that overruns the sender drops many in a row, and one counter call
	// per drop would slow the reader further.
	queueFull      int64
	queueFullAttrs metric.AddOption
	n              int
	since          time.Time
}

func newPendingCounts() pendingCounts {
	attrs := map[string]metric.AddOption{}
	for _, n := range []string{event.ProcessExec, event.ProcessExit, event.ProcessFork, event.PolicyMatchMetric} {
		attrs[n] = metric.WithAttributeSet(attribute.NewSet(attribute.String("event", n)))
	}
	return pendingCounts{received: map[string]int64{}, actions: map[actionKey]*actionState{}, eventAttrs: attrs,
		queueFullAttrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "queue_full")))}
}

// received1 counts one event received.
func (c *pendingCounts) received1(name string) {
	c.received[name]++
	c.n++
}

func (p *pipeline) flushCounts() {
	ctx := context.Background()
	c := &p.counts
	for name, n := range c.received {
		if n != 0 {
			p.tb.EbpfEventsReceived.Add(ctx, n, c.eventAttrs[name])
			c.received[name] = 0
		}
	}
	for _, st := range c.actions {
		if st.pending != 0 {
			p.tb.EbpfPolicyActions.Add(ctx, st.pending, st.attrs)
			st.pending = 0
		}
	}
	if c.queueFull != 0 {
		p.tb.EbpfEventsDropped.Add(ctx, c.queueFull, c.queueFullAttrs)
		c.queueFull = 0
	}
	c.n, c.since = 0, time.Now()
}
