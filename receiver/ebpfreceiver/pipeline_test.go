//go:build linux

package ebpfreceiver

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/falco"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// The pipeline's stages between decoding and the queue, on decoded events: no
// kernel needed.

type fakeRules struct {
	ids      map[sensor.FileID][]string
	refs     map[int]sensor.RuleRef // by rule kind
	userFile uint64                 // what MatchFileInUserSpace returns
	asked    []sensor.FileProcess
}

func (f *fakeRules) Strongest(kind int, rules uint64) (sensor.RuleRef, bool) {
	ref, ok := f.refs[kind]
	return ref, ok && rules != 0
}

func (f *fakeRules) MatchExecInUserSpace(string, sensor.FileID, uint32, sensor.FileProcess) uint64 {
	return 0
}

func (f *fakeRules) IdentityPaths(id sensor.FileID) []string { return f.ids[id] }

func (f *fakeRules) MatchFileInUserSpace(_ sensor.FileOpen, p sensor.FileProcess) uint64 {
	f.asked = append(f.asked, p)
	return f.userFile
}

func newTestPipeline(t *testing.T, mutate func(*Config)) (*pipeline, *[]int) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	set := receivertest.NewNopSettings(metadata.Type)
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	require.NoError(t, err)
	t.Cleanup(tb.Shutdown)
	p, err := newPipeline(set, cfg, new(consumertest.LogsSink), tb)
	require.NoError(t, err)
	var killed []int
	p.kill = func(pid int) error { killed = append(killed, pid); return nil }
	return p, &killed
}

// pendingActions are the action counts not yet added to the counter, by rule
// and outcome (the actions never counted are left out).
func pendingActions(p *pipeline) map[actionKey]int64 {
	out := map[actionKey]int64{}
	for k, st := range p.counts.actions {
		if st.pending != 0 {
			out[k] = st.pending
		}
	}
	return out
}

// A decoded record: Proc stands for the decoder's scratch process.
func record(name string, pid uint32, d event.Detail) *event.Event {
	return &event.Event{Name: name, KTime: 100, Proc: &event.Process{PID: pid, PPID: 1, UID: 1000, EUID: 1000, StartBoottime: 50}, Detail: d}
}

func execRecord(pid, ppid uint32, exe string, args ...string) *event.Event {
	ev := record(event.ProcessExec, pid, &event.Exec{CgroupPath: "kubepods.slice/cri-containerd-" + testContainerID + ".scope"})
	ev.Proc.PPID, ev.Proc.Executable, ev.Proc.Args = ppid, exe, args
	return ev
}

func policyEvent(name string, pid uint32, kind int, d event.Detail) *event.Event {
	ev := record(name, pid, d)
	ev.Kernel = event.Verdict{Kind: kind, Rules: 1}
	ev.Cred = event.Cred{UID: 1000, EUID: 0}
	return ev
}

func TestPipelineTracksProcesses(t *testing.T) {
	p, _ := newTestPipeline(t, func(c *Config) { c.ProcessCache.AncestorDepth = 3 })
	require.NotNil(t, p.process(execRecord(10, 1, "/bin/sh", "sh")))
	out := p.process(execRecord(11, 10, "/usr/bin/curl", "curl", "--password", "hunter2"))
	require.NotNil(t, out)
	assert.Equal(t, "/usr/bin/curl", out.Proc.Executable)
	assert.NotContains(t, out.Proc.CommandLine, "hunter2", "secrets are masked when the process is cached")
	assert.True(t, out.Proc.Redacted)
	assert.Equal(t, testContainerID, out.Proc.ContainerID)
	require.NotNil(t, out.Parent)
	assert.Equal(t, "/bin/sh", out.Parent.Executable)
	assert.Equal(t, "64-11", out.Proc.ExecID, "exec id from the exec's kernel time")

	assert.Nil(t, p.process(record(event.ProcessFork, 12, event.Fork{})), "forks are cached, not emitted")
	exit := p.process(record(event.ProcessExit, 11, event.Exit{Status: 9}))
	require.NotNil(t, exit)
	assert.Equal(t, "/usr/bin/curl", exit.Proc.Executable, "the exit carries the cached process")
	unknown := p.process(record(event.ProcessExit, 99, event.Exit{}))
	assert.Equal(t, "32-99", unknown.Proc.ExecID)
	assert.Zero(t, unknown.Proc.UID, "an unknown process is described only by pid, parent and cgroup")
	assert.Zero(t, unknown.Proc.StartBoottime)

	assert.Equal(t, map[string]int64{event.ProcessExec: 2, event.ProcessFork: 1, event.ProcessExit: 2}, p.counts.received)
	assert.Equal(t, int64(2), p.tracker.live.Load(), "10 and the fork 12")
}

func TestPipelineEmitsForksWhenAsked(t *testing.T) {
	p, _ := newTestPipeline(t, func(c *Config) { c.EmitForks = true })
	require.NotNil(t, p.process(execRecord(10, 1, "/bin/sh")))
	out := p.process(record(event.ProcessFork, 12, event.Fork{}))
	require.NotNil(t, out)
	assert.Equal(t, uint32(12), out.Proc.PID)
}

func TestPipelineMatchesPolicyEvents(t *testing.T) {
	p, killed := newTestPipeline(t, nil)
	rules := &fakeRules{refs: map[int]sensor.RuleRef{
		sensor.KindFile: {Policy: "p", Rule: "shadow", Event: policy.EventFileOpen, Action: policy.ActionDeny, Severity: policy.SeverityError, Enforce: true},
		sensor.KindNet:  {Policy: "p", Rule: "imds", Event: policy.EventNetworkConnect, Action: policy.ActionKill, Enforce: true},
	}}
	p.rules = func() ruleTable { return rules }
	require.NotNil(t, p.process(execRecord(20, 1, "/usr/bin/cat", "cat")))

	ev := policyEvent(event.FileOpen, 20, sensor.KindFile, &event.File{Path: "/etc/shadow"})
	ev.Kernel.Applied = true
	out := p.process(ev)
	require.NotNil(t, out)
	assert.Equal(t, &event.Match{Policy: "p", Rule: "shadow", Event: "file.open", Action: "deny", Severity: "error", Enforce: true, Applied: true}, out.Match)
	assert.Equal(t, "/usr/bin/cat", out.Proc.Executable, "the policy record carries the cached process")
	assert.Empty(t, *killed, "a file deny is the kernel's")

	out = p.process(policyEvent(event.NetworkConnect, 21, sensor.KindNet, &event.Network{}))
	require.NotNil(t, out)
	assert.Equal(t, []int{21}, *killed, "an enforced network kill is carried out in user space")
	assert.Equal(t, "32-21", out.Proc.ExecID, "an uncached process, from the record's start time and pid")
	assert.Equal(t, uint32(1000), out.Proc.UID)

	rules.refs[sensor.KindNet] = sensor.RuleRef{Policy: "p", Rule: "imds", Action: policy.ActionKill} // monitor mode
	require.NotNil(t, p.process(policyEvent(event.NetworkConnect, 22, sensor.KindNet, &event.Network{})))
	assert.Equal(t, []int{21}, *killed, "monitor mode kills nothing")

	assert.Nil(t, p.process(policyEvent(event.PrivilegeChange, 20, sensor.KindSys, &event.Privilege{})),
		"slots that name no rule (policy removed in flight) are not emitted")
	var outcomes []string
	for k, n := range pendingActions(p) {
		outcomes = append(outcomes, k.ref.Rule+"/"+k.outcome+"="+string(rune('0'+n)))
	}
	assert.ElementsMatch(t, []string{"shadow/applied=1", "imds/monitored=1", "imds/monitored=1"}, outcomes,
		"a kill the kernel did not apply counts as monitored (enforced and monitor-mode rules apart)")
	assert.Equal(t, int64(3), p.counts.received[event.PolicyMatchMetric])
}

func TestPipelineWithoutPolicies(t *testing.T) {
	p, _ := newTestPipeline(t, nil)
	ev := execRecord(30, 1, "/bin/true")
	ev.Kernel = event.Verdict{Kind: sensor.KindExec, Rules: 1}
	out := p.process(ev)
	require.NotNil(t, out, "an exec is emitted with or without a rule")
	assert.Nil(t, out.Match)
	assert.Nil(t, p.process(policyEvent(event.FileOpen, 30, sensor.KindFile, &event.File{})))
	p.rules = func() ruleTable { return nil }
	assert.Nil(t, p.process(policyEvent(event.FileOpen, 30, sensor.KindFile, &event.File{})))
}

func TestPipelineCountRulesAreMetricsOnly(t *testing.T) {
	p, _ := newTestPipeline(t, nil)
	rules := &fakeRules{refs: map[int]sensor.RuleRef{sensor.KindSys: {Policy: "p", Rule: "n", Action: policy.ActionCount}}}
	p.rules = func() ruleTable { return rules }
	assert.Nil(t, p.process(policyEvent(event.NamespaceChange, 5, sensor.KindSys, &event.Namespace{})))
	assert.Equal(t, int64(1), p.counts.received[event.PolicyMatchMetric], "counted, not emitted")
	ev := policyEvent(event.NamespaceChange, 5, sensor.KindSys, &event.Namespace{})
	ev.Kernel.Applied = true
	assert.NotNil(t, p.process(ev), "a count the kernel applied is posted")
}

func TestPipelineFilterInUserSpace(t *testing.T) {
	p, _ := newTestPipeline(t, nil)
	p.filterInUserSpace = true
	rules := &fakeRules{refs: map[int]sensor.RuleRef{sensor.KindFile: {Policy: "p", Rule: "r", Action: policy.ActionPost}}}
	p.rules = func() ruleTable { return rules }
	require.NotNil(t, p.process(execRecord(40, 1, "/usr/bin/vi")))
	open := func() *event.Event {
		ev := policyEvent(event.FileOpen, 40, sensor.KindFile, &event.File{Path: "/etc/hosts", OpenFlags: 1})
		ev.Kernel.Rules = 0 // emit-all: the kernel matched nothing
		return ev
	}
	assert.Nil(t, p.process(open()), "no user-space match: not emitted")
	rules.userFile = 0b1
	out := p.process(open())
	require.NotNil(t, out)
	assert.Equal(t, uint64(1), out.Kernel.Rules)
	assert.Equal(t, []sensor.FileProcess{{UID: 1000, Executable: "/usr/bin/vi", InContainer: true}, {UID: 1000, Executable: "/usr/bin/vi", InContainer: true}}, rules.asked)
}

// A file record matched by identity names the policy path it stands for; a
// failed open's relative path is made absolute with the process's working
// directory before any rule sees it.
func TestPipelineCompletesFileRecords(t *testing.T) {
	p, _ := newTestPipeline(t, nil)
	id := sensor.FileID{Dev: 8<<20 | 1, Ino: 42}
	rules := &fakeRules{refs: map[int]sensor.RuleRef{sensor.KindFile: {Policy: "p", Rule: "r", Action: policy.ActionPost}},
		ids: map[sensor.FileID][]string{id: {"/etc/shadow"}}}
	p.rules = func() ruleTable { return rules }
	exec := execRecord(41, 1, "/usr/bin/cat", "cat")
	exec.Proc.Cwd = "/srv/www"
	require.NotNil(t, p.process(exec))
	out := p.process(policyEvent(event.FileOpen, 41, sensor.KindFile, &event.File{Path: "/tmp/link", Dev: id.Dev, Ino: id.Ino, IDMatch: true}))
	require.NotNil(t, out)
	assert.Equal(t, "/etc/shadow", out.Detail.(*event.File).PolicyPath)
	out = p.process(policyEvent(event.FileOpen, 41, sensor.KindFile, &event.File{Path: "/tmp/other", Dev: id.Dev, Ino: 43}))
	require.NotNil(t, out)
	assert.Empty(t, out.Detail.(*event.File).PolicyPath, "matched by path: no policy path to name")
	out = p.process(policyEvent(event.FileOpen, 41, sensor.KindFile, &event.File{Raw: "../../etc/missing", Failed: true, Res: -2}))
	require.NotNil(t, out)
	assert.Equal(t, "/etc/missing", out.Detail.(*event.File).Path)
}

// userSet loads a Falco rules text into a rule stage set; kernel names the rule
// (by index) that has a generated kernel policy.
func userSet(t *testing.T, text string, kernel map[int]string) *rulestage.Set {
	t.Helper()
	res := falco.Load(falco.File{Name: "t.yaml", Data: []byte(text)})
	require.Empty(t, res.Skipped)
	var rs []rulestage.Rule
	for i, r := range res.Rules {
		rs = append(rs, rulestage.Rule{Name: r.Name, Ruleset: r.Ruleset, Severity: "warn", Predicate: r.Predicate,
			Output: r.Output, Kernel: kernel[i]})
	}
	return rulestage.NewSet(rs)
}

const stageRules = `
- rule: Ls under init
  desc: d
  condition: evt.type = execve and proc.name = ls and proc.pname = init
  output: ls by %proc.pname
  priority: WARNING
- rule: Any ls
  desc: d
  condition: evt.type = execve and proc.name = ls
  output: any ls
  priority: NOTICE
- rule: Connect 443
  desc: d
  condition: evt.type = connect and fd.sport = 443
  output: connect %fd.sip
  priority: ERROR
`

func TestPipelineRuleStage(t *testing.T) {
	p, killed := newTestPipeline(t, nil)
	set := userSet(t, stageRules, map[int]string{2: "falco:t.yaml:Connect 443"})
	p.stage = &userRules{set: func() *rulestage.Set { return set }}
	rules := &fakeRules{refs: map[int]sensor.RuleRef{sensor.KindNet: {Policy: "falco:t.yaml:Connect 443", Rule: "r", Action: policy.ActionPost}}}
	p.rules = func() ruleTable { return rules }

	require.NotNil(t, p.process(execRecord(1, 0, "/sbin/init")))
	out := p.process(execRecord(50, 1, "/bin/ls", "ls"))
	require.NotNil(t, out)
	require.NotNil(t, out.Match, "the exec record becomes the alert")
	assert.Equal(t, "Ls under init", out.Match.Rule)
	assert.Equal(t, "ls by init", out.Match.Body)
	assert.Equal(t, "t.yaml", out.Match.Policy)
	require.Len(t, p.more, 1, "a second rule that fires adds a record")
	assert.Equal(t, "Any ls", p.more[0].Match.Rule)
	assert.Same(t, out.Proc, p.more[0].Proc)
	p.more = p.more[:0]

	out = p.process(execRecord(51, 1, "/bin/cat", "cat"))
	require.NotNil(t, out, "exec records that match no rule are still emitted")
	assert.Nil(t, out.Match)
	assert.Empty(t, p.more)

	// A generated kernel filter passed the event: the rule's condition decides.
	miss := policyEvent(event.NetworkConnect, 50, sensor.KindNet, &event.Network{Peer: netip.MustParseAddrPort("10.0.0.1:80")})
	assert.Nil(t, p.process(miss), "the condition rejects what the kernel filter let through")
	hit := policyEvent(event.NetworkConnect, 50, sensor.KindNet, &event.Network{Peer: netip.MustParseAddrPort("10.0.0.1:443")})
	out = p.process(hit)
	require.NotNil(t, out)
	assert.Equal(t, "Connect 443", out.Match.Rule)
	assert.Equal(t, "connect 10.0.0.1", out.Match.Body)
	assert.True(t, out.Match.UserSpace)
	assert.Empty(t, *killed)
	assert.Equal(t, int64(1), pendingActions(p)[actionKey{sensor.RuleRef{Policy: "t.yaml", Rule: "Connect 443", Event: "network.connect", Action: policy.ActionPost}, "posted"}])
	for k := range pendingActions(p) {
		assert.False(t, rulestage.IsGenerated(k.ref.Policy), "generated kernel filters are not counted as actions: %v", k)
	}
}

// queuePipeline is a pipeline with a one-event queue and telemetry the test reads.
func queuePipeline(t *testing.T) (*pipeline, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	require.NoError(t, err)
	t.Cleanup(tb.Shutdown)
	cfg := createDefaultConfig().(*Config)
	cfg.QueueSize = 1
	p, err := newPipeline(set, cfg, new(consumertest.LogsSink), tb)
	require.NoError(t, err)
	p.queue = make(chan *event.Event, 1)
	return p, tel
}

func TestPipelineQueueFullDrops(t *testing.T) {
	p, tel := queuePipeline(t)
	ring := &levelReader{size: 1 << 20} // half full: no more waiting
	ring.avail.Store(1 << 19)
	p.reader = ring
	queueFull := func(a map[string]string) bool { return a["reason"] == "queue_full" }
	p.enqueue(&event.Event{})
	for range 3 {
		p.enqueue(&event.Event{}) // dropped, not blocking
	}
	assert.Len(t, p.queue, 1)
	assert.Zero(t, sumMetric(t, tel, "otelcol_ebpf_events_dropped", queueFull), "drops are added to the counter in batches")
	p.flushCounts()
	assert.Equal(t, int64(3), sumMetric(t, tel, "otelcol_ebpf_events_dropped", queueFull), "every drop is counted")
	p.flushCounts()
	assert.Equal(t, int64(3), sumMetric(t, tel, "otelcol_ebpf_events_dropped", queueFull), "a flush adds each drop once")
}

// levelReader is a ring buffer reader that only reports how full its ring is.
type levelReader struct {
	ringReader
	size  int
	avail atomic.Int64
}

func (r *levelReader) AvailableBytes() int { return int(r.avail.Load()) }
func (r *levelReader) BufferSize() int     { return r.size }

// A full queue with a kernel ring less than half full is back-pressure, not
// loss: the reader waits for room (the records wait in the ring), and delivers
// each event once the sender takes one. Once the ring is half full it drops and
// counts again, so the kernel never overflows because of a slow sender.
func TestPipelineQueueFullWaitsWhileTheRingHasRoom(t *testing.T) {
	p, _ := queuePipeline(t)
	ring := &levelReader{size: 1 << 20}
	ring.avail.Store(1 << 10)
	p.reader = ring
	first, second := &event.Event{Name: "first"}, &event.Event{Name: "second"}
	p.enqueue(first)
	done := make(chan struct{})
	go func() { p.enqueue(second); close(done) }()
	select {
	case <-done:
		t.Fatal("enqueue returned while the queue was full and the ring had room")
	case <-time.After(50 * time.Millisecond):
	}
	assert.Same(t, first, <-p.queue, "the sender takes the first event")
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting event was not queued once there was room")
	}
	assert.Same(t, second, <-p.queue)
	assert.Zero(t, p.counts.queueFull, "nothing dropped")

	// The queue is full again and the ring fills past half while the reader
	// waits: it gives up within a few wait steps and counts the drop.
	p.enqueue(first)
	done2 := make(chan struct{})
	go func() { p.enqueue(second); close(done2) }()
	time.Sleep(20 * time.Millisecond)
	ring.avail.Store(1 << 19)
	select {
	case <-done2:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader kept waiting with the ring half full")
	}
	assert.Equal(t, int64(1), p.counts.queueFull, "the event that found no room is counted")
	assert.Len(t, p.queue, 1)
}

// defaultPack loads the default detection pack (the rules directory) as the
// receiver does: the policy set with its conditions linked, then its rules
// files with the policies' lists and macros.
func defaultPack(tb testing.TB) rulestage.Loaded {
	set := policy.LoadLinked([]string{"../../rules"}, policy.TypicalCapabilities(), rulestage.Linker{})
	require.Empty(tb, set.Errors())
	files := set.RulesFiles()
	require.NotEmpty(tb, files)
	l := rulestage.LoadFilesWith(rulestage.PolicyDefs(set.Policies), files, policy.MaxPolicies-len(set.Policies))
	require.Empty(tb, l.Problems)
	require.Positive(tb, l.Loaded)
	return l
}

// shapesRules loads the 25-rule set that mirrors the stable rules' shapes.
func shapesRules(tb testing.TB) rulestage.Loaded {
	data, err := os.ReadFile("internal/rules/falco/testdata/shapes.yaml")
	require.NoError(tb, err)
	l := rulestage.LoadFiles([]policy.FileResult{{Path: "shapes.yaml", Rules: data}}, policy.MaxPolicies)
	require.Equal(tb, 25, l.Loaded)
	return l
}

// BenchmarkProcessExec: the read loop's stages on an exec record (track, rule
// stage, copy for the queue), without rules, with the 25 stable-rule shapes and
// with the default pack loaded. The differences are the rule stage's cost per
// exec.
func BenchmarkProcessExec(b *testing.B) {
	l := shapesRules(b)
	pack := defaultPack(b)
	for _, tc := range []struct {
		name string
		set  *rulestage.Set
	}{{"no-rules", nil}, {"25-rules", l.Set}, {"pack", pack.Set}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			set := receivertest.NewNopSettings(metadata.Type)
			tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
			require.NoError(b, err)
			defer tb.Shutdown()
			p, err := newPipeline(set, cfg, new(consumertest.LogsSink), tb)
			require.NoError(b, err)
			p.stage = &userRules{set: func() *rulestage.Set { return tc.set }}
			p.process(execRecord(10, 1, "/usr/bin/containerd-shim", "containerd-shim"))
			b.ReportAllocs()
			pid := uint32(100)
			cpu0 := processCPU(b)
			for b.Loop() {
				pid++
				if pid > 30000 {
					pid = 100
				}
				p.process(execRecord(pid, 10, "/usr/bin/ls", "ls", "-la", "/app"))
				p.more = p.more[:0]
			}
			// CPU time is steadier than wall time on a shared machine.
			b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// The tracker derives the exec-into-container mark from fork-time ancestry and
// resolves a parent whose exit was read before its child's exec.
func TestPipelineExecIntoContainer(t *testing.T) {
	p, _ := newTestPipeline(t, nil)
	at := func(ev *event.Event, start, parentStart uint64) *event.Event {
		ev.Proc.StartBoottime = start
		if x, ok := ev.Detail.(*event.Exec); ok {
			x.ParentStartBoottime = parentStart
		}
		return ev
	}
	fork := func(pid, ppid uint32, start uint64) {
		ev := record(event.ProcessFork, pid, event.Fork{})
		ev.Proc.PPID, ev.Proc.StartBoottime = ppid, start
		require.Nil(t, p.process(ev))
	}
	exit := func(pid uint32) { require.NotNil(t, p.process(record(event.ProcessExit, pid, event.Exit{}))) }

	require.NotNil(t, p.process(at(execRecord(90, 1, "/usr/bin/containerd-shim-runc-v2", "containerd-shim-runc-v2"), 9, 1)))
	fork(100, 90, 10)
	require.NotNil(t, p.process(at(execRecord(100, 90, "/usr/sbin/runc", "runc", "--root", "/r", "exec", "--detach", "box"), 10, 9)))
	fork(101, 100, 11)
	p.process(at(execRecord(101, 100, "/usr/sbin/runc", "runc", "init"), 11, 10))
	p.process(at(execRecord(101, 100, "/", "runc", "init"), 11, 10))
	fork(102, 101, 12)
	fork(103, 102, 13)
	exit(102)
	exit(101)
	exit(100) // runc exec: its exit is read before the program's exec, which still names it
	sh := p.process(at(execRecord(103, 100, "/bin/sh", "sh"), 13, 10))
	require.NotNil(t, sh)
	assert.True(t, sh.Proc.ExecIntoContainer)
	require.NotNil(t, sh.Parent, "the just-exited runc exec is still the parent")
	assert.Equal(t, "/usr/sbin/runc", sh.Parent.Executable)

	// A policy event of the exec'd shell carries the mark too (its cached process).
	rules := &fakeRules{refs: map[int]sensor.RuleRef{
		sensor.KindFile: {Policy: "p", Rule: "shadow", Event: policy.EventFileOpen, Action: policy.ActionPost},
	}}
	p.rules = func() ruleTable { return rules }
	out := p.process(policyEvent(event.FileOpen, 103, sensor.KindFile, &event.File{Path: "/etc/shadow"}))
	require.NotNil(t, out)
	assert.True(t, out.Proc.ExecIntoContainer)

	// A process of another start time that reused runc exec's pid is not its parent.
	other := p.process(at(execRecord(104, 100, "/bin/true", "true"), 14, 999))
	assert.Nil(t, other.Parent)
	assert.False(t, other.Proc.ExecIntoContainer)
}

// A capset a security hook reports refreshes the cached capability sets: the
// next event of the process sees them. One from a syscall hook (its arguments
// are user pointers) does not.
func TestPipelineCapsetRefreshesCaps(t *testing.T) {
	p, _ := newTestPipeline(t, nil)
	rules := &fakeRules{refs: map[int]sensor.RuleRef{sensor.KindSys: {Policy: "p", Rule: "caps", Action: policy.ActionPost}}}
	p.rules = func() ruleTable { return rules }
	exec := execRecord(50, 1, "/usr/bin/capsh")
	exec.Proc.ExecAttrs, exec.Proc.CapEffective = true, 1<<13
	require.NotNil(t, p.process(exec))
	capset := func(hook event.Hook) *event.Event {
		ev := policyEvent(event.PrivilegeChange, 50, sensor.KindSys, &event.Privilege{
			Syscall: event.Syscall{Nr: nrCapset}, New: [3]uint64{1 << 21, 0, 1<<21 | 1<<13}})
		ev.Hook = hook
		return ev
	}
	out := p.process(capset(event.HookSyscall))
	require.NotNil(t, out)
	assert.Equal(t, uint64(1<<13), out.Proc.CapEffective, "a syscall hook's capset leaves the exec-time sets")
	out = p.process(capset(event.HookFmodRet))
	require.NotNil(t, out)
	assert.Equal(t, uint64(1<<21), out.Proc.CapEffective)
	assert.Equal(t, uint64(1<<21|1<<13), out.Proc.CapPermitted)
	live, _ := p.tracker.cache.Get(50)
	assert.Equal(t, uint64(1<<21), live.CapEffective, "later events see the new sets")
}

// refusingSink refuses the first refusals batches with err, then stores them.
type refusingSink struct {
	consumertest.LogsSink
	mu       sync.Mutex
	refusals int
	err      error
	calls    int
}

func (s *refusingSink) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	s.mu.Lock()
	s.calls++
	refuse := s.refusals > 0
	if refuse {
		s.refusals--
	}
	s.mu.Unlock()
	if refuse {
		return s.err
	}
	return s.LogsSink.ConsumeLogs(ctx, ld)
}

// droppedBy reads otelcol_ebpf_events_dropped for one reason (0 when absent).
func droppedBy(t *testing.T, tel *componenttest.Telemetry, reason string) int64 {
	t.Helper()
	m, err := tel.GetMetric("otelcol_ebpf_events_dropped")
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if v, ok := dp.Attributes.Value("reason"); ok && v.AsString() == reason {
			n += dp.Value
		}
	}
	return n
}

// runSender runs only the send loop of a pipeline over sink, feeds it events and
// closes its queue.
func runSender(t *testing.T, sink consumer.Logs, events int) (*pipeline, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := receivertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	require.NoError(t, err)
	t.Cleanup(tb.Shutdown)
	cfg := createDefaultConfig().(*Config)
	cfg.BatchSize = 1
	p, err := newPipeline(set, cfg, sink, tb)
	require.NoError(t, err)
	p.queue = make(chan *event.Event, events)
	for i := range events {
		p.queue <- execRecord(uint32(1000+i), 1, "/bin/true")
	}
	close(p.queue)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p.cancel = cancel
	p.wg.Add(1)
	done := make(chan struct{})
	go func() { p.sendLoop(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("send loop did not finish")
	}
	return p, tel
}

// A refusal that is not permanent (memory_limiter's, a full exporter queue's) is
// back-pressure: the batch is offered again until it is taken; nothing is dropped.
func TestPipelineRetriesRefusedBatches(t *testing.T) {
	sink := &refusingSink{refusals: 4, err: errors.New("data refused due to high memory usage")}
	_, tel := runSender(t, sink, 3)
	assert.Equal(t, 3, sink.LogRecordCount(), "every event is delivered after the refusals")
	assert.Equal(t, 3+4, sink.calls, "each refusal is retried")
	assert.Zero(t, droppedBy(t, tel, "consumer_refused"), "a retried batch is not a drop")
}

// A permanent error is not retried: the batch is dropped and counted.
func TestPipelineCountsPermanentRefusals(t *testing.T) {
	sink := &refusingSink{refusals: 1, err: consumererror.NewPermanent(errors.New("bad data"))}
	_, tel := runSender(t, sink, 2)
	assert.Equal(t, 1, sink.LogRecordCount())
	assert.Equal(t, 2, sink.calls, "a permanent refusal is not offered again")
	assert.Equal(t, int64(1), droppedBy(t, tel, "consumer_refused"))
}

// A process moved into a container's cgroup after its fork (runc's `runc init`
// child) carries the container's identity from its first record there, not the
// host identity it inherited at fork time; a process whose cgroup does not
// change keeps its cached identity without a lookup, and an unknown cgroup id is
// looked up once per retry interval, not per event.
func TestPipelineRebindsProcessesThatChangeCgroup(t *testing.T) {
	const staticUID = "9a4c7e1f2b3d4c5e6f708192a3b4c5d6"
	const hostCG, ctrCG, unknownCG = 7, 4242, 999
	p, _ := newTestPipeline(t, func(c *Config) { c.EmitForks = true })
	lookups := map[uint64]int{}
	p.tracker.cgroupPath = func(id uint64) (string, bool) {
		lookups[id]++
		switch id {
		case ctrCG:
			return "/kubepods/besteffort/pod" + staticUID + "/" + testContainerID, true
		case hostCG:
			return "/system.slice/containerd.service", true
		}
		return "", false
	}
	withCgroup := func(ev *event.Event, id uint64) *event.Event { ev.Proc.CgroupID = id; return ev }

	// The shim's runc on the host, then its child, forked on the host.
	host := record(event.ProcessExec, 30, &event.Exec{CgroupPath: "system.slice/containerd.service"})
	require.NotNil(t, p.process(withCgroup(host, hostCG)))
	forkRec := withCgroup(record(event.ProcessFork, 31, event.Fork{}), hostCG)
	forkRec.Proc.PPID = 30
	fork := p.process(forkRec)
	require.NotNil(t, fork)
	assert.Empty(t, fork.Proc.ContainerID)
	assert.Empty(t, lookups, "same cgroup as the parent: no lookup")

	// runc moved the child into the container's cgroup; its open comes before any exec.
	p.rules = func() ruleTable {
		return &fakeRules{refs: map[int]sensor.RuleRef{sensor.KindFile: {Policy: "p", Rule: "r", Event: policy.EventFileOpen, Action: policy.ActionPost}}}
	}
	open := p.process(withCgroup(policyEvent(event.FileOpen, 31, sensor.KindFile, &event.File{Path: "/etc/passwd"}), ctrCG))
	require.NotNil(t, open)
	assert.Equal(t, testContainerID, open.Proc.ContainerID, "the container's identity, not the host's")
	assert.Equal(t, staticUID, open.Proc.PodUID)
	assert.Equal(t, uint64(ctrCG), open.Proc.CgroupID)
	cached, ok := p.tracker.cache.Get(31)
	require.True(t, ok)
	assert.Equal(t, testContainerID, cached.ContainerID, "the cache entry is replaced")
	assert.Empty(t, fork.Proc.ContainerID, "the fork's event, already sent on, is not modified")
	assert.Equal(t, 1, lookups[ctrCG], "one lookup for the move")

	// Its own child, forked inside the container, inherits the new identity without a lookup.
	child := withCgroup(record(event.ProcessFork, 32, event.Fork{}), ctrCG)
	child.Proc.PPID = 31
	out := p.process(child)
	require.NotNil(t, out)
	assert.Equal(t, testContainerID, out.Proc.ContainerID)
	assert.Equal(t, 1, lookups[ctrCG])

	// The helper's exit, inside the container.
	exit := p.process(withCgroup(record(event.ProcessExit, 32, event.Exit{}), ctrCG))
	require.NotNil(t, exit)
	assert.Equal(t, testContainerID, exit.Proc.ContainerID)

	// An uncached process in the container's cgroup: resolved from the record's id.
	unc := p.process(withCgroup(policyEvent(event.FileOpen, 40, sensor.KindFile, &event.File{Path: "/x"}), ctrCG))
	require.NotNil(t, unc)
	assert.Equal(t, testContainerID, unc.Proc.ContainerID)

	// A cgroup that does not resolve: the cached identity stays, one lookup per retry interval.
	for range 5 {
		ev := p.process(withCgroup(policyEvent(event.FileOpen, 30, sensor.KindFile, &event.File{Path: "/y"}), unknownCG))
		require.NotNil(t, ev)
		assert.Empty(t, ev.Proc.ContainerID)
		assert.Equal(t, uint64(hostCG), ev.Proc.CgroupID, "unknown: the cache is not rewritten")
	}
	assert.Equal(t, 1, lookups[unknownCG])
}
