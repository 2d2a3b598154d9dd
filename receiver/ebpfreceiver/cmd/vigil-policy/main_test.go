package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const repoRoot = "../../../.."

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckExamples(t *testing.T) {
	t.Chdir(repoRoot)
	code, out, errOut := runCmd("check", "testdata/policies")
	assert.Equal(t, 0, code)
	assert.Empty(t, errOut)
	assert.Equal(t, `ok testdata/policies/container-escape.yaml (container-escape, 3 rules)
ok testdata/policies/metadata-endpoint.yaml (metadata-endpoint, 1 rule)
ok testdata/policies/netcat-kill.yaml (netcat-kill, 1 rule)
ok testdata/policies/privilege-escalation.yaml (privilege-escalation, 1 rule)
ok testdata/policies/ptrace.yaml (ptrace, 1 rule)
ok testdata/policies/sensitive-files.yaml (sensitive-files, 2 rules)
ok testdata/policies/shell-from-server.yaml (shell-from-server, 1 rule)
`, out, "ptrace deny runs in lsm/ptrace_access_check")
}

func TestCheckNoLSM(t *testing.T) {
	t.Chdir(repoRoot)
	code, out, errOut := runCmd("check", "testdata/policies/ptrace.yaml", "--no-lsm", "testdata/policies/metadata-endpoint.yaml")
	assert.Equal(t, 0, code, errOut)
	assert.Equal(t, `ok testdata/policies/ptrace.yaml (ptrace, 1 rule)
  rule attach: deny is not possible here, kill instead
ok testdata/policies/metadata-endpoint.yaml (metadata-endpoint, 1 rule)
`, out, "in argument order")

	dir := t.TempDir()
	f := filepath.Join(dir, "deny.yaml")
	require.NoError(t, os.WriteFile(f, []byte("name: deny\nrules:\n  - event: file.open\n    action: deny\n"), 0o600))
	code, out, errOut = runCmd("check", "--no-lsm", f)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Equal(t, f+":4: rules[0].action: deny for file.open needs BPF LSM or fmod_ret, which this kernel does not offer (add fallback: kill to kill instead)\n", errOut)

	// --lsm after --no-lsm wins.
	code, _, _ = runCmd("check", "--no-lsm", "--lsm", f)
	assert.Equal(t, 0, code)
	code, _, errOut = runCmd("check", "--no-lsm", "--no-cgroup-sock-addr", "testdata/policies/metadata-endpoint.yaml")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "needs BPF LSM, fmod_ret or cgroup/connect programs")
	code, _, errOut = runCmd("check", "--no-send-signal", "testdata/policies/netcat-kill.yaml")
	assert.Equal(t, 1, code)
	assert.Equal(t, "testdata/policies/netcat-kill.yaml:12: rules[0].action: kill needs bpf_send_signal, which this kernel does not offer\n", errOut)
}

func TestCheckInvalid(t *testing.T) {
	t.Chdir(repoRoot)
	code, out, errOut := runCmd("check", "testdata/policies/sensitive-files.yaml", "testdata/policies/invalid")
	assert.Equal(t, 1, code)
	assert.Equal(t, "ok testdata/policies/sensitive-files.yaml (sensitive-files, 2 rules)\n", out)
	// The same errors as the receiver: every want line of every invalid file.
	files, err := filepath.Glob("testdata/policies/invalid/*.yaml")
	require.NoError(t, err)
	var want []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, l := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(l, "# want: "); ok {
				want = append(want, rest)
			}
		}
	}
	assert.Equal(t, strings.Join(want, "\n")+"\n", errOut)

	code, out, errOut = runCmd("check", "testdata/policies/invalid/duplicate-name")
	assert.Equal(t, 1, code)
	assert.Equal(t, "ok testdata/policies/invalid/duplicate-name/a.yaml (dup, 1 rule)\n", out)
	assert.Contains(t, errOut, `b.yaml:3: name: duplicate policy name "dup"`)
}

func TestUsage(t *testing.T) {
	code, _, errOut := runCmd()
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "usage: vigil-policy check")
	code, _, errOut = runCmd("lint", "x")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "lint"`)
	code, _, errOut = runCmd("check")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "no FILE or DIR")
	code, _, errOut = runCmd("check", "--bogus", "x")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "flag provided but not defined: -bogus")
	code, _, _ = runCmd("help")
	assert.Equal(t, 0, code)

	code, _, errOut = runCmd("check", t.TempDir())
	assert.Equal(t, 1, code)
	assert.Equal(t, "vigil-policy: no policy files found\n", errOut)
	code, _, errOut = runCmd("check", filepath.Join(t.TempDir(), "nope.yaml"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "nope.yaml: cannot stat: no such file or directory")
}

// The checker applies the receiver's implementation checks too: path events need
// BPF LSM, denies no hook can do are rejected.
func TestCheckImplementation(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "rm.yaml")
	require.NoError(t, os.WriteFile(f, []byte("name: rm\nrules:\n  - event: file.unlink\n    paths: [/etc/]\n"), 0o600))
	code, out, _ := runCmd("check", f)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "ok "+f)
	code, _, errOut := runCmd("check", "--no-lsm", f)
	assert.Equal(t, 1, code)
	assert.Equal(t, f+":3: rules[0].event: file.unlink needs BPF LSM or fmod_ret (lsm/path_unlink), which this kernel does not offer\n", errOut)
	ns := filepath.Join(dir, "ns.yaml")
	require.NoError(t, os.WriteFile(ns, []byte("name: ns\nrules:\n  - event: namespace.change\n    action: deny\n"), 0o600))
	code, _, errOut = runCmd("check", ns)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, ns+":4: rules[0].action: deny for namespace.change needs a BPF hook")
}

const explainRules = `- macro: open_read
  condition: (evt.type in (open, openat, openat2) and evt.is_open_read=true)
- rule: Shell under node
  desc: d
  condition: evt.type = execve and proc.name = bash and proc.pname = node
  output: shell %proc.cmdline
  priority: WARNING
- rule: Shadow read
  desc: d
  condition: open_read and fd.name startswith /etc/sh and not proc.name in (sshd)
  output: read %fd.name
  priority: ERROR
- rule: Any write
  desc: d
  condition: evt.type = write and not proc.name = cat
  output: w
  priority: DEBUG
- rule: Needs DNS
  desc: d
  condition: evt.type = connect and fd.sip.name = example.com
  output: dns
  priority: NOTICE
`

// A rules file beside a policy: checked with the same loader as the receiver;
// --explain says per rule what the kernel filters and what user space decides.
func TestCheckExplainRulesFile(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "my_rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(explainRules), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("name: p\nrules:\n  - event: bpf.load\n"), 0o600))

	code, out, errOut := runCmd("check", dir)
	assert.Equal(t, 1, code, "a rule that does not load fails the check")
	assert.Equal(t, rules+`:20: rule "Needs DNS": field fd.sip.name is not supported`+"\n", errOut)
	assert.Contains(t, out, "ok "+filepath.Join(dir, "p.yaml")+" (p, 1 rule)\n")
	assert.Contains(t, out, "ok "+rules+" (rules file, 3 rules loaded, 1 skipped)\n")
	assert.NotContains(t, out, "kernel:", "no explanation without --explain")

	code, out, _ = runCmd("check", "--explain", rules)
	assert.Equal(t, 1, code)
	for _, want := range []string{
		`  rule "Shell under node" (process.exec):
    kernel: nothing to add for process.exec: these events always reach user space
    user space: the full condition on what passes; the kernel does not decide:
      proc.name = bash
      proc.pname = node
`,
		`  rule "Shadow read" (file.open):
    kernel: file.open paths: [/etc/] access: [read] (policy "falco:my_rules.yaml:Shadow read")
    user space: the full condition on what passes; the kernel does not decide:
      fd.name startswith /etc/sh
      not proc.name in (sshd)
`,
		`    kernel: file.write, not narrowed: every file.write event reaches user space (policy "falco:my_rules.yaml:Any write")`,
		`note: ` + rules + `:13: rule "Any write": the kernel cannot narrow file.write: every file.write event reaches user space`,
	} {
		assert.Contains(t, out, want)
	}
}
