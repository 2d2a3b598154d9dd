package proctree

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
)

const (
	shimPID = 2207
	runcBin = "/usr/sbin/runc"
)

// exec puts a new image for pid as an exec record would (start is the
// process's start time, kept across its execs).
func exec(c *Cache, pid, ppid uint32, start, at uint64, exe string, args ...string) *Process {
	p := &Process{PID: pid, PPID: ppid, StartBoottime: start, ExecID: ExecID(at, pid), Executable: exe,
		Args: args, CommandLine: strings.Join(args, " ")}
	c.Put(p, 0)
	return p
}

func runcArgs(cmd string, rest ...string) []string {
	return append([]string{"runc", "--root", "/run/containerd/runc/default", "--log", "/run/x/log.json",
		"--log-format", "json", cmd}, rest...)
}

// withShim returns a cache holding a containerd shim, as containerd starts it.
func withShim() *Cache {
	c := New(100, 100)
	exec(c, 1, 0, 1, 1, "/sbin/init", "/sbin/init")
	exec(c, shimPID, 1, 50, 50, "/usr/bin/containerd-shim-runc-v2", "/usr/bin/containerd-shim-runc-v2", "-namespace", "default", "-id", "box")
	return c
}

// runcStart replays what the kernel reports for runc starting a process in a
// container (seen on runc 1.1.5): the shim forks runc (create or exec), which
// forks runc init; runc init re-executes itself from a memfd (executable "/"),
// clones a child that clones the process that will run the program. It returns
// the pid of that last clone; the two runc init processes have exited.
func runcStart(t *testing.T, c *Cache, runcPID uint32, cmd string) uint32 {
	t.Helper()
	base := uint64(runcPID) * 1000
	c.Fork(runcPID, shimPID, base, 0, 0, 0, 0, 0)
	exec(c, runcPID, shimPID, base, base+1, runcBin, runcArgs(cmd, "--detach", "box")...)
	init0 := runcPID + 1
	c.Fork(init0, runcPID, base+2, 0, 0, 0, 0, 0)
	exec(c, init0, runcPID, base+2, base+3, runcBin, "runc", "init")
	exec(c, init0, runcPID, base+2, base+4, "/", "runc", "init")
	child := runcPID + 2
	c.Fork(child, init0, base+5, 0, 0, 0, 0, 0)
	final := runcPID + 3
	c.Fork(final, child, base+6, 0, 0, 0, 0, 0)
	_, ok := c.Exit(child)
	require.True(t, ok)
	_, ok = c.Exit(init0)
	require.True(t, ok)
	return final
}

func TestExecIntoContainerMark(t *testing.T) {
	c := withShim()
	final := runcStart(t, c, 3000, "exec")
	runcExec, ok := c.Get(3000)
	require.True(t, ok)
	assert.Equal(t, event.RuncExec, runcExec.Runc)
	assert.False(t, runcExec.ExecIntoContainer, "runc exec itself runs on the host")
	fin, _ := c.Get(final)
	assert.Equal(t, event.RuncInitExec, fin.Runc, "the last clone of runc init inherits the step at fork time")
	assert.False(t, fin.ExecIntoContainer, "runc init is not yet the program")

	// runc exec --detach exits before the program starts: the program is then
	// the shim's child. Its fork-time ancestry still marks it.
	_, ok = c.Exit(3000)
	require.True(t, ok)
	start := fin.StartBoottime
	sh := exec(c, final, shimPID, start, start+10, "/bin/busybox", "/bin/sh", "-c", "echo; sleep 0.2; echo")
	assert.True(t, sh.ExecIntoContainer, "the exec'd program")
	assert.Equal(t, event.RuncNone, sh.Runc)
	parent, ok := c.Parent(sh)
	require.True(t, ok)
	assert.Equal(t, "/usr/bin/containerd-shim-runc-v2", parent.Executable, "the racy parent: the shim")

	// Its child, before and after its own exec, and the shell's next image.
	kid := c.Fork(final+1, final, start+20, 0, 0, 0, 0, 0)
	assert.True(t, kid.ExecIntoContainer)
	sleep := exec(c, final+1, final, start+20, start+21, "/bin/busybox", "sleep", "0.2")
	assert.True(t, sleep.ExecIntoContainer, "a descendant keeps the mark across its exec")
	grand := exec(c, final+2, final+1, 0, start+30, "/bin/busybox", "true")
	assert.True(t, grand.ExecIntoContainer, "without its fork record, a process inherits from its parent")
	again := exec(c, final, shimPID, start, start+40, "/bin/busybox", "sleep", "1")
	assert.True(t, again.ExecIntoContainer, "the exec'd shell's next image keeps it")

	// The mark survives the exits of everything above it.
	_, ok = c.Exit(final)
	require.True(t, ok)
	late := exec(c, final+1, final, start+20, start+50, "/bin/busybox", "cat")
	assert.True(t, late.ExecIntoContainer, "the parent exited: the mark was inherited at fork time")
}

func TestEntrypointAndHostNotMarked(t *testing.T) {
	c := withShim()
	final := runcStart(t, c, 4000, "create")
	fin, _ := c.Get(final)
	assert.Equal(t, event.RuncInitCreate, fin.Runc)
	_, _ = c.Exit(4000)
	start := fin.StartBoottime
	entry := exec(c, final, shimPID, start, start+10, "/bin/busybox", "/bin/sh", "-c", "sleep 1; /bin/true")
	assert.False(t, entry.ExecIntoContainer, "the entrypoint")
	c.Fork(final+1, final, start+20, 0, 0, 0, 0, 0)
	tr := exec(c, final+1, final, start+20, start+21, "/bin/busybox", "/bin/true")
	assert.False(t, tr.ExecIntoContainer, "a program the entrypoint starts")

	// The entrypoint runs something that looks like runc init: no runc exec
	// above it, so neither it nor what it starts is marked.
	c.Fork(final+2, final, start+30, 0, 0, 0, 0, 0)
	fake := exec(c, final+2, final, start+30, start+31, "/bin/runc", "runc", "init")
	assert.Equal(t, event.RuncNone, fake.Runc)
	c.Fork(final+3, final+2, start+32, 0, 0, 0, 0, 0)
	after := exec(c, final+3, final+2, start+32, start+33, "/bin/busybox", "sh")
	assert.False(t, after.ExecIntoContainer)

	// Host processes: a shell, and runc commands that start nothing in a container.
	host := exec(c, 5000, 1, 5000, 5000, "/bin/bash", "bash")
	assert.False(t, host.ExecIntoContainer)
	list := exec(c, 5001, 5000, 5001, 5001, runcBin, "runc", "list")
	assert.Equal(t, event.RuncNone, list.Runc)
	c.Fork(5002, 5001, 5002, 0, 0, 0, 0, 0)
	ls := exec(c, 5002, 5001, 5002, 5003, "/bin/ls", "ls")
	assert.False(t, ls.ExecIntoContainer)
	// runc exec's own children that are not runc init (none in practice) are not marked.
	c.Fork(6000, shimPID, 6000, 0, 0, 0, 0, 0)
	exec(c, 6000, shimPID, 6000, 6001, runcBin, runcArgs("exec", "box")...)
	c.Fork(6001, 6000, 6002, 0, 0, 0, 0, 0)
	hook := exec(c, 6001, 6000, 6002, 6003, "/usr/bin/hook", "hook")
	assert.False(t, hook.ExecIntoContainer)
}

// Nested: an exec into a container that itself runs containers (a kind node,
// docker-in-docker) marks what it starts; the node's own containers are not.
func TestNestedRuntime(t *testing.T) {
	c := withShim()
	final := runcStart(t, c, 7000, "exec")
	fin, _ := c.Get(final)
	sh := exec(c, final, shimPID, fin.StartBoottime, fin.StartBoottime+1, "/bin/sh", "sh")
	require.True(t, sh.ExecIntoContainer)
	c.Fork(7100, final, 7100, 0, 0, 0, 0, 0)
	inner := exec(c, 7100, final, 7100, 7101, "/usr/bin/runc", runcArgs("run", "inner")...)
	assert.Equal(t, event.RuncCreate, inner.Runc)
	assert.True(t, inner.ExecIntoContainer, "started from the exec'd shell")
}

func TestRuncCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{runcArgs("exec", "--process", "/tmp/p", "box"), "exec"},
		{[]string{"runc", "create", "--bundle", "b", "box"}, "create"},
		{[]string{"runc", "--debug", "--systemd-cgroup", "run", "box"}, "run"},
		{[]string{"runc", "--root=/r", "-log", "/l", "exec", "x"}, "exec"},
		{[]string{"runc", "init"}, "init"},
		{[]string{"runc", "--root"}, ""},
		{[]string{"runc"}, ""},
	} {
		assert.Equal(t, tc.want, runcCommand(tc.args), "%q", tc.args)
	}
	assert.True(t, isRuncInit(&Process{Executable: "/", Args: []string{"runc", "init"}}), "the memfd copy")
	assert.True(t, isRuncInit(&Process{Executable: "/usr/bin/runc", Args: []string{"/usr/bin/runc", "init"}}))
	assert.False(t, isRuncInit(&Process{Executable: "/bin/sh", Args: []string{"sh", "init"}}))
	assert.True(t, isRunc(&Process{Executable: "/usr/bin/docker-runc", Args: []string{"docker-runc"}}))
	assert.False(t, isRunc(&Process{Executable: "/usr/bin/containerd-shim-runc-v2"}))
}

// A child's exec read after its parent's exit still finds the parent (the
// kernel reports the exit before it reparents the children).
func TestJustExitedParent(t *testing.T) {
	c := New(10, 10)
	exec(c, 1, 0, 1, 1, "/sbin/init", "init")
	parent := exec(c, 10, 1, 100, 100, "/usr/sbin/runc", "runc", "exec")
	c.Fork(11, 10, 200, 0, 0, 0, 0, 0)
	_, ok := c.Exit(10)
	require.True(t, ok)

	child := &Process{PID: 11, PPID: 10, StartBoottime: 200, ExecID: ExecID(300, 11), Executable: "/bin/sh"}
	c.Put(child, 100)
	assert.Equal(t, parent.ExecID, child.ParentExecID)
	got, ok := c.Parent(child)
	require.True(t, ok)
	assert.Same(t, parent, got)

	// Another process that reused the pid is not taken for it: the start time differs.
	orphan := &Process{PID: 12, PPID: 10, StartBoottime: 400, ExecID: ExecID(400, 12)}
	c.Put(orphan, 999)
	assert.Empty(t, orphan.ParentExecID)

	// A fork record's caller is alive when it forks: an exited process of that
	// pid is not taken for it (it would be a reused pid).
	late := c.Fork(13, 10, 500, 0, 0, 0, 0, 0)
	assert.Empty(t, late.ParentExecID)
	assert.Empty(t, late.Executable)

	// Past max_exited the parent is forgotten, and so is its pid index.
	for pid := uint32(20); pid < 31; pid++ {
		exec(c, pid, 1, uint64(pid), uint64(pid), "/bin/true", "true")
		_, _ = c.Exit(pid)
	}
	_, ok = c.parentByPID(10, 0)
	assert.False(t, ok)
	assert.Len(t, c.exitedByPID, 10, "the pid index is bounded with the exited list")
}
