//go:build linux

package ebpfreceiver

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// BenchmarkProcessExecLoaderOpens: the read loop on an exec and on the dynamic
// loader's opens of that exec that the rule set's generated kernel filters pass
// to user space (an exec of /bin/true opens /etc/ld.so.cache, then libc): the
// 25-rule set's "Path traversal read" filters no file.open (both opens arrive),
// the pack's "Directory traversal monitored file read" passes reads under /etc/
// (the first). Each open is decoded from its record, tracked and rejected by the
// rule stage. One op is one exec and its opens; no-rules is the exec alone.
func BenchmarkProcessExecLoaderOpens(b *testing.B) {
	shapes := shapesRules(b)
	pack := defaultPack(b)
	for _, tc := range []struct {
		name   string
		set    *rulestage.Set
		filter string // the generated kernel policy that passes the opens
		opens  []string
	}{
		{"no-rules", nil, "", nil},
		{"25-rules", shapes.Set, rulestage.GeneratedPrefix + "shapes.yaml:Path traversal read",
			[]string{"/etc/ld.so.cache", "/lib/x86_64-linux-gnu/libc.so.6"}},
		{"pack", pack.Set, rulestage.GeneratedPrefix + "20_vigil_file.yaml:Directory traversal monitored file read",
			[]string{"/etc/ld.so.cache"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.set != nil {
				require.True(b, tc.set.Generated(tc.filter), "%s is a generated filter of the set", tc.filter)
			}
			set := receivertest.NewNopSettings(metadata.Type)
			tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
			require.NoError(b, err)
			defer tb.Shutdown()
			p, err := newPipeline(set, createDefaultConfig().(*Config), new(consumertest.LogsSink), tb)
			require.NoError(b, err)
			rules := &fakeRules{refs: map[int]sensor.RuleRef{
				sensor.KindFile: {Policy: tc.filter, Rule: string(policy.EventFileOpen), Event: policy.EventFileOpen,
					Action: policy.ActionPost, Severity: policy.SeverityInfo},
			}}
			p.rules = func() ruleTable { return rules }
			p.stage = &userRules{set: func() *rulestage.Set { return tc.set }}
			p.process(execRecord(10, 1, "/usr/bin/containerd-shim", "containerd-shim"))
			alerts := make([]sensor.Alert, len(tc.opens))
			for i, path := range tc.opens {
				alerts[i] = sensor.Alert{PPID: 10, UID: 1000, EUID: 1000, StartBoottime: 50, CgroupID: 7,
					Rules: 1, Kind: sensor.KindFile, Event: fileOpenEvent(b), Path: path}
			}
			var ev event.Event
			b.ReportAllocs()
			pid := uint32(100)
			cpu0 := processCPU(b)
			for b.Loop() {
				pid++
				if pid > 30000 {
					pid = 100
				}
				p.process(execRecord(pid, 10, "/usr/bin/true", "true"))
				p.more = p.more[:0]
				for i := range alerts {
					a := &alerts[i]
					a.TGID, a.PID = pid, pid
					a.KTime++
					if err := p.decoder.FromAlert(a, &ev); err != nil {
						b.Fatal(err)
					}
					if out := p.process(&ev); out != nil {
						b.Fatalf("the loader's open of %s was not rejected: %+v", a.Path, out.Match)
					}
				}
			}
			b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
