package lower

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

func TestForKindShapes(t *testing.T) {
	cases := []struct {
		cond     string
		kind     rules.Kind
		filter   string
		residual []string
		never    bool
	}{
		{"fd.name startswith /etc/ and not proc.name in (trusted)", rules.FileOpen, "paths: [/etc/]", []string{"not proc.name in (cat, ls)"}, false},
		{"fd.name in (/etc/a, /etc/b) and fd.name in (/etc/b, /etc/c)", rules.FileOpen, "paths: [/etc/b]", nil, false},
		{"fd.name in (/etc/a) and fd.name = /etc/b", rules.FileOpen, "", nil, true},
		{"proc.exepath in (/bin/sh, /bin/bash) and proc.name = sh", rules.ProcessExec, "binaries: [/bin/sh, /bin/bash] process_names: [sh]", nil, false},
		{"proc.exepath = /bin/sh", rules.ProcessExec, "binaries: [/bin/sh]", nil, false},
		// The parent key passes a re-parented process: user space decides the parent.
		{"proc.name in (sh, bash) and proc.pname = node", rules.ProcessExec, "process_names: [sh, bash] parent_names: [node]", []string{"proc.pname = node"}, false},
		{"fd.name = /etc/shadow and proc.name in (sshd, a_very_long_process_name)", rules.FileOpen, "paths: [/etc/shadow] process_names: [sshd, a_very_long_pro]",
			[]string{"proc.name in (sshd, a_very_long_process_name)"}, false},
		{"proc.tty != 0 and fd.sport = 22", rules.NetworkConnect, "ports: [22] tty: true", nil, false},
		{"proc.tty = 0 and proc.tty != 0", rules.FileOpen, "", nil, true},
		{"thread.cap_effective contains CAP_SYS_ADMIN", rules.FileUnlink, "capabilities: [CAP_SYS_ADMIN]", []string{"thread.cap_effective contains CAP_SYS_ADMIN"}, false},
		{"not proc.name in (trusted)", rules.FileOpen, "every file.open event", []string{"not proc.name in (cat, ls)"}, false},
		{"fd.sip = 10.0.0.1 and fd.sport = 443", rules.NetworkConnect, "cidrs: [10.0.0.1/32] ports: [443]", nil, false},
		{"evt.type = execve", rules.FileOpen, "", nil, true},
		{"not fd.name startswith /etc/", rules.FileOpen, "every file.open event", []string{"not fd.name startswith /etc/"}, false},
	}
	for _, c := range cases {
		f, res, never := ForKind(compile(t, c.cond).Expr(), c.kind)
		assert.Equal(t, c.never, never, c.cond)
		if !c.never {
			assert.Equal(t, c.filter, f.String(), c.cond)
		}
		assert.Equal(t, c.residual, res, c.cond)
	}
}

func TestIntersect(t *testing.T) {
	cases := []struct {
		a, b  Filter
		want  string
		empty bool
	}{
		{Filter{Paths: []string{"/etc/"}}, Filter{Paths: []string{"/etc/ssl/", "/tmp/x", "/etc/shadow"}}, "paths: [/etc/ssl/, /etc/shadow]", false},
		{Filter{Paths: []string{"/etc/"}}, Filter{Paths: []string{"/tmp/"}}, "", true},
		{Filter{Paths: []string{"/etc/"}}, Filter{Access: []string{"read"}}, "paths: [/etc/] access: [read]", false},
		{Filter{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, Filter{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/8")}}, "cidrs: [10.1.0.0/16]", false},
		{Filter{Ports: []uint16{22, 443}}, Filter{Ports: []uint16{443, 80}}, "ports: [443]", false},
		{Filter{Binaries: []string{"/bin/sh"}}, Filter{Binaries: []string{"/bin/bash"}}, "", true},
		{Filter{ProcessNames: []string{"sh", "cat"}}, Filter{ProcessNames: []string{"cat", "ls"}}, "process_names: [cat]", false},
		// A rule's own parent key (real_parent) and a condition's (the forking
		// parent) are not intersected: both can hold after a re-parenting.
		{Filter{ParentNames: []string{"sh"}, ParentsOwn: true}, Filter{ParentNames: []string{"ls"}}, "parent_names: [sh]", false},
		{Filter{TTY: ptr(true)}, Filter{TTY: ptr(false)}, "", true},
		{Filter{TTY: ptr(true)}, Filter{ProcessNames: []string{"sh"}}, "process_names: [sh] tty: true", false},
		{Filter{Caps: []string{"CAP_CHOWN"}}, Filter{Caps: []string{"CAP_SYS_ADMIN", "CAP_NET_RAW"}}, "capabilities: [CAP_CHOWN]", false},
		{Filter{NameSuffixes: []string{".so", "/x"}}, Filter{NameSuffixes: []string{"/a.so", "y"}}, "name_suffixes: [/a.so]", false},
		{Filter{NameSuffixes: []string{".so"}}, Filter{NameSuffixes: []string{".txt"}}, "", true},
		{Filter{RawContains: []string{"../"}}, Filter{Paths: []string{"/etc/"}}, "paths: [/etc/] raw_contains: [../]", false},
	}
	for i, c := range cases {
		got, empty, _ := Intersect(c.a, c.b)
		assert.Equal(t, c.empty, empty, i)
		if !c.empty {
			assert.Equal(t, c.want, got.String(), i)
		}
	}
}

var genKeyPaths = [][]string{nil, {"/etc/"}, {"/etc/shadow", "/tmp/"}, {"/tmp/ab/"}, {"/root/.ssh/id"}}

func ptr[T any](v T) *T { return &v }

// genKeys draws a policy rule's own keys (paths, access, cidrs, ports,
// binaries, and the task keys of every kind).
func genKeys(r *rand.Rand, k rules.Kind) Filter {
	f := Filter{Kind: k}
	f.ProcessNames = pick(r, [][]string{nil, nil, {"cat"}, {"sh", "a_very_long_pro"}})
	f.ParentNames = pick(r, [][]string{nil, nil, {"node"}, {"bash", "cat"}})
	f.ParentsOwn = f.ParentNames != nil // a rule's own key: real_parent
	f.TTY = pick(r, []*bool{nil, nil, ptr(true), ptr(false)})
	f.Caps = pick(r, [][]string{nil, nil, {"CAP_SYS_ADMIN"}, {"CAP_CHOWN", "CAP_41"}})
	switch {
	case pathKinds.Has(k):
		f.Paths = pick(r, genKeyPaths)
		f.NameSuffixes = pick(r, [][]string{nil, nil, {".so"}, {"/release_agent", "shadow"}, {"/" + longName + ".so"}})
		f.NameContains = pick(r, [][]string{nil, nil, nil, {".so."}})
		if k == rules.FileOpen {
			f.Access = pick(r, [][]string{nil, {"read"}, {"write"}, {"read", "write"}})
			f.RawContains = pick(r, [][]string{nil, nil, {"../"}})
		}
	case serverKinds.Has(k):
		f.CIDRs = pick(r, [][]netip.Prefix{nil, {netip.MustParsePrefix("10.0.0.0/8")}, {netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("192.168.0.0/16")}})
		f.Ports = pick(r, [][]uint16{nil, {22}, {443, 80}})
	case k == rules.ProcessExec:
		f.Binaries = pick(r, [][]string{nil, {"/bin/sh"}, {"/usr/bin/bash", "/usr/bin/cat"}})
	}
	return f
}

// The property for a policy rule with a condition: the kernel filter (the
// rule's keys intersected with the condition's lowered part) never rejects an
// event that the keys and the condition accept; and when nothing is left for
// user space, it accepts nothing else (deny relies on this).
func TestForKindIsSoundAndExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	kinds := []rules.Kind{rules.FileOpen, rules.FileWrite, rules.FileUnlink, rules.NetworkConnect, rules.NetworkListen, rules.ProcessExec}
	accepted, exact := 0, 0
	for range 3000 {
		text := genCond(r, 3)
		n, err := cond.Parse(text)
		require.NoError(t, err, text)
		pred, err := rules.Compile(n, &rules.Defs{})
		if err != nil {
			continue
		}
		k := pick(r, kinds)
		keys := genKeys(r, k)
		f, residual, never := ForKind(pred.Expr(), k)
		kf, empty, loose := Intersect(keys, f)
		for range 40 {
			ev := genEvent(r)
			ev.Event.Kind = k
			want := pred.Eval(ev) && keys.Accepts(ev.Event)
			if want {
				accepted++
				require.False(t, never, "%q on %s: never, yet %+v matches", text, k, ev.Event)
				require.False(t, empty, "%q on %s: empty intersection, yet %+v matches", text, k, ev.Event)
				require.True(t, kf.Accepts(ev.Event), "%q with keys %s: kernel filter %s rejects %+v", text, keys, kf, ev.Event)
			}
			if !never && !empty && !loose && len(residual) == 0 {
				exact++
				require.Equal(t, want, kf.Accepts(ev.Event), "%q with keys %s: no residual, yet kernel filter %s differs on %+v", text, keys, kf, ev.Event)
			}
		}
	}
	t.Logf("%d accepted, %d decided in the kernel alone", accepted, exact)
	assert.Greater(t, accepted, 1000)
	assert.Greater(t, exact, 1000)
}

func FuzzForKindIsSound(f *testing.F) {
	f.Add(uint64(5), uint64(6))
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
		k := pick(r, genKinds)
		keys := genKeys(r, k)
		fl, residual, never := ForKind(pred.Expr(), k)
		kf, empty, loose := Intersect(keys, fl)
		for range 50 {
			ev := genEvent(r)
			ev.Event.Kind = k
			want := pred.Eval(ev) && keys.Accepts(ev.Event)
			if want && (never || empty || !kf.Accepts(ev.Event)) {
				t.Fatalf("%q with keys %s: kernel filter %s rejects %+v", text, keys, kf, ev.Event)
			}
			if !never && !empty && !loose && len(residual) == 0 && want != kf.Accepts(ev.Event) {
				t.Fatalf("%q with keys %s: no residual, yet kernel filter %s differs on %+v", text, keys, kf, ev.Event)
			}
		}
	})
}
