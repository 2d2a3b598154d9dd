//go:build linux

package ebpfreceiver

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/testkit"
)

// openPTY returns the slave of a new pseudo terminal and what is written to it.
func openPTY(t *testing.T) (slave *os.File, out *testkit.SyncBuffer) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	out = &testkit.SyncBuffer{}
	go func() { _, _ = io.Copy(out, m) }() // what the container writes to its terminal
	return s, out
}

// The container rules' fields on real containers (containerd, runc) with the
// default pack loaded: a shell exec'd with a terminal (ctr task exec -t, as
// kubectl exec -it) has proc.tty and fires Terminal shell in container, the
// same shell without one does not; a privileged container's processes carry
// container.privileged and CAP_SYS_ADMIN, an unprivileged one's neither; a
// program named debugfs fires Debugfs Launched in Privileged Container only in
// the privileged one.
func TestExecContainerTTYAndPrivileged(t *testing.T) {
	c := containerd(t)
	local := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(local, "zz_local.yaml"), []byte(`
- list: vigil_build_tools
  items: []
  override:
    items: replace
`), 0o600))
	s := startReceiver(t, func(cfg *Config) { cfg.PolicyPaths = []string{"../../rules", local} }, nil)

	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	// The actions that fire a rule on purpose carry the mark the CI's detection watch
	// counts as intended (the entrypoints and the actions that must stay silent do not).
	mark := containertest.Intended(tag)
	// Container ids of 64 hex digits: the cgroup (cgroupfs layout, a bare id)
	// then names the container, as containerd's does under Kubernetes.
	run := func(flags []string, args ...string) (string, int) {
		var id [32]byte
		_, _ = rand.Read(id[:])
		name := hex.EncodeToString(id[:])
		pid, err := c.RunWith(name, flags, args...)
		t.Cleanup(func() { assert.NoError(t, c.Remove(name)) })
		require.NoError(t, err)
		return name, pid
	}
	unpriv, entry := run(nil, "/bin/sh", "-c", "sleep 60; true u"+tag)
	privID, _ := run([]string{"--privileged"}, "/bin/sh", "-c", "sleep 60; true p"+tag)

	attrs := func(cmdline string) map[string]any {
		return waitExec(t, s.sink, "process.exec", cmdline, "").Attributes().AsRaw()
	}
	u := attrs("/bin/sh -c sleep 60; true u" + tag)
	p := attrs("/bin/sh -c sleep 60; true p" + tag)
	assert.NotContains(t, u, "vigil.container.privileged")
	assert.Equal(t, true, p["vigil.container.privileged"])
	assert.Contains(t, p["vigil.process.cap_effective"], "CAP_SYS_ADMIN")
	assert.NotContains(t, u["vigil.process.cap_effective"], "CAP_SYS_ADMIN")
	assert.Contains(t, u["vigil.process.cap_effective"], "CAP_CHOWN", "the runtime's default set")
	assert.Equal(t, int64(0), u["vigil.process.tty"], "an entrypoint has no terminal")

	// A terminal shell, and the same shell without a terminal.
	slave, out := openPTY(t)
	err := c.ExecTTY(unpriv, "tty"+tag, slave, "/bin/sh", "-c", "true "+mark)
	require.NoError(t, err, "terminal output: %q", out.String())
	_, err = c.Exec(unpriv, "notty"+tag, "/bin/sh", "-c", "exit 0; "+tag)
	require.NoError(t, err)
	withTTY := attrs("/bin/sh -c true " + mark)
	assert.Equal(t, "sh", withTTY["process.executable.name"], "the task name, not busybox")
	assert.NotZero(t, withTTY["vigil.process.tty"])
	assert.Equal(t, true, withTTY["vigil.exec_into_container"])
	assert.Equal(t, "Terminal shell in container", withTTY["security_rule.name"])
	noTTY := attrs("/bin/sh -c exit 0; " + tag)
	assert.Equal(t, int64(0), noTTY["vigil.process.tty"])
	assert.NotContains(t, noTTY, "security_rule.name", "no terminal: no alert")

	// debugfs: a busybox copy of that name (it only prints that the applet is
	// unknown), written through the entrypoint's root, in both containers (they
	// share the rootfs directory). Both are marked: run from /tmp, both also fire
	// the rule on binaries executed from a temporary directory, on purpose.
	bb, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/bin/busybox", entry))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(fmt.Sprintf("/proc/%d/root/tmp/debugfs", entry), bb, 0o755))
	_, _ = c.Exec(privID, "dbg"+tag, "/tmp/debugfs", "-R", "stats", mark+"-p")
	_, _ = c.Exec(unpriv, "udbg"+tag, "/tmp/debugfs", "-R", "stats", mark+"-u")
	// Each rule that fires makes a record (other rules fire on an exec from /tmp).
	rulesOf := func(cmdline string) []string {
		var names []string
		require.Eventually(t, func() bool {
			names = names[:0]
			for _, lr := range recordsWhere(s.sink, "process.exec", "process.command_line", cmdline) {
				if v, ok := lr.Attributes().Get("security_rule.name"); ok {
					names = append(names, v.Str())
				}
			}
			return len(recordsWhere(s.sink, "process.exec", "process.command_line", cmdline)) > 0
		}, 10*time.Second, 20*time.Millisecond, "no exec of %q", cmdline)
		time.Sleep(300 * time.Millisecond) // the other records of the same exec
		names = names[:0]
		for _, lr := range recordsWhere(s.sink, "process.exec", "process.command_line", cmdline) {
			if v, ok := lr.Attributes().Get("security_rule.name"); ok {
				names = append(names, v.Str())
			}
		}
		return names
	}
	assert.Contains(t, rulesOf("/tmp/debugfs -R stats "+mark+"-p"), "Debugfs Launched in Privileged Container")
	assert.NotContains(t, rulesOf("/tmp/debugfs -R stats "+mark+"-u"), "Debugfs Launched in Privileged Container", "unprivileged")
}
