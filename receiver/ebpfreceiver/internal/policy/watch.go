package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the Watcher waits after the last file change
// before reloading, so that an editor's or kubelet's burst of writes, renames
// and symlink swaps becomes one reload.
const DefaultDebounce = 200 * time.Millisecond

// Watcher watches policy files and directories and delivers a new Set when
// what they hold changes. A policy whose file becomes invalid keeps running
// in its last good version (FileResult.Stale); a deleted file removes its
// policy. The Watcher neither logs nor counts: errors are in the Set.
type Watcher struct {
	paths    []string
	onChange func(Set)
	fsw      *fsnotify.Watcher
	loader   loader
	// debounce is DefaultDebounce; tests shorten it.
	debounce time.Duration

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
	last    Set
}

// NewWatcher prepares a watch of paths (policy files or directories, as for
// LoadPaths) whose policies are checked against caps. onChange receives
// each new Set, first from Start, then from one goroutine, one call at a
// time; it must not call Close. A configured file is watched through its
// directory, so that editors' rename-over saves and ConfigMap symlink swaps
// are seen; a directory must exist, a file need not yet.
func NewWatcher(paths []string, caps Capabilities, onChange func(Set)) (*Watcher, error) {
	return NewLinkedWatcher(paths, caps, nil, onChange)
}

// NewLinkedWatcher is NewWatcher whose loads compile conditions with linker
// (LoadLinked).
func NewLinkedWatcher(paths []string, caps Capabilities, linker Linker, onChange func(Set)) (*Watcher, error) {
	if len(paths) == 0 {
		return nil, errors.New("watching policies: no policy paths")
	}
	if onChange == nil {
		return nil, errors.New("watching policies: onChange is nil")
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching policies: %w", err)
	}
	w := &Watcher{
		paths:    append([]string(nil), paths...),
		onChange: onChange,
		fsw:      fsw,
		loader:   loader{caps: &caps, linker: linker},
		debounce: DefaultDebounce,
		done:     make(chan struct{}),
	}
	for _, p := range paths {
		if err := fsw.Add(watchDir(p)); err != nil {
			return nil, errors.Join(fmt.Errorf("watching policy path %s: %w", p, err), fsw.Close())
		}
	}
	return w, nil
}

// watchDir is the directory to watch for path p.
func watchDir(p string) string {
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return p
	}
	return filepath.Dir(p)
}

// Start loads the policies, delivers the first Set to onChange before
// returning, and then watches for changes until ctx is done or Close is
// called.
func (w *Watcher) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return errors.New("policy watcher: Start after Close")
	case w.started:
		return errors.New("policy watcher: already started")
	}
	w.started = true
	w.last = w.loader.load(w.paths)
	w.onChange(w.last)
	ctx, w.cancel = context.WithCancel(ctx)
	go w.run(ctx)
	return nil
}

// Close stops watching and waits for the watch goroutine to end. It is safe
// to call without Start and more than once.
func (w *Watcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	started := w.started
	if w.cancel != nil {
		w.cancel()
	}
	w.mu.Unlock()
	err := w.fsw.Close()
	if started {
		<-w.done
	}
	if err != nil {
		return fmt.Errorf("closing policy watcher: %w", err)
	}
	return nil
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	timer := time.NewTimer(w.debounce)
	timer.Stop()
	defer timer.Stop()
	var watchErr error
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			// Every event in a watched directory reloads: reloading is
			// cheap and unchanged results are not delivered.
			timer.Reset(w.debounce)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// Typically an inotify queue overflow: events were lost, so
			// reload everything.
			watchErr = errors.Join(watchErr, err)
			timer.Reset(w.debounce)
		case <-timer.C:
			w.reload(watchErr)
			watchErr = nil
		}
	}
}

func (w *Watcher) reload(watchErr error) {
	// A watched directory that was removed and re-created lost its watch.
	for _, p := range w.paths {
		_ = w.fsw.Add(watchDir(p)) // failures show as file errors in the Set
	}
	s := w.loader.load(w.paths)
	if watchErr != nil {
		s.Err = fmt.Errorf("watching policy files: %w", watchErr)
	}
	w.mu.Lock()
	same := sameSet(w.last, s)
	w.last = s
	w.mu.Unlock()
	if !same {
		w.onChange(s)
	}
}

// sameSet reports whether a and b would make no difference to a consumer.
func sameSet(a, b Set) bool {
	if len(a.Policies) != len(b.Policies) || len(a.Files) != len(b.Files) || errString(a.Err) != errString(b.Err) {
		return false
	}
	for i := range a.Policies {
		if !samePolicy(a.Policies[i], b.Policies[i]) {
			return false
		}
	}
	for i := range a.Files {
		fa, fb := a.Files[i], b.Files[i]
		if fa.Path != fb.Path || fa.Stale != fb.Stale || errString(fa.Err) != errString(fb.Err) || !samePolicy(fa.Policy, fb.Policy) ||
			!bytes.Equal(fa.Rules, fb.Rules) {
			return false
		}
	}
	return true
}

// samePolicy compares policies, ignoring where in the file keys were.
func samePolicy(a, b *Policy) bool {
	if a == nil || b == nil {
		return a == b
	}
	ca, cb := *a, *b
	ca.lines, cb.lines = nil, nil
	ca.src, cb.src = nil, nil
	// Compiled conditions are not comparable (they hold functions): their
	// sources are, and a change in a shared definition changes its file.
	ca.Rules, cb.Rules = withoutCond(ca.Rules), withoutCond(cb.Rules)
	return reflect.DeepEqual(ca, cb)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func withoutCond(rs []Rule) []Rule {
	out := append([]Rule(nil), rs...)
	for i := range out {
		out[i].Cond = nil
	}
	return out
}
