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
