//go:build linux

package sensor

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// taskKeyDir makes a directory every user can read (a temporary directory is
// the test's own), with one file in it, and returns both paths.
func taskKeyDir(t *testing.T) (dir, file string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-taskkeys-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	file = filepath.Join(dir, "watched")
	require.NoError(t, os.WriteFile(file, []byte("x\n"), 0o644))
	return dir + "/", file
}

// copyProgram copies a program under another name into dir: a process run
// from it is named after the copy (its comm).
func copyProgram(t *testing.T, dir, prog, name string) string {
	t.Helper()
	b, err := os.ReadFile(prog)
	require.NoError(t, err)
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o755))
	return p
}

// appletCommand runs the copy at path with argv[0] the original program's name:
// a multi-call binary (busybox in the kernel-matrix guests) dispatches on
// argv[0], while the kernel names the process (comm) after the path.
func appletCommand(applet, path string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Args[0] = applet
	return cmd
}

// shellRun is the shell command that runs the copy at path with args: where the
// tools are busybox, from a subshell with argv[0] the applet's name (ash's
// exec -a; the subshell is the shell's child, so the shell stays the parent).
func shellRun(t *testing.T, applet, path string, args ...string) string {
	t.Helper()
	cmd := strings.Join(append([]string{path}, args...), " ")
	if multiCall(t, "/bin/sh") {
		return "(exec -a " + applet + " " + cmd + ")"
	}
	return cmd
}

// multiCall reports whether prog is busybox (the kernel-matrix guests' tools).
func multiCall(t *testing.T, prog string) bool {
	t.Helper()
	b, err := os.ReadFile(prog)
	require.NoError(t, err)
	return bytes.Contains(b, []byte("BusyBox v"))
}

// byPID groups the alerts of the given processes by process.
func byPID(alerts []Alert) map[uint32][]Alert {
	out := map[uint32][]Alert{}
	for _, a := range alerts {
		out[a.TGID] = append(out[a.TGID], a)
	}
	return out
}

// A file rule with process names reports an open by a program named as
// listed and not the same open by the same program under another name; a
// rule with parent names reports a program run by a parent so named and not
// one run by a parent named otherwise.
func TestTaskNameKeysInKernel(t *testing.T) { taskNameScenario(t, newPolicyRig(t)) }

// The task-key scenarios on the security hooks, which carry the file and
// syscall-kind rules where they work (kernel matrix only: this host refuses
// BPF LSM).
func TestTaskKeysLSM(t *testing.T) {
	inSecurityBuilds(t, func(t *testing.T, hooks Hooks) {
		testenv.RequireRoot(t)
		if os.Getenv("VIGIL_VM_KERNEL") == "" {
			t.Skip("BPF LSM is refused on this host: runs in the kernel matrix (make test-vm)")
		}
		r := newPolicyRigHooks(t, hooks)
		t.Run("names", func(t *testing.T) { taskNameScenario(t, r) })
		t.Run("tty", func(t *testing.T) { taskTTYScenario(t, r) })
		t.Run("capabilities", func(t *testing.T) { taskCapScenario(t, r) })
		t.Run("syscall-kind", func(t *testing.T) { taskSysScenario(t, r) })
		t.Run("exec-deny", func(t *testing.T) { taskExecDenyScenario(t, r) })
		t.Run("ancestors", func(t *testing.T) { taskAncestorScenario(t, r) })
		assert.Contains(t, r.pol.Attached(), r.pol.secHook("file_open").name)
	})
}

// applyKeys applies a policy the way the loaded hooks carry it (the security
// hooks take the file and syscall-kind rules where they are attached).
func (r *policyRig) applyKeys(t *testing.T, yaml string) {
	t.Helper()
	r.applyWith(t, r.caps(), r.pol.HasLSM(), yaml)
}

func taskNameScenario(t *testing.T, r *policyRig) {
	watched, file := taskKeyDir(t)
	bin := t.TempDir()
	listed := copyProgram(t, bin, "/bin/cat", "kvocab-cat")
	other := copyProgram(t, bin, "/bin/cat", "kvocab-dog")
	parent := copyProgram(t, bin, "/bin/sh", "kvocab-par")
	otherParent := copyProgram(t, bin, "/bin/sh", "kvocab-sh")
	r.applyKeys(t, fmt.Sprintf(`name: names
rules:
  - name: by-name
    event: file.open
    paths: [%s]
    process_names: [kvocab-cat, kvocab-fox]
  - name: by-parent
    event: file.open
    paths: [%s]
    parent_names: [kvocab-par]
`, watched, watched))

	run := func(applet, name string, args ...string) int {
		cmd := appletCommand(applet, name, args...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", name, out)
		return cmd.Process.Pid
	}
	// 10,000 opens of the watched file by this process, named neither so nor
	// run by such a parent: the kernel sends none of them.
	for range 10000 {
		fd, err := unix.Open(file, unix.O_RDONLY, 0)
		require.NoError(t, err)
		unix.Close(fd)
	}
	catPID := run("cat", listed, file)
	dogPID := run("cat", other, file)
	// The shells fork for cat (a command follows it): cat's parent is the shell.
	parPID := run("sh", parent, "-c", "/bin/cat "+file+"; exit 0")
	shPID := run("sh", otherParent, "-c", "/bin/cat "+file+"; exit 0")

	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Path == file })
	pids := byPID(got)
	require.Len(t, pids[uint32(catPID)], 1, "kvocab-cat is listed")
	assert.Equal(t, uint64(1), pids[uint32(catPID)][0].Rules, "only the name rule")
	assert.Empty(t, pids[uint32(dogPID)], "kvocab-dog: the same program under a name not listed")
	var underPar, underSh []Alert
	for _, a := range got {
		switch a.PPID {
		case uint32(parPID):
			underPar = append(underPar, a)
		case uint32(shPID):
			underSh = append(underSh, a)
		}
	}
	require.Len(t, underPar, 1, "cat run by kvocab-par")
	assert.Equal(t, uint64(2), underPar[0].Rules, "only the parent rule")
	assert.Empty(t, underSh, "cat run by kvocab-sh: a parent not listed")
	assert.Len(t, got, 2, "nothing else opened the file (the 10,000 opens of the test did not cross)")

	// A process the kernel has no record of (its entry evicted) is taken by
	// its live name, and so is a parent without one.
	evicted := func(name, script string) (*exec.Cmd, func()) {
		cmd := appletCommand("sh", name, "-c", script)
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		// The shell waits on its input: evict its entry, then let it go on.
		require.Eventually(t, func() bool {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
			return err == nil && strings.TrimSpace(string(b)) == filepath.Base(name)
		}, 5*time.Second, 10*time.Millisecond)
		time.Sleep(50 * time.Millisecond)
		pid := uint32(cmd.Process.Pid)
		require.NoError(t, r.proc.objs.processMaps.ProcBin.Delete(&pid))
		return cmd, func() {
			_, _ = in.Write([]byte("go\n"))
			_ = in.Close()
			require.NoError(t, cmd.Wait())
		}
	}
	self1, go1 := evicted(copyProgram(t, bin, "/bin/sh", "kvocab-fox"), "read x; exec 3< "+file+"; exit 0")
	go1()
	par2, go2 := evicted(parent, "read x; /bin/cat "+file+" >/dev/null; exit 0")
	go2()
	got = r.alerts(t, time.Second, func(a *Alert) bool { return a.Path == file })
	require.Len(t, got, 2, "%+v", got)
	for _, a := range got {
		switch {
		case a.TGID == uint32(self1.Process.Pid):
			assert.Equal(t, uint64(1), a.Rules, "kvocab-fox by its live name")
		case a.PPID == uint32(par2.Process.Pid):
			assert.Equal(t, uint64(2), a.Rules, "a parent named kvocab-par by its live name")
		default:
			t.Errorf("unexpected alert %+v", a)
		}
	}

	// The process names of a network rule: the test binary (named at
	// exec before the sensor started: the iterator recorded it) connects.
	comm, err := os.ReadFile("/proc/self/comm")
	require.NoError(t, err)
	self := strings.TrimSpace(string(comm))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	r.applyKeys(t, fmt.Sprintf(`name: net-names
rules:
  - name: self
    event: network.connect
    ports: [%d]
    process_names: [%s]
  - name: not-self
    event: network.connect
    ports: [%d]
    process_names: [kvocab-none]
`, port, self, port))
	c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
	require.NoError(t, err)
	c.Close()
	got = r.alerts(t, time.Second, func(a *Alert) bool { return a.TGID == uint32(os.Getpid()) && a.Kind == KindNet })
	require.Len(t, got, 1)
	assert.Equal(t, uint64(1), got[0].Rules, "the rule naming this process, not the other")
}

// The tty key: a rule for processes with a controlling terminal reports the
// open of a process started on a pty and not of one without; the rule for
// processes without one the reverse.
func TestTaskTTYKeyInKernel(t *testing.T) { taskTTYScenario(t, newPolicyRig(t)) }

func taskTTYScenario(t *testing.T, r *policyRig) {
	watched, file := taskKeyDir(t)
	r.applyKeys(t, fmt.Sprintf(`name: tty
rules:
  - name: with-tty
    event: file.open
    paths: [%s]
    tty: true
  - name: without-tty
    event: file.open
    paths: [%s]
    tty: false
`, watched, watched))
	ptmx := ptmxPath(t)
	ptsDir := filepath.Dir(ptmx)
	if ptmx == "/dev/ptmx" {
		ptsDir = "/dev/pts"
	}
	ptm, err := os.OpenFile(ptmx, os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	defer ptm.Close()
	require.NoError(t, unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	pts, err := os.OpenFile(filepath.Join(ptsDir, strconv.Itoa(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	defer pts.Close()

	withTTY := exec.Command("/bin/cat", file)
	withTTY.Stdin, withTTY.Stdout, withTTY.Stderr = pts, pts, pts
	withTTY.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, withTTY.Run())
	noTTY := exec.Command("/bin/cat", file)
	noTTY.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := noTTY.CombinedOutput()
	require.NoError(t, err, "%s", out)

	pids := byPID(r.alerts(t, time.Second, func(a *Alert) bool { return a.Path == file }))
	w, wo := pids[uint32(withTTY.Process.Pid)], pids[uint32(noTTY.Process.Pid)]
	require.Len(t, w, 1)
	assert.Equal(t, uint64(1), w[0].Rules, "with a terminal: the tty rule only")
	require.Len(t, wo, 1)
	assert.Equal(t, uint64(2), wo[0].Rules, "without one: the no-tty rule only")
	assert.Len(t, pids, 2)
}

// The capabilities key: a rule for processes holding CAP_DAC_OVERRIDE (or
// CAP_SYS_MODULE) reports the open of a root process and not the same open by
// a process that runs without capabilities (another user: exec gives it none).
func TestTaskCapabilityKeyInKernel(t *testing.T) { taskCapScenario(t, newPolicyRig(t)) }

func taskCapScenario(t *testing.T, r *policyRig) {
	watched, file := taskKeyDir(t)
	r.applyKeys(t, fmt.Sprintf(`name: caps
rules:
  - name: privileged
    event: file.open
    paths: [%s]
    capabilities: [CAP_DAC_OVERRIDE, CAP_SYS_MODULE]
  - name: any
    event: file.open
    paths: [%s]
`, watched, watched))
	root := exec.Command("/bin/cat", file)
	out, err := root.CombinedOutput()
	require.NoError(t, err, "%s", out)
	dropped := exec.Command("/bin/cat", file)
	dropped.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err = dropped.CombinedOutput()
	require.NoError(t, err, "%s", out)

	pids := byPID(r.alerts(t, time.Second, func(a *Alert) bool { return a.Path == file }))
	rp, dp := pids[uint32(root.Process.Pid)], pids[uint32(dropped.Process.Pid)]
	require.Len(t, rp, 1)
	assert.Equal(t, uint64(3), rp[0].Rules, "root holds CAP_DAC_OVERRIDE: both rules")
	require.Len(t, dp, 1, "the rule without the key still sees the unprivileged open")
	assert.Equal(t, uint64(2), dp[0].Rules, "no capabilities: not the capability rule")
}

// process.exec rules with task keys, on the exec tracepoint: they hold on the
// new program (its name) and on its parent. A kill rule for cat run under
// the name kvocab-cat, or by a parent named kvocab-par, kills those execs
// before they run and not the same program under another name or parent.
func TestTaskKeysExecKillInKernel(t *testing.T) {
	r := newPolicyRig(t)
	bin := t.TempDir()
	listed := copyProgram(t, bin, "/bin/cat", "kvocab-cat")
	other := copyProgram(t, bin, "/bin/cat", "kvocab-dog")
	parent := copyProgram(t, bin, "/bin/sh", "kvocab-par")
	otherParent := copyProgram(t, bin, "/bin/sh", "kvocab-sh")
	r.apply(t, fmt.Sprintf(`name: exec-keys
mode: enforce
rules:
  - name: by-name
    event: process.exec
    process_names: [kvocab-cat]
    action: kill
  - name: by-parent
    event: process.exec
    binaries: [%s]
    parent_names: [kvocab-par]
    action: kill
`, other))
	killedAtExec(t, appletCommand("cat", listed, "/dev/null").Run(), "kvocab-cat")
	require.NoError(t, appletCommand("cat", other, "/dev/null").Run(), "kvocab-dog: neither its name nor its parent is listed")
	// The shells fork for the program (a command follows it).
	catOther := shellRun(t, "cat", other, "/dev/null")
	out, err := appletCommand("sh", parent, "-c", catOther+"; echo $?").Output() // the shell's "Killed" is on stderr
	require.NoError(t, err)
	assert.Equal(t, "137\n", string(out), "kvocab-dog run by kvocab-par: SIGKILL (128 + 9)")
	out, err = appletCommand("sh", otherParent, "-c", catOther+"; echo $?").Output()
	require.NoError(t, err)
	assert.Equal(t, "0\n", string(out), "kvocab-dog run by kvocab-sh")
}

// A process.exec deny with a parent name and a terminal key, on the exec
// security hook: the exec of the program by a parent so named, without a
// terminal, fails with EPERM; by another parent it runs.
func taskExecDenyScenario(t *testing.T, r *policyRig) {
	bin := t.TempDir()
	victim := copyProgram(t, bin, "/bin/cat", "kvocab-dog")
	parent := copyProgram(t, bin, "/bin/sh", "kvocab-par")
	otherParent := copyProgram(t, bin, "/bin/sh", "kvocab-sh")
	r.applyKeys(t, fmt.Sprintf(`name: exec-deny-keys
mode: enforce
rules:
  - name: by-parent
    event: process.exec
    binaries: [%s]
    parent_names: [kvocab-par]
    tty: false
    action: deny
`, victim))
	_, file := taskKeyDir(t)
	noTTY := func(name string) string {
		cmd := appletCommand("sh", name, "-c", shellRun(t, "cat", victim, file)+" 2>/dev/null; echo rc=$?")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		out, err := cmd.Output()
		require.NoError(t, err)
		return string(out)
	}
	denied := noTTY(parent)
	assert.NotContains(t, denied, "x\n", "denied: the program never ran")
	assert.NotContains(t, denied, "rc=0", "denied: the shell's exec failed")
	assert.Equal(t, "x\nrc=0\n", noTTY(otherParent), "another parent: runs")
}

// A syscall-kind rule with a process name: the helper's raw sockets are
// reported when it runs under the listed name and not under another.
func TestTaskKeysSysKindInKernel(t *testing.T) { taskSysScenario(t, newPolicyRig(t)) }

func taskSysScenario(t *testing.T, r *policyRig) {
	// Names of this run only: another test run on the machine names its helper otherwise.
	tag := strconv.FormatInt(time.Now().UnixNano()%1e8, 36)
	dir := t.TempDir()
	listed := filepath.Join(dir, "kvs-"+tag)
	require.NoError(t, os.Rename(testenv.CopyTestBinary(t, ""), listed))
	other := filepath.Join(dir, "kvo-"+tag)
	require.NoError(t, os.Rename(testenv.CopyTestBinary(t, ""), other))
	r.applyKeys(t, fmt.Sprintf(`name: sys-names
rules:
  - name: raw-by-name
    event: network.socket
    process_names: [kvs-%s]
  - name: raw-by-parent
    event: network.socket
    parent_names: [kvp-%s]
`, tag, tag))
	sockets := func() []Alert {
		return r.alerts(t, time.Second, func(a *Alert) bool {
			return a.Kind == KindSys && a.Event == uint8(processVigilEventEV_NET_SOCKET) && a.PPID == uint32(os.Getpid())
		})
	}
	require.Equal(t, "ok", testenv.RunHelper(t, listed, "sockets"))
	got := sockets()
	require.Len(t, got, 2, "AF_PACKET raw and AF_INET raw of the listed helper")
	for _, a := range got {
		assert.Equal(t, uint64(1), a.Rules, "the name rule only: the parent is not named kvp-")
	}
	require.Equal(t, "ok", testenv.RunHelper(t, other, "sockets"))
	assert.Empty(t, sockets(), "the same helper under a name not listed")
}

// Rules without task keys pay for none: the selector's task_filter stays off,
// and a policy that uses them turns it on; filter_in_user_space decides the
// keys in Go as the kernel does.
func TestTaskKeysCompile(t *testing.T) {
	pols := []string{`name: plain
rules:
  - event: file.open
    paths: [/etc/shadow]
`, `name: keyed
rules:
  - event: file.open
    paths: [/etc/shadow]
    process_names: [cat]
    parent_names: [bash]
    tty: true
    capabilities: [CAP_SYS_ADMIN]
`}
	compile := func(ys ...string) *Compiled {
		var ps []*policy.Policy
		slots := map[string]int{}
		for i, y := range ys {
			p, err := policy.ParseBytes(fmt.Sprintf("p%d.yaml", i), []byte(y))
			require.NoError(t, err)
			ps = append(ps, p)
			slots[p.Name] = i
		}
		c, err := Compile(ps, slots, nil)
		require.NoError(t, err)
		return c
	}
	c := compile(pols[0])
	assert.Zero(t, c.Image.selector.TaskFilter)
	assert.Empty(t, c.Image.taskNames)
	c = compile(pols...)
	assert.Equal(t, uint8(1), c.Image.selector.TaskFilter)
	assert.Equal(t, uint64(2), c.Image.taskKeys.NameRules[KindFile])
	assert.Equal(t, uint64(2), c.Image.taskKeys.PnameRules[KindFile])
	assert.Equal(t, uint64(2), c.Image.taskKeys.TtyRules[KindFile])
	assert.Zero(t, c.Image.taskKeys.NottyRules[KindFile])
	assert.Equal(t, uint64(1)<<21, c.Image.rules[KindFile*maxRules+1].Caps)
	assert.Len(t, c.Image.taskNames, 2)
	open := FileOpen{Path: "/etc/shadow"}
	p := FileProcess{Name: "cat", ParentName: "bash", TTY: true, CapEffective: 1 << 21}
	assert.Equal(t, uint64(3), c.Rules.MatchFileInUserSpace(open, p))
	for _, q := range []FileProcess{
		{Name: "dog", ParentName: "bash", TTY: true, CapEffective: 1 << 21},
		{Name: "cat", ParentName: "sh", TTY: true, CapEffective: 1 << 21},
		{Name: "cat", ParentName: "bash", CapEffective: 1 << 21},
		{Name: "cat", ParentName: "bash", TTY: true, CapEffective: 1},
	} {
		assert.Equal(t, uint64(1), c.Rules.MatchFileInUserSpace(open, q), "%+v", q)
	}
}

// The ancestor key in Go (filter_in_user_space) decides as the kernel's walk:
// a name within the depth, a chain past it only for an open key.
func TestTaskAncestorKeysCompile(t *testing.T) {
	p, err := policy.ParseBytes("anc.yaml", []byte(`name: anc
rules:
  - event: file.open
    paths: [/etc/shadow]
    ancestor_names: [nginx, node]
    ancestor_depth: 2
  - event: file.open
    paths: [/etc/shadow]
    ancestor_names: [sshd]
`))
	require.NoError(t, err)
	p.Rules[1].AncestorsOpen = true
	c, err := Compile([]*policy.Policy{p}, map[string]int{"anc": 0}, nil)
	require.NoError(t, err)
	tk := c.Image.taskKeys
	assert.Equal(t, uint64(3), tk.AnameRules[KindFile])
	assert.Equal(t, [8]uint64{3, 3, 2, 2, 2, 2, 2, 2}, tk.AnameAt[KindFile], "depth 2, then the default 8")
	assert.Equal(t, uint64(2), tk.AnameOpen[KindFile])
	assert.Len(t, c.Image.taskNames, 3)
	open := FileOpen{Path: "/etc/shadow"}
	chain := func(names ...string) FileProcess {
		return FileProcess{Name: "sh", ParentName: names[0], Ancestors: names}
	}
	for _, tc := range []struct {
		p    FileProcess
		want uint64
	}{
		{chain("sh", "nginx", "init"), 1},
		{chain("node"), 1},
		{chain("sh", "sh", "nginx"), 0}, // too far up for depth 2
		{chain("sh", "sh", "sshd"), 2},
		{chain("a", "b", "c", "d", "e", "f", "g", "h"), 0},
		{func() FileProcess {
			q := chain("a", "b", "c", "d", "e", "f", "g", "h")
			q.AncestorsCut = true
			return q
		}(), 2},
	} {
		assert.Equal(t, tc.want, c.Rules.MatchFileInUserSpace(open, tc.p), "%v", tc.p.Ancestors)
	}
}

// ancestorChain runs top (a copy of /bin/sh) on a script that starts a chain
// of /bin/sh processes, each the child of the one before, the last of which
// runs /bin/cat on file: cat's parent is depth 1 and top is depth levels.
func ancestorChain(t *testing.T, top, script string, levels int, file string) {
	t.Helper()
	cmd := appletCommand("sh", top, script, strconv.Itoa(levels-1), file)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", top, out)
}

// A rule with ancestor names reports an open by a process that has an
// ancestor so named within its depth, and not the same open with that
// ancestor one generation too far up, nor under ancestors named otherwise;
// a chain longer than the depth passes only the rule that asks for it (a
// condition's ancestor term, which user space decides).
func TestTaskAncestorKeysInKernel(t *testing.T) { taskAncestorScenario(t, newPolicyRig(t)) }

func taskAncestorScenario(t *testing.T, r *policyRig) {
	watched, _ := taskKeyDir(t)
	reparented, _ := taskKeyDir(t)
	bin := t.TempDir()
	top := copyProgram(t, bin, "/bin/sh", "kanc-top")
	repTop := copyProgram(t, bin, "/bin/sh", "kanc-rep")
	anyTop := copyProgram(t, bin, "/bin/sh", "kanc-any")
	otherTop := copyProgram(t, bin, "/bin/sh", "kanc-oth")
	script := filepath.Join(bin, "chain.sh")
	// Each level forks the next (a command follows it, so no shell execs it in place).
	require.NoError(t, os.WriteFile(script, []byte(`n=$1
if [ "$n" -gt 0 ]; then /bin/sh "$0" $((n-1)) "$2"; exit 0; fi
/bin/cat "$2" >/dev/null; exit 0
`), 0o644))
	p, err := policy.ParseBytes("ancestors.yaml", []byte(fmt.Sprintf(`name: ancestors
rules:
  - name: within-three
    event: file.open
    paths: [%s]
    ancestor_names: [kanc-top]
    ancestor_depth: 3
  - name: any-ancestor
    event: file.open
    paths: [%s]
    ancestor_names: [kanc-any]
  - name: open-past-eight
    event: file.open
    paths: [%s]
    ancestor_names: [kanc-none]
  - name: cond-reparented
    event: file.open
    paths: [%s]
    ancestor_names: [kanc-rep]
  - name: exact-reparented
    event: file.open
    paths: [%s]
    ancestor_names: [kanc-rep]
  - name: parent-cond-reparented
    event: file.open
    paths: [%s]
    parent_names: [kanc-rep]
  - name: parent-exact-reparented
    event: file.open
    paths: [%s]
    parent_names: [kanc-rep]
`, watched, watched, watched, reparented, reparented, reparented, reparented)))
	require.NoError(t, err)
	p.Rules[2].AncestorsOpen = true // as a condition's proc.aname term lowers
	p.Rules[3].AncestorsCond = true // likewise: a condition's key
	p.Rules[5].ParentsCond = true   // a condition's proc.pname term
	r.applyParsed(t, r.pol.HasLSM(), map[string]int{p.Name: 0}, p)

	file := func(name string) string {
		f := filepath.Join(watched, name)
		require.NoError(t, os.WriteFile(f, []byte("x\n"), 0o644))
		return f
	}
	cases := []struct {
		name   string
		top    string
		levels int
		rules  uint64 // the rules the open must report; 0: no record
	}{
		{"top at depth 3", top, 3, 1},
		{"top at depth 1", top, 1, 1},
		{"top at depth 4: one too far", top, 4, 0},
		{"any ancestor at depth 5", anyTop, 5, 2},
		{"any ancestor at depth 8", anyTop, 8, 2},
		// Nine generations: past the default depth (8) of any-ancestor.
		{"any ancestor at depth 9", anyTop, 9, 0},
		{"ancestors named otherwise", otherTop, 2, 0},
	}
	// The open rule passes an open whose chain is longer than the walk: the
	// shells, this test process and its own ancestors up to init.
	self := chainDepth(t, os.Getpid())
	t.Logf("this test process has %d generations up to init", self)
	open := func(levels int) uint64 {
		if levels+self > 8 {
			return 4
		}
		return 0
	}
	negative := false
	files := map[string]uint64{}
	for i := range cases {
		tc := &cases[i]
		tc.rules |= open(tc.levels)
		negative = negative || tc.rules&4 == 0
		f := file(fmt.Sprintf("case%d", i))
		files[f] = tc.rules
		ancestorChain(t, tc.top, script, tc.levels, f)
	}
	if !negative {
		// Every chain here is longer than the walk: one that is not, from a
		// process re-parented to init (its chain: the shell, then init).
		tc := struct {
			name   string
			top    string
			levels int
			rules  uint64
		}{"a short chain under init", otherTop, 1, 0}
		f := file("orphan")
		files[f] = 0
		cases = append(cases, tc)
		done := filepath.Join(watched, "orphan.done")
		orphanCat(t, exec.Command("/bin/sh", "-c", fmt.Sprintf("(%s; /bin/cat %s >/dev/null; echo ok > %s) & exit 0", waitExit("$$"), f, done)), done)
	}
	got := r.alerts(t, time.Second, func(a *Alert) bool { _, ok := files[a.Path]; return ok })
	reported := map[string][]uint64{}
	for _, a := range got {
		reported[a.Path] = append(reported[a.Path], a.Rules)
	}
	for i, tc := range cases {
		f := filepath.Join(watched, fmt.Sprintf("case%d", i))
		if tc.name == "a short chain under init" {
			f = filepath.Join(watched, "orphan")
		}
		if tc.rules == 0 {
			assert.Empty(t, reported[f], tc.name)
			continue
		}
		assert.Equal(t, []uint64{tc.rules}, reported[f], tc.name)
	}

	// Re-parenting: kanc-rep starts a shell in the background, waits for it
	// to have exec'd (its exec record names kanc-rep as its parent) and
	// exits; the shell, re-parented, runs cat. User space's ancestry of cat
	// still holds kanc-rep, the kernel's real_parent chain no longer does: a
	// condition's key passes (user space decides), a policy's own key
	// follows real_parent and does not.
	orphan := filepath.Join(reparented, "orphan")
	require.NoError(t, os.WriteFile(orphan, []byte("x\n"), 0o644))
	ready := orphan + ".ready"
	orphanCat(t, appletCommand("sh", repTop, "-c", fmt.Sprintf(
		"/bin/sh -c 'echo > %s; %s; /bin/cat %s >/dev/null; echo ok > %s' & w=0; while [ ! -e %s ] && [ $w -lt 200 ]; do sleep 0.05; w=$((w+1)); done; exit 0",
		ready, waitExit("$PPID"), orphan, orphan+".done", ready)), orphan+".done")
	// The same with the parent waiting: both keys hold, by name.
	waited := filepath.Join(reparented, "waited")
	require.NoError(t, os.WriteFile(waited, []byte("x\n"), 0o644))
	out, err := appletCommand("sh", repTop, "-c", "/bin/sh -c '/bin/cat "+waited+" >/dev/null; exit 0'; exit 0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	// And under a parent named otherwise, not re-parented: neither.
	other := filepath.Join(reparented, "other")
	require.NoError(t, os.WriteFile(other, []byte("x\n"), 0o644))
	out, err = appletCommand("sh", otherTop, "-c", "/bin/sh -c '/bin/cat "+other+" >/dev/null; exit 0'; exit 0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	// The parent-name keys: the process that opens is the one re-parented.
	// A subshell of kanc-rep (named kanc-rep too: it does not exec) opens
	// the file itself (read's redirection) after kanc-rep exited: user
	// space's parent is still kanc-rep, the kernel's real_parent is not.
	porphan := filepath.Join(reparented, "parent-orphan")
	require.NoError(t, os.WriteFile(porphan, []byte("x\n"), 0o644))
	orphanCat(t, appletCommand("sh", repTop, "-c", fmt.Sprintf("(%s; read x < %s; echo ok > %s) & exit 0",
		waitExit("$$"), porphan, porphan+".done")), porphan+".done")
	// The same subshell with kanc-rep waiting for it: every key holds.
	pwaited := filepath.Join(reparented, "parent-waited")
	require.NoError(t, os.WriteFile(pwaited, []byte("x\n"), 0o644))
	out, err = appletCommand("sh", repTop, "-c", "(read x < "+pwaited+"); exit 0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	got = r.alerts(t, time.Second, func(a *Alert) bool { return strings.HasPrefix(a.Path, reparented) })
	rep := map[string][]uint64{}
	for _, a := range got {
		rep[a.Path] = append(rep[a.Path], a.Rules)
	}
	// In the three cases above, cat's parent is a shell: the parent keys must not hold.
	assert.Equal(t, []uint64{8}, rep[orphan], "re-parented: the condition's key passes, the policy's own does not")
	assert.Equal(t, []uint64{8 | 16}, rep[waited], "kanc-rep still the grandparent: both")
	assert.Empty(t, rep[other], "ancestors named otherwise, not re-parented")
	assert.Equal(t, []uint64{8 | 32}, rep[porphan], "re-parented opener: the conditions' keys pass, the policy's own do not")
	assert.Equal(t, []uint64{8 | 16 | 32 | 64}, rep[pwaited], "kanc-rep the parent: every key")
}

// chainDepth counts pid and its ancestors up to init (pid 1) included.
func chainDepth(t *testing.T, pid int) int {
	t.Helper()
	n := 0
	for i := 0; i < 64 && pid > 0; i++ {
		n++
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		require.NoError(t, err)
		// The fields after the name (which may hold spaces): state, ppid.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		pid, err = strconv.Atoi(f[1])
		require.NoError(t, err)
	}
	return n
}

// waitExit is a shell loop waiting (at most 10 s) until the process pid
// (a shell variable: $$, the starter seen from its subshell) has exited and
// been reaped, so that what follows runs re-parented.
func waitExit(pid string) string {
	return "w=0; while kill -0 " + pid + " 2>/dev/null && [ $w -lt 200 ]; do sleep 0.05; w=$((w+1)); done"
}

// orphanCat runs cmd, a shell that starts a background shell and exits, and
// waits for the background one, re-parented when its starter exited, to write
// done after its cat. With no subreaper between, cat's chain is that shell,
// init and nothing else.
func orphanCat(t *testing.T, cmd *exec.Cmd, done string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Eventually(t, func() bool { _, err := os.Stat(done); return err == nil }, 10*time.Second, 20*time.Millisecond)
}
