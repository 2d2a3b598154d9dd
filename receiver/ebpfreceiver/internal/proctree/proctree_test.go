package proctree

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestForkExecExitAncestry(t *testing.T) {
	c := New(100, 10)
	c.Put(&Process{PID: 1, ExecID: ExecID(1, 1), Executable: "/sbin/init"}, 0)
	c.Put(&Process{PID: 10, PPID: 1, ExecID: ExecID(100, 10), Executable: "/bin/bash", Cwd: "/root", ContainerID: "abc"}, 0)

	child := c.Fork(20, 10, 200, 7, 0, 0, 0, 0)
	assert.Equal(t, "/bin/bash", child.Executable, "a forked child runs its parent's image")
	assert.Equal(t, "abc", child.ContainerID)
	assert.Equal(t, ExecID(100, 10), child.ParentExecID)

	c.Put(&Process{PID: 20, PPID: 10, ExecID: ExecID(300, 20), Executable: "/bin/cat"}, 0)
	cat, ok := c.Get(20)
	require.True(t, ok)
	assert.Equal(t, "/bin/cat", cat.Executable)
	assert.Equal(t, ExecID(100, 10), cat.ParentExecID)

	anc := c.Ancestors(cat, 5)
	require.Len(t, anc, 2)
	assert.Equal(t, "/bin/bash", anc[0].Executable)
	assert.Equal(t, "/sbin/init", anc[1].Executable)
	assert.Len(t, c.Ancestors(cat, 1), 1, "depth bounds the walk")

	// The parent exits; the child still resolves it among the recently exited.
	_, ok = c.Exit(10)
	require.True(t, ok)
	parent, ok := c.Parent(cat)
	require.True(t, ok)
	_, live := c.Get(10)
	assert.False(t, live, "the exited parent is no longer live")
	assert.Equal(t, "/bin/bash", parent.Executable)

	// A new process reusing pid 10 is not mistaken for the old parent.
	c.Put(&Process{PID: 10, PPID: 1, ExecID: ExecID(999, 10), Executable: "/bin/other"}, 0)
	parent, ok = c.Parent(cat)
	require.True(t, ok)
	assert.Equal(t, "/bin/bash", parent.Executable)

	_, ok = c.Exit(4242)
	assert.False(t, ok, "exit of an unknown process")
}

func TestBounded(t *testing.T) {
	c := New(3, 2)
	for pid := uint32(1); pid <= 5; pid++ {
		c.Put(&Process{PID: pid, ExecID: ExecID(uint64(pid), pid)}, 0)
	}
	st := c.Stats()
	assert.Equal(t, 3, st.Live)
	assert.Equal(t, uint64(2), st.Evicted)
	_, ok := c.Get(1)
	assert.False(t, ok, "oldest live entries are evicted first")
	for pid := uint32(3); pid <= 5; pid++ {
		_, ok := c.Exit(pid)
		require.True(t, ok)
	}
	st = c.Stats()
	assert.Equal(t, 0, st.Live)
	assert.Equal(t, 2, st.Exited, "exited entries are bounded too")
	_, ok = c.ByExecID(ExecID(3, 3))
	assert.False(t, ok)
	_, ok = c.ByExecID(ExecID(5, 5))
	assert.True(t, ok)
}

func TestExecID(t *testing.T) {
	assert.Equal(t, "ff-12", ExecID(255, 12))
	assert.NotEqual(t, ExecID(1, 2), ExecID(2, 1))
}

func TestSetCapsCopiesTheEntry(t *testing.T) {
	c := New(10, 10)
	p := &Process{PID: 7, ExecID: "1-7", CapEffective: 1, CapPermitted: 1, ExecAttrs: true}
	c.Put(p, 0)
	got := c.SetCaps(p, 1<<21, 1<<21|1)
	if got == p || p.CapEffective != 1 {
		t.Fatalf("the shared entry was modified")
	}
	if live, _ := c.Get(7); live != got || live.CapEffective != 1<<21 || live.CapPermitted != 1<<21|1 {
		t.Fatalf("live entry not replaced: %+v", live)
	}
	// A stale entry (not the live one) is left alone.
	stale := &Process{PID: 7, ExecID: "0-7"}
	if c.SetCaps(stale, 5, 5) != stale {
		t.Fatalf("a stale entry was replaced")
	}
	if c.SetCaps(&Process{PID: 99}, 5, 5).CapEffective != 0 {
		t.Fatalf("unknown pid")
	}
}
