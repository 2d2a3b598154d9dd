package rulestage

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
)

// defaultPack loads the default detection pack as the receiver does: the policy
// set with its conditions linked, then its rules files with the policies' lists
// and macros.
func defaultPack(tb testing.TB) Loaded {
	tb.Helper()
	set := policy.LoadLinked([]string{"../../../../rules"}, policy.TypicalCapabilities(), Linker{})
	require.Empty(tb, set.Errors())
	files := set.RulesFiles()
	require.NotEmpty(tb, files)
	l := LoadFilesWith(PolicyDefs(set.Policies), files, policy.MaxPolicies-len(set.Policies))
	require.Empty(tb, l.Problems)
	require.Positive(tb, l.Loaded)
	return l
}

// benignExec is what an exec storm is made of: a program no exec rule is about,
// in a container, under the container's shim.
func benignExec() *event.Event {
	ev := execEv()
	ev.Proc.Executable, ev.Proc.Args, ev.Proc.CommandLine = "/usr/bin/ls", []string{"ls", "-la", "/app"}, "ls -la /app"
	ev.Parent.Executable, ev.Parent.Args, ev.Parent.CommandLine = "/usr/bin/containerd-shim", []string{"containerd-shim"}, "containerd-shim"
	return ev
}

// randomEvent builds an exec or an open from pools that the rule sets' names,
// paths and arguments come from, so that rules fire as well as fail.
func randomEvent(r *rand.Rand, names []string) *event.Event {
	pick := func(pool []string) string { return pool[r.IntN(len(pool))] }
	name := pick(names)
	dirs := []string{"/usr/bin/", "/bin/", "/tmp/", "/var/tmp/", "/dev/shm/", "memfd:", "./"}
	argPool := []string{"-la", "-c id", "-c /dev/shm/x", "/dev/shm/x", "-e /bin/sh", "--sh-exec sh", "-r BEGIN PRIVATE KEY /",
		"-name id_rsa", "aws_access_key_id ~/.aws", "-i", "exit", "uptime", "-c curl x | sh", "--exec=sh"}
	ev := execEv()
	if r.IntN(4) == 0 {
		ev = openEv(pick([]string{"/etc/shadow", "/etc/ld.so.cache", "/tmp/x.so", "/root/.ssh/id_rsa", "/app/a.json",
			"/etc/sudoers", "/proc/self/mem", "/var/run/secrets/kubernetes.io/serviceaccount/token"}),
			[]event.FileAccess{event.AccessRead, event.AccessWrite, event.AccessReadWrite}[r.IntN(3)])
	}
	p := ev.Proc
	p.Executable = pick(dirs) + name
	if r.IntN(3) == 0 {
		p.Name = name // the kernel's comm, else derived from the path
	}
	p.Args = []string{name}
	if r.IntN(4) == 0 {
		p.Args[0] = p.Executable
	}
	for range r.IntN(3) {
		p.Args = append(p.Args, pick(argPool))
	}
	p.CommandLine = strings.Join(p.Args, " ")
	p.Cwd = pick([]string{"/app", "/dev/shm/", "/tmp", "/"})
	p.EUID = []uint32{0, 1, 2, 33, 1000}[r.IntN(5)]
	p.UserName = pick([]string{"root", "daemon", "www-data", "nobody", "alice", ""})
	p.ExecAttrs = r.IntN(5) != 0
	p.TTY = []uint32{0, 34816}[r.IntN(2)]
	p.LoginUID = []uint32{event.NoLoginUID, 1, 1000}[r.IntN(3)]
	p.Exe.Flags = event.ExeFlags(r.IntN(16))
	p.Privileged = r.IntN(2) == 0
	p.ContainerID = pick([]string{"", "0123456789ab"})
	if r.IntN(8) == 0 {
		ev.Parent = nil
	} else {
		pn := pick(names)
		ev.Parent.Executable, ev.Parent.Args = pick(dirs)+pn, []string{pn, pick(argPool)}
		ev.Parent.CommandLine = strings.Join(ev.Parent.Args, " ")
		ev.Parent.Name = ""
		if r.IntN(2) == 0 {
			ev.Parent.Name = pn
		}
	}
	ev.Ancestors = nil
	for range r.IntN(4) {
		an := pick(names)
		ev.Ancestors = append(ev.Ancestors, event.Ancestor{ExecID: "e-1", Executable: "/usr/bin/" + an})
	}
	return ev
}

// The process-name index gives the verdicts of evaluating every rule, in the
// same order, on the 25-rule set and the default pack: random execs and opens
// named after the rules' own names (and others), with parents, ancestors and
// executable flags drawn at random.
func TestIndexSameVerdictsAsEveryRule(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  *Set
	}{{"25-rules", shapes(t).Set}, {"pack", defaultPack(t).Set}} {
		t.Run(tc.name, func(t *testing.T) {
			pool := []string{"ls", "true", "runc", "node", "nginx", "containerd-shim", "sshd", "go", "dpkg", "java", "x"}
			filed := 0
			for _, r := range tc.set.rules {
				names, ok := rules.NamesRequired(r.Predicate.Expr())
				if ok {
					filed++
				}
				pool = append(pool, names...)
			}
			require.Positive(t, filed, "some rules are filed by name")
			rng := rand.New(rand.NewPCG(9, 10))
			var st Stage
			var f Fields
			fired := map[string]int{}
			for i := range 20000 {
				ev := randomEvent(rng, pool)
				got := names(st.Match(tc.set, ev, nil))
				f.Reset(ev)
				var want []string
				for _, r := range tc.set.rules {
					if r.Predicate.Eval(&f) {
						want = append(want, r.Name)
					}
				}
				require.Equal(t, want, got, "event %d: %s %q (%s) under %+v", i, ev.Name, ev.Proc.Executable, ev.Proc.CommandLine, ev.Parent)
				for _, n := range got {
					fired[n]++
				}
			}
			t.Logf("%d rules of %d fired at least once; %d filed by name", len(fired), len(tc.set.rules), filed)
			assert.GreaterOrEqual(t, len(fired), 8, "the events make many rules fire: %v", fired)
		})
	}
}
