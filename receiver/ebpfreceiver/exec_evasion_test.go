//go:build linux

package ebpfreceiver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const loaderPath = "/lib64/ld-linux-x86-64.so.2"

func signaled(err error) (syscall.Signal, bool) {
	ee, ok := err.(*exec.ExitError)
	if !ok {
		return 0, false
	}
	ws := ee.Sys().(syscall.WaitStatus)
	return ws.Signal(), ws.Signaled()
}

// The evasions of a binaries kill rule, on the real receiver: the binary run
// through the dynamic loader (absolute and relative program argument) is
// killed from user space, after the fact (latency logged and bounded); run
// through a bind mount it is killed by the kernel at exec (identity match);
// from a memfd it is killed by an exe_flags rule. The loader running another
// program, a copy of the binary and ordinary programs run.
func TestExecEvasionsKilled(t *testing.T) {
	if _, err := os.Stat(loaderPath); err != nil {
		t.Skipf("no %s on this machine", loaderPath)
	}
	dir := t.TempDir()
	victim := filepath.Join(dir, "nc")
	b, err := os.ReadFile("/bin/sleep")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(victim, b, 0o755))
	condVictim := filepath.Join(dir, "ncat")
	require.NoError(t, os.WriteFile(condVictim, b, 0o755))
	copyOf := filepath.Join(dir, "copy")
	require.NoError(t, os.WriteFile(copyOf, b, 0o755))
	bound := filepath.Join(dir, "innocent")
	require.NoError(t, os.WriteFile(bound, nil, 0o755))
	require.NoError(t, unix.Mount(victim, bound, "", unix.MS_BIND, ""))
	t.Cleanup(func() { _ = unix.Unmount(bound, unix.MNT_DETACH) })
	pdir := filepath.Join(dir, "policies")
	require.NoError(t, os.Mkdir(pdir, 0o755))
	writePolicy(t, pdir, "exec.yaml", fmt.Sprintf(`name: no-netcat
mode: enforce
rules:
  - name: netcat
    event: process.exec
    binaries: [%s]
    action: kill
  - name: fileless
    event: process.exec
    exe_flags: [memfd]
    action: kill
  - name: netcat-long
    event: process.exec
    binaries: [%s]
    condition: proc.cmdline endswith " 7"
    action: kill
`, victim, condVictim))
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{pdir} }, nil)
	require.Eventually(t, func() bool {
		sig, ok := signaled(exec.Command(victim, "0").Run())
		return ok && sig == syscall.SIGKILL
	}, 10*time.Second, 50*time.Millisecond, "the policy is loaded: the binary itself is killed")

	// Through the loader: the kernel sees the loader's exec only.
	var worst time.Duration
	var took3 []time.Duration
	for i, args := range [][]string{{victim, "5"}, {"./nc", "5"}, {"--inhibit-cache", victim, "5"}} {
		cmd := exec.Command(loaderPath, args...)
		cmd.Dir = dir
		start := time.Now()
		require.NoError(t, cmd.Start())
		sig, ok := signaled(cmd.Wait())
		took := time.Since(start)
		worst = max(worst, took)
		took3 = append(took3, took)
		require.True(t, ok && sig == syscall.SIGKILL, "case %d %v: killed", i, args)
		assert.Less(t, took, 2*time.Second, "case %d: killed after the fact, long before sleep 5 ends", i)
		rec, _ := waitRecord(t, s.sink, "process.exec", cmd.Process.Pid)
		a := rec.Attributes().AsRaw()
		assert.Equal(t, victim, a["vigil.exec.loader_program"], "case %d", i)
		assert.Equal(t, "netcat", a["security_rule.name"], "case %d", i)
		assert.Equal(t, true, a["vigil.policy.applied"], "case %d", i)
	}
	t.Logf("loader evasion: start to SIGKILL from user space: %v (worst %v; bounded by poll_interval, the longest a record waits in the ring)", took3, worst)

	killed := func(cmd *exec.Cmd, what string) {
		t.Helper()
		sig, ok := signaled(cmd.Run())
		assert.True(t, ok && sig == syscall.SIGKILL, what)
	}
	killed(exec.Command(bound, "5"), "through a bind mount")
	fd, err := unix.MemfdCreate("payload", 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	_, err = unix.Write(fd, b)
	require.NoError(t, err)
	mem := exec.Command(fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd), "5")
	killed(mem, "from a memfd")
	rec, _ := waitRecord(t, s.sink, "process.exec", mem.Process.Pid)
	a := rec.Attributes().AsRaw()
	assert.Equal(t, "memfd:payload", a["process.executable.path"])
	assert.Equal(t, true, a["vigil.exe.memfd"])
	assert.Equal(t, "fileless", a["security_rule.name"])

	// A kill rule whose condition user space decides, through the loader:
	// killed when the condition holds, and only then.
	cmd := exec.Command(loaderPath, condVictim, "7")
	require.NoError(t, cmd.Start())
	sig, ok := signaled(cmd.Wait())
	require.True(t, ok && sig == syscall.SIGKILL, "the loader running %s 7: killed", condVictim)
	rec, _ = waitRecord(t, s.sink, "process.exec", cmd.Process.Pid)
	assert.Equal(t, "netcat-long", rec.Attributes().AsRaw()["security_rule.name"])
	require.NoError(t, exec.Command(loaderPath, condVictim, "0.5").Run(), "the condition does not hold: not killed")

	// Look-alikes run.
	require.NoError(t, exec.Command(loaderPath, "/bin/sleep", "0").Run(), "the loader running another program")
	require.NoError(t, exec.Command(copyOf, "0").Run(), "a copy is another file")
	require.NoError(t, exec.Command("/bin/sleep", "0").Run())
}
