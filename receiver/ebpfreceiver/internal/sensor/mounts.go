//go:build linux

package sensor

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/vigilsec/vigil/internal/mountinfo"
)

// HostMountinfo is the mount table of the host's mount namespace (the collector
// runs in the host's PID namespace), from which the canonical paths of files
// reached through bind mounts are named.
const HostMountinfo = "/proc/1/mountinfo"

// MountRefreshInterval is how often the policy sensors read the host's mount
// table again. A file system mounted since the last read is not yet named: an
// open through a subtree mount of it fails closed (reported as unresolved).
const MountRefreshInterval = 5 * time.Second

// CanonicalMounts is what the kernel needs from a mount table to name the
// canonical path of a file reached through a subtree mount.
type CanonicalMounts struct {
	// Roots: where each file system's root is mounted, by the kernel's device
	// number (MAJOR << 20 | MINOR): the first mount in the table that shows all
	// of it.
	Roots map[uint32]string
	// Exempt: subtree mounts (by mount id) of file systems no mount shows whole
	// (btrfs subvolumes), that are not inside another mount of the same file
	// system: the paths under them are where their files live.
	Exempt map[uint32]bool
}

// CanonicalFrom computes the canonical mounts of a mount table.
func CanonicalFrom(ms []mountinfo.Mount) CanonicalMounts {
	c := CanonicalMounts{Roots: map[uint32]string{}, Exempt: map[uint32]bool{}}
	byDev := map[uint32][]mountinfo.Mount{}
	for _, m := range ms {
		dev := m.Major<<20 | m.Minor&0xfffff
		if m.Root == "/" {
			if _, ok := c.Roots[dev]; !ok {
				c.Roots[dev] = m.MountPoint
			}
			continue
		}
		byDev[dev] = append(byDev[dev], m)
	}
	for dev, subs := range byDev {
		if _, ok := c.Roots[dev]; ok {
			continue // named from the whole mount: no subtree mount of it is exempt
		}
		for i, m := range subs {
			inside := false
			for j, o := range subs {
				if i == j {
					continue
				}
				// Inside another mount's root, or the same root mounted again later.
				if (o.Root != m.Root && under(m.Root, o.Root)) || (o.Root == m.Root && j < i) {
					inside = true
					break
				}
			}
			if !inside {
				c.Exempt[m.ID] = true
			}
		}
	}
	return c
}

// under reports whether p is dir or below it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// MountSync is what one read of the mount table wrote.
type MountSync struct {
	Roots, Exempt int
	// Skipped: file systems left unnamed, their mount point longer than the
	// kernel's buffer or beyond the map's capacity (their opens through subtree
	// mounts fail closed).
	Skipped int
}

// SyncMounts reads a mount table (HostMountinfo) and makes the kernel's
// fs_roots and canon_exempt maps hold what it says.
func (p *Process) SyncMounts(path string) (MountSync, error) {
	ms, err := mountinfo.Parse(path)
	if err != nil {
		return MountSync{}, fmt.Errorf("reading the host's mounts: %w", err)
	}
	c := CanonicalFrom(ms)
	m := p.objs.processMaps
	var st MountSync
	roots := map[uint32]processFsRoot{}
	for dev, mp := range c.Roots {
		if mp == "/" {
			mp = ""
		}
		if len(mp) >= len(processFsRoot{}.Path) || len(roots) >= int(m.FsRoots.MaxEntries()) {
			st.Skipped++
			continue
		}
		var v processFsRoot
		v.Len = uint32(len(mp))
		for i := 0; i < len(mp); i++ {
			v.Path[i] = int8(mp[i])
		}
		roots[dev] = v
	}
	exempt := map[uint32]uint8{}
	for id := range c.Exempt {
		if len(exempt) >= int(m.CanonExempt.MaxEntries()) {
			break // not exempt: its opens are named or fail closed
		}
		exempt[id] = 1
	}
	st.Roots, st.Exempt = len(roots), len(exempt)
	return st, errors.Join(syncHash("fs_roots", m.FsRoots, roots), syncHash("canon_exempt", m.CanonExempt, exempt))
}

// syncHash makes a hash map hold want: stale keys deleted, the others written.
func syncHash[K, V comparable](name string, m *ebpf.Map, want map[K]V) error {
	var k K
	var v V
	var stale []K
	it := m.Iterate()
	for it.Next(&k, &v) {
		if w, ok := want[k]; !ok {
			stale = append(stale, k)
		} else if w == v {
			delete(want, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("%s: deleting %v: %w", name, k, err))
		}
	}
	for k, v := range want {
		if err := m.Put(k, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: writing %v: %w", name, k, err))
		}
	}
	return errors.Join(errs...)
}

// mountRefresh reads the host's mount table once at load and then every
// interval, until stopped.
type mountRefresh struct {
	mu   sync.Mutex
	last MountSync
	err  error
	done chan struct{}
	wg   sync.WaitGroup
}

func startMountRefresh(p *Process, path string, every time.Duration) *mountRefresh {
	r := &mountRefresh{done: make(chan struct{})}
	r.sync(p, path)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-r.done:
				return
			case <-t.C:
				r.sync(p, path)
			}
		}
	}()
	return r
}

func (r *mountRefresh) sync(p *Process, path string) {
	st, err := p.SyncMounts(path)
	r.mu.Lock()
	r.last, r.err = st, err
	r.mu.Unlock()
}

func (r *mountRefresh) stop() {
	close(r.done)
	r.wg.Wait()
}

// MountStatus is the outcome of the last read of the host's mount table: while
// it fails, every open through a subtree mount fails closed.
func (s *Policy) MountStatus() (MountSync, error) {
	if s.mounts == nil {
		return MountSync{}, errors.New("policy sensors closed")
	}
	s.mounts.mu.Lock()
	defer s.mounts.mu.Unlock()
	return s.mounts.last, s.mounts.err
}

// RefreshMounts reads the host's mount table now (tests, and a caller that knows
// the mounts changed).
func (s *Policy) RefreshMounts(p *Process) (MountSync, error) {
	if s.mounts == nil {
		return MountSync{}, errors.New("policy sensors closed")
	}
	s.mounts.sync(p, HostMountinfo)
	return s.MountStatus()
}
