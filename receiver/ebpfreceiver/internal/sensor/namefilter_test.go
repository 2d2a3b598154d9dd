//go:build linux

package sensor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// nameFilterPolicy has one rule per kernel name test: a suffix (.so) under
// so, a substring (.so.) under ver, the exact name release_agent and the suffix
// release_agent on write opens under agent, a raw-path substring under raw,
// a file.write rule on .log names under so, and a name anywhere.
func nameFilterPolicy(so, ver, agent, raw string) string {
	return fmt.Sprintf(`name: kfilter
rules:
  - name: so-suffix
    event: file.open
    paths: [%[1]s/]
    name_suffixes: [".so"]
  - name: so-versioned
    event: file.open
    paths: [%[2]s/]
    name_contains: [".so."]
  - name: agent-exact
    event: file.open
    paths: [%[3]s/]
    access: [write]
    name_suffixes: ["/release_agent"]
  - name: agent-suffix
    event: file.open
    paths: [%[3]s/]
    access: [write]
    name_suffixes: ["release_agent"]
  - name: traversal
    event: file.open
    paths: [%[4]s/]
    raw_contains: ["../"]
  - name: log-write
    event: file.write
    paths: [%[1]s/]
    name_suffixes: [".log"]
  - name: anywhere
    event: file.open
    name_suffixes: ["/vigil-anywhere"]
`, so, ver, agent, raw)
}

// touch creates files (empty) and returns their paths.
func touch(t *testing.T, dir string, names ...string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		require.NoError(t, os.WriteFile(p, nil, 0o600))
		out = append(out, p)
	}
	return out
}

func writeOpen(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err, path)
	require.NoError(t, f.Close())
}

// byRule maps each reported path to the names of the rules its alerts matched.
func byRule(t *testing.T, c *Compiled, got []Alert) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, a := range got {
		for i := 0; i < maxRules; i++ {
			if a.Rules&(1<<i) == 0 {
				continue
			}
			ref, ok := c.Rules.Refs[KindFile*maxRules+i]
			require.True(t, ok, "slot %d", i)
			out[a.Path] = append(out[a.Path], ref.Rule)
		}
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

// nameFilterScenario: the kernel's file-name and raw-path filters on one hook
// set. A name the test passes must be reported, a look-alike must not: x.so
// under the rule's directory, not x.so.txt, xso or x.so elsewhere; a 200-byte
// name ending in .so (the suffix is read from the name's end: exact, not only
// fail closed), not one ending in .sx; libz.so.1 for the substring, and a
// name longer than the kernel's buffer (its start unread: fail closed) for it
// too; release_agent for the exact name and the suffix, my_release_agent for
// the suffix only, release_agent.bak for neither; a file bind-mounted onto
// m.so (its dentry is named src.txt: the path's name is the mountpoint's) and
// not x.so bind-mounted onto m.txt. raw_contains: open("dir/../dir/f") is reported and
// open("dir/f") is not on the syscall hook; a raw path longer than the buffer
// fails closed. file.write: a write to a.log is, to a.txt is not.
func nameFilterScenario(t *testing.T, r *policyRig, lsm bool) {
	so, ver, agent, raw, elsewhere := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir(), otherTopDir(t)
	long := strings.Repeat("n", 197)
	// libabcd.so.1 holds ".so." across the kernel's 8-byte scan words (bytes 7 to 10); libabcd.sox1 nearly.
	yes := slices.Concat(touch(t, so, "x.so", long+".so"), touch(t, ver, "libz.so.1", strings.Repeat("q", 100), "libabcd.so.1"))
	no := slices.Concat(touch(t, so, "x.so.txt", "xso", long+".sx"), touch(t, ver, "libz.so", "libz.txt", "libabcd.sox1"))
	out := touch(t, elsewhere, "x.so")
	anywhere := touch(t, elsewhere, "vigil-anywhere")[0]
	agents := touch(t, agent, "release_agent", "my_release_agent", "release_agent.bak")
	// Bind mounts: a file named src.txt mounted onto m.so is m.so in the
	// path (reported); x.so mounted onto m.txt is m.txt (not reported).
	bound, boundNot := touch(t, so, "m.so")[0], touch(t, so, "m.txt")[0]
	for src, dst := range map[string]string{touch(t, elsewhere, "src.txt")[0]: bound, out[0]: boundNot} {
		require.NoError(t, unix.Mount(src, dst, "", unix.MS_BIND, ""))
		t.Cleanup(func() { _ = unix.Unmount(dst, unix.MNT_DETACH) })
	}
	rawFile := touch(t, raw, "f")[0]
	logs := touch(t, so, "a.log", "a.txt")
	var yamls []string
	yamls = append(yamls, nameFilterPolicy(so, ver, agent, raw))
	caps := policy.Capabilities{CgroupSockAddr: true, SendSignal: true, LSM: lsm}
	c := r.applyWith(t, caps, lsm, yamls...)
	// The rule without paths does not turn the top-directory pre-filter off:
	// it is skipped only while that rule is a candidate.
	require.Equal(t, uint8(1), c.Image.selector.TopFilter)

	for _, p := range slices.Concat(yes, no, out, []string{bound, boundNot, anywhere}) {
		readFile(t, p)
	}
	for _, p := range agents {
		writeOpen(t, p)
		readFile(t, p) // a read open is no write open: never reported
	}
	readFile(t, rawFile)
	traversal := raw + "/../" + filepath.Base(raw) + "/f"
	readFile(t, traversal)
	longRaw := raw + strings.Repeat("/.", 140) + "/f"
	readFile(t, longRaw)
	for _, p := range logs {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.Write([]byte("x"))
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}

	got := r.alerts(t, time.Second, mine)
	rules := byRule(t, c, got)
	want := map[string][]string{
		yes[0]: {"so-suffix"}, yes[1]: {"so-suffix"}, yes[2]: {"so-versioned"}, yes[3]: {"so-versioned"}, yes[4]: {"so-versioned"},
		bound:     {"so-suffix"},
		agents[0]: {"agent-exact", "agent-suffix"}, agents[1]: {"agent-suffix"},
		anywhere: {"anywhere"}, // outside every top directory of the path rules
	}
	if lsm {
		// The security hook has no raw path: every open under the rule's
		// directory stays a candidate (three opens of one file).
		want[rawFile] = []string{"traversal", "traversal", "traversal"}
	} else {
		// The traversal and the too-long raw path (fail closed); not the plain open.
		want[rawFile] = []string{"traversal", "traversal"}
	}
	for p, rs := range want {
		assert.Equal(t, rs, rules[p], "%s", p)
	}
	for _, p := range slices.Concat(no, out, agents[2:], []string{logs[1], boundNot}) {
		assert.NotContains(t, rules, p, "a look-alike")
	}
	var writes []string
	for _, a := range got {
		if a.Event == uint8(processVigilEventEV_FILE_WRITE) {
			writes = append(writes, a.Path)
		}
	}
	assert.Equal(t, []string{logs[0]}, writes, "file.write on the .log name only")
	if !lsm {
		var raws []string
		for _, a := range got {
			if a.Path == rawFile {
				raws = append(raws, a.Raw)
			}
		}
		assert.Equal(t, []string{traversal, longRaw[:255]}, raws, "the records carry the raw path")
	}
	for _, a := range got {
		if lsm {
			assert.NotZero(t, a.Flags&(FlagLSM|FlagFmodRet), "from the security hook: %s", a.Path)
		}
	}
}

func TestNameFiltersInKernel(t *testing.T) {
	nameFilterScenario(t, newPolicyRig(t), false)
}

func TestNameFiltersLSM(t *testing.T) { inSecurityBuilds(t, nameFiltersLSM) }

func nameFiltersLSM(t *testing.T, hooks Hooks) {
	testenv.RequireRoot(t)
	if os.Getenv("VIGIL_VM_KERNEL") == "" {
		t.Skip("BPF LSM is refused on this host: runs in the kernel matrix (make test-vm)")
	}
	nameFilterScenario(t, newPolicyRigHooks(t, hooks), true)
}

// An io_uring open has no raw path: a raw_contains rule's file opened through
// IORING_OP_OPENAT stays a candidate (reported, flagged FLAG_IO_URING); a
// name_suffixes rule is still decided on the file's name.
func TestNameFiltersIOUring(t *testing.T) {
	requireIOUring(t)
	r := newPolicyRig(t)
	dir := t.TempDir()
	files := touch(t, dir, "f", "x.so", "x.txt")
	r.apply(t, fmt.Sprintf(`name: uring
rules:
  - name: traversal
    event: file.open
    paths: [%[1]s/f]
    raw_contains: ["../"]
  - name: so
    event: file.open
    paths: [%[1]s/]
    name_suffixes: [".so"]
`, dir))
	for _, p := range files {
		assert.Equal(t, "ok", testenv.RunHelper(t, os.Args[0], "iouring-openat:"+p))
	}
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindFile && strings.HasPrefix(a.Path, dir+"/") })
	var paths []string
	for _, a := range got {
		paths = append(paths, a.Path)
		assert.Equal(t, FlagIOUring, a.Flags&FlagIOUring, a.Path)
	}
	assert.Equal(t, []string{files[0], files[1]}, paths, "the raw rule's file (fail closed) and x.so; not x.txt")
}
