package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

func mustCompile(t testing.TB, src string, defs *Defs) *Predicate {
	t.Helper()
	n, err := cond.Parse(src)
	require.NoError(t, err, src)
	p, err := Compile(n, defs)
	require.NoError(t, err, src)
	return p
}

func compileErr(t *testing.T, src string, defs *Defs) string {
	t.Helper()
	n, err := cond.Parse(src)
	require.NoError(t, err, src)
	_, err = Compile(n, defs)
	require.Error(t, err, src)
	return err.Error()
}

func testDefs(t testing.TB) *Defs {
	macro := func(s string) cond.Node {
		n, err := cond.Parse(s)
		require.NoError(t, err, s)
		return n
	}
	return &Defs{
		Lists: map[string][]string{
			"shell_binaries":  {"ash", "bash", "sh", "zsh"},
			"shells_and_more": {"shell_binaries", "fish"},
			"sensitive_files": {"/etc/shadow", "/etc/sudoers"},
			"empty":           {},
		},
		Macros: map[string]cond.Node{
			"spawned_process": macro("evt.type in (execve, execveat)"),
			"shell_procs":     macro("proc.name in (shells_and_more)"),
			"open_read":       macro("evt.type in (open, openat, openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0"),
			"never_true":      macro("evt.num=0"),
			"loop_a":          macro("proc.name = x and loop_b"),
			"loop_b":          macro("not loop_a"),
			"bad_field":       macro("proc.name = x and\n  fd.nope = 1"),
		},
	}
}

func TestEvalOperators(t *testing.T) {
	defs := testDefs(t)
	exec := execEvent()
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{"proc.name = bash", true},
		{"proc.name == bash", true},
		{"proc.name = Bash", false},
		{"proc.name != bash", false},
		{"proc.name != sh", true},
		{"proc.name in (sh, bash)", true},
		{"proc.name in (sh, zsh)", false},
		{"proc.name in (shell_binaries)", true},
		{"proc.name in (shells_and_more)", true},
		{`proc.name in ("shell_binaries")`, false},
		{"proc.name in (empty)", false},
		{"proc.name in ()", false},
		{"proc.name intersects (bash)", true},
		{"proc.exepath startswith /usr/", true},
		{"proc.exepath startswith /usr/sbin", false},
		{"proc.exepath endswith /bash", true},
		{`proc.cmdline contains " -c"`, true},
		{`proc.cmdline contains " -C"`, false},
		{`proc.cmdline icontains " -C I"`, true},
		{`proc.cmdline icontains "-x"`, false},
		{"proc.cmdline bcontains 2d63", true},
		{"proc.cmdline bstartswith 62617368", true},
		{"proc.cmdline bstartswith 2d63", false},
		{"proc.exepath glob '/usr/*/ba?h'", true},
		{"proc.exepath glob '/usr/*/b[a-c]sh'", true},
		{"proc.exepath glob '/usr/*/b[!a]sh'", false},
		{"proc.exepath glob '/*sh'", true},
		{"proc.exepath iglob '/USR/*'", true},
		{"proc.exepath glob '/USR/*'", false},
		{"proc.exepath regex '^/usr/(s)?bin/ba'", true},
		{"proc.exepath pmatch (/usr/bin)", true},
		{"proc.exepath pmatch (/usr/bi)", false},
		{"proc.exepath pmatch (/usr/bin/bash)", true},
		{"proc.exepath pmatch (/, /x)", true},
		{"proc.exepath pmatch (/usr/bin/)", true},
		{"proc.pid = 4242", true},
		{"proc.pid != 4242", false},
		{"proc.pid > 4000 and proc.pid < 5000 and proc.pid >= 4242 and proc.pid <= 4242", true},
		{"proc.pid in (1, 0x1092)", true},
		{"proc.duration <= 5000000000", true},
		{"proc.tty != 0", false},
		{"container.privileged = true", false},
		{"container.privileged = false", true},
		{"container.privileged != true", true},
		{"proc.is_exe_upper_layer = true", true},
		{"proc.is_exe_from_memfd = true", false},
		{"proc.is_container_exec = true", false},
		{"proc.is_container_exec = false", true},
		{"not vigil.exec_into_container = true", true},
		{"proc.is_exe_from_memfd exists", false},
		{"not proc.is_exe_from_memfd = true", true},
		{"proc.pname exists", true},
		{"user.loginuid exists", false},
		{"proc.aname[0] = bash", true},
		{"proc.aname[2] = containerd-shim", true},
		{"proc.aname[2] = node", false},
		{"proc.aname[9] = node", false},
		{"proc.aname = node", true},
		{"proc.aname = bash", false}, // without an index: ancestors only
		{"proc.aname in (systemd, init)", true},
		{"proc.aname != systemd", false},
		{"proc.aname != sshd", true},
		{"proc.aname startswith containerd", true},
		{"thread.cap_effective icontains sys_admin", true},
		{"process.executable.name = bash and process.command_line startswith bash", true},
		{"spawned_process and shell_procs and not never_true", true},
		{"spawned_process and not shell_procs", false},
		{"evt.type = execve", true},
		{"evt.type = execveat", false},
		{"evt.type != execve", false},
		{"evt.type != execveat", true},
		{"evt.type in (open, execve)", true},
		{"evt.type exists", true},
		// A field the event kind does not have: the comparison is false, its negation true.
		{"fd.name = /etc/shadow", false},
		{"fd.name != /etc/shadow", false},
		{"not fd.name = /etc/shadow", true},
		{"fd.name exists", false},
		{"not fd.name exists", true},
		{"fd.sip = 1.2.3.4 or proc.name = bash", true},
	} {
		n, err := cond.Parse(tc.src)
		require.NoError(t, err, tc.src)
		p, err := Compile(n, defs)
		require.NoError(t, err, tc.src)
		assert.Equal(t, tc.want, p.Eval(exec), tc.src)
	}
}

func TestEvalFileAndNetwork(t *testing.T) {
	defs := testDefs(t)
	sensitive := mustCompile(t, "open_read and (fd.name in (sensitive_files) or fd.directory in (/etc/sudoers.d)) and not proc.pname in (shell_binaries)", defs)
	ev := openEvent("/etc/shadow")
	assert.False(t, sensitive.Eval(ev), "parent bash is excluded")
	ev.s(FieldProcPname, "python3")
	assert.True(t, sensitive.Eval(ev))
	assert.False(t, sensitive.Eval(openEvent("/etc/hosts").s(FieldProcPname, "python3")))
	write := openEvent("/etc/shadow").s(FieldProcPname, "python3").b(FieldEvtIsOpenRead, false)
	assert.False(t, sensitive.Eval(write))
	assert.False(t, sensitive.Eval(execEvent()), "not an open")
	assert.Equal(t, KindsOf(FileOpen), sensitive.Kinds())

	traversal := mustCompile(t, "fd.nameraw contains '../' and fd.nameraw glob '*../*../*'", defs)
	assert.True(t, traversal.Eval(openEvent("/tmp/../../etc/shadow")))
	assert.False(t, traversal.Eval(openEvent("/tmp/../etc/shadow")))

	ssh := mustCompile(t, `evt.type = connect and proc.exe endswith ssh and fd.l4proto = tcp and fd.sport in (80, 443, 4444)
		and not fd.snet in (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) and fd.net != 127.0.0.0/8`, defs)
	assert.True(t, ssh.Eval(connectEvent("203.0.113.9", 443)))
	assert.False(t, ssh.Eval(connectEvent("203.0.113.9", 22)))
	assert.False(t, ssh.Eval(connectEvent("192.168.4.4", 443)))
	assert.False(t, ssh.Eval(connectEvent("127.0.0.1", 443)), "fd.net: either end in loopback")
	assert.True(t, ssh.Eval(connectEvent("2001:db8::1", 443)))
	assert.Equal(t, KindsOf(NetworkConnect), ssh.Kinds())

	sip := mustCompile(t, "fd.sip = 203.0.113.9 and fd.ip in (10.1.2.3) and fd.snet = 203.0.113.0/24", defs)
	assert.True(t, sip.Eval(connectEvent("203.0.113.9", 1)))
	assert.False(t, sip.Eval(connectEvent("203.0.113.8", 1)))
}

// An event that does not name its system call matches any evt.type of its kind.
func TestEvtTypeWithoutSyscallName(t *testing.T) {
	ev := openEvent("/x")
	delete(ev.str, FieldEvtType)
	assert.True(t, mustCompile(t, "evt.type = open", nil).Eval(ev))
	assert.True(t, mustCompile(t, "evt.type = openat2", nil).Eval(ev))
	assert.False(t, mustCompile(t, "evt.type != open", nil).Eval(ev), "!= is not =")
	assert.False(t, mustCompile(t, "evt.type = execve", nil).Eval(ev))
	assert.True(t, mustCompile(t, "evt.type != execve", nil).Eval(ev))
}

func TestKinds(t *testing.T) {
	defs := testDefs(t)
	for _, tc := range []struct {
		src  string
		want KindSet
	}{
		{"proc.name = sh", AllKinds},
		{"spawned_process and proc.name = sh", KindsOf(ProcessExec)},
		{"evt.type = execve or evt.type = connect", KindsOf(ProcessExec, NetworkConnect)},
		{"evt.type in (open, sendto, mkdir)", KindsOf(FileOpen, NetworkSend)},
		{"not evt.type = execve", AllKinds},
		{"not evt.type in (execve, execveat)", AllKinds &^ KindsOf(ProcessExec)},
		{"not evt.type = listen", AllKinds &^ KindsOf(NetworkListen)},
		{"evt.type != listen and proc.name = x", AllKinds &^ KindsOf(NetworkListen)},
		{"evt.arg.request contains PTRACE_TRACEME", KindsOf(ProcessPtrace)},
		{"not evt.arg.request contains PTRACE_TRACEME", AllKinds},
		{"fd.sip = 1.2.3.4", KindsOf(NetworkConnect, NetworkListen, NetworkAccept, NetworkSend, FdDup)},
		{"evt.type in (dup, dup2) and fd.type in (ipv4, ipv6)", KindsOf(FdDup)},
		{"evt.type = socket and evt.arg.domain contains AF_PACKET", KindsOf(NetworkSocket)},
		{"evt.type in (symlink, symlinkat) and evt.arg.target in (/etc)", KindsOf(FileSymlink)},
	} {
		p := mustCompile(t, tc.src, defs)
		assert.Equal(t, tc.want.String(), p.Kinds().String(), tc.src)
	}
}

func TestCompileErrors(t *testing.T) {
	defs := testDefs(t)
	for _, tc := range []struct{ src, want string }{
		{"fd.foo = 1", "1:1: field fd.foo is not supported"},
		{"proc.name = a and\n  fd.sip.name = kubernetes", "2:3: field fd.sip.name is not supported"},
		{"proc.pid startswith 1", "1:10: operator startswith is not supported by proc.pid (number; supported: = != < <= > >= in exists)"},
		{"proc.name > a", "1:11: operator > is not supported by proc.name (string; supported: = != in intersects pmatch startswith endswith contains icontains bcontains bstartswith glob iglob regex exists)"},
		{"proc.pid = abc", `1:12: proc.pid =: bad operand "abc" for a number field: strconv.ParseInt: parsing "abc": invalid syntax`},
		{"proc.pid in (1, x)", `1:10: proc.pid in: bad operand "x" for a number field: strconv.ParseInt: parsing "x": invalid syntax`},
		{"container.privileged = yes", `1:24: container.privileged =: bad operand "yes" for a bool field: want true or false`},
		{"fd.sip = 10.0.0.0/8", `1:10: fd.sip =: bad operand "10.0.0.0/8" for a ip field: ParseAddr("10.0.0.0/8"): unexpected character (at "/8")`},
		{"fd.snet in (10.0.0.0/33)", `1:9: fd.snet in: bad operand "10.0.0.0/33" for a net field: netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`},
		{"fd.name glob '/a[b'", `1:14: fd.name glob: bad operand "/a[b" for a string field: [ at byte 2 is not closed`},
		{"fd.name regex '('", "1:15: fd.name regex: bad operand \"(\" for a string field: error parsing regexp: missing closing ): `(`"},
		{"proc.name[1] = x", "1:1: field proc.name takes no [argument]"},
		{"proc.aname[x] = y", `1:1: field proc.aname: the argument must be a number from 0 to 64, not "x"`},
		{"evt.arg = y", "1:1: field evt.arg needs an [index]"},
		{"nope and proc.name = x", "1:1: unknown macro nope"},
		{"proc.name = a and loop_a", `macro "loop_b" 1:5: macro cycle: loop_a -> loop_b -> loop_a`},
		{"bad_field", `macro "bad_field" 2:3: field fd.nope is not supported`},
		{"evt.type in (mkdir, mkdirat)", "1:1: evt.type mkdir, mkdirat is not sensed, so the condition can match no event"},
		{"evt.type = execve and fd.sip = 1.2.3.4", "1:1: the condition can match no event kind"},
	} {
		assert.Equal(t, tc.want, compileErr(t, tc.src, defs), tc.src)
	}
}

func TestCompileEvtArgForms(t *testing.T) {
	p := mustCompile(t, "evt.arg[flags] contains O_TRUNC", nil)
	ev := openEvent("/var/log/syslog").s(FieldEvtArgFlags, "O_WRONLY|O_TRUNC")
	assert.True(t, p.Eval(ev))
	assert.Equal(t, []FieldID{FieldEvtArgFlags}, p.Fields())
	p = mustCompile(t, "evt.arg[1] = x", nil)
	assert.True(t, p.Eval(openEvent("/a").s(FieldEvtArg, "w", "x")))
	assert.False(t, p.Eval(openEvent("/a").s(FieldEvtArg, "x")))
}

func TestExceptions(t *testing.T) {
	defs := testDefs(t)
	base, err := cond.Parse("open_read and fd.name startswith /etc/")
	require.NoError(t, err)
	excs := []Exception{
		{Name: "trusted", Fields: []string{"proc.name", "fd.name"}, Comps: []string{"=", "in"},
			Values: [][]ExceptionValue{
				{{Items: []string{"sshd"}}, {Items: []string{"sensitive_files"}, List: true}},
				{{Items: []string{"cat"}}, {Items: []string{"/etc/hosts"}, List: true}},
			}},
		{Name: "by_parent", Fields: []string{"proc.pname"}, Comps: []string{"in"},
			Values: [][]ExceptionValue{{{Items: []string{"cron", "anacron"}, List: true}}}},
		{Name: "ancestor", Fields: []string{"proc.aname[2]"},
			Values: [][]ExceptionValue{{{Items: []string{"salt-minion"}}}}},
		{Name: "empty", Fields: []string{"proc.name"}},
	}
	var nodes []cond.Node
	for i := range excs {
		n, err := excs[i].Node()
		require.NoError(t, err)
		nodes = append(nodes, n)
	}
	assert.Nil(t, nodes[3], "no values: excludes nothing")
	p, err := Compile(WithExceptions(base, nodes), defs)
	require.NoError(t, err)
	assert.True(t, p.Eval(openEvent("/etc/shadow")), "cat reading /etc/shadow is not excepted")
	assert.False(t, p.Eval(openEvent("/etc/hosts")), "cat reading /etc/hosts is")
	assert.False(t, p.Eval(openEvent("/etc/sudoers").s(FieldProcName, "sshd")))
	assert.True(t, p.Eval(openEvent("/etc/hosts").s(FieldProcName, "sshd")))
	assert.False(t, p.Eval(openEvent("/etc/shadow").s(FieldProcPname, "anacron")))
	assert.False(t, p.Eval(openEvent("/etc/shadow").s(FieldProcAname, "cat", "bash", "salt-minion")))

	bad := []Exception{
		{Name: "x", Fields: []string{"proc.name", "fd.name"}, Comps: []string{"="}},
		{Name: "x", Fields: []string{"proc.name"}, Comps: []string{"~"}},
		{Name: "x", Fields: []string{"proc.name"}, Values: [][]ExceptionValue{{{Items: []string{"a", "b"}, List: true}}}},
		{Name: "x", Fields: []string{"proc.name", "fd.name"}, Values: [][]ExceptionValue{{{Items: []string{"a"}}}}},
		{Name: "x", Fields: []string{"proc name"}, Values: [][]ExceptionValue{{{Items: []string{"a"}}}}},
	}
	want := []string{
		`exception "x": 2 fields but 1 comps`,
		`exception "x": comps[0]: unknown operator "~"`,
		`exception "x": values[0]: operator = takes one value, not a list`,
		`exception "x": values[0] has 1 items for 2 fields`,
		`exception "x": field "proc name": 1:6: unexpected "name"`,
	}
	for i := range bad {
		_, err := bad[i].Node()
		if assert.Error(t, err) {
			assert.Equal(t, want[i], err.Error())
		}
	}
}

func TestEvalDoesNotAllocate(t *testing.T) {
	defs := testDefs(t)
	p := mustCompile(t, `spawned_process and shell_procs and proc.aname in (containerd-shim) and proc.cmdline icontains "-C"
		and not proc.exepath glob '/tmp/*' and proc.pid > 1 and not fd.sip in (10.0.0.0/8)`, defs)
	ev := execEvent()
	require.True(t, p.Eval(ev))
	assert.Zero(t, testing.AllocsPerRun(100, func() { p.Eval(ev) }))
}

func TestRuleset(t *testing.T) {
	defs := testDefs(t)
	preds := []*Predicate{
		mustCompile(t, "spawned_process and shell_procs", defs),
		mustCompile(t, "open_read and fd.name = /etc/shadow", defs),
		nil,
		mustCompile(t, "proc.name in (bash, cat)", defs),
	}
	rs := NewRuleset(preds)
	assert.Equal(t, 4, rs.Len())
	dst := make([]int, 0, 8)
	assert.Equal(t, []int{0, 3}, rs.Match(execEvent(), dst))
	assert.Equal(t, []int{1, 3}, rs.Match(openEvent("/etc/shadow"), dst))
	assert.Equal(t, []int{3}, rs.Match(openEvent("/etc/hosts"), dst))
	assert.Empty(t, rs.Match(connectEvent("1.2.3.4", 1), dst))
	ev := execEvent()
	assert.Zero(t, testing.AllocsPerRun(100, func() { rs.Match(ev, dst[:0]) }))
}

// A field an event reports for a kind the table does not list it for is not read.
func TestFieldOutsideItsKinds(t *testing.T) {
	ev := execEvent().s(FieldFdName, "/etc/shadow").s(FieldEvtArgRequest, "PTRACE_TRACEME")
	assert.False(t, mustCompile(t, "fd.name = /etc/shadow", nil).Eval(ev))
	assert.True(t, mustCompile(t, "not fd.name = /etc/shadow", nil).Eval(ev))
	assert.True(t, mustCompile(t, "proc.name = bash and not (fd.name exists or evt.arg.request exists)", nil).Eval(ev))
}

// Items of a list that carry their own quotes are the quoted text.
func TestListItemsWithQuotes(t *testing.T) {
	defs := &Defs{Lists: map[string][]string{
		"spawn_cmdlines": {`"bash -c id"`, `'sh -c uname -p 2> /dev/null'`, "plain"},
		"nested":         {"spawn_cmdlines"},
	}}
	p := mustCompile(t, "proc.cmdline in (nested)", defs)
	assert.True(t, p.Eval(execEvent()))
	c := p.Expr().(*Cmp)
	assert.Equal(t, []string{"bash -c id", "sh -c uname -p 2> /dev/null", "plain"}, c.Values)
}

// Macros and lists that double at each level are refused, quickly, instead of expanded.
func TestExpansionBounded(t *testing.T) {
	defs := &Defs{Lists: map[string][]string{"l0": {"a", "b"}}, Macros: map[string]cond.Node{}}
	m0, err := cond.Parse("proc.name = a or proc.name = b")
	require.NoError(t, err)
	defs.Macros["m0"] = m0
	for i := 1; i <= 40; i++ {
		n, err := cond.Parse(fmt.Sprintf("m%d and m%d", i-1, i-1))
		require.NoError(t, err)
		defs.Macros[fmt.Sprintf("m%d", i)] = n
	}
	for i := 1; i <= 15; i++ {
		prev := fmt.Sprintf("l%d", i-1)
		defs.Lists[fmt.Sprintf("l%d", i)] = []string{prev, prev}
	}
	defs.Lists["l16"] = []string{"l15"}
	defs.Lists["big"] = []string{"l14", "l14", "l14"}
	start := time.Now()
	msg := compileErr(t, "m40", defs)
	assert.Contains(t, msg, "more than 100000 comparisons")
	msg = compileErr(t, "proc.name in (big)", defs)
	assert.Contains(t, msg, "more than 65536 values")
	msg = compileErr(t, "proc.name in (l16)", defs)
	assert.Contains(t, msg, "lists nested deeper than 16")
	assert.Less(t, time.Since(start), 30*time.Second, "bounded work (160 ms of CPU here; the bound allows for a loaded machine)")
	// Just under the bounds works.
	p := mustCompile(t, "proc.name in (l15) and m10", defs)
	assert.Len(t, p.Expr().(AllOf)[0].(*Cmp).Values, 65536)
}

func TestExprKinds(t *testing.T) {
	p := mustCompile(t, "evt.type in (listen) or (evt.type = execve and not fd.name exists)", nil)
	maybe, must := ExprKinds(p.Expr())
	assert.Equal(t, KindsOf(NetworkListen, ProcessExec), maybe)
	assert.Equal(t, KindsOf(NetworkListen), must)
	assert.Equal(t, p.Kinds(), maybe)
}
