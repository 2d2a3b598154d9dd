//go:build unix

package rulestage

import (
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
)

// BenchmarkStageExec: the rule stage's cost per exec, on an exec that no rule
// fires on, with the 25-rule set and with the default pack. The loader-opens
// benchmarks add the opens the dynamic loader makes in every exec of a
// dynamically linked program (/bin/true: /etc/ld.so.cache, then libc) that the
// set's generated kernel filters pass to user space: both for the 25-rule set
// (one of its rules filters no file.open), /etc/ld.so.cache for the pack (a rule
// watches reads under /etc/). One op is one exec and its opens.
func BenchmarkStageExec(b *testing.B) {
	cache := openEv("/etc/ld.so.cache", event.AccessRead)
	libc := openEv("/lib/x86_64-linux-gnu/libc.so.6", event.AccessRead)
	for _, tc := range []struct {
		name  string
		set   *Set
		opens []*event.Event
	}{
		{"25-rules", shapes(b).Set, nil},
		{"pack", defaultPack(b).Set, nil},
		{"25-rules-loader-opens", shapes(b).Set, []*event.Event{cache, libc}},
		{"pack-loader-opens", defaultPack(b).Set, []*event.Event{cache}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var st Stage
			ev := benignExec()
			for _, o := range tc.opens {
				o.Proc, o.Parent, o.Ancestors = ev.Proc, ev.Parent, ev.Ancestors
			}
			dst := make([]*event.Match, 0, 8)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				dst = st.Match(tc.set, ev, dst[:0])
				for _, o := range tc.opens {
					dst = st.Match(tc.set, o, dst)
				}
			}
			// CPU time is steadier than wall time on a shared machine.
			b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if len(dst) != 0 {
				b.Fatalf("a rule fired: %s", dst[0].Rule)
			}
		})
	}
}

// processCPU is the process's CPU time so far (every thread's).
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
