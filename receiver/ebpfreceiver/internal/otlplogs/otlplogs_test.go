package otlplogs

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// Fixed clocks: boot at 2026-01-02T03:04:05Z, events read a second after the kernel saw them.
var (
	bootOffset = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	kernelAt   = uint64(90 * time.Second)
	observed   = time.Unix(0, bootOffset+int64(kernelAt)).Add(time.Second)
)

const containerID = "4f1c9e0d2b7a4c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6"

func shell() *event.Process {
	return &event.Process{ExecID: "3b9aca00-100", PID: 100, PPID: 1, ParentExecID: "1-1", Executable: "/usr/bin/bash",
		Args: []string{"bash"}, CommandLine: "bash", StartBoottime: uint64(time.Second)}
}

func curl() *event.Process {
	args := []string{"curl", "-H", "Authorization: Bearer ***", "http://10.0.0.1/"}
	return &event.Process{ExecID: "14f46b0400-200", PID: 200, PPID: 100, ParentExecID: "3b9aca00-100",
		Executable: "/usr/bin/curl", Args: args, CommandLine: strings.Join(args, " "), Cwd: "/work",
		UID: 1000, GID: 1000, EUID: 1000, EGID: 1000, StartBoottime: kernelAt, CgroupID: 4242,
		ContainerID: containerID, PodUID: "7d2a3c4e-5f60-4718-9a2b-3c4d5e6f7a8b", Runtime: "containerd",
		Redacted: true, ArgsTruncated: true,
		ExecAttrs: true, TTY: 34817, LoginUID: event.NoLoginUID, CapEffective: 1<<13 | 1<<21, CapPermitted: 1<<13 | 1<<21,
		Exe: event.ExeInfo{Flags: event.ExeUpperLayer, Dev: 42, Ino: 7}}
}

func hostTool() *event.Process {
	return &event.Process{ExecID: "20-300", PID: 300, PPID: 100, Executable: "/tmp/tool", Args: []string{"/tmp/tool", "run"},
		CommandLine: "/tmp/tool run", UID: 1000, EUID: 1000, StartBoottime: 32, CgroupID: 11}
}

func ev(name string, p *event.Process, d event.Detail) *event.Event {
	return &event.Event{Name: name, KTime: kernelAt, Observed: observed, Proc: p, Detail: d}
}

func withMatch(e *event.Event, m event.Match, hook event.Hook) *event.Event {
	m.Event = e.Name
	e.Match, e.Hook = &m, hook
	e.Cred = event.Cred{UID: 1000, EUID: 0, GID: 1000}
	return e
}

var (
	denyApplied  = event.Match{Policy: "baseline", Rule: "r1", Action: event.ActionDeny, Severity: "error", Enforce: true, Applied: true}
	killApplied  = event.Match{Policy: "baseline", Rule: "r2", Action: event.ActionKill, Severity: "fatal", Enforce: true, Applied: true}
	wouldDeny    = event.Match{Policy: "audit", Rule: "r3", Action: event.ActionDeny, Severity: "warn"}
	notApplied   = event.Match{Policy: "baseline", Rule: "r4", Action: event.ActionKill, Severity: "error", Enforce: true}
	post         = event.Match{Policy: "audit", Rule: "r5", Action: event.ActionPost, Severity: "info"}
	postNoSev    = event.Match{Policy: "audit", Rule: "r6", Action: event.ActionPost}
	debugCounted = event.Match{Policy: "audit", Rule: "r7", Action: event.ActionCount, Severity: "debug", Applied: true}
)

func goldenCases() map[string][]*event.Event {
	exec := ev(event.ProcessExec, curl(), &event.Exec{})
	exec.Parent = shell()
	exec.Ancestors = []event.Ancestor{{ExecID: "1-1", Executable: "/sbin/init"}}
	long := hostTool()
	long.Args = []string{"/tmp/tool", strings.Repeat("x", 300)}
	long.CommandLine = strings.Join(long.Args, " ")
	noArgs := hostTool()
	noArgs.Args, noArgs.CommandLine = nil, ""
	// A shell started by kubectl exec (runc exec) in curl's container; its parent
	// at exec time is the shim.
	intoCtr := curl()
	intoCtr.ExecID, intoCtr.PID, intoCtr.PPID, intoCtr.ParentExecID = "15f46b0400-210", 210, 90, "1-90"
	intoCtr.Executable, intoCtr.Args, intoCtr.CommandLine, intoCtr.Redacted, intoCtr.ArgsTruncated = "/bin/sh", []string{"sh"}, "sh", false, false
	intoCtr.ExecIntoContainer, intoCtr.Runc = true, event.RuncNone
	ctrExec := ev(event.ProcessExec, intoCtr, &event.Exec{})
	ctrExec.Parent = &event.Process{ExecID: "1-90", PID: 90, Executable: "/usr/bin/containerd-shim-runc-v2"}
	fileOpen := withMatch(ev(event.FileOpen, curl(), &event.File{Path: "/etc/shadow", OpenFlags: 2, Access: event.AccessReadWrite}), denyApplied, event.HookLSM)
	fileOpen.Parent = shell()
	fileOpen.Ancestors = []event.Ancestor{{ExecID: "1-1", Executable: "/sbin/init"}}
	orphan := &event.Process{ExecID: "5-400", PID: 400, PPID: 1, CgroupID: 3} // an exit the cache never saw
	return map[string][]*event.Event{
		"process_exec":      {exec},
		"process_exec_long": {ev(event.ProcessExec, long, &event.Exec{})},
		"process_exec_into_container": {ctrExec, withMatch(ev(event.FileOpen, intoCtr, &event.File{Path: "/etc/shadow", Access: event.AccessRead}), post, event.HookLSM),
			ev(event.ProcessExit, intoCtr, event.Exit{})},
		"process_exec_no_args": {ev(event.ProcessExec, noArgs, &event.Exec{})},
		"process_exec_match":   {withMatch(ev(event.ProcessExec, hostTool(), &event.Exec{}), killApplied, event.HookNone)},
		"process_fork":         {ev(event.ProcessFork, &event.Process{ExecID: "9-301", PID: 301, PPID: 300, UID: 5, StartBoottime: 9}, event.Fork{})},
		"process_exit_code":    {ev(event.ProcessExit, hostTool(), event.Exit{Status: 3 << 8})},
		"process_exit_signal":  {ev(event.ProcessExit, hostTool(), event.Exit{Status: 0x80 | 11})},
		"process_exit_unknown": {ev(event.ProcessExit, orphan, event.Exit{Status: 9})},
		"file_open":            {fileOpen},
		"file_open_identity": {withMatch(ev(event.FileOpen, hostTool(), &event.File{Path: "/var/tmp/link", OpenFlags: 0o1001, Access: event.AccessWrite,
			Dev: 8<<20 | 1, Ino: 4242, IDMatch: true, PolicyPath: "/etc/shadow", Raw: "../var/tmp/link"}), post, event.HookSyscall)},
		"file_open_unresolved": {withMatch(ev(event.FileOpen, hostTool(), &event.File{Path: "/d47/d48/f", Truncated: true, Dev: 8<<20 | 1, Ino: 77}), post, event.HookSyscall)},
		"file_open_bind_mount": {withMatch(ev(event.FileOpen, hostTool(), &event.File{Path: "/tmp/x/shadow", Access: event.AccessRead,
			Dev: 8<<20 | 1, Ino: 4242, SubtreeMount: true, Canonical: "/etc/shadow"}), post, event.HookSyscall)},
		"file_open_bind_mount_unresolved": {withMatch(ev(event.FileOpen, hostTool(), &event.File{Path: "/tmp/y/f", Access: event.AccessRead,
			Dev: 0<<20 | 61, Ino: 3, SubtreeMount: true}), post, event.HookSyscall)},
		"file_open_failed":       {withMatch(ev(event.FileOpen, hostTool(), &event.File{Path: "/etc/missing", Raw: "../../etc/missing", Failed: true, Res: -2}), post, event.HookSyscall)},
		"file_write":             {withMatch(ev(event.FileWrite, hostTool(), &event.File{Path: "/etc/passwd", OpenFlags: 1, Access: event.AccessWrite}), post, event.HookSyscall)},
		"file_unlink":            {withMatch(ev(event.FileUnlink, hostTool(), &event.File{Path: "/var/log/auth.log"}), wouldDeny, event.HookFmodRet)},
		"file_rename":            {withMatch(ev(event.FileRename, hostTool(), &event.File{Path: "/etc/cron.d/x", Side: event.RenameTo}), post, event.HookLSM)},
		"file_rename_from":       {withMatch(ev(event.FileRename, hostTool(), &event.File{Path: "/etc/cron.d/y", Side: event.RenameFrom}), post, event.HookLSM)},
		"file_chmod":             {withMatch(ev(event.FileChmod, hostTool(), &event.File{Path: "/tmp/x", Mode: 0o4755}), postNoSev, event.HookLSM)},
		"network_connect":        {withMatch(ev(event.NetworkConnect, curl(), &event.Network{Direction: event.Outbound, Family: 2, Transport: 6, Peer: netip.MustParseAddrPort("169.254.169.254:80")}), denyApplied, event.HookNone)},
		"network_accept":         {withMatch(ev(event.NetworkAccept, hostTool(), &event.Network{Direction: event.Inbound, Family: 10, Transport: 17, Peer: netip.MustParseAddrPort("[2001:db8::7]:5353")}), post, event.HookNone)},
		"network_listen":         {withMatch(ev(event.NetworkListen, hostTool(), &event.Network{Direction: event.Listening, Family: 2, Transport: 132, Local: netip.MustParseAddrPort("0.0.0.0:4444")}), notApplied, event.HookNone)},
		"exec_attempt":           {withMatch(ev(event.ProcessExec, shell(), &event.ExecAttempt{Path: "/tmp/evil"}), wouldDeny, event.HookLSM)},
		"privilege_change":       {withMatch(ev(event.PrivilegeChange, hostTool(), &event.Privilege{Syscall: event.Syscall{Nr: 105}, Old: event.Cred{UID: 1000, EUID: 1000}}), post, event.HookSyscall)},
		"namespace_change":       {withMatch(ev(event.NamespaceChange, hostTool(), &event.Namespace{Syscall: event.Syscall{Nr: 272, Args: [3]uint64{0x20000000}}, Flags: 0x20000000}), debugCounted, event.HookSyscall)},
		"kernel_module_load":     {withMatch(ev(event.KernelModuleLoad, hostTool(), &event.Module{Syscall: event.Syscall{Nr: 313, Args: [3]uint64{3, 0, 0}}, Path: "/lib/modules/evil.ko"}), denyApplied, event.HookLSM)},
		"kernel_module_load_mem": {withMatch(ev(event.KernelModuleLoad, hostTool(), &event.Module{Syscall: event.Syscall{Nr: 175, Args: [3]uint64{0, 4096, 0}}}), post, event.HookSyscall)},
		"bpf_load":               {withMatch(ev(event.BPFLoad, hostTool(), &event.BPF{Syscall: event.Syscall{Nr: 321, Args: [3]uint64{5, 2, 40}}, Cmd: 5, ProgType: 2, ProgTypeKnown: true}), denyApplied, event.HookFmodRet)},
		"bpf_load_syscall":       {withMatch(ev(event.BPFLoad, hostTool(), &event.BPF{Syscall: event.Syscall{Nr: 321, Args: [3]uint64{5}}, Cmd: 5}), post, event.HookSyscall)},
		"process_ptrace":         {withMatch(ev(event.ProcessPtrace, hostTool(), &event.Ptrace{Syscall: event.Syscall{Nr: 101, Args: [3]uint64{16, 4242, 0}}, Request: 16, TargetPID: 4242}), killApplied, event.HookSyscall)},
		"process_ptrace_traceme": {withMatch(ev(event.ProcessPtrace, hostTool(), &event.Ptrace{Syscall: event.Syscall{Nr: 101}}), post, event.HookSyscall)},
		"file_link": {withMatch(ev(event.FileLink, hostTool(), &event.Link{Syscall: event.Syscall{Nr: 265, Args: [3]uint64{0xffffff9c, 0xffffff9c, 0}},
			Old: "/etc/shadow", New: "/var/tmp/x"}), post, event.HookSyscall)},
		"file_symlink": {withMatch(ev(event.FileSymlink, hostTool(), &event.Link{Syscall: event.Syscall{Nr: 266, Args: [3]uint64{0, 0xffffff9c, 0}},
			Old: "/etc/shadow", New: "link"}), post, event.HookSyscall)},
		"network_socket": {withMatch(ev(event.NetworkSocket, curl(), &event.Socket{Syscall: event.Syscall{Nr: 41, Args: [3]uint64{17, 3, 768}},
			Family: 17, Type: 3, Protocol: 768}), post, event.HookSyscall)},
		"fd_dup": {withMatch(ev(event.FdDup, shell(), &event.Dup{Syscall: event.Syscall{Nr: 33, Args: [3]uint64{3, 0, 0}}, OldFD: 3, NewFD: 0,
			Family: 2, SockType: 1, Protocol: 6, Local: netip.MustParseAddrPort("127.0.0.1:40000"), Peer: netip.MustParseAddrPort("127.0.0.1:4444")}), post, event.HookSyscall)},
		"fd_dup_compat": {func() *event.Event {
			e := withMatch(ev(event.FdDup, shell(), &event.Dup{Syscall: event.Syscall{Nr: 63, Args: [3]uint64{4, 1, 0}}, OldFD: 4, NewFD: 1,
				Family: 10, SockType: 1, Protocol: 6, Local: netip.AddrPortFrom(netip.IPv6Unspecified(), 40001), Peer: netip.MustParseAddrPort("[::1]:4444")}), post, event.HookSyscall)
			e.Compat = true
			return e
		}()},
		"batch_two_resources": {ev(event.ProcessExec, hostTool(), &event.Exec{}), exec, ev(event.ProcessExit, curl(), event.Exit{}), ev(event.ProcessFork, shell(), event.Fork{})},
	}
}

func toJSON(t *testing.T, logs plog.Logs) []byte {
	t.Helper()
	raw, err := (&plog.JSONMarshaler{}).MarshalLogs(logs)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, json.Indent(&out, raw, "", "  "))
	out.WriteByte('\n')
	return out.Bytes()
}

func TestGolden(t *testing.T) {
	b := &Builder{HostName: "node-1", Scope: "github.com/vigilsec/vigil/receiver/ebpfreceiver"}
	cases := goldenCases()
	for name, events := range cases {
		t.Run(name, func(t *testing.T) {
			got := toJSON(t, b.Build(events, bootOffset))
			path := filepath.Join("testdata", name+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to write the golden file")
			assert.Equal(t, string(want), string(got))
		})
	}
	// No stray golden files: each one is checked.
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	assert.Len(t, files, len(cases))
}

// What the golden files show, stated: one resource per container, host
// processes share one; a policy record carries the full process, its parent and ancestors.
func TestResourcesAndSummaries(t *testing.T) {
	b := &Builder{HostName: "node-1", Scope: "s"}
	logs := b.Build(goldenCases()["batch_two_resources"], bootOffset)
	require.Equal(t, 2, logs.ResourceLogs().Len(), "host, container, container, host: one host and one container resource")
	assert.Equal(t, 4, logs.LogRecordCount())
	host := logs.ResourceLogs().At(0)
	assert.Equal(t, 2, host.ScopeLogs().At(0).LogRecords().Len(), "both host events share the host resource")
	_, ok := host.Resource().Attributes().Get("container.id")
	assert.False(t, ok)
	ctr := logs.ResourceLogs().At(1).Resource().Attributes()
	v, _ := ctr.Get("container.id")
	assert.Equal(t, containerID, v.Str())

	m := b.Build(goldenCases()["file_open"], bootOffset).ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	// Self-contained: the alert carries the full process, its parent and ancestors.
	attrs := m.Attributes().AsRaw()
	assert.Equal(t, []any{"curl", "-H", "Authorization: Bearer ***", "http://10.0.0.1/"}, attrs["process.command_args"], "policy records carry the full process")
	assert.Equal(t, "/work", attrs["process.working_directory"])
	assert.Equal(t, "/usr/bin/bash", attrs["vigil.parent.executable.path"])
	assert.Equal(t, "bash", attrs["vigil.parent.executable.name"])
	assert.Equal(t, "bash", attrs["vigil.parent.command_line"])
	assert.Equal(t, []any{"init"}, attrs["vigil.ancestors.executable.name"])
	assert.Equal(t, int64(34817), attrs["vigil.process.tty"])
	assert.Equal(t, int64(-1), attrs["vigil.user.loginuid"])
	assert.NotContains(t, attrs, "vigil.process.cap_effective", "capability sets are on the exec record only")
	assert.NotContains(t, attrs, "vigil.process.cap_permitted")
	assert.Equal(t, true, attrs["vigil.exe.upper_layer"])
	assert.NotContains(t, attrs, "vigil.exe.memfd", "flags are written only when true")
	uid, _ := m.Attributes().Get("process.user.id")
	assert.Equal(t, int64(0), uid.Int(), "the credentials the kernel read with the event, not the cached ones")
	assert.Equal(t, "denied file.open /etc/shadow by /usr/bin/curl [baseline/r1]", m.Body().Str())
	assert.Equal(t, plog.SeverityNumberError, m.SeverityNumber())
	assert.Equal(t, int64(bootOffset)+int64(kernelAt), int64(m.Timestamp()))
	assert.Equal(t, observed.UnixNano(), int64(m.ObservedTimestamp()))
}

// Node identity: every resource names the node, host resources are one service
// per node (so Loki's default index labels separate the nodes), and container
// resources leave service.name to enrichment.
func TestNodeIdentity(t *testing.T) {
	b := &Builder{HostName: "worker-7", NodeName: "worker-7", Scope: "s"}
	logs := b.Build(goldenCases()["batch_two_resources"], bootOffset)
	require.Equal(t, 2, logs.ResourceLogs().Len())
	host := logs.ResourceLogs().At(0).Resource().Attributes().AsRaw()
	assert.Equal(t, "worker-7", host["host.name"])
	assert.Equal(t, "worker-7", host["k8s.node.name"])
	assert.Equal(t, HostServiceName, host["service.name"])
	assert.Equal(t, "worker-7", host["service.instance.id"])
	ctr := logs.ResourceLogs().At(1).Resource().Attributes().AsRaw()
	assert.Equal(t, "worker-7", ctr["k8s.node.name"])
	assert.NotContains(t, ctr, "service.name", "a container's service comes from its pod, not from Vigil")
	assert.NotContains(t, ctr, "service.instance.id")
	assert.Equal(t, ServiceNamespace, host["service.namespace"], "one Vigil-only stream selector for every resource")
	assert.Equal(t, ServiceNamespace, ctr["service.namespace"])

	// Off Kubernetes: no k8s.node.name at all.
	plain := (&Builder{HostName: "laptop", Scope: "s"}).Build(goldenCases()["batch_two_resources"], bootOffset)
	for i := range plain.ResourceLogs().Len() {
		assert.NotContains(t, plain.ResourceLogs().At(i).Resource().Attributes().AsRaw(), "k8s.node.name")
	}
}

func TestEmptyBatch(t *testing.T) {
	b := &Builder{HostName: "h", Scope: "s"}
	assert.Equal(t, 0, b.Build(nil, 0).ResourceLogs().Len())
}

// A 32-bit syscall and an io_uring request say so on the record.
func TestCompatAndIOUringMarks(t *testing.T) {
	b := &Builder{HostName: "h", Scope: "s"}
	evs := goldenCases()["file_open"]
	plain := b.Build(evs, bootOffset).ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	assert.NotContains(t, plain, "vigil.syscall.abi")
	assert.NotContains(t, plain, "vigil.io_uring")
	marked := *evs[0]
	marked.Compat, marked.IOUring = true, true
	got := b.Build([]*event.Event{&marked}, bootOffset).ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().AsRaw()
	assert.Equal(t, "ia32", got["vigil.syscall.abi"])
	assert.Equal(t, true, got["vigil.io_uring"])
}
