package policy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testDebounce = 30 * time.Millisecond

// startWatcher starts a watcher delivering into a channel and returns the
// first Set.
func startWatcher(t *testing.T, paths []string) (*Watcher, chan Set, Set) {
	t.Helper()
	sets := make(chan Set, 16)
	w, err := NewWatcher(paths, TypicalCapabilities(), func(s Set) { sets <- s })
	require.NoError(t, err)
	w.debounce = testDebounce
	t.Cleanup(func() { assert.NoError(t, w.Close()) })
	require.NoError(t, w.Start(context.Background()))
	select {
	case s := <-sets:
		return w, sets, s
	default:
		t.Fatal("Start must deliver the first Set before returning")
		return nil, nil, Set{}
	}
}

func next(t *testing.T, sets chan Set) Set {
	t.Helper()
	select {
	case s := <-sets:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no Set delivered")
		return Set{}
	}
}

func quiet(t *testing.T, sets chan Set) {
	t.Helper()
	select {
	case s := <-sets:
		t.Fatalf("unexpected Set delivered: %v", policyNames(s.Policies))
	case <-time.After(10 * testDebounce):
	}
}

func TestWatcherReloads(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	writeFile(t, a, simple("a"))
	_, sets, s := startWatcher(t, []string{dir})
	assert.Equal(t, []string{"a"}, policyNames(s.Policies))
	assert.Empty(t, s.Errors())

	// A new file appears.
	writeFile(t, filepath.Join(dir, "b.yaml"), simple("b"))
	s = next(t, sets)
	assert.Equal(t, []string{"a", "b"}, policyNames(s.Policies))

	// A bad edit keeps the running version.
	writeFile(t, a, "name: a\nrules:\n  - event: file.open\n    cidrs: [10.0.0.0/8]\n")
	s = next(t, sets)
	assert.Equal(t, []string{"a", "b"}, policyNames(s.Policies))
	require.Len(t, s.Errors(), 1)
	assert.Equal(t, a+":4: rules[0].cidrs: not allowed for event file.open", s.Errors()[0].Error())
	assert.True(t, s.Files[0].Stale)

	// The fix replaces it.
	writeFile(t, a, "name: a\nmode: enforce\nrules:\n  - event: bpf.load\n")
	s = next(t, sets)
	assert.Empty(t, s.Errors())
	assert.Equal(t, ModeEnforce, s.Policies[0].Mode)

	// Rewriting the same content, or only comments, delivers nothing.
	writeFile(t, a, "# comment\nname: a\nmode: enforce\nrules:\n  - event: bpf.load\n")
	quiet(t, sets)

	// Removal removes the policy.
	require.NoError(t, os.Remove(a))
	s = next(t, sets)
	assert.Equal(t, []string{"b"}, policyNames(s.Policies))
}

func TestWatcherDebounces(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	writeFile(t, a, simple("a"))
	_, sets, _ := startWatcher(t, []string{dir})
	for _, name := range []string{"b", "c", "d", "e", "f"} {
		writeFile(t, a, simple(name))
		time.Sleep(testDebounce / 5)
	}
	s := next(t, sets)
	assert.Equal(t, []string{"f"}, policyNames(s.Policies))
	quiet(t, sets)
}

func TestWatcherExplicitFileRenamedOver(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	writeFile(t, a, simple("a"))
	_, sets, s := startWatcher(t, []string{a})
	assert.Equal(t, []string{"a"}, policyNames(s.Policies))

	// Editors and kubelet replace files by renaming over them.
	tmp := filepath.Join(dir, ".a.yaml.tmp")
	writeFile(t, tmp, simple("renamed"))
	require.NoError(t, os.Rename(tmp, a))
	s = next(t, sets)
	assert.Equal(t, []string{"renamed"}, policyNames(s.Policies))

	// A second replacement is still seen.
	writeFile(t, tmp, simple("again"))
	require.NoError(t, os.Rename(tmp, a))
	s = next(t, sets)
	assert.Equal(t, []string{"again"}, policyNames(s.Policies))
}

func TestWatcherCapabilities(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), "name: a\nrules:\n  - event: file.open\n    action: deny\n    fallback: kill\n")
	sets := make(chan Set, 1)
	w, err := NewWatcher([]string{dir}, Capabilities{SendSignal: true}, func(s Set) { sets <- s })
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	s := <-sets
	require.Len(t, s.Policies, 1)
	assert.Equal(t, ActionKill, s.Policies[0].Rules[0].EffectiveAction)
	require.NoError(t, w.Close())
}

func TestWatcherLifecycle(t *testing.T) {
	dir := t.TempDir()
	nop := func(Set) {}

	_, err := NewWatcher(nil, Capabilities{}, nop)
	require.EqualError(t, err, "watching policies: no policy paths")
	_, err = NewWatcher([]string{dir}, Capabilities{}, nil)
	require.EqualError(t, err, "watching policies: onChange is nil")
	_, err = NewWatcher([]string{filepath.Join(dir, "missing", "x.yaml")}, Capabilities{}, nop)
	require.ErrorContains(t, err, "watching policy path "+filepath.Join(dir, "missing", "x.yaml"))

	// Close without Start, twice.
	w, err := NewWatcher([]string{dir}, Capabilities{}, nop)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, w.Close())
	require.EqualError(t, w.Start(context.Background()), "policy watcher: Start after Close")

	// Start twice; cancelling the context stops the goroutine, Close still works.
	w, err = NewWatcher([]string{dir}, Capabilities{}, nop)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, w.Start(ctx))
	require.EqualError(t, w.Start(ctx), "policy watcher: already started")
	cancel()
	require.NoError(t, w.Close())
}

func TestWatcherMissingFileAppears(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	_, sets, s := startWatcher(t, []string{a})
	assert.Empty(t, s.Policies)
	require.Len(t, s.Errors(), 1)
	assert.Equal(t, a+": cannot stat: no such file or directory", s.Errors()[0].Error())

	writeFile(t, a, simple("a"))
	s = next(t, sets)
	assert.Equal(t, []string{"a"}, policyNames(s.Policies))
	assert.Empty(t, s.Errors())
}
