//go:build linux

package sensor

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// sharedMaps are the maps every sensor object uses, owned by the process object.
func (p *Process) sharedMaps() map[string]*ebpf.Map {
	m := p.objs.processMaps
	return map[string]*ebpf.Map{
		"counters": m.Counters, "events": m.Events, "selector": m.Selector, "rules": m.Rules,
		"rule_hits": m.RuleHits, "sel_uid": m.SelUid, "sel_cgroup": m.SelCgroup, "sel_binary": m.SelBinary,
		"proc_bin": m.ProcBin, "file_paths": m.FilePaths, "exec_binaries": m.ExecBinaries,
		"net_cidr4": m.NetCidr4, "net_cidr6": m.NetCidr6, "net_ports": m.NetPorts,
		"net_any_port": m.NetAnyPort, "event_rules": m.EventRules, "path_scratch_map": m.PathScratchMap,
		"top_dirs": m.TopDirs,
	}
}

// Apply writes compiled policy state into the kernel maps. Filters and rules are
// written first and stale entries removed, then the selector (which activates
// policies) last: a reload is a set of map updates, programs stay attached.
func (p *Process) Apply(c *Compiled, emitAll bool) error {
	m := p.objs.processMaps
	var errs []error
	for i := range c.rules {
		errs = append(errs, m.Rules.Put(uint32(i), c.rules[i]))
	}
	errs = append(errs,
		syncMap(m.SelUid, c.selUID),
		syncMap(m.SelCgroup, c.cgroups),
		syncMap(m.SelBinary, c.selBinary),
		syncMap(m.FilePaths, c.filePaths),
		syncMap(m.ExecBinaries, c.execBins),
		syncMap(m.NetCidr4, c.net4),
		syncMap(m.NetCidr6, c.net6),
		syncMap(m.NetPorts, c.ports),
		syncMap(m.TopDirs, c.topDirs),
		m.NetAnyPort.Put(uint32(0), c.anyPort),
	)
	for i, v := range c.events {
		errs = append(errs, m.EventRules.Put(uint32(i), v))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("writing policy maps: %w", err)
	}
	sel := c.selector
	p.gen++
	sel.Gen = p.gen // cached per-process selector results are now stale
	if emitAll {
		sel.EmitAll = 1
	}
	if err := m.Selector.Put(uint32(0), sel); err != nil {
		return fmt.Errorf("writing selector: %w", err)
	}
	return nil
}

// syncMap makes a hash or LPM map hold exactly want: puts every entry, then
// deletes keys that are no longer wanted.
func syncMap[K comparable, V any](m *ebpf.Map, want map[K]V) error {
	var errs []error
	for k, v := range want {
		if err := m.Put(k, v); err != nil {
			errs = append(errs, err)
		}
	}
	var stale []K
	var k K
	var v V
	it := m.Iterate()
	for it.Next(&k, &v) {
		if _, ok := want[k]; !ok {
			stale = append(stale, k)
		}
	}
	errs = append(errs, it.Err())
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
