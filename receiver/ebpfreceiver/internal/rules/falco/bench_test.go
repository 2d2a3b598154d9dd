//go:build unix

package falco

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
)

// benchEvents is a mix of what reaches the rule stage: mostly benign execs, opens and
// connects, and some events that fire a rule.
func benchEvents() []*synth {
	var evs []*synth
	for _, tc := range shapeCases() {
		evs = append(evs, tc.trigger, tc.lookalike)
	}
	evs = append(evs,
		exec("ls", "ls -la /app"),
		exec("node", "node server.js --port 8080", "proc.pname=containerd-shim"),
		exec("bash", "bash -c /app/entrypoint.sh", "proc.pname=runc:[1:CHILD]"),
		open("node", "/app/package.json", false),
		open("node", "/app/logs/access.log", true),
		open("python3", "/usr/lib/python3/dist-packages/x.py", false),
		connect("node", "node server.js", "10.20.30.40", 5432),
		connect("curl", "curl https://example.com", "203.0.113.7", 443),
	)
	return evs
}

func loadShapes(tb testing.TB) (*rules.Ruleset, []*Rule) {
	res := LoadFiles("testdata/shapes.yaml")
	require.Empty(tb, res.Skipped)
	require.Equal(tb, 25, res.Loaded())
	preds := make([]*rules.Predicate, len(res.Rules))
	for i, r := range res.Rules {
		preds[i] = r.Predicate
	}
	return rules.NewRuleset(preds), res.Rules
}

func TestEvalAllocations(t *testing.T) {
	rs, _ := loadShapes(t)
	evs := benchEvents()
	dst := make([]int, 0, 32)
	allocs := testing.AllocsPerRun(50, func() {
		for _, e := range evs {
			dst = rs.Match(e, dst[:0])
		}
	})
	require.Zero(t, allocs)
}

// BenchmarkEval25: one op is one event evaluated against all 25 rules (the ruleset skips
// the rules whose event kinds exclude it).
func BenchmarkEval25(b *testing.B) {
	rs, _ := loadShapes(b)
	evs := benchEvents()
	dst := make([]int, 0, 32)
	fired := 0
	b.ReportAllocs()
	cpu := startCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = rs.Match(evs[i%len(evs)], dst[:0])
		fired += len(dst)
	}
	b.StopTimer()
	cpu.report(b)
	if b.N >= len(evs) && fired == 0 {
		b.Fatal("no rule fired")
	}
}

// BenchmarkEval25Each evaluates every predicate on every event, without the kind index: the
// cost when the index does not help.
func BenchmarkEval25Each(b *testing.B) {
	_, loaded := loadShapes(b)
	evs := benchEvents()
	b.ReportAllocs()
	cpu := startCPU()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		e := evs[i%len(evs)]
		for _, r := range loaded {
			if r.Predicate.Eval(e) {
				n++
			}
		}
	}
	b.StopTimer()
	cpu.report(b)
	_ = n
}

// cpuClock measures the process's CPU time, which on a shared machine tells the cost of an
// op better than the wall clock b reports as ns/op.
type cpuClock struct{ start time.Duration }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{start: cpuNow()} }

func (c cpuClock) report(b *testing.B) {
	if d := cpuNow() - c.start; d > 0 && b.N > 0 {
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkRender renders a typical output.
func BenchmarkRender(b *testing.B) {
	_, loaded := loadShapes(b)
	e := benchEvents()[6]
	out := loaded[3].Output
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = out.Render(buf[:0], e)
	}
}
