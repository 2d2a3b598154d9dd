//go:build linux

package sensor

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testenv"
)

func loadAttached(t *testing.T, ring int) (*Process, *ringbuf.Reader) {
	t.Helper()
	testenv.RequireRoot(t)
	require.NoError(t, Preflight("/sys/kernel/btf/vmlinux", "/proc/self/status"))
	p, err := LoadProcess(ProcessOptions{RingBufferSize: ring, ArgsMax: uint32(MaxArgsBytes)})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	rd, err := NewReader(p.Events())
	require.NoError(t, err)
	t.Cleanup(func() { rd.Close() })
	require.NoError(t, p.Attach())
	return p, rd
}

// collect reads records until pred returns true or the deadline passes.
func collect(t *testing.T, rd *ringbuf.Reader, pred func(*ProcEvent) bool) []ProcEvent {
	t.Helper()
	var got []ProcEvent
	deadline := time.Now().Add(5 * time.Second)
	rd.SetDeadline(deadline)
	var rec ringbuf.Record
	for time.Now().Before(deadline) {
		if err := rd.ReadInto(&rec); err != nil {
			break
		}
		var ev ProcEvent
		require.NoError(t, DecodeProc(rec.RawSample, &ev))
		got = append(got, ev)
		if pred(&ev) {
			return got
		}
	}
	return got
}

func TestProcessExecExitInKernel(t *testing.T) {
	_, rd := loadAttached(t, 1<<22)
	dir := t.TempDir()
	cmd := exec.Command("/bin/sh", "-c", "exit 7", "vigil-test", "--flag=a b")
	cmd.Dir = dir
	require.NoError(t, cmd.Start())
	pid := uint32(cmd.Process.Pid)
	_ = cmd.Wait()

	var execEv, exitEv, forkEv *ProcEvent
	evs := collect(t, rd, func(e *ProcEvent) bool { return e.TGID == pid && e.Op == OpExit })
	for i := range evs {
		e := &evs[i]
		if e.TGID != pid {
			continue
		}
		switch e.Op {
		case OpExec:
			execEv = e
		case OpExit:
			exitEv = e
		case OpFork:
			forkEv = e
		}
	}
	require.NotNil(t, forkEv, "fork of the child must be reported")
	assert.Equal(t, uint32(os.Getpid()), forkEv.PPID)
	require.NotNil(t, execEv, "exec must be reported")
	require.NotNil(t, exitEv, "exit must be reported")

	sh, err := filepath.EvalSymlinks("/bin/sh")
	require.NoError(t, err)
	assert.Equal(t, sh, execEv.Path)
	assert.Equal(t, []string{"/bin/sh", "-c", "exit 7", "vigil-test", "--flag=a b"}, execEv.Args)
	assert.Equal(t, dir, execEv.Cwd)
	assert.Equal(t, uint32(os.Getpid()), execEv.PPID)
	assert.Equal(t, uint32(os.Getuid()), execEv.UID)
	assert.NotZero(t, execEv.CgroupID)
	assert.NotZero(t, execEv.StartBoottime)
	assert.Equal(t, forkEv.StartBoottime, execEv.StartBoottime)
	assert.Equal(t, uint32(7<<8), exitEv.ExitCode)
}

func TestSnapshotFindsRunningProcesses(t *testing.T) {
	p, _ := loadAttached(t, 1<<16)
	sleeper := exec.Command("/bin/sleep", "30")
	require.NoError(t, sleeper.Start())
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	time.Sleep(50 * time.Millisecond) // let exec complete

	found := map[uint32]ProcEvent{}
	require.NoError(t, p.Snapshot(func(e *ProcEvent) { found[e.TGID] = *e }))
	self, ok := found[uint32(os.Getpid())]
	require.True(t, ok, "the test process itself must be iterated")
	exe, _ := os.Executable()
	assert.Equal(t, exe, self.Path)
	s, ok := found[uint32(sleeper.Process.Pid)]
	require.True(t, ok, "a process started before the snapshot must be iterated")
	assert.Equal(t, []string{"/bin/sleep", "30"}, s.Args)
	assert.Equal(t, OpIter, s.Op)
	// Kernel threads are reported too, flagged, without an executable.
	kthreadd, ok := found[2]
	require.True(t, ok, "kthreadd (pid 2) must be iterated")
	assert.NotZero(t, kthreadd.Flags&FlagKthread)
}
