//go:build unix

package rulestage

import (
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
)

// BenchmarkStageExec: the rule stage's cost per exec, on an exec that no rule
// fires on, with the 25-rule set and with the default pack.
func BenchmarkStageExec(b *testing.B) {
	for _, tc := range []struct {
		name string
		set  *Set
	}{{"25-rules", shapes(b).Set}, {"pack", defaultPack(b).Set}} {
		b.Run(tc.name, func(b *testing.B) {
			var st Stage
			ev := benignExec()
			dst := make([]*event.Match, 0, 8)
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				dst = st.Match(tc.set, ev, dst[:0])
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
