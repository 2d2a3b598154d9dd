//go:build linux

package containertest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The harness runs a container, execs into it, and leaves nothing behind.
func TestRunExecClose(t *testing.T) {
	RequireTools(t)
	c, err := Start()
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = c.Close()
		}
	})
	pid, err := c.Run("box", "/bin/sleep", "30")
	require.NoError(t, err)
	assert.Positive(t, pid)
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "cmdline"))
	require.NoError(t, err)
	assert.Equal(t, "/bin/sleep\x0030\x00", string(b))
	out, err := c.Exec("box", "x1", "/bin/sh", "-c", "echo in-container")
	require.NoError(t, err)
	assert.Equal(t, "in-container", strings.TrimSpace(out))
	sock := c.shimSocket("box")
	_, err = os.Stat(sock)
	require.NoError(t, err, "the shim socket is where the harness expects it (so Close can remove it)")
	shims := c.shimPIDs()
	require.NotEmpty(t, shims)

	require.NoError(t, c.Close())
	closed = true
	_, err = os.Stat(sock)
	assert.True(t, os.IsNotExist(err), "shim socket removed")
	_, err = os.Stat(c.dir)
	assert.True(t, os.IsNotExist(err), "temporary directory removed")
	for _, d := range c.cgroupDirs(c.cgroup) {
		_, err = os.Stat(d)
		assert.True(t, os.IsNotExist(err), "cgroup %s removed", d)
	}
	_, err = os.Stat(filepath.Join("/run/containerd/runc", c.ns))
	assert.True(t, os.IsNotExist(err), "runc state removed")
	assert.Empty(t, c.shimPIDs(), "no shim left")
	_, err = os.Stat(filepath.Join("/proc", itoa(pid)))
	assert.True(t, os.IsNotExist(err), "the entrypoint is gone")
	require.NoError(t, c.Close(), "Close is idempotent")
}

func itoa(i int) string { return strconv.Itoa(i) }

// A container whose entrypoint already exited is removed as well, and a
// container that failed to start is cleaned up by Close.
func TestRemoveFinishedAndFailed(t *testing.T) {
	RequireTools(t)
	c, err := Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = c.Run("quick", "/bin/true")
	require.NoError(t, err)
	_, err = c.Run("broken", "/bin/no-such-program")
	require.Error(t, err)
	// Bounded wait for the entrypoint to exit.
	require.Eventually(t, func() bool {
		out, err := c.ctr("task", "ls")
		return err == nil && strings.Contains(out, "STOPPED")
	}, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, c.Remove("quick"))
	out, err := c.ctr("container", "ls", "-q")
	require.NoError(t, err)
	assert.NotContains(t, out, "quick")
	require.NoError(t, c.Close())
	for _, id := range []string{"quick", "broken"} {
		for _, d := range c.cgroupDirs(filepath.Join(c.cgroup, id)) {
			_, err = os.Stat(d)
			assert.True(t, os.IsNotExist(err), "cgroup %s removed", d)
		}
		_, err = os.Stat(c.shimSocket(id))
		assert.True(t, os.IsNotExist(err))
	}
	assert.Empty(t, c.shimPIDs())
}
