package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/otlplogs"
)

// recorded writes events as the file exporter does: one OTLP JSON export per line,
// built by the receiver's own OTLP builder.
func recorded(t *testing.T, batches ...[]*event.Event) string {
	t.Helper()
	b := otlplogs.Builder{HostName: "node-1", Scope: "vigil"}
	var m plog.JSONMarshaler
	var lines []string
	for _, evs := range batches {
		data, err := m.MarshalLogs(b.Build(evs, 0))
		require.NoError(t, err)
		lines = append(lines, string(data))
	}
	path := filepath.Join(t.TempDir(), "events.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return path
}

func proc(pid uint32, exe string, args ...string) *event.Process {
	return &event.Process{ExecID: "1-" + exe, PID: pid, PPID: 1, Executable: exe, Args: args, CommandLine: strings.Join(args, " "), Cwd: "/app"}
}

// Recorded events replay through the rule stage: the trigger fires, its look-alike
// does not, and a policy record (a process summary) is evaluated too.
func TestReplayRecordedEvents(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "my_rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(explainRules), 0o600))

	node := proc(10, "/usr/local/bin/node", "node", "server.js")
	sshd := proc(11, "/usr/sbin/sshd", "sshd")
	shell := &event.Event{Name: event.ProcessExec, Proc: proc(20, "/usr/bin/bash", "bash", "-c", "id"), Parent: node, Detail: &event.Exec{}}
	lookalike := &event.Event{Name: event.ProcessExec, Proc: proc(21, "/usr/bin/bash", "bash", "-c", "id"), Parent: sshd, Detail: &event.Exec{}}
	read := &event.Event{Name: event.FileOpen, Proc: proc(22, "/usr/bin/cat", "cat", "/etc/shadow"),
		Detail: &event.File{Path: "/etc/shadow", Access: event.AccessRead},
		Match:  &event.Match{Policy: "sensitive-files", Rule: "shadow", Action: "post", Severity: "warn"}}
	trusted := &event.Event{Name: event.FileOpen, Proc: proc(23, "/usr/sbin/sshd", "sshd"),
		Detail: &event.File{Path: "/etc/shadow", Access: event.AccessRead},
		Match:  &event.Match{Policy: "sensitive-files", Rule: "shadow", Action: "post", Severity: "warn"}}
	events := recorded(t, []*event.Event{shell, lookalike}, []*event.Event{read, trusted})

	code, out, errOut := runCmd("test", rules, "--events", events)
	assert.Equal(t, 0, code, errOut)
	assert.Equal(t, rules+`:20: rule "Needs DNS": field fd.sip.name is not supported`+"\n", errOut)
	assert.Equal(t, events+`:1: process.exec pid 20: rule "Shell under node" (my_rules.yaml) WARN: shell bash -c id
`+events+`:2: file.open pid 22: rule "Shadow read" (my_rules.yaml) ERROR: read /etc/shadow
4 records, 2 rule matches (3 rules loaded, 1 skipped)
`, out)

	code, _, errOut = runCmd("test", rules)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--events FILE")
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("{not json\n"), 0o600))
	code, _, errOut = runCmd("test", rules, "--events", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, bad+":1: not an OTLP JSON logs export")
}

// The syscall-kind events added for Falco's stable rules replay with the fields
// those rules read (paths, socket family, the duplicated socket, the ptrace
// request), so that their rules fire offline as on a live node.
func TestReplayNewEvents(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "new_rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`
- rule: Hard link to shadow
  desc: d
  condition: evt.type in (link, linkat) and evt.arg.oldpath = /etc/shadow and evt.arg.newpath = /tmp/x
  output: "link %evt.arg.newpath"
  priority: WARNING
- rule: Symlink to shadow
  desc: d
  condition: evt.type = symlink and evt.arg.target = /etc/shadow and evt.arg.linkpath = /tmp/l
  output: "symlink %evt.arg.linkpath"
  priority: WARNING
- rule: Packet socket
  desc: d
  condition: evt.type = socket and evt.arg.domain contains AF_PACKET and evt.arg.type = SOCK_RAW
  output: "socket %evt.arg.domain"
  priority: NOTICE
- rule: Socket on stdout
  desc: d
  condition: evt.type in (dup, dup2, dup3) and evt.rawres in (0, 1, 2) and fd.type in (ipv4, ipv6) and fd.sip = 127.0.0.1 and fd.sport = 4444
  output: "dup %fd.name"
  priority: WARNING
- rule: Traceme
  desc: d
  condition: evt.type = ptrace and evt.arg.request = PTRACE_TRACEME
  output: "traceme"
  priority: NOTICE
`), 0o600))
	m := &event.Match{Policy: "falco:x", Rule: "r", Action: "post", Severity: "info"}
	p := proc(30, "/usr/bin/tool", "tool")
	evs := []*event.Event{
		{Name: event.FileLink, Proc: p, Match: m, Hook: event.HookSyscall,
			Detail: &event.Link{Syscall: event.Syscall{Nr: 265}, Old: "/etc/shadow", New: "/tmp/x"}},
		{Name: event.FileLink, Proc: p, Match: m, Hook: event.HookSyscall,
			Detail: &event.Link{Syscall: event.Syscall{Nr: 265}, Old: "/tmp/own", New: "/tmp/x"}},
		{Name: event.FileSymlink, Proc: p, Match: m, Hook: event.HookSyscall,
			Detail: &event.Link{Syscall: event.Syscall{Nr: 88}, Old: "/etc/shadow", New: "/tmp/l"}},
		{Name: event.NetworkSocket, Proc: p, Match: m, Hook: event.HookSyscall,
			Detail: &event.Socket{Syscall: event.Syscall{Nr: 41, Args: [3]uint64{17, 3, 768}}, Family: 17, Type: 3, Protocol: 768}},
		{Name: event.NetworkSocket, Proc: p, Match: m, Hook: event.HookSyscall,
			Detail: &event.Socket{Syscall: event.Syscall{Nr: 41, Args: [3]uint64{2, 3, 1}}, Family: 2, Type: 3, Protocol: 1}},
		{Name: event.FdDup, Proc: p, Match: m, Hook: event.HookSyscall,
			Detail: &event.Dup{Syscall: event.Syscall{Nr: 33, Args: [3]uint64{5, 1, 0}}, OldFD: 5, NewFD: 1, Family: 2, Protocol: 6,
				Local: netip.MustParseAddrPort("127.0.0.1:40000"), Peer: netip.MustParseAddrPort("127.0.0.1:4444")}},
		{Name: event.FdDup, Proc: p, Match: m, Hook: event.HookSyscall,
			Detail: &event.Dup{Syscall: event.Syscall{Nr: 33, Args: [3]uint64{5, 1, 0}}, OldFD: 5, NewFD: 1, Family: 1}},
		{Name: event.ProcessPtrace, Proc: p, Match: m, Hook: event.HookSyscall,
			Detail: &event.Ptrace{Syscall: event.Syscall{Nr: 101}}},
		{Name: event.ProcessPtrace, Proc: p, Match: m, Hook: event.HookSyscall,
			Detail: &event.Ptrace{Syscall: event.Syscall{Nr: 101, Args: [3]uint64{2, 9}}, Request: 2, TargetPID: 9}},
	}
	events := recorded(t, evs)
	code, out, errOut := runCmd("test", rules, "--events", events)
	assert.Equal(t, 0, code, errOut)
	assert.Equal(t, events+`:1: file.link pid 30: rule "Hard link to shadow" (new_rules.yaml) WARN: link /tmp/x
`+events+`:1: file.symlink pid 30: rule "Symlink to shadow" (new_rules.yaml) WARN: symlink /tmp/l
`+events+`:1: network.socket pid 30: rule "Packet socket" (new_rules.yaml) INFO: socket AF_PACKET
`+events+`:1: fd.dup pid 30: rule "Socket on stdout" (new_rules.yaml) WARN: dup 127.0.0.1:40000->127.0.0.1:4444
`+events+`:1: process.ptrace pid 30: rule "Traceme" (new_rules.yaml) INFO: traceme
9 records, 5 rule matches (5 rules loaded, 0 skipped)
`, out)
}
