//go:build linux

package ebpfreceiver

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// BenchmarkOpenMatchPath is the user-space cost of one event of the open storm
// that matches a policy (the bench's "policy matching every open" row): a
// decoded file.open alert runs through the read loop's stages (track, match,
// rule stage, copy for the queue), and every batch of events is built into OTLP
// and encoded as the proto file exporter does. One op is one event.
func BenchmarkOpenMatchPath(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	set := receivertest.NewNopSettings(metadata.Type)
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	require.NoError(b, err)
	defer tb.Shutdown()
	p, err := newPipeline(set, cfg, new(consumertest.LogsSink), tb)
	require.NoError(b, err)
	rules := &fakeRules{refs: map[int]sensor.RuleRef{
		sensor.KindFile: {Policy: "storm", Rule: "file.open", Event: policy.EventFileOpen, Action: policy.ActionPost, Severity: policy.SeverityInfo},
	}}
	p.rules = func() ruleTable { return rules }
	p.stage = &userRules{set: func() *rulestage.Set { return nil }}
	p.process(execRecord(4242, 1, "/usr/local/bin/storm", "storm", "/tmp/storm/file", "500000"))
	alert := sensor.Alert{TGID: 4242, PID: 4242, PPID: 1, UID: 1000, EUID: 1000, StartBoottime: 50, CgroupID: 7,
		Rules: 1, Kind: sensor.KindFile, Event: fileOpenEvent(b), Path: "/tmp/storm/file"}
	var ev event.Event
	batch := make([]*event.Event, 0, cfg.BatchSize)
	var enc plog.ProtoMarshaler
	flush := func() {
		logs := p.builder.Build(batch, 0)
		if _, err := enc.MarshalLogs(logs); err != nil {
			b.Fatal(err)
		}
		clear(batch)
		batch = batch[:0]
	}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		alert.KTime++
		if err := p.decoder.FromAlert(&alert, &ev); err != nil {
			b.Fatal(err)
		}
		out := p.process(&ev)
		if out == nil || out.Match == nil {
			b.Fatal("the open did not match")
		}
		batch = append(batch, out)
		if len(batch) == cap(batch) {
			flush()
		}
		if p.counts.n >= flushEvery {
			p.flushCounts()
		}
	}
	flush()
	// CPU time (all threads, the garbage collector's included) is steadier than
	// wall time on a shared machine.
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fileOpenEvent is the event id of file.open records (the decoder's table).
func fileOpenEvent(tb testing.TB) uint8 {
	for id := range uint8(255) {
		var ev event.Event
		var d sensor.Decoder
		if d.FromAlert(&sensor.Alert{Kind: sensor.KindFile, Event: id}, &ev) == nil && ev.Name == event.FileOpen {
			return id
		}
	}
	tb.Fatal("no file.open event id")
	return 0
}
