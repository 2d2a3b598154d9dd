//go:build linux

package ebpfreceiver

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigilsec/vigil/internal/containertest"
)

// containerd starts a private containerd for one test, stopped (and everything
// it created removed) when the test ends; it fails (CI) or skips the test when
// containerd, runc or busybox are missing.
func containerd(t *testing.T) *containertest.Containerd {
	t.Helper()
	containertest.RequireTools(t)
	c, err := containertest.Start()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Close(), "stopping the test containerd") })
	return c
}

// runContainer starts a container with a unique id, removed at the test's end.
func runContainer(t *testing.T, c *containertest.Containerd, args ...string) (string, int) {
	t.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := "vigil-" + hex.EncodeToString(rnd[:])
	pid, err := c.Run(id, args...)
	t.Cleanup(func() { assert.NoError(t, c.Remove(id)) })
	require.NoError(t, err)
	return id, pid
}

// waitExec waits for the one process.exec record whose command line is cmdline
// and whose parent exec id is parent ("" for any), and returns its attributes.
func waitExec(t *testing.T, sink *consumertest.LogsSink, event, cmdline, parent string) plog.LogRecord {
	t.Helper()
	var found []plog.LogRecord
	require.Eventually(t, func() bool {
		found = found[:0]
		for _, ld := range sink.AllLogs() {
			for i := 0; i < ld.ResourceLogs().Len(); i++ {
				sls := ld.ResourceLogs().At(i).ScopeLogs()
				for j := 0; j < sls.Len(); j++ {
					lrs := sls.At(j).LogRecords()
					for k := 0; k < lrs.Len(); k++ {
						lr := lrs.At(k)
						a := lr.Attributes()
						cl, _ := a.Get("process.command_line")
						pe, _ := a.Get("vigil.parent.exec_id")
						if lr.EventName() == event && cl.Str() == cmdline && (parent == "" || pe.Str() == parent) {
							found = append(found, lr)
						}
					}
				}
			}
		}
		return len(found) > 0
	}, 10*time.Second, 20*time.Millisecond, "no %s record of %q", event, cmdline)
	require.Len(t, found, 1, "one %s record of %q", event, cmdline)
	return found[0]
}

func execMark(lr plog.LogRecord) (bool, bool) {
	v, ok := lr.Attributes().Get("vigil.exec_into_container")
	return v.Bool(), ok
}

// An exec into a running container (ctr task exec: runc exec) is marked, with
// its descendants; the container's entrypoint, what the entrypoint starts and
// host processes are not: the attribute is absent on them.
func TestExecIntoContainerMarked(t *testing.T) {
	c := containerd(t)
	s := startReceiver(t, nil, nil)

	// The entrypoint shell starts `true` a second in (a look-alike of an exec:
	// a new program in the container), then becomes `sleep`.
	id, entry := runContainer(t, c, "/bin/sh", "-c", "/bin/sleep 1; /bin/true; exec /bin/sleep 30")
	tag := "vigil-exec-" + id
	out, err := c.Exec(id, "x1", "/bin/sh", "-c", "echo "+tag+"; /bin/sleep 0.2; echo done")
	require.NoError(t, err)
	assert.Equal(t, tag+"\ndone", strings.TrimSpace(out))
	host := exec.Command("/bin/sh", "-c", "/bin/true "+tag)
	require.NoError(t, host.Run())

	sh := waitExec(t, s.sink, "process.exec", "/bin/sh -c echo "+tag+"; /bin/sleep 0.2; echo done", "")
	marked, ok := execMark(sh)
	assert.True(t, ok && marked, "the exec'd shell is marked")
	shID := str(t, sh.Attributes(), "vigil.exec_id")
	shPID := integer(t, sh.Attributes(), "process.pid")
	assert.NotEqual(t, int64(entry), shPID)
	parent := str(t, sh.Attributes(), "vigil.parent.executable.path")
	assert.Contains(t, []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/bin/containerd-shim-runc-v2"}, parent,
		"its parent at exec time is runc exec, or the shim once runc exited")

	child := waitExec(t, s.sink, "process.exec", "/bin/sleep 0.2", shID)
	marked, ok = execMark(child)
	assert.True(t, ok && marked, "the exec'd shell's child is marked")
	xr, _ := waitRecord(t, s.sink, "process.exit", int(shPID))
	marked, ok = execMark(xr)
	assert.True(t, ok && marked, "the exit record of the exec'd shell is marked")

	// The entrypoint's two images: the shell, then sleep (it execs in place).
	var entryRecs []plog.LogRecord
	require.Eventually(t, func() bool {
		entryRecs, _ = findRecords(s.sink, "process.exec", entry)
		return len(entryRecs) >= 2
	}, 10*time.Second, 20*time.Millisecond, "the entrypoint's exec records")
	require.Len(t, entryRecs, 2)
	assert.Equal(t, "/bin/sh -c /bin/sleep 1; /bin/true; exec /bin/sleep 30", str(t, entryRecs[0].Attributes(), "process.command_line"))
	assert.Equal(t, "/bin/sleep 30", str(t, entryRecs[1].Attributes(), "process.command_line"))
	for _, r := range entryRecs {
		_, ok := execMark(r)
		assert.False(t, ok, "the entrypoint is not marked: %s", r.Body().Str())
	}
	lookalike := waitExec(t, s.sink, "process.exec", "/bin/true", str(t, entryRecs[0].Attributes(), "vigil.exec_id"))
	_, ok = execMark(lookalike)
	assert.False(t, ok, "a program the entrypoint starts is not marked")

	hostRec, _ := waitRecord(t, s.sink, "process.exec", host.Process.Pid)
	_, ok = execMark(hostRec)
	assert.False(t, ok, "a host process is not marked")
	// runc itself runs on the host: neither runc exec nor runc create is marked.
	for _, ld := range s.sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if cl, _ := lr.Attributes().Get("process.command_line"); strings.HasPrefix(cl.Str(), "runc ") {
						_, ok := execMark(lr)
						assert.False(t, ok, "runc is not marked: %s", cl.Str())
					}
				}
			}
		}
	}
}

// A process the exec'd shell leaves behind keeps the mark after the shell, runc
// exec and runc init have all exited: its next program starts when its parent
// is gone (it is then the shim's child), and still descends from the exec.
func TestExecIntoContainerOutlivesExec(t *testing.T) {
	c := containerd(t)
	s := startReceiver(t, nil, nil)
	id, _ := runContainer(t, c, "/bin/sleep", "30")
	tag := "late-" + id
	_, err := c.Exec(id, "x2", "/bin/sh", "-c", "(/bin/sleep 0.3; /bin/echo "+tag+") >/dev/null & exit 0")
	require.NoError(t, err)

	sh := waitExec(t, s.sink, "process.exec", "/bin/sh -c (/bin/sleep 0.3; /bin/echo "+tag+") >/dev/null & exit 0", "")
	shPID := integer(t, sh.Attributes(), "process.pid")
	waitRecord(t, s.sink, "process.exit", int(shPID))
	late := waitExec(t, s.sink, "process.exec", "/bin/echo "+tag, "")
	marked, ok := execMark(late)
	assert.True(t, ok && marked, "the program started after the exec'd shell exited is marked")
	assert.NotEqual(t, str(t, sh.Attributes(), "vigil.exec_id"), str(t, late.Attributes(), "vigil.parent.exec_id"),
		"its parent at exec time is no longer the shell")
}
