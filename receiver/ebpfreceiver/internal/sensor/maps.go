//go:build linux

package sensor

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

func nativeU32(b [4]byte) uint32 { return binary.NativeEndian.Uint32(b[:]) }

// Names of the policy filter maps (as in the C sources), for capacity checks
// and errors.
const (
	MapSelUID       = "sel_uid"
	MapSelBinary    = "sel_binary"
	MapSelCgroup    = "sel_cgroup"
	MapFilePaths    = "file_paths"
	MapExecBinaries = "exec_binaries"
	MapExecInodes   = "exec_inodes"
	MapNetCIDR4     = "net_cidr4"
	MapNetCIDR6     = "net_cidr6"
	MapNetPorts     = "net_ports"
	MapTopDirs      = "top_dirs"
	MapTopBuckets   = "top_buckets"
	MapFileIDBits   = "file_id_bits"
	MapFileIDs      = "file_ids"
	MapFileSuffixes = "file_suffixes"
	// The two tables of file_substrs, each with room for SUBSTR_MAX patterns.
	MapNameContains = "file_substrs[name]"
	MapRawContains  = "file_substrs[raw]"
)

// sharedMaps are the maps every sensor object uses, owned by the process object.
func (p *Process) sharedMaps() map[string]*ebpf.Map {
	m := p.objs.processMaps
	return map[string]*ebpf.Map{
		"counters": m.Counters, "events": m.Events, "selector": m.Selector, "rules": m.Rules,
		"rule_hits": m.RuleHits, MapSelUID: m.SelUid, MapSelCgroup: m.SelCgroup, MapSelBinary: m.SelBinary,
		"proc_bin": m.ProcBin, MapFilePaths: m.FilePaths, MapExecBinaries: m.ExecBinaries, MapExecInodes: m.ExecInodes,
		MapNetCIDR4: m.NetCidr4, MapNetCIDR6: m.NetCidr6, MapNetPorts: m.NetPorts,
		"net_any_port": m.NetAnyPort, "event_rules": m.EventRules, "path_scratch_map": m.PathScratchMap,
		MapTopDirs: m.TopDirs, MapTopBuckets: m.TopBuckets, MapFileIDs: m.FileIds, MapFileIDBits: m.FileIdBits, MapFileSuffixes: m.FileSuffixes, "file_substrs": m.FileSubstrs,
		"task_keys": m.TaskKeys, MapTaskNames: m.TaskNames, "fs_roots": m.FsRoots, "canon_exempt": m.CanonExempt,
	}
}

// Capacity returns the max_entries of each policy filter map as loaded.
func (p *Process) Capacity() Capacity {
	m := p.objs.processMaps
	return Capacity{
		MapSelUID: int(m.SelUid.MaxEntries()), MapSelBinary: int(m.SelBinary.MaxEntries()),
		MapSelCgroup: int(m.SelCgroup.MaxEntries()), MapFilePaths: int(m.FilePaths.MaxEntries()),
		MapExecBinaries: int(m.ExecBinaries.MaxEntries()), MapExecInodes: int(m.ExecInodes.MaxEntries()), MapNetCIDR4: int(m.NetCidr4.MaxEntries()),
		MapNetCIDR6: int(m.NetCidr6.MaxEntries()), MapNetPorts: int(m.NetPorts.MaxEntries()),
		MapTopDirs: int(m.TopDirs.MaxEntries()), MapFileIDs: int(m.FileIds.MaxEntries()),
		MapFileSuffixes: int(m.FileSuffixes.MaxEntries()),
		MapNameContains: len(processSubstrTable{}.Pats), MapRawContains: len(processSubstrTable{}.Pats),
		MapTaskNames: int(m.TaskNames.MaxEntries()),
	}
}

// Apply makes the kernel maps hold img, all or nothing: it reads what the maps
// hold, computes the difference, removes stale entries, writes new and changed
// ones, then the selector (which activates policies) last. A reload is a set
// of map updates; programs stay attached. If any write fails, every write
// already made is undone in reverse order, so the maps end exactly as they
// were; the error says what failed (and what could not be undone, if any).
// An image that does not fit the maps' capacity is refused before anything
// is written.
func (p *Process) Apply(img *MapImage, emitAll bool) error {
	if err := p.Capacity().Check(img); err != nil {
		return err
	}
	m := p.objs.processMaps
	sel := img.selector
	sel.Gen = p.gen + 1 // cached per-process selector results are now stale
	if emitAll {
		sel.EmitAll = 1
	}
	var d diff
	var errs []error
	collect := func(err error) { errs = append(errs, err) }
	collect(diffHash(&d, "sel_uid", m.SelUid, img.selUID))
	collect(diffHash(&d, "sel_cgroup", m.SelCgroup, img.cgroups))
	collect(diffHash(&d, "sel_binary", m.SelBinary, img.selBinary))
	collect(diffHash(&d, "file_paths", m.FilePaths, img.filePaths))
	collect(diffHash(&d, "exec_binaries", m.ExecBinaries, img.execBins))
	collect(diffHash(&d, MapExecInodes, m.ExecInodes, img.execInodes))
	collect(diffHash(&d, "net_cidr4", m.NetCidr4, img.net4))
	collect(diffHash(&d, "net_cidr6", m.NetCidr6, img.net6))
	collect(diffHash(&d, "net_ports", m.NetPorts, img.ports))
	// The buckets and bits summarise top_dirs and file_ids: written first, so
	// that while an apply runs they hold at least what those maps hold.
	buckets, bits := img.summaries()
	collect(diffArray(&d, MapTopBuckets, m.TopBuckets, buckets))
	collect(diffArray(&d, MapFileIDBits, m.FileIdBits, bits))
	collect(diffHash(&d, "top_dirs", m.TopDirs, img.topDirs))
	collect(diffHash(&d, "file_ids", m.FileIds, img.fileIDs))
	collect(diffHash(&d, MapFileSuffixes, m.FileSuffixes, img.suffixes))
	collect(diffArray(&d, "file_substrs", m.FileSubstrs, img.substrs[:]))
	collect(diffHash(&d, MapTaskNames, m.TaskNames, img.taskNames))
	collect(diffArray(&d, "task_keys", m.TaskKeys, []processTaskKeyCfg{img.taskKeys}))
	collect(diffArray(&d, "rules", m.Rules, img.rules[:]))
	collect(diffArray(&d, "event_rules", m.EventRules, img.events[:]))
	collect(diffArray(&d, "net_any_port", m.NetAnyPort, []uint64{img.anyPort}))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reading policy maps (nothing written): %w", err)
	}
	d.last = append(d.last, putOp("selector", m.Selector, uint32(0), sel))
	if err := d.run(p.beforeWrite); err != nil {
		return err
	}
	p.gen = sel.Gen
	return nil
}

// mapOp is one map write and how to take it back.
type mapOp struct {
	name       string
	apply      func() error
	undo       func() error
	isDeletion bool
}

// diff is the writes that turn the maps' contents into an image: deletions
// first (so a map never holds old and new entries at once), then puts, then
// last (the selector).
type diff struct {
	dels, puts, last []mapOp
}

func (d *diff) run(before func(string) error) error {
	ops := append(append(append([]mapOp(nil), d.dels...), d.puts...), d.last...)
	for i, op := range ops {
		err := error(nil)
		if before != nil {
			err = before(op.name)
		}
		if err == nil {
			err = op.apply()
		}
		if err == nil {
			continue
		}
		verb := "writing"
		if op.isDeletion {
			verb = "deleting from"
		}
		err = fmt.Errorf("%s policy map %s: %w", verb, op.name, err)
		var undoErrs []error
		for j := i - 1; j >= 0; j-- {
			if uerr := ops[j].undo(); uerr != nil {
				undoErrs = append(undoErrs, fmt.Errorf("%s: %w", ops[j].name, uerr))
			}
		}
		if len(undoErrs) > 0 {
			return fmt.Errorf("%w; rolling back failed, the maps are inconsistent until the next apply: %w", err, errors.Join(undoErrs...))
		}
		return fmt.Errorf("%w (rolled back: the maps hold the previous policies)", err)
	}
	return nil
}

func putOp[K, V any](name string, m *ebpf.Map, k K, v V) mapOp {
	var old V
	had := m.Lookup(k, &old) == nil
	return mapOp{name: name,
		apply: func() error { return m.Put(k, v) },
		undo: func() error {
			if had {
				return m.Put(k, old)
			}
			return m.Delete(k)
		}}
}

// diffHash adds the writes that make a hash or LPM map hold exactly want.
func diffHash[K, V comparable](d *diff, name string, m *ebpf.Map, want map[K]V) error {
	have := map[K]V{}
	var k K
	var v V
	it := m.Iterate()
	for it.Next(&k, &v) {
		have[k] = v
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for k, old := range have {
		if _, ok := want[k]; !ok {
			d.dels = append(d.dels, mapOp{name: name, isDeletion: true,
				apply: func() error {
					if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
						return err
					}
					return nil
				},
				undo: func() error { return m.Put(k, old) }})
		}
	}
	for k, nv := range want {
		old, had := have[k]
		if had && old == nv {
			continue
		}
		d.puts = append(d.puts, mapOp{name: name,
			apply: func() error { return m.Put(k, nv) },
			undo: func() error {
				if had {
					return m.Put(k, old)
				}
				return m.Delete(k)
			}})
	}
	return nil
}

// diffArray adds the writes that make an array map hold want at indexes 0..len-1.
func diffArray[V comparable](d *diff, name string, m *ebpf.Map, want []V) error {
	for i, nv := range want {
		var old V
		if err := m.Lookup(uint32(i), &old); err != nil {
			return fmt.Errorf("%s[%d]: %w", name, i, err)
		}
		if old == nv {
			continue
		}
		d.puts = append(d.puts, mapOp{name: name,
			apply: func() error { return m.Put(uint32(i), nv) },
			undo:  func() error { return m.Put(uint32(i), old) }})
	}
	return nil
}

// RuleHits returns per-rule match counts (kind*64+slot), summed over CPUs.
func (p *Process) RuleHits() ([]uint64, error) {
	out := make([]uint64, numKinds*maxRules)
	for i := range out {
		var per []uint64
		if err := p.objs.RuleHits.Lookup(uint32(i), &per); err != nil {
			return nil, err
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out, nil
}
