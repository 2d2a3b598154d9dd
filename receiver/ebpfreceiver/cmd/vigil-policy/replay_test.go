package main

import (
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
