//go:build linux

package sensor

import (
	"errors"
	"fmt"
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
)

// statusCaps reads a capability set line (CapEff, CapPrm, CapBnd) of /proc/PID/status.
func statusCaps(t *testing.T, pid int, key string) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no %s in status", key)
	return 0
}

// execOf returns the exec record of pid.
func execOf(t *testing.T, evs []ProcEvent, pid int) *ProcEvent {
	t.Helper()
	for i := range evs {
		if evs[i].Op == OpExec && evs[i].TGID == uint32(pid) {
			return &evs[i]
		}
	}
	t.Fatalf("no exec record of pid %d", pid)
	return nil
}

// The exec record carries the controlling terminal (as /proc/PID/stat numbers
// it), the login uid, the capability sets and the executable's identity; a
// process without a terminal reports 0.
func TestExecCredsAndTTYInKernel(t *testing.T) {
	_, rd := loadAttached(t, 1<<22)
	ptmx := ptmxPath(t)
	ptsDir := filepath.Dir(ptmx) // a devpts instance's own ptmx
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
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(int(pts.Fd()), &st))

	withTTY := exec.Command("/bin/sleep", "0.3")
	withTTY.Stdin, withTTY.Stdout, withTTY.Stderr = pts, pts, pts
	withTTY.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, withTTY.Start())
	noTTY := exec.Command("/bin/sleep", "0.3")
	noTTY.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	require.NoError(t, noTTY.Start())
	time.Sleep(100 * time.Millisecond) // both exec'd
	wantEff := statusCaps(t, withTTY.Process.Pid, "CapEff")
	wantPrm := statusCaps(t, withTTY.Process.Pid, "CapPrm")
	wantBnd := statusCaps(t, withTTY.Process.Pid, "CapBnd")
	statFields := func(pid int) []string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		require.NoError(t, err)
		return strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	}
	ttyNr := statFields(withTTY.Process.Pid)[4] // tty_nr is field 7: the 5th after the name
	_ = withTTY.Wait()
	_ = noTTY.Wait()
	login, err := os.ReadFile("/proc/self/loginuid")
	require.NoError(t, err)
	wantLogin, err := strconv.ParseUint(strings.TrimSpace(string(login)), 10, 32)
	require.NoError(t, err)

	evs := collect(t, rd, func(e *ProcEvent) bool { return e.TGID == uint32(noTTY.Process.Pid) && e.Op == OpExit })
	w := execOf(t, evs, withTTY.Process.Pid)
	assert.Equal(t, uint32(st.Rdev), w.TTY, "the pty's device number")
	assert.Equal(t, ttyNr, strconv.FormatUint(uint64(w.TTY), 10), "as /proc/PID/stat's tty_nr")
	assert.Equal(t, uint32(wantLogin), w.LoginUID)
	assert.Equal(t, wantEff, w.CapEffective)
	assert.Equal(t, wantPrm, w.CapPermitted)
	assert.Equal(t, wantBnd, w.CapBounding)
	var sleepSt unix.Stat_t
	require.NoError(t, unix.Stat("/bin/sleep", &sleepSt))
	assert.Equal(t, sleepSt.Ino, w.ExeIno)
	assert.Equal(t, kernelDev(sleepSt.Dev), w.ExeDev)
	assert.Zero(t, w.ExeFlags, "an ordinary file")
	assert.Equal(t, "sleep", w.Comm)
	assert.Zero(t, execOf(t, evs, noTTY.Process.Pid).TTY, "no controlling terminal")
}

// memfdExec runs a copy of a program from a memfd (memfd_create, then exec of
// /proc/PID/fd/N: execveat with AT_EMPTY_PATH does the same). Returns the
// command, started.
func memfdExec(t *testing.T, name, prog string, args ...string) *exec.Cmd {
	t.Helper()
	fd, err := unix.MemfdCreate(name, 0)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	b, err := os.ReadFile(prog)
	require.NoError(t, err)
	_, err = unix.Write(fd, b)
	require.NoError(t, err)
	cmd := exec.Command(fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd), args...)
	require.NoError(t, cmd.Start())
	return cmd
}

// Executable flags: a memfd is reported as memfd:NAME (not "/") and flagged;
// a set-user-id file and the upper layer of an overlay mount are flagged, the
// lower layer and an ordinary file are not.
func TestExecFlagsInKernel(t *testing.T) {
	_, rd := loadAttached(t, 1<<22)
	mem := memfdExec(t, "vigil-fileless", "/bin/true")
	_ = mem.Wait()

	dir := t.TempDir()
	b, err := os.ReadFile("/bin/true")
	require.NoError(t, err)
	suid := filepath.Join(dir, "suid-true")
	require.NoError(t, os.WriteFile(suid, b, 0o755))
	require.NoError(t, unix.Chmod(suid, 0o4755))
	plain := filepath.Join(dir, "plain-true")
	require.NoError(t, os.WriteFile(plain, b, 0o755))

	lower, upper, work, merged := filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{lower, upper, work, merged} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(lower, "lower-true"), b, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(upper, "upper-true"), b, 0o755))
	err = unix.Mount("overlay", merged, "overlay", 0, fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work))
	// The kernel-matrix guests load no modules: where overlayfs is a module the
	// overlay part runs on the host only (this host runs it); the rest runs.
	overlay := !(errors.Is(err, unix.ENODEV) && os.Getenv("VIGIL_VM_KERNEL") != "")
	if overlay {
		require.NoError(t, err)
		t.Cleanup(func() { _ = unix.Unmount(merged, unix.MNT_DETACH) })
	} else {
		t.Log("overlayfs is not built into this guest kernel: the upper-layer flag is checked on the host")
	}

	pids := map[string]int{"memfd": mem.Process.Pid}
	runs := [][2]string{{"suid", suid}, {"plain", plain}}
	if overlay {
		runs = append(runs, [2]string{"upper", filepath.Join(merged, "upper-true")}, [2]string{"lower", filepath.Join(merged, "lower-true")})
	}
	for _, np := range runs {
		name, path := np[0], np[1] // in order: the last one's exit ends the collection
		cmd := exec.Command(path)
		cmd.Args[0] = "true" // a multi-call binary (busybox in the guests) dispatches on argv[0]
		require.NoError(t, cmd.Run(), name)
		pids[name] = cmd.Process.Pid
	}
	last := pids[runs[len(runs)-1][0]]
	evs := collect(t, rd, func(e *ProcEvent) bool { return e.TGID == uint32(last) && e.Op == OpExit })

	m := execOf(t, evs, pids["memfd"])
	assert.Equal(t, "memfd:vigil-fileless", m.Path, "named like the kernel's d_path, not /")
	assert.Equal(t, uint32(processVigilExeFlagsEXE_MEMFD), m.ExeFlags)
	assert.Regexp(t, `^[0-9]+$`, m.Comm, "the task name is the base name of /proc/PID/fd/N")
	assert.Equal(t, uint32(processVigilExeFlagsEXE_SETUID), execOf(t, evs, pids["suid"]).ExeFlags)
	assert.Zero(t, execOf(t, evs, pids["plain"]).ExeFlags)
	if overlay {
		up := execOf(t, evs, pids["upper"])
		assert.Equal(t, uint32(processVigilExeFlagsEXE_UPPER_LAYER), up.ExeFlags, up.Path)
		assert.Equal(t, filepath.Join(merged, "upper-true"), up.Path)
		assert.Zero(t, execOf(t, evs, pids["lower"]).ExeFlags, "the lower layer is the image's own")
	}
}

// ptmxPath is the pty multiplexer: /dev/ptmx, or, in a guest without one, that of
// a devpts instance the test mounts (removed at the end).
func ptmxPath(t *testing.T) string {
	t.Helper()
	if f, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0); err == nil {
		_ = f.Close()
		return "/dev/ptmx"
	}
	dir := filepath.Join(os.TempDir(), "vigil-devpts")
	if _, err := os.Stat(filepath.Join(dir, "ptmx")); err == nil {
		return filepath.Join(dir, "ptmx")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, unix.Mount("devpts", dir, "devpts", 0, "newinstance,ptmxmode=0666"))
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH); _ = os.Remove(dir) })
	return filepath.Join(dir, "ptmx")
}

// killedAtExec asserts that cmd ended on SIGKILL.
func killedAtExec(t *testing.T, err error, what string) {
	t.Helper()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, what)
	ws := ee.Sys().(syscall.WaitStatus)
	assert.True(t, ws.Signaled(), what)
	assert.Equal(t, syscall.SIGKILL, ws.Signal(), what)
}

// Evasions of a binaries kill rule: a bind mount of the binary elsewhere runs
// the same file and is killed (identity match); a copy is another file and
// runs. A memfd has no path a rule could name: an exe_flags memfd rule kills
// it, and leaves ordinary programs alone.
func TestExecKillEvasionsInKernel(t *testing.T) {
	r := newPolicyRig(t)
	dir := t.TempDir()
	victim := filepath.Join(dir, "nc")
	b, err := os.ReadFile("/bin/sleep")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(victim, b, 0o755))
	copyOf := filepath.Join(dir, "copy")
	require.NoError(t, os.WriteFile(copyOf, b, 0o755))
	bound := filepath.Join(dir, "innocent")
	require.NoError(t, os.WriteFile(bound, nil, 0o755))
	require.NoError(t, unix.Mount(victim, bound, "", unix.MS_BIND, ""))
	t.Cleanup(func() { _ = unix.Unmount(bound, unix.MNT_DETACH) })
	r.apply(t, fmt.Sprintf(`name: no-netcat
mode: enforce
rules:
  - event: process.exec
    binaries: [%s]
    action: kill
  - event: process.exec
    name: fileless
    exe_flags: [memfd]
    action: kill
`, victim))
	start := time.Now()
	killedAtExec(t, exec.Command(victim, "5").Run(), "the binary itself")
	killedAtExec(t, exec.Command(bound, "5").Run(), "the binary through a bind mount")
	killedAtExec(t, memfdExec(t, "payload", "/bin/sleep", "5").Wait(), "from a memfd")
	assert.Less(t, time.Since(start), 3*time.Second, "killed at exec, not after sleeping")
	cp := exec.Command(copyOf, "0")
	cp.Args[0] = "sleep" // a multi-call binary (busybox in the guests) dispatches on argv[0]
	require.NoError(t, cp.Run(), "a copy is another file")
	require.NoError(t, exec.Command("/bin/sleep", "0").Run(), "other programs run")
	got := r.alerts(t, 500*time.Millisecond, func(a *Alert) bool { return true })
	assert.Empty(t, got, "exec rules report on the exec record, not as alerts")
}
