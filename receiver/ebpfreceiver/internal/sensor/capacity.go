//go:build linux

package sensor

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// Capacity is the max_entries of each policy filter map, by map name, as
// loaded (Process.Capacity).
type Capacity map[string]int

// mapInfo describes a filter map for errors: what it holds and the policy key
// whose values fill it.
var mapInfo = map[string]struct{ what, key string }{
	MapFilePaths:    {"file path map", "paths"},
	MapExecBinaries: {"exec binary map", "binaries"},
	// One entry per distinct file of binaries: never more than exec_binaries
	// holds (the same size), so admission counts only the paths.
	MapExecInodes:   {"exec binary identity map", "binaries (their files)"},
	MapSelBinary:    {"binary selector map", "selector.binaries/binary_prefixes"},
	MapSelUID:       {"uid selector map", "selector.uids"},
	MapSelCgroup:    {"pod cgroup map", "selector.namespaces/pod_labels (cgroups of the selected pods)"},
	MapNetCIDR4:     {"IPv4 CIDR map", "cidrs (IPv4)"},
	MapNetCIDR6:     {"IPv6 CIDR map", "cidrs (IPv6)"},
	MapNetPorts:     {"port map", "ports"},
	MapTopDirs:      {"top directory map", "paths (first components)"},
	MapFileIDs:      {"file identity map", "paths (exact files, by device and inode)"},
	MapFileSuffixes: {"file name suffix map", "name_suffixes"},
	MapNameContains: {"file name pattern table", "name_contains"},
	MapRawContains:  {"raw path pattern table", "raw_contains"},
	MapTaskNames:    {"process name map", "process_names/parent_names/ancestor_names (one entry per name and rule kind)"},
}

// Check says which maps an image overflows (nil when it fits).
func (c Capacity) Check(img *MapImage) error {
	var over []string
	for name, n := range img.Entries() {
		if max, ok := c[name]; ok && n > max {
			over = append(over, fmt.Sprintf("%s: %d entries, room for %d", name, n, max))
		}
	}
	if len(over) == 0 {
		return nil
	}
	sort.Strings(over)
	return fmt.Errorf("policy maps full (nothing written): %s", strings.Join(over, "; "))
}

// Usage counts the distinct map entries and rule slots of the policies
// admitted so far, to admit policies one by one only while they fit. Entries
// shared by several policies (the same path in two rules) count once, as in
// the maps.
type Usage struct {
	cap   Capacity
	keys  map[string]map[any]struct{}
	rules [numKinds]int
	// TopDirsDropped: the admitted policies' top directories do not fit
	// top_dirs; Compile's top-directory pre-filter must then be dropped
	// (DropTopFilter) instead of rejecting policies.
	TopDirsDropped bool
}

// NewUsage starts counting against c.
func NewUsage(c Capacity) *Usage {
	return &Usage{cap: c, keys: map[string]map[any]struct{}{}}
}

// Admit adds a policy's entries (cgroupIDs: those of the pods its Kubernetes
// selectors select) if every map and rule table has room for them, and
// otherwise adds nothing and returns an error naming the file, the key, the
// entries it needs and the room left.
func (u *Usage) Admit(p *policy.Policy, cgroupIDs []uint64) error {
	need := footprint(p, cgroupIDs)
	if errs := u.overflows(need); len(errs) > 0 {
		return fmt.Errorf("%s: %s: policy not loaded, the other policies run", p.Source, strings.Join(errs, "; "))
	}
	for name, ks := range need.keys {
		if u.keys[name] == nil {
			u.keys[name] = map[any]struct{}{}
		}
		for k := range ks {
			u.keys[name][k] = struct{}{}
		}
	}
	for k, n := range need.rules {
		u.rules[k] += n
	}
	if max, ok := u.cap[MapTopDirs]; ok && len(u.keys[MapTopDirs]) > max {
		u.TopDirsDropped = true
	}
	return nil
}

// overflows says, per map and rule table, how a footprint does not fit.
func (u *Usage) overflows(need policyFootprint) []string {
	var errs []string
	for _, name := range sortedKeys(need.keys) {
		max, ok := u.cap[name]
		if !ok || name == MapTopDirs {
			continue // top_dirs is a pre-filter: dropped when full, never a reason to reject
		}
		used, added := len(u.keys[name]), 0
		for k := range need.keys[name] {
			if _, ok := u.keys[name][k]; !ok {
				added++
			}
		}
		if used+added > max {
			info := mapInfo[name]
			errs = append(errs, fmt.Sprintf("%s: %d entries exceed the %s's remaining capacity of %d (%s holds %d, %d used by other policies)",
				info.key, added, info.what, max-used, name, max, used))
		}
	}
	for k, n := range need.rules {
		if n > 0 && u.rules[k]+n > maxRules {
			errs = append(errs, fmt.Sprintf("rules: %d %s rules exceed the %d rule slots left of %d (shared by all policies)",
				n, kindName(k), maxRules-u.rules[k], maxRules))
		}
	}
	return errs
}

// DropTopFilter removes the top-directory pre-filter from a compiled image
// (when Usage.TopDirsDropped).
func (c *Compiled) DropTopFilter() { c.Image.dropTopFilter() }

func kindName(k int) string {
	switch k {
	case KindFile:
		return "file"
	case KindNet:
		return "network"
	case KindExec:
		return "exec"
	}
	return "syscall-kind"
}

type policyFootprint struct {
	keys  map[string]map[any]struct{}
	rules [numKinds]int
}

// footprint lists the map keys a policy writes, derived with the same key
// functions Compile uses.
func footprint(p *policy.Policy, cgroupIDs []uint64) policyFootprint {
	f := policyFootprint{keys: map[string]map[any]struct{}{}}
	add := func(name string, k any) {
		if f.keys[name] == nil {
			f.keys[name] = map[any]struct{}{}
		}
		f.keys[name][k] = struct{}{}
	}
	sel := p.Selector
	for _, u := range sel.UIDs {
		add(MapSelUID, u)
	}
	for _, b := range sel.Binaries {
		add(MapSelBinary, pathEntry{b, true, 0}.key())
	}
	for _, b := range sel.BinaryPrefixes {
		add(MapSelBinary, pathEntry{b, false, 0}.key())
	}
	if len(sel.Namespaces)+len(sel.PodLabels) > 0 {
		for _, id := range cgroupIDs {
			add(MapSelCgroup, id)
		}
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		_, kind, ok := kernelEvent(r.Event)
		if !ok {
			continue
		}
		f.rules[kind]++
		for _, path := range r.Paths {
			e := filePathEntry(path, 0)
			add(MapFilePaths, e.key())
			if e.exact && kind == KindFile {
				if id, ok := statID(path); ok {
					add(MapFileIDs, id) // as Compile resolves it: two paths of one file share the entry
				}
			}
			if top, ok := topComponent(path); ok {
				add(MapTopDirs, top)
			}
		}
		for _, b := range r.Binaries {
			add(MapExecBinaries, pathEntry{b, true, 0}.key())
		}
		// The name, raw-path and task-name keys as Compile writes them: the
		// kernel rule's (its keys narrowed by its condition).
		kr := r.KernelRule()
		for _, sfx := range kr.NameSuffixes {
			add(MapFileSuffixes, suffixKey(sfx))
		}
		for _, p := range kr.NameContains {
			add(MapNameContains, p)
		}
		for _, p := range kr.RawContains {
			add(MapRawContains, p)
		}
		for _, pfx := range r.CIDRs {
			if pfx.Addr().Is4() {
				add(MapNetCIDR4, net4Key(pfx))
			} else {
				add(MapNetCIDR6, net6Key(pfx))
			}
		}
		for _, port := range r.Ports {
			add(MapNetPorts, port)
		}
		// The task names likewise come from the kernel rule.
		for _, n := range kr.ProcessNames {
			add(MapTaskNames, taskNameKey(kind, nameOfProcess, n))
		}
		for _, n := range kr.ParentNames {
			add(MapTaskNames, taskNameKey(kind, nameOfParent, n))
		}
		for _, n := range kr.AncestorNames {
			add(MapTaskNames, taskNameKey(kind, nameOfAncestor, n))
		}
	}
	return f
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
