//go:build linux

package ebpfreceiver

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	typed "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/otlplogs"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/proctree"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// The move of the OTLP mapping from events.go to internal/otlplogs keeps every
// record byte for byte: the same kernel records, built both ways, give the same
// OTLP JSON. (This test goes with events.go.)
func TestOTLPBuilderMatchesEventsGo(t *testing.T) {
	const offset = int64(1_767_000_000_000_000_000)
	observed := time.Unix(0, offset+5e9)
	old := &logsReceiver{hostname: "node-1"}
	old.bootOffset.Store(offset)
	nb := &otlplogs.Builder{HostName: "node-1", Scope: metadata.ScopeName}

	args := []string{"curl", "-H", "x: ***", "http://10.0.0.1/"}
	ctr := &proctree.Process{ExecID: "a-200", PID: 200, PPID: 100, ParentExecID: "b-100", Executable: "/usr/bin/curl",
		Args: args, CommandLine: strings.Join(args, " "), Cwd: "/w", UID: 1000, GID: 1000, EUID: 1000, EGID: 1000,
		StartBoottime: 4e9, CgroupID: 7, ContainerID: testContainerID, PodUID: testPodUID, Runtime: "containerd",
		Redacted: true, ArgsTruncated: true}
	host := &proctree.Process{ExecID: "c-300", PID: 300, PPID: 1, Executable: "/tmp/tool", Args: []string{"/tmp/tool"},
		CommandLine: "/tmp/tool", StartBoottime: 3e9, CgroupID: 1}
	bare := &proctree.Process{ExecID: "d-400", PID: 400, PPID: 1, CgroupID: 2}
	parent := &proctree.Process{Executable: "/bin/sh", Args: []string{"sh", "-c", "x"}, CommandLine: "sh -c x"}

	var olds []*event
	var news []*typed.Event
	addProc := func(name string, p *proctree.Process, status uint32, m *match, d typed.Detail) {
		olds = append(olds, &event{name: name, ktime: 4e9, observed: observed, proc: p, parent: parent,
			ancestors: []ancestor{{"e-1", "/sbin/init"}}, exitCode: status, match: m})
		ne := &typed.Event{Name: name, KTime: 4e9, Observed: observed, Proc: p, Parent: parent,
			Ancestors: []typed.Ancestor{{ExecID: "e-1", Executable: "/sbin/init"}}, Detail: d}
		if m != nil {
			ne.Match = matchOfRef(m.ref, m.applied)
		}
		news = append(news, ne)
	}
	refs := []sensor.RuleRef{
		{Policy: "p", Rule: "deny", Action: policy.ActionDeny, Severity: policy.SeverityError, Enforce: true},
		{Policy: "p", Rule: "kill", Action: policy.ActionKill, Severity: policy.SeverityFatal, Enforce: true},
		{Policy: "a", Rule: "post", Action: policy.ActionPost},
		{Policy: "a", Rule: "monitor", Action: policy.ActionDeny, Severity: policy.SeverityWarn},
	}
	addProc("process.exec", ctr, 0, nil, &typed.Exec{})
	addProc("process.exec", host, 0, &match{ref: refs[1], applied: true}, &typed.Exec{})
	addProc("process.fork", bare, 0, nil, typed.Fork{})
	addProc("process.exit", host, 3<<8, nil, typed.Exit{Status: 3 << 8})
	addProc("process.exit", bare, 0x80|9, nil, typed.Exit{Status: 0x80 | 9})

	type alertCase struct {
		ev     policy.Event
		kind   int
		id     uint8
		mutate func(*sensor.Alert)
	}
	v4 := netip.MustParseAddrPort("169.254.169.254:80")
	v6 := netip.MustParseAddrPort("[::1]:8443")
	var d sensor.Decoder
	for i, c := range []alertCase{
		{policy.EventFileOpen, sensor.KindFile, 1, func(a *sensor.Alert) { a.Access = 0o102; a.Flags = sensor.FlagLSM; a.Path = "/etc/shadow" }},
		{policy.EventFileOpen, sensor.KindFile, 1, func(a *sensor.Alert) { a.Access = 1; a.Path = "/etc/x" }},
		{policy.EventFileWrite, sensor.KindFile, 2, func(a *sensor.Alert) { a.Access = 0o2001; a.Flags = sensor.FlagFmodRet; a.Path = "/etc/y" }},
		{policy.EventFileUnlink, sensor.KindFile, 3, func(a *sensor.Alert) { a.Flags = sensor.FlagLSM; a.Path = "/var/log/z" }},
		{policy.EventFileRename, sensor.KindFile, 4, func(a *sensor.Alert) { a.Access = 1; a.Flags = sensor.FlagLSM; a.Path = "/new" }},
		{policy.EventFileRename, sensor.KindFile, 4, func(a *sensor.Alert) { a.Flags = sensor.FlagLSM; a.Path = "/old" }},
		{policy.EventFileChmod, sensor.KindFile, 5, func(a *sensor.Alert) { a.Access = 0o104755; a.Flags = sensor.FlagLSM; a.Path = "/bin/s" }},
		{policy.EventNetworkConnect, sensor.KindNet, 6, func(a *sensor.Alert) { a.Family, a.Peer, a.Protocol = 2, v4, 6 }},
		{policy.EventNetworkAccept, sensor.KindNet, 7, func(a *sensor.Alert) { a.Family, a.Peer, a.Protocol = 10, v6, 17 }},
		{policy.EventNetworkListen, sensor.KindNet, 8, func(a *sensor.Alert) { a.Family, a.Peer, a.Protocol = 10, v6, 132 }},
		{policy.EventNetworkConnect, sensor.KindNet, 6, func(a *sensor.Alert) { a.Protocol = 6 }}, // no address
		{policy.EventProcessExec, sensor.KindExec, 9, func(a *sensor.Alert) { a.Flags = sensor.FlagLSM; a.Path = "/tmp/evil" }},
		{policy.EventPrivilegeChange, sensor.KindSys, 10, func(a *sensor.Alert) { a.Access = 105; a.Args = [4]uint64{0, 1, 2, 9} }},
		{policy.EventNamespaceChange, sensor.KindSys, 11, func(a *sensor.Alert) { a.Access = 308; a.Args = [4]uint64{3, 0x40000000} }},
		{policy.EventKernelModuleLoad, sensor.KindSys, 12, func(a *sensor.Alert) { a.Access = 313; a.Flags = sensor.FlagLSM; a.Path = "/m.ko" }},
		{policy.EventKernelModuleLoad, sensor.KindSys, 12, func(a *sensor.Alert) { a.Access = 175; a.Args = [4]uint64{0, 4096} }},
		{policy.EventBPFLoad, sensor.KindSys, 13, func(a *sensor.Alert) { a.Access = 321; a.Args = [4]uint64{5, 2, 40} }},
		{policy.EventBPFLoad, sensor.KindSys, 13, func(a *sensor.Alert) { a.Access = 321; a.Flags = sensor.FlagFmodRet; a.Args = [4]uint64{5, 2, 40} }},
		{policy.EventProcessPtrace, sensor.KindSys, 14, func(a *sensor.Alert) { a.Access = 101; a.Args = [4]uint64{16, 4242, 0, 0} }},
		{policy.EventProcessPtrace, sensor.KindSys, 14, func(a *sensor.Alert) { a.Access = 101; a.Flags = sensor.FlagLSM; a.Args = [4]uint64{16, ^uint64(0)} }},
	} {
		a := sensor.Alert{KTime: 4e9, PID: 301, TGID: 300, PPID: 1, UID: 1000, EUID: 0, GID: 1000, CgroupID: 1,
			StartBoottime: 3e9, Rules: 1, Kind: c.kind, Event: c.id, Applied: i%2 == 0}
		c.mutate(&a)
		for _, p := range []*proctree.Process{host, ctr} {
			ref := refs[i%len(refs)]
			ref.Event = c.ev
			olds = append(olds, &event{name: string(c.ev), ktime: a.KTime, observed: observed, proc: p,
				match: &match{ref: ref, applied: a.Applied}, alert: &a})
			ne := new(typed.Event)
			require.NoError(t, d.FromAlert(&a, ne))
			require.Equal(t, string(c.ev), ne.Name)
			ne.Observed, ne.Proc, ne.Match = observed, p, matchOfRef(ref, a.Applied)
			news = append(news, ne)
		}
	}
	want := marshal(t, old.buildLogs(olds))
	got := marshal(t, nb.Build(news, offset))
	require.Equal(t, len(olds), len(news))
	for _, key := range []string{"vigil.target.pid", "network.local.address", "vigil.file.rename_side", "vigil.exit.signal", "vigil.bpf.program_type"} {
		require.Contains(t, want, key)
	}
	assert.Equal(t, want, got)
}

func matchOfRef(ref sensor.RuleRef, applied bool) *typed.Match {
	return &typed.Match{Policy: ref.Policy, Rule: ref.Rule, Event: string(ref.Event), Action: string(ref.Action),
		Severity: string(ref.Severity), Enforce: ref.Enforce, Applied: applied}
}

func marshal(t *testing.T, l plog.Logs) string {
	t.Helper()
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(l)
	require.NoError(t, err)
	return string(b)
}
