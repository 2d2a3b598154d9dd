package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
)

const condPolicy = `name: cond
mode: enforce
lists:
  trusted_readers: [sshd]
macros:
  from_node: proc.pname = node
rules:
  - name: shell-from-node
    event: process.exec
    condition: proc.name in (bash, sh) and from_node
    output: "shell %proc.cmdline under %proc.pname"
  - name: shadow-untrusted
    event: file.open
    paths: [/etc/]
    condition: open_read and fd.name startswith /etc/sh and not proc.name in (trusted_readers)
    action: kill
  - name: shadow-count
    event: file.open
    condition: fd.name = /etc/shadow and proc.name != sshd
    action: count
  - name: hosts-deny
    event: file.open
    condition: fd.name = /etc/hosts
    action: deny
`

// --explain splits a policy rule with a condition between the kernel and user
// space; the policy uses a macro of the rules file beside it.
func TestCheckExplainPolicyConditions(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "my_rules.yaml"), []byte(explainRules), 0o600))
	pol := filepath.Join(dir, "p.yaml")
	require.NoError(t, os.WriteFile(pol, []byte(condPolicy), 0o600))
	code, out, errOut := runCmd("check", "--explain", pol, filepath.Join(dir, "my_rules.yaml"))
	assert.Equal(t, 1, code, "the rules file has a rule that does not load")
	assert.Contains(t, errOut, `field fd.sip.name is not supported`)
	assert.Contains(t, out, "ok "+pol+` (cond, 4 rules)
  rule shell-from-node (process.exec, post):
    kernel: process_names: [bash, sh] parent_names: [node]
    user space: the full condition on what the kernel passes; the kernel does not decide:
      proc.pname = node
  rule shadow-untrusted (file.open, kill):
    kernel: paths: [/etc/] access: [read]
    user space: the full condition on what the kernel passes; the kernel does not decide:
      fd.name startswith /etc/sh
      not proc.name in (sshd)
    action: the kernel posts; the receiver sends SIGKILL when the condition holds (after the fact: the operation has happened)
  rule shadow-count (file.open, count):
    kernel: paths: [/etc/shadow]
    user space: the full condition on what the kernel passes; the kernel does not decide:
      proc.name != sshd
    action: the kernel posts; each event crosses the ring buffer and the receiver counts the matches
  rule hosts-deny (file.open, deny):
    kernel: paths: [/etc/hosts]
    user space: nothing: the kernel decides the rule and applies deny
`)

	// A deny with a residual is refused, naming the term.
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("name: bad\nrules:\n  - event: process.exec\n    condition: proc.pname startswith nod\n    action: deny\n"), 0o600))
	code, _, errOut = runCmd("check", bad)
	assert.Equal(t, 1, code)
	assert.Equal(t, bad+`:4: rules[0].condition: deny needs the whole condition decided in the kernel, but "proc.pname startswith nod" runs in user space (use kill for an after-the-fact SIGKILL, or post)`+"\n", errOut)

	// Unnarrowed: a warning.
	wide := filepath.Join(dir, "wide.yaml")
	require.NoError(t, os.WriteFile(wide, []byte("name: wide\nrules:\n  - event: file.open\n    condition: not proc.name in (cat)\n"), 0o600))
	code, out, _ = runCmd("check", wide)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "note: "+wide+":4: rules[0].condition: the kernel cannot narrow file.open for this rule: every file.open event reaches user space for the condition\n")
}

// Replayed events through policies with conditions: each fires where its
// condition holds and not on the look-alikes.
func TestReplayPolicyConditions(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "my_rules.yaml"), []byte(explainRules), 0o600))
	pol := filepath.Join(dir, "p.yaml")
	require.NoError(t, os.WriteFile(pol, []byte(condPolicy), 0o600))

	node := proc(10, "/usr/local/bin/node", "node", "server.js")
	sshd := proc(11, "/usr/sbin/sshd", "sshd")
	shell := &event.Event{Name: event.ProcessExec, Proc: proc(20, "/usr/bin/bash", "bash", "-c", "id"), Parent: node, Detail: &event.Exec{}}
	lookalike := &event.Event{Name: event.ProcessExec, Proc: proc(21, "/usr/bin/bash", "bash", "-c", "id"), Parent: sshd, Detail: &event.Exec{}}
	// File records cross the ring buffer for a policy: they carry its match.
	m := func() *event.Match {
		return &event.Match{Policy: "recorder", Rule: "etc", Action: "post", Severity: "info"}
	}
	read := &event.Event{Name: event.FileOpen, Proc: proc(22, "/usr/bin/cat", "cat", "/etc/shadow"),
		Detail: &event.File{Path: "/etc/shadow", Access: event.AccessRead}, Match: m()}
	trusted := &event.Event{Name: event.FileOpen, Proc: proc(23, "/usr/sbin/sshd", "sshd"),
		Detail: &event.File{Path: "/etc/shadow", Access: event.AccessRead}, Match: m()}
	write := &event.Event{Name: event.FileOpen, Proc: proc(24, "/usr/bin/cat", "cat"),
		Detail: &event.File{Path: "/etc/shells", Access: event.AccessWrite}, Match: m()}
	hosts := &event.Event{Name: event.FileOpen, Proc: proc(25, "/usr/bin/cat", "cat"),
		Detail: &event.File{Path: "/etc/hosts", Access: event.AccessRead}, Match: m()}
	events := recorded(t, []*event.Event{shell, lookalike}, []*event.Event{read, trusted, write, hosts})

	code, out, errOut := runCmd("test", pol, filepath.Join(dir, "my_rules.yaml"), "--events", events)
	assert.Equal(t, 0, code, errOut)
	assert.Equal(t, events+`:1: process.exec pid 20: policy cond rule shell-from-node (post, enforce, condition in user space): shell bash -c id under node
`+events+`:1: process.exec pid 20: rule "Shell under node" (my_rules.yaml) WARN: shell bash -c id
`+events+`:2: file.open pid 22: policy cond rule shadow-untrusted (kill, enforce, condition in user space)
`+events+`:2: file.open pid 22: policy cond rule shadow-count (count, enforce, condition in user space)
`+events+`:2: file.open pid 22: rule "Shadow read" (my_rules.yaml) ERROR: read /etc/shadow
`+events+`:2: file.open pid 25: policy cond rule hosts-deny (deny, enforce, kernel)
6 records, 6 rule matches (1 policy, 3 rules loaded, 1 skipped)
`, out)

	// Without the rules file, its macro is unknown: the policy does not load.
	code, _, errOut = runCmd("test", pol, "--events", events)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, pol+":15: rules[1].condition: unknown macro open_read\n")
}
