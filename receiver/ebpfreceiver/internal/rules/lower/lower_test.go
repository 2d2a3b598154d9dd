package lower

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

func compile(t testing.TB, text string) *rules.Predicate {
	t.Helper()
	n, err := cond.Parse(text)
	require.NoError(t, err, text)
	p, err := rules.Compile(n, &rules.Defs{Lists: map[string][]string{"trusted": {"cat", "ls"}}})
	require.NoError(t, err, text)
	return p
}

func TestLowerShapes(t *testing.T) {
	cases := []struct {
		cond     string
		filters  []string // Filter.String per kind
		always   rules.KindSet
		residual []string
	}{
		{"evt.type in (open, openat) and evt.is_open_read = true and fd.name startswith /etc/ and not proc.name in (trusted)",
			[]string{"paths: [/etc/] access: [read]"}, 0, []string{"not proc.name in (cat, ls)"}},
		{"evt.type = openat and fd.name startswith /tmp/t/secret",
			[]string{"paths: [/tmp/t/]"}, 0, []string{"fd.name startswith /tmp/t/secret"}},
		{"evt.type = open and fd.name in (/etc/shadow, /etc/gshadow)",
			[]string{"paths: [/etc/shadow, /etc/gshadow]"}, 0, nil},
		{"evt.type = open and fd.directory in (/root/.ssh)", []string{"paths: [/root/.ssh/]"}, 0, []string{"fd.directory in (/root/.ssh)"}},
		{"evt.type = open and fd.name pmatch (/proc/1)", []string{"paths: [/proc/1, /proc/1/]"}, 0, []string{"fd.name pmatch (/proc/1)"}},
		{"evt.type = open and (fd.name startswith /etc/ or fd.name = /root/x)", []string{"paths: [/etc/, /root/x]"}, 0, []string{"fd.name startswith /etc/ or fd.name = /root/x"}},
		{"evt.type = open and (fd.name startswith /etc/ or proc.name = cat)", []string{"every file.open event"}, 0, []string{"fd.name startswith /etc/ or proc.name = cat"}},
		{"evt.type = open and not fd.name startswith /etc/", []string{"every file.open event"}, 0, []string{"not fd.name startswith /etc/"}},
		{"evt.type = connect and fd.sip = 10.96.0.1 and fd.sport in (443, 6443)", []string{"cidrs: [10.96.0.1/32] ports: [443, 6443]"}, 0, nil},
		{"evt.type = connect and fd.snet in (10.0.0.0/8)", []string{"cidrs: [10.0.0.0/8]"}, 0, nil},
		{"evt.type = accept and fd.sport = 22", []string{"every network.accept event"}, 0, []string{"fd.sport = 22"}},
		{"evt.type = connect and fd.sport = 0", []string{"every network.connect event"}, 0, []string{"fd.sport = 0"}},
		{"evt.type in (open, rename) and fd.name = /etc/x", []string{"paths: [/etc/x]", "every file.rename event"}, 0, []string{"fd.name = /etc/x"}},
		{"evt.type = open and evt.is_open_write = true and fd.name startswith /var/log/ and evt.arg.flags contains O_TRUNC",
			[]string{"paths: [/var/log/] access: [write] open_flags: [O_TRUNC]"}, 0, []string{"evt.arg.flags contains O_TRUNC"}},
		{"evt.type = open and evt.arg.flags contains O_DIRECT", []string{"open_flags: [O_DIRECT, O_DIRECTORY]"}, 0, []string{"evt.arg.flags contains O_DIRECT"}},
		{"evt.type = open and (evt.arg.flags contains O_TRUNC or evt.arg.flags contains O_CREAT)", []string{"open_flags: [O_TRUNC, O_CREAT]"}, 0,
			[]string{"evt.arg.flags contains O_TRUNC or evt.arg.flags contains O_CREAT"}},
		{"evt.type = open and (evt.arg.flags contains O_TRUNC or fd.name = /x)", []string{"every file.open event"}, 0,
			[]string{"evt.arg.flags contains O_TRUNC or fd.name = /x"}},
		{"evt.type = open and evt.arg.flags contains WRONLY", []string{"every file.open event"}, 0, []string{"evt.arg.flags contains WRONLY"}},
		{"evt.type = open and fd.name startswith /etc/ and fd.nameraw glob \"*../*\"", []string{"paths: [/etc/] raw_contains: [../] raw_path: true"}, 0,
			[]string{"fd.nameraw glob *../*"}},
		{"evt.type = open and evt.failed = true and fd.name startswith /etc/", []string{"paths: [/etc/] failed_opens: true"}, 0,
			[]string{"evt.failed = true"}},
		{"evt.type = open and not evt.failed = true", []string{"every file.open event failed_opens: true"}, 0,
			[]string{"not evt.failed = true"}},
		{"evt.type = open and fd.name startswith /tmp/ and (fd.filename endswith .so or fd.filename contains .so.)",
			[]string{"paths: [/tmp/] name_contains: [.so]"}, 0, []string{"fd.filename endswith .so or fd.filename contains .so."}},
		{"evt.type = open and fd.name startswith /tmp/ and fd.filename endswith .so", []string{"paths: [/tmp/] name_suffixes: [.so]"}, 0, nil},
		{"evt.type = open and (fd.filename = release_agent or fd.filename contains .bak)", []string{"name_contains: [release_, .bak]"}, 0,
			[]string{"fd.filename = release_agent or fd.filename contains .bak"}},
		{"evt.type = open and fd.filename contains ../", []string{"every file.open event"}, 0, []string{"fd.filename contains ../"}},
		{"evt.type = open and evt.is_open_write = true and fd.filename = release_agent", []string{"access: [write] name_suffixes: [/release_agent]"}, 0, nil},
		{"evt.type = open and fd.name endswith release_agent", []string{"name_suffixes: [release_agent]"}, 0, nil},
		{"evt.type = open and fd.name endswith /sys/fs/cgroup/release_agent", []string{"name_suffixes: [/release_agent]"}, 0,
			[]string{"fd.name endswith /sys/fs/cgroup/release_agent"}},
		{"evt.type = open and fd.filename in (a.so, b.so) and fd.filename endswith .so", []string{"name_suffixes: [/a.so, /b.so]"}, 0, nil},
		{"evt.type = open and fd.filename contains .so.", []string{"name_contains: [.so.]"}, 0, []string{"fd.filename contains .so."}},
		{"evt.type = open and fd.nameraw contains ../", []string{"raw_contains: [../] raw_path: true"}, 0, []string{"fd.nameraw contains ../"}},
		{"evt.type = open and fd.nameraw contains /proc/self/", []string{"raw_contains: [/proc/se] raw_path: true"}, 0, []string{"fd.nameraw contains /proc/self/"}},
		{"evt.type = open and fd.name endswith /", []string{"every file.open event"}, 0, []string{"fd.name endswith /"}},
		{"evt.type = execve and proc.name = bash", nil, rules.KindsOf(rules.ProcessExec), []string{"proc.name = bash"}},
		{"evt.type = open and fd.name startswith /etc/ and proc.name in (sshd, nginx)", []string{"paths: [/etc/] process_names: [sshd, nginx]"}, 0, nil},
		{"evt.type = open and proc.name = a_very_long_process_name", []string{"process_names: [a_very_long_pro]"}, 0, []string{"proc.name = a_very_long_process_name"}},
		{"evt.type = open and not proc.name in (trusted)", []string{"every file.open event"}, 0, []string{"not proc.name in (cat, ls)"}},
		{"evt.type = connect and (proc.pname = node or proc.pname in (python, ruby))", []string{"parent_names: [node, python, ruby]"}, 0,
			[]string{"proc.pname = node or proc.pname in (python, ruby)"}},
		// The parent names join the grandparent's: some ancestor within two generations.
		{"evt.type = connect and (proc.aname[0] = sh and proc.aname[1] in (node, ruby) or proc.aname[2] = sh)",
			[]string{"ancestor_names: [node, ruby, sh] ancestor_depth: 2"}, 0,
			[]string{"(proc.aname[0] = sh and proc.aname[1] in (node, ruby)) or proc.aname[2] = sh"}},
		{"evt.type = connect and proc.aname[1] in (node, ruby)", []string{"parent_names: [node, ruby]"}, 0, []string{"proc.aname[1] in (node, ruby)"}},
		{"evt.type = connect and proc.aname[3] = nginx", []string{"ancestor_names: [nginx] ancestor_depth: 3"}, 0,
			[]string{"proc.aname[3] = nginx"}},
		{"evt.type = connect and proc.aname in (nginx, a_very_long_process_name)",
			[]string{"ancestor_names: [nginx, a_very_long_pro] ancestor_depth: 8 (a longer chain passes)"}, 0,
			[]string{"proc.aname in (nginx, a_very_long_process_name)"}},
		{"evt.type = connect and proc.aname[12] = nginx", []string{"ancestor_names: [nginx] ancestor_depth: 8 (a longer chain passes)"}, 0,
			[]string{"proc.aname[12] = nginx"}},
		// The web-shell shape: a shell whose parent or an ancestor within three is a server.
		{"evt.type = connect and proc.name = sh and (proc.pname = node or proc.aname[2] = node or proc.aname[3] = nginx)",
			[]string{"process_names: [sh] ancestor_names: [node, nginx] ancestor_depth: 3"}, 0,
			[]string{"proc.pname = node or proc.aname[2] = node or proc.aname[3] = nginx"}},
		// Two ancestor keys meet: the deeper one is kept; parent names stay beside them.
		{"evt.type = connect and proc.aname[2] = a and proc.aname[4] = b and proc.pname = c",
			[]string{"parent_names: [c] ancestor_names: [b] ancestor_depth: 4"}, 0,
			[]string{"proc.aname[2] = a", "proc.aname[4] = b", "proc.pname = c"}},
		// Without an ancestor key on one side, the join has none.
		{"evt.type = connect and (proc.aname[2] = a or proc.name = b)", []string{"every network.connect event"}, 0,
			[]string{"proc.aname[2] = a or proc.name = b"}},
		{"evt.type = connect and not proc.aname[2] = a", []string{"every network.connect event"}, 0,
			[]string{"not proc.aname[2] = a"}},
		{"evt.type = connect and (proc.name = sh or fd.sport = 22)", []string{"every network.connect event"}, 0, []string{"proc.name = sh or fd.sport = 22"}},
		{"evt.type = open and proc.tty != 0", []string{"tty: true"}, 0, nil},
		{"evt.type = open and proc.tty = 0 and proc.name = cat", []string{"process_names: [cat] tty: false"}, 0, nil},
		{"evt.type = open and proc.tty = 0 and proc.tty != 0", nil, 0, []string{"proc.tty = 0", "proc.tty != 0"}},
		{"evt.type = open and thread.cap_effective contains CAP_SYS_ADMIN", []string{"capabilities: [CAP_SYS_ADMIN]"}, 0,
			[]string{"thread.cap_effective contains CAP_SYS_ADMIN"}},
		{"evt.type = open and thread.cap_effective contains CAP_SYS_M", []string{"capabilities: [CAP_SYS_MODULE]"}, 0,
			[]string{"thread.cap_effective contains CAP_SYS_M"}},
		{"evt.type = open and thread.cap_effective contains \"CAP_CHOWN CAP_DAC\"", []string{"every file.open event"}, 0,
			[]string{"thread.cap_effective contains \"CAP_CHOWN CAP_DAC\""}},
		{"(evt.type = execve and proc.name = sh) or (evt.type = open and fd.name = /etc/x)",
			[]string{"paths: [/etc/x]"}, rules.KindsOf(rules.ProcessExec), []string{"(evt.type = execve and proc.name = sh) or (evt.type = open and fd.name = /etc/x)"}},
	}
	for _, c := range cases {
		p := Lower(compile(t, c.cond).Expr())
		var fs []string
		for _, f := range p.Filters {
			fs = append(fs, f.String())
		}
		assert.Equal(t, c.filters, fs, c.cond)
		assert.Equal(t, c.always, p.Always, c.cond)
		assert.Equal(t, c.residual, p.Residual, c.cond)
	}
}

// The property: for random conditions and random events, the kernel part never
// rejects an event the full condition accepts.
func TestLowerIsSound(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	checked, accepted := 0, 0
	for range 3000 {
		text := genCond(r, 3)
		n, err := cond.Parse(text)
		require.NoError(t, err, text)
		pred, err := rules.Compile(n, &rules.Defs{})
		if err != nil {
			continue // e.g. a condition that can match no event
		}
		plan := Lower(pred.Expr())
		for range 40 {
			ev := genEvent(r)
			checked++
			if pred.Eval(ev) {
				accepted++
				require.True(t, plan.Passes(ev.Event), "condition %q accepts %+v, the kernel part %+v rejects it", text, ev.Event, plan.Filters)
			}
		}
	}
	t.Logf("%d events checked, %d accepted by their condition", checked, accepted)
	assert.Greater(t, accepted, 1000, "the generator must produce accepted events")
}

func FuzzLowerIsSound(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(7), uint64(99))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		r := rand.New(rand.NewPCG(a, b))
		text := genCond(r, 4)
		n, err := cond.Parse(text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		pred, err := rules.Compile(n, &rules.Defs{})
		if err != nil {
			return
		}
		plan := Lower(pred.Expr())
		for range 50 {
			ev := genEvent(r)
			if pred.Eval(ev) && !plan.Passes(ev.Event) {
				t.Fatalf("condition %q accepts %+v, the kernel part %+v rejects it", text, ev.Event, plan.Filters)
			}
		}
	})
}

var (
	paths = []string{"/etc/shadow", "/etc/passwd", "/etc/ssl/x", "/tmp/a", "/tmp/ab/c", "/root/.ssh/id", "/proc/1/environ", "/etc", "/",
		"/tmp/x.so", "/tmp/libz.so.1", "/tmp/x.so.txt", "/tmp/xso", "/sys/fs/cgroup/release_agent", "/tmp/my_release_agent",
		"/tmp/release_agent.bak", "/tmp/" + longName + ".so", "/tmp/" + longName + ".so.1"}
	// longName is longer than the kernel reads of a name.
	longName = strings.Repeat("n", 70)
	names    = []string{".so", "so", "x.so", ".so.", "release_agent", "_release_agent", "shadow", "a", longName + ".so", longName, "", "/"}
	ends     = []string{".so", "/release_agent", "release_agent", "a/release_agent", "shadow", "/", "", "/tmp/x.so", "/" + longName + ".so"}
	raws     = []string{"", "../", "..", "/tmp/../etc/shadow", "/etc/shadow", "x/./y", strings.Repeat("/.", 130) + "/../x"}
	vals     = []string{"/etc", "/etc/", "/etc/shadow", "/tmp/a", "/tmp/ab", "/tmp", "/root/.ssh", "/proc/1", "/", "/e", "shadow", "/tmp//a", "/tmp/a*", "/etc/s?adow", "*"}
	ips      = []string{"10.0.0.1", "10.0.0.0/8", "192.168.1.1", "::1", "fd00::/8", "127.0.0.1"}
	exes     = []string{"/bin/sh", "/usr/bin/bash", "/bin/", "sh", "/usr/bin/cat"}
	types    = []string{"open", "openat", "write", "connect", "listen", "accept", "execve", "unlink", "chmod", "procexit"}
	// Process names around the kernel's 15 bytes: a long one and its 15-byte prefix.
	procNames = []string{"cat", "sh", "node", "a_very_long_process_name", "a_very_long_pro", ""}
	capVals   = []string{"CAP_SYS_ADMIN", "CAP_SYS", "CAP_NET_RAW", "CAP_", "ADMIN CAP_SYS_BOOT", "CAP_CHOWN", "CAP_4", "NOPE"}
	capSets   = [][]string{nil, {"CAP_CHOWN"}, {"CAP_SYS_ADMIN"}, {"CAP_NET_RAW", "CAP_SYS_ADMIN"}, {"CAP_SYS_MODULE", "CAP_SYS_BOOT", "CAP_41"}}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func list(r *rand.Rand, s []string) string {
	n := 1 + r.IntN(3)
	var out []string
	for range n {
		out = append(out, fmt.Sprintf("%q", pick(r, s)))
	}
	return "(" + strings.Join(out, ", ") + ")"
}

func genCond(r *rand.Rand, depth int) string {
	if depth == 0 || r.IntN(3) == 0 {
		switch r.IntN(24) {
		case 0:
			return "evt.type in " + list(r, types)
		case 1:
			return "evt.type = " + pick(r, types)
		case 2:
			return fmt.Sprintf("fd.name %s %q", pick(r, []string{"=", "!=", "startswith", "endswith", "glob", "contains"}), pick(r, vals))
		case 3:
			return "fd.name " + pick(r, []string{"in", "pmatch"}) + " " + list(r, vals)
		case 4:
			return fmt.Sprintf("fd.directory %s %q", pick(r, []string{"=", "!=", "startswith"}), pick(r, vals))
		case 5:
			return "fd.directory in " + list(r, vals)
		case 6:
			return fmt.Sprintf("evt.is_open_%s %s %s", pick(r, []string{"read", "write"}), pick(r, []string{"=", "!="}), pick(r, []string{"true", "false"}))
		case 7:
			return fmt.Sprintf("fd.%s %s %q", pick(r, []string{"sip", "snet"}), pick(r, []string{"=", "!="}), pick(r, ips))
		case 8:
			return "fd." + pick(r, []string{"sip", "snet"}) + " in " + list(r, ips)
		case 9:
			return fmt.Sprintf("fd.sport %s %s", pick(r, []string{"=", "!=", ">", "<"}), pick(r, []string{"22", "443", "0", "80"}))
		case 10:
			return "fd.sport in (22, 443)"
		case 11:
			if r.IntN(2) == 0 {
				return "proc.exepath in " + list(r, exes)
			}
			return fmt.Sprintf("proc.exepath %s %q", pick(r, []string{"=", "!=", "startswith"}), pick(r, exes))
		case 12:
			return fmt.Sprintf("evt.arg.flags contains %q", pick(r, []string{"O_TRUNC", "O_CREAT", "O_DIRECT", "O_SYNC", "WRONLY", "O_", "|O_T", "TRUNC", "O_RDONLY|O_CREAT"}))
		case 13:
			if r.IntN(3) == 0 {
				return "fd.filename in " + list(r, names)
			}
			return fmt.Sprintf("fd.filename %s %q", pick(r, []string{"=", "!=", "endswith", "contains", "startswith"}), pick(r, names))
		case 14:
			return fmt.Sprintf("fd.name endswith %q", pick(r, ends))
		case 15:
			if r.IntN(3) == 0 {
				return fmt.Sprintf("fd.nameraw glob %q", pick(r, []string{"*../*../*", "*../*", "/tmp/*", "*", "?", "*[.]*", "*/./*", "*shadow"}))
			}
			return fmt.Sprintf("fd.nameraw %s %q", pick(r, []string{"contains", "contains", "startswith"}), pick(r, raws))
		case 16:
			return fmt.Sprintf("proc.%s %s %q", pick(r, []string{"name", "pname"}), pick(r, []string{"=", "!=", "startswith"}), pick(r, procNames))
		case 17:
			return "proc." + pick(r, []string{"name", "pname"}) + " in " + list(r, procNames)
		case 18:
			return fmt.Sprintf("proc.tty %s %s", pick(r, []string{"=", "!=", ">"}), pick(r, []string{"0", "0", "34816"}))
		case 19:
			return fmt.Sprintf("thread.cap_effective %s %q", pick(r, []string{"contains", "contains", "=", "startswith"}), pick(r, capVals))
		case 20:
			return fmt.Sprintf("not proc.name in %s", list(r, procNames))
		case 21:
			return fmt.Sprintf("proc.aname[%d] in %s", r.IntN(3), list(r, procNames))
		case 22:
			// Ancestors beyond the parent, within and past the kernel's walk, and any ancestor.
			field := "proc.aname"
			if r.IntN(3) > 0 {
				field = fmt.Sprintf("proc.aname[%d]", pick(r, []int{2, 3, 4, 8, 9, 12}))
			}
			if r.IntN(2) == 0 {
				return fmt.Sprintf("%s %s %q", field, pick(r, []string{"=", "!=", "startswith"}), pick(r, procNames))
			}
			return field + " in " + list(r, procNames)
		}
		return fmt.Sprintf("proc.name = %s", pick(r, []string{"cat", "sh"}))
	}
	switch r.IntN(3) {
	case 0:
		return "(" + genCond(r, depth-1) + " and " + genCond(r, depth-1) + ")"
	case 1:
		return "(" + genCond(r, depth-1) + " or " + genCond(r, depth-1) + ")"
	}
	return "not " + genCond(r, depth-1)
}

// testEvent answers the rule engine's questions the way the receiver's adapter does.
type testEvent struct {
	Event
}

var genKinds = []rules.Kind{rules.FileOpen, rules.FileWrite, rules.FileUnlink, rules.FileChmod, rules.NetworkConnect,
	rules.NetworkListen, rules.NetworkAccept, rules.ProcessExec, rules.ProcessExit}

func genEvent(r *rand.Rand) *testEvent {
	ev := &testEvent{}
	// Names are comms, as user space knows them: at most 15 bytes.
	ev.Name = pick(r, []string{"cat", "sh", "node", "a_very_long_pro", "a_very_long_prX"})
	ev.PName = pick(r, []string{"cat", "sh", "node", "a_very_long_pro", "bash"})
	if r.IntN(4) == 0 {
		// Re-parented: the kernel's real_parent is another process now.
		ev.RealPName = pick(r, []string{"init", "node", "bash", "cat"})
	}
	// Chains of 1 to 13 generations: shorter and longer than the kernel's walk.
	for range r.IntN(13) {
		ev.Ancestors = append(ev.Ancestors, pick(r, []string{"cat", "sh", "node", "a_very_long_pro", "init", "a_very_long_process_name"}))
	}
	ev.TTY = r.IntN(2) == 0
	ev.Caps = pick(r, capSets)
	ev.Event.Kind = pick(r, genKinds)
	ev.Path = pick(r, paths)
	ev.Read, ev.Write = r.IntN(2) == 0, r.IntN(2) == 0
	addr := netip.MustParseAddr(pick(r, []string{"10.0.0.1", "10.1.2.3", "192.168.1.1", "::1", "fd00::5", "127.0.0.1"}))
	ev.Server = netip.AddrPortFrom(addr, pick(r, []uint16{22, 443, 80, 8080}))
	ev.Exe = pick(r, []string{"/bin/sh", "/usr/bin/bash", "/usr/bin/cat", "/bin/shx"})
	if ev.Event.Kind == rules.FileOpen {
		ev.Raw = pick(r, raws)
	}
	for _, n := range []string{"O_CREAT", "O_TRUNC", "O_APPEND", "O_DIRECT", "O_DIRECTORY", "O_SYNC", "O_DSYNC"} {
		if r.IntN(4) == 0 {
			ev.Flags = append(ev.Flags, n)
		}
	}
	return ev
}

// flags renders the open's flags as evt.arg.flags does: the access mode, then the names.
func (e *testEvent) flags() string {
	mode := "O_RDONLY"
	switch {
	case e.Read && e.Write:
		mode = "O_RDWR"
	case e.Write:
		mode = "O_WRONLY"
	}
	return strings.Join(append([]string{mode}, e.Flags...), "|")
}

func (e *testEvent) file() bool {
	return e.Event.Kind >= rules.FileOpen && e.Event.Kind <= rules.FileSymlink
}
func (e *testEvent) net() bool {
	return e.Event.Kind >= rules.NetworkConnect && e.Event.Kind <= rules.NetworkSend
}

func (e *testEvent) Kind() rules.Kind { return e.Event.Kind }

func (e *testEvent) Str(id rules.FieldID, idx int) (string, bool) {
	switch id {
	case rules.FieldProcName:
		return e.Name, true
	case rules.FieldProcPname:
		return e.PName, true
	case rules.FieldProcAname:
		switch idx {
		case 0:
			return e.Name, true
		case 1:
			return e.PName, true
		}
		if idx-2 < len(e.Ancestors) {
			return e.Ancestors[idx-2], true
		}
		return "", false // past the chain's end
	case rules.FieldThreadCapEffective:
		return strings.Join(e.Caps, " "), true
	case rules.FieldProcExepath:
		return e.Exe, true
	case rules.FieldEvtArgFlags:
		if e.Event.Kind == rules.FileOpen {
			return e.flags(), true
		}
	case rules.FieldFdName:
		if e.file() {
			return e.Path, true
		}
	case rules.FieldFdFilename:
		if e.file() {
			return e.Path[strings.LastIndexByte(e.Path, '/')+1:], true
		}
	case rules.FieldFdNameraw:
		if e.Event.Kind == rules.FileOpen && e.Raw != "" {
			return e.Raw, true
		}
	case rules.FieldFdDirectory:
		if e.file() {
			i := strings.LastIndexByte(e.Path, '/')
			if i == 0 {
				return "/", true
			}
			return e.Path[:i], true
		}
	}
	return "", false
}

func (e *testEvent) Num(id rules.FieldID, _ int) (int64, bool) {
	if id == rules.FieldFdSport && e.net() {
		return int64(e.Server.Port()), true
	}
	if id == rules.FieldProcTty {
		if e.TTY {
			return 34816, true
		}
		return 0, true
	}
	return 0, false
}

func (e *testEvent) Bool(id rules.FieldID, _ int) (bool, bool) {
	if e.Event.Kind != rules.FileOpen {
		return false, false
	}
	switch id {
	case rules.FieldEvtIsOpenRead:
		return e.Read, true
	case rules.FieldEvtIsOpenWrite:
		return e.Write, true
	}
	return false, false
}

func (e *testEvent) Addr(id rules.FieldID, _ int) (netip.Addr, bool) {
	if (id == rules.FieldFdSip || id == rules.FieldFdSnet) && e.net() {
		return e.Server.Addr(), true
	}
	return netip.Addr{}, false
}

// The rule's own ancestor key is what the kernel checks: Intersect keeps it
// over the condition's (which user space decides anyway).
func TestIntersectKeepsTheRulesAncestorKey(t *testing.T) {
	keys := Filter{Kind: rules.NetworkConnect, AncestorNames: []string{"nginx"}, AncestorDepth: 2}
	cond := Filter{Kind: rules.NetworkConnect, AncestorNames: []string{"sshd"}, AncestorDepth: 3}
	f, empty, _ := Intersect(keys, cond)
	require.False(t, empty)
	assert.Equal(t, []string{"nginx"}, f.AncestorNames)
	assert.Equal(t, 2, f.AncestorDepth)
	f, _, _ = Intersect(Filter{Kind: rules.NetworkConnect}, cond)
	assert.Equal(t, []string{"sshd"}, f.AncestorNames, "no key of its own: the condition's")
	assert.Equal(t, 3, f.AncestorDepth)
}
