package rulestage

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/falco"
)

// execEv is "bash -c id" started as /usr/bin/bash by node, under containerd-shim and systemd.
func execEv() *event.Event {
	return &event.Event{
		Name: event.ProcessExec, KTime: 5_000_000_000,
		Proc: &event.Process{ExecID: "a-4242", PID: 4242, PPID: 4000, Executable: "/usr/bin/bash",
			Args: []string{"/bin/bash", "-c", "id"}, CommandLine: "/bin/bash -c id", Cwd: "/app",
			EUID: 1000, EGID: 100, StartBoottime: 3_000_000_000, ContainerID: "0123456789ab"},
		Parent: &event.Process{ExecID: "b-4000", PID: 4000, Executable: "/usr/local/bin/node",
			Args: []string{"node", "server.js"}, CommandLine: "node server.js"},
		Ancestors: []event.Ancestor{{ExecID: "c-900", Executable: "/usr/bin/containerd-shim-runc-v2"}, {ExecID: "d-1", Executable: "/usr/lib/systemd/systemd"}},
		Detail:    &event.Exec{},
	}
}

func openEv(path string, access event.FileAccess) *event.Event {
	ev := execEv()
	ev.Name, ev.Detail = event.FileOpen, &event.File{Path: path, Access: access, OpenFlags: 0o100}
	ev.Cred = event.Cred{UID: 0, EUID: 0}
	return ev
}

func connectEv() *event.Event {
	ev := execEv()
	ev.Name, ev.Detail = event.NetworkConnect, &event.Network{Direction: event.Outbound, Family: 2,
		Peer: netip.MustParseAddrPort("10.96.0.1:443"), Transport: 6}
	return ev
}

// privEv is a privilege.change from syscall nr (an ia32 number when compat).
func privEv(nr uint32, compat bool) *event.Event {
	ev := execEv()
	ev.Name, ev.Compat = event.PrivilegeChange, compat
	ev.Detail = &event.Privilege{Syscall: event.Syscall{Nr: nr}}
	return ev
}

func load(t testing.TB, text string) *Set {
	t.Helper()
	res := falco.Load(falco.File{Name: "test_rules.yaml", Data: []byte(text)})
	require.Empty(t, res.Skipped)
	require.Empty(t, res.Errors)
	var rs []Rule
	for _, r := range res.Rules {
		rs = append(rs, Rule{Name: r.Name, Ruleset: r.Ruleset, Predicate: r.Predicate, Output: r.Output,
			SeverityNumber: r.Priority.SeverityNumber(), SeverityText: r.Priority.SeverityText()})
	}
	return NewSet(rs)
}

func rule(name, cond string) string {
	return "- rule: " + name + "\n  desc: d\n  condition: " + cond + "\n  output: " + name + " %proc.cmdline\n  priority: WARNING\n"
}

func names(ms []*event.Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Rule)
	}
	return out
}

func TestFieldsOnEvents(t *testing.T) {
	cases := []struct {
		cond  string
		ev    *event.Event
		fires bool
	}{
		{"proc.name = bash", execEv(), true},
		{"proc.name = node", execEv(), false},
		{"proc.exe = /bin/bash", execEv(), true},
		{"proc.exepath = /usr/bin/bash", execEv(), true},
		{`proc.cmdline = "bash -c id"`, execEv(), true},
		{`proc.args = "-c id"`, execEv(), true},
		{"proc.cwd = /app/", execEv(), true},
		{"proc.pname = node", execEv(), true},
		{"proc.pexepath = /usr/local/bin/node", execEv(), true},
		{`proc.pcmdline = "node server.js"`, execEv(), true},
		{"proc.aname[0] = bash", execEv(), true},
		{"proc.aname[2] = containerd-shim", execEv(), true}, // comm: 15 bytes
		{"proc.aname[3] = systemd", execEv(), true},
		{"proc.aname[4] exists", execEv(), false},
		{"proc.aname = systemd", execEv(), true},
		{"proc.aname = bash", execEv(), false}, // any ancestor from the parent up
		{"proc.apid[2] = 900", execEv(), true},
		{"proc.pid = 4242 and proc.ppid = 4000", execEv(), true},
		{"proc.duration = 2000000000", execEv(), true},
		{"user.uid = 1000 and group.gid = 100", execEv(), true},
		{"container.id = 0123456789ab", execEv(), true},
		{"proc.is_container_exec = false", execEv(), true},
		{"proc.is_container_exec = true", func() *event.Event {
			ev := execEv()
			ev.Proc.ExecIntoContainer = true
			return ev
		}(), true},
		{"proc.tty exists", execEv(), false}, // not known: absent
		{"k8s.pod.name exists", execEv(), false},
		{"evt.type = execve", execEv(), true}, // the exec sensor does not say which call
		{"evt.type = open", execEv(), false},
		{"fd.name exists", execEv(), false},
		{"evt.type = openat and fd.name = /etc/shadow and evt.is_open_read = true", openEv("/etc/shadow", event.AccessRead), true},
		{"evt.is_open_write = true", openEv("/etc/shadow", event.AccessRead), false},
		{"evt.is_open_create = true", openEv("/etc/shadow", event.AccessRead), true},
		{"fd.directory = /etc and fd.filename = shadow", openEv("/etc/shadow", event.AccessRead), true},
		{"fd.directory = /", openEv("/x", event.AccessRead), true},
		{"fd.typechar = f and fd.type = file", openEv("/x", event.AccessRead), true},
		{"user.uid = 0", openEv("/x", event.AccessRead), true}, // a policy record's own credentials
		{"fd.name pmatch (/etc)", openEv("/etc/shadow", event.AccessRead), true},
		{`evt.arg.flags = "O_RDONLY|O_CREAT"`, openEv("/x", event.AccessRead), true},
		{"evt.arg.flags contains O_TRUNC", openEv("/x", event.AccessRead), false},
		{"evt.arg.flags contains O_TRUNC", func() *event.Event {
			ev := openEv("/var/log/x", event.AccessWrite)
			ev.Detail.(*event.File).OpenFlags = 0o1 | 0o1000 | 0o2000000
			return ev
		}(), true},
		{`fd.nameraw glob "*../*../*"`, func() *event.Event {
			ev := openEv("/etc/hostname", event.AccessRead)
			ev.Detail.(*event.File).Raw = "/srv/www/../../etc/hostname"
			return ev
		}(), true},
		{`fd.nameraw glob "*../*../*"`, func() *event.Event {
			ev := openEv("/etc/hostname", event.AccessRead)
			ev.Detail.(*event.File).Raw = "../hostname"
			return ev
		}(), false},
		{"fd.nameraw exists", openEv("/etc/hostname", event.AccessRead), false}, // not captured: missing, not the resolved path
		{"evt.failed = false and evt.res = SUCCESS", openEv("/x", event.AccessRead), true},
		{"evt.failed = true and evt.res = ENOENT and evt.rawres = -2 and fd.num = -1", func() *event.Event {
			ev := openEv("/etc/missing", event.AccessRead)
			f := ev.Detail.(*event.File)
			f.Failed, f.Res, f.Raw = true, -2, "/etc/missing"
			return ev
		}(), true},
		{"fd.num >= 0", func() *event.Event {
			ev := openEv("/x", event.AccessRead)
			ev.Hook, ev.Detail.(*event.File).Res = event.HookSyscall, 5
			return ev
		}(), true},
		{"fd.num exists", func() *event.Event {
			ev := openEv("/x", event.AccessRead)
			ev.Hook = event.HookLSM // before the descriptor exists
			return ev
		}(), false},
		{"evt.arg.mode = 04755", func() *event.Event {
			ev := openEv("/usr/bin/x", event.AccessRead)
			ev.Name, ev.Detail = event.FileChmod, &event.File{Path: "/usr/bin/x", Mode: 0o4755}
			return ev
		}(), true},
		{"evt.arg.mode exists", openEv("/x", event.AccessRead), false},
		{"fd.sip = 10.96.0.1 and fd.sport = 443 and fd.l4proto = tcp", connectEv(), true},
		{"fd.snet in (10.96.0.0/12)", connectEv(), true},
		{"fd.net in (10.96.0.0/12)", connectEv(), true},
		{"fd.cip exists", connectEv(), false},
		{"fd.typechar = 4", connectEv(), true},
		{"fd.name = 10.96.0.1:443", connectEv(), true},
		// evt.type of a syscall-kind event is its syscall: a capset is not a setuid.
		{"evt.type in (setuid, setresuid)", privEv(105, false), true},
		{"evt.type in (setuid, setresuid)", privEv(126, false), false},
		{"evt.type = capset", privEv(126, false), true},
		{"evt.type = setuid", privEv(213, true), true},  // ia32 setuid32
		{"evt.type = setuid", privEv(185, true), false}, // ia32 capset
	}
	var st Stage
	for _, c := range cases {
		set := load(t, rule("r", c.cond))
		got := st.Match(set, c.ev, nil)
		assert.Equal(t, c.fires, len(got) == 1, "%s", c.cond)
	}
}

func TestStageRendersOutput(t *testing.T) {
	set := load(t, rule("Shell under node", "evt.type = execve and proc.name = bash and proc.pname = node")+
		rule("Other parent", "evt.type = execve and proc.name = bash and proc.pname = sshd")+
		"- rule: Open\n  desc: d\n  condition: evt.type = open\n  output: '%proc.name read %fd.name as %user.uid'\n  priority: ERROR\n")
	var st Stage
	ms := st.Match(set, execEv(), nil)
	require.Equal(t, []string{"Shell under node"}, names(ms))
	m := ms[0]
	assert.Equal(t, "test_rules.yaml", m.Policy)
	assert.Equal(t, "Shell under node bash -c id", m.Body)
	assert.True(t, m.UserSpace)
	assert.Equal(t, 13, m.SeverityNumber)
	ms = st.Match(set, openEv("/etc/shadow", event.AccessRead), nil)
	require.Equal(t, []string{"Open"}, names(ms))
	assert.Equal(t, "bash read /etc/shadow as 0", ms[0].Body)
	assert.Empty(t, st.Match(set, connectEv(), nil))
	assert.Empty(t, st.Match(nil, execEv(), nil))
	fork := execEv()
	fork.Name, fork.Detail = event.ProcessFork, event.Fork{}
	assert.Empty(t, st.Match(set, fork, nil), "no rule sees a fork")
}

// A built string (proc.cmdline when argv[0] is a path) stays right when the next
// event's is built in the same buffer.
func TestBuiltStringsPerEvent(t *testing.T) {
	var f Fields
	ev := execEv()
	f.Reset(ev)
	s, ok := f.Str(rules.FieldProcCmdline, 0)
	require.True(t, ok)
	assert.Equal(t, "bash -c id", s)
	ev2 := execEv()
	ev2.Proc.Executable, ev2.Proc.Args, ev2.Proc.CommandLine = "/usr/bin/python3", []string{"/usr/bin/python3", "x.py"}, "/usr/bin/python3 x.py"
	f.Reset(ev2)
	s, _ = f.Str(rules.FieldProcCmdline, 0)
	assert.Equal(t, "python3 x.py", s)
	ev3 := openEv("/x", event.AccessRead)
	ev3.Detail.(*event.File).OpenFlags = 0o2 | 0o4010000 | 0o2000000
	f.Reset(ev3)
	s, _ = f.Str(rules.FieldEvtArgFlags, 0)
	assert.Equal(t, "O_RDWR|O_SYNC|O_CLOEXEC", s, "O_SYNC covers O_DSYNC's bit")
	f.Reset(ev2)
	s, _ = f.Str(rules.FieldProcCwd, 0)
	assert.Equal(t, "/app/", s)
	assert.True(t, strings.HasPrefix(s, "/app"))
}

var benchRules = rule("Shell under web server", "evt.type in (execve, execveat) and proc.name in (sh, bash, dash, zsh) and proc.pname in (nginx, httpd, node)") +
	rule("Sensitive read", "evt.type in (open, openat) and evt.is_open_read = true and fd.name startswith /etc/shadow and not proc.name in (sshd, login, passwd)") +
	rule("Ancestor", "evt.type = execve and proc.aname in (sshd) and proc.cmdline contains \"curl\"") +
	rule("K8s API", "evt.type = connect and fd.sip = 10.96.0.1 and fd.sport = 443 and not proc.name in (kubelet)") +
	rule("Cwd", "evt.type = execve and proc.cwd startswith /tmp/ and proc.exepath endswith /nc")

// BenchmarkFields: one field read through the adapter.
func BenchmarkFields(b *testing.B) {
	var f Fields
	ev := execEv()
	b.ReportAllocs()
	for b.Loop() {
		f.Reset(ev)
		_, _ = f.Str(rules.FieldProcName, 0)
		_, _ = f.Str(rules.FieldProcPname, 0)
		_, _ = f.Str(rules.FieldProcCmdline, 0)
		_, _ = f.Str(rules.FieldProcAname, 2)
		_, _ = f.Num(rules.FieldUserUID, 0)
	}
}

// BenchmarkStage: the rule stage on an exec event that matches no rule.
func BenchmarkStage(b *testing.B) {
	set := load(b, benchRules)
	var st Stage
	ev := execEv()
	ev.Parent.Executable = "/usr/bin/sshd"
	dst := make([]*event.Match, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		dst = st.Match(set, ev, dst[:0])
	}
	if len(dst) != 0 {
		b.Fatal("a rule fired")
	}
}

func TestStageDoesNotAllocate(t *testing.T) {
	set := load(t, benchRules)
	var st Stage
	exec := execEv()
	exec.Parent.Executable = "/usr/bin/sshd" // an ancestor rule asks for curl: no rule fires
	conn := connectEv()
	conn.Detail.(*event.Network).Peer = netip.MustParseAddrPort("10.96.0.1:80")
	for _, ev := range []*event.Event{exec, openEv("/etc/passwd", event.AccessRead), conn} {
		require.Empty(t, st.Match(set, ev, nil), ev.Name)
		dst := make([]*event.Match, 0, 4)
		dst = st.Match(set, ev, dst) // warm the buffers
		n := testing.AllocsPerRun(100, func() { dst = st.Match(set, ev, dst[:0]) })
		assert.Zero(t, n, ev.Name)
	}
}

// shapes are 25 rules shaped like Falco's stable rules.
func shapes(tb testing.TB) Loaded {
	data, err := os.ReadFile("../rules/falco/testdata/shapes.yaml")
	require.NoError(tb, err)
	l := LoadFiles([]policy.FileResult{{Path: "shapes.yaml", Rules: data}}, policy.MaxPolicies)
	require.Equal(tb, 25, l.Loaded, l.Problems)
	return l
}

// BenchmarkStage25: the rule stage with the 25-rule set on a mix of benign exec,
// open and connect events (what reaches user space on a busy node).
func BenchmarkStage25(b *testing.B) {
	set := shapes(b).Set
	exec := execEv()
	exec.Parent.Executable = "/usr/bin/containerd-shim"
	exec.Proc.Executable, exec.Proc.Args, exec.Proc.CommandLine = "/usr/bin/ls", []string{"ls", "-la"}, "ls -la"
	open := openEv("/app/package.json", event.AccessRead)
	open.Proc = exec.Proc
	conn := connectEv()
	conn.Proc = exec.Proc
	conn.Detail.(*event.Network).Peer = netip.MustParseAddrPort("10.20.30.40:5432")
	evs := []*event.Event{exec, open, conn}
	var st Stage
	dst := make([]*event.Match, 0, 8)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dst = st.Match(set, evs[i%len(evs)], dst[:0])
		i++
	}
}

// How the 25 stable-rule shapes split: logged for the record, and every rule on a
// sensed kind other than exec/exit has a kernel filter.
func TestShapesSplit(t *testing.T) {
	l := shapes(t)
	narrow, wide, always, unsensed := 0, 0, 0, 0
	for _, r := range l.Rules {
		if r.Plan.Always != 0 {
			always++
		}
		for _, f := range r.Plan.Filters {
			_, sensed := eventOf(f.Kind)
			switch {
			case !sensed:
				unsensed++
			case f.Narrow():
				narrow++
			default:
				wide++
			}
			t.Logf("%-50s %-16s %s", r.Rule.Name, f.Kind, f)
		}
		if r.Kernel != nil {
			require.True(t, IsGenerated(r.Kernel.Name))
		}
	}
	t.Logf("rules on exec/exit: %d; kernel filters: %d narrowed, %d not narrowed; kinds not sensed: %d", always, narrow, wide, unsensed)
}

// A file reached through a bind mount carries its canonical path: a condition
// holds when it holds on the path as opened or on the canonical path (as the
// kernel's path rules match either), each rule once; the output renders the
// path as opened. Without a canonical path only the opened path counts.
func TestStageCanonicalPath(t *testing.T) {
	set := load(t, rule("Etc", "evt.type = open and fd.name startswith /etc/")+
		rule("Shadow name", "evt.type = open and fd.filename = shadow")+
		"- rule: Show\n  desc: d\n  condition: evt.type = open and fd.directory = /etc\n  output: '%fd.name'\n  priority: ERROR\n")
	var st Stage
	bound := openEv("/tmp/x/shadow", event.AccessRead)
	f := bound.Detail.(*event.File)
	assert.Equal(t, []string{"Shadow name"}, names(st.Match(set, bound, nil)), "no canonical path: the opened path only")
	f.SubtreeMount, f.Canonical = true, "/etc/shadow"
	ms := st.Match(set, bound, nil)
	assert.ElementsMatch(t, []string{"Etc", "Shadow name", "Show"}, names(ms), "each rule once")
	for _, m := range ms {
		if m.Rule == "Show" {
			assert.Equal(t, "/tmp/x/shadow", m.Body, "the output shows the path as opened")
		}
	}
	pred := set.Rules()[0].Predicate
	assert.True(t, st.Holds(pred, bound))
	f.Canonical = ""
	assert.False(t, st.Holds(pred, bound), "unresolved: the opened path only")
	assert.True(t, st.Holds(pred, openEv("/etc/passwd", event.AccessRead)))
}

// The file-name and raw-path rules of the shapes and of the default pack
// narrow in the kernel by the name and raw-path keys (before these keys, the
// first crossed on every file.open, the others on every write open or every
// read under /tmp); the container-escape rules also carry their capability
// task key.
func TestNameRulesNarrow(t *testing.T) {
	read := func(path string) policy.FileResult {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		return policy.FileResult{Path: path, Rules: data}
	}
	var files []policy.FileResult
	for _, f := range []string{"00_vigil_macros.yaml", "20_vigil_file.yaml", "40_vigil_container.yaml"} {
		files = append(files, read("../../../../rules/"+f))
	}
	want := map[string]string{
		"Path traversal read":                              "raw_contains: [../] raw_path: true failed_opens: true",
		"Cgroup release_agent written":                     "access: [write] name_suffixes: [release_agent] capabilities: [CAP_SYS_ADMIN]",
		"Shared library opened from a temporary directory": "paths: [/tmp/, /var/tmp/, /dev/shm/] access: [read] name_contains: [.so]",
		"Detect release_agent File Container Escapes":      "access: [write] name_suffixes: [/release_agent] capabilities: [CAP_SYS_ADMIN]",
		"Directory traversal monitored file read":          "paths: [/etc/, /root/.ssh/, /home/] raw_contains: [../] raw_path: true failed_opens: true",
	}
	got := map[string]string{}
	for _, l := range []Loaded{shapes(t), LoadFiles(files, policy.MaxPolicies)} {
		require.Empty(t, l.Problems)
		for _, r := range l.Rules {
			if _, ok := want[r.Rule.Name]; ok {
				require.Len(t, r.Plan.Filters, 1, r.Rule.Name)
				got[r.Rule.Name] = r.Plan.Filters[0].String()
			}
		}
	}
	assert.Equal(t, want, got)
}
