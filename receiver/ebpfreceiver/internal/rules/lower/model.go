package lower

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
)

// Event is what the kernel filters look at, for the Go model of a filter.
type Event struct {
	Kind        rules.Kind
	Path        string
	Read, Write bool
	Server      netip.AddrPort
	// Exe is the executed file (process.exec).
	Exe string
	// Flags are the open's flags by name (file.open).
	Flags []string
	// Raw is the path as the caller passed it (file.open), "" when the hook
	// has none (io_uring, open_by_handle_at, the security hooks).
	Raw string
	// The process: its name and its parent's as user space knows them (the
	// kernel compares their first CommLen bytes), whether it has a
	// controlling terminal, its effective capabilities by name.
	Name, PName string
	TTY         bool
	Caps        []string
	// Ancestors are the names of the ancestors beyond the parent, the
	// grandparent first; the chain ends with the last.
	Ancestors []string
	// RealPName is the name of the kernel's real_parent when the process
	// was re-parented (PName, user space's parent, is the one that forked
	// it and has exited; the chain above it is then init alone); "" when
	// not re-parented.
	RealPName string
}

// ancestorTest is the kernel's ancestor_names decision: one of the first depth
// generations (the parent, then ev.Ancestors) has a name of the set, or open
// and the chain is longer than the walk.
func ancestorTest(ev Event, names []string, depth int, open, own bool) bool {
	if names == nil {
		return true
	}
	var chain []string
	switch {
	case ev.RealPName != "" && !own:
		return true // re-parented: a condition's key passes, user space decides
	case ev.RealPName != "":
		chain = []string{ev.RealPName} // the kernel follows real_parent
	case ev.PName != "":
		chain = append([]string{ev.PName}, ev.Ancestors...)
	}
	for i := 0; i < depth && i < len(chain); i++ {
		if slices.Contains(names, commCut(chain[i])) {
			return true
		}
	}
	return open && len(chain) > depth
}

// The kernel buffers of the name and raw-path tests.
const (
	nameBuf = 64  // NAME_KEY: a name's last bytes read
	rawBuf  = 256 // RAW_BUF, with the NUL
)

// nameTests is the kernel's name_suffixes and name_contains decision on a
// resolved path: "/" + its final component ends with a suffix (exact at any
// length: the kernel reads the name's end); the component contains a
// substring, or is longer than the kernel reads (fail closed).
func nameTests(path string, suffixes, subs []string) bool {
	name := path[strings.LastIndexByte(path, '/')+1:]
	if suffixes != nil && !slices.ContainsFunc(suffixes, func(s string) bool { return strings.HasSuffix("/"+name, s) }) {
		return false
	}
	if subs != nil && len(name) <= nameBuf && !slices.ContainsFunc(subs, func(s string) bool { return strings.Contains(name, s) }) {
		return false
	}
	return true
}

// rawTest is the kernel's raw_contains decision: no raw path, or one that may
// not fit the buffer, passes (fail closed).
func rawTest(raw string, subs []string) bool {
	if subs == nil || raw == "" || len(raw)+1 >= rawBuf {
		return true
	}
	return slices.ContainsFunc(subs, func(s string) bool { return strings.Contains(raw, s) })
}

// Accepts is the kernel's decision for filter f, modelled in Go: what the kernel
// maps built from f's keys let through. The property the lowering keeps is that
// Accepts is true for every event the condition is true for.
func (f Filter) Accepts(ev Event) bool {
	if ev.Kind != f.Kind {
		return false
	}
	if f.Paths != nil && !slices.ContainsFunc(f.Paths, func(p string) bool {
		if strings.HasSuffix(p, "/") {
			return strings.HasPrefix(ev.Path, p)
		}
		return ev.Path == p
	}) {
		return false
	}
	if f.Access != nil && !slices.ContainsFunc(f.Access, func(a string) bool {
		return (a == "read" && ev.Read) || (a == "write" && ev.Write)
	}) {
		return false
	}
	if f.OpenFlags != nil && !slices.ContainsFunc(f.OpenFlags, func(n string) bool { return slices.Contains(ev.Flags, n) }) {
		return false
	}
	if f.CIDRs != nil && !slices.ContainsFunc(f.CIDRs, func(p netip.Prefix) bool { return p.Contains(ev.Server.Addr()) }) {
		return false
	}
	if f.Ports != nil && !slices.Contains(f.Ports, ev.Server.Port()) {
		return false
	}
	if f.Binaries != nil && !slices.Contains(f.Binaries, ev.Exe) {
		return false
	}
	if !nameTests(ev.Path, f.NameSuffixes, f.NameContains) || !rawTest(ev.Raw, f.RawContains) {
		return false
	}
	if f.ProcessNames != nil && !slices.Contains(f.ProcessNames, commCut(ev.Name)) {
		return false
	}
	if f.ParentNames != nil && (ev.RealPName == "" || f.ParentsOwn) {
		p := ev.PName
		if ev.RealPName != "" {
			p = ev.RealPName // the rule's own key follows real_parent
		}
		if !slices.Contains(f.ParentNames, commCut(p)) {
			return false
		}
	}
	if !ancestorTest(ev, f.AncestorNames, f.AncestorDepth, f.AncestorsOpen, f.AncestorsOwn) {
		return false
	}
	if f.TTY != nil && *f.TTY != ev.TTY {
		return false
	}
	if f.Caps != nil && !slices.ContainsFunc(f.Caps, func(c string) bool { return slices.Contains(ev.Caps, c) }) {
		return false
	}
	return true
}

// Passes reports whether the plan lets ev reach user space: its kind always does,
// or one of the filters accepts it.
func (p Plan) Passes(ev Event) bool {
	if p.Always.Has(ev.Kind) {
		return true
	}
	for _, f := range p.Filters {
		if f.Accepts(ev) {
			return true
		}
	}
	return false
}
