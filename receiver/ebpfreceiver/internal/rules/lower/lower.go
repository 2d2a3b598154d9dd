// Package lower splits a compiled rule condition into what the kernel can check
// and what stays in user space ("one condition, compiled twice"). For each event
// kind the condition can match, Lower computes the strongest filter in the kernel
// policies' vocabulary (paths, access, cidrs, ports) that every event satisfying
// the condition passes: a sound over-approximation. The condition itself is then
// evaluated in user space on what passes; Residual names the top-level terms the
// kernel part does not decide, for the explanation.
package lower

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/caps"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

// MaxPathLen is the longest path the kernel's path filter keys hold.
const MaxPathLen = 255

// MaxSuffixLen is the longest file-name suffix the kernel tests, MaxSubstrLen
// the longest name or raw-path substring (policy.MaxSuffixLen, MaxSubstrLen).
const (
	MaxSuffixLen = 64
	MaxSubstrLen = 8
	// MaxNameSuffixes and MaxSubstrs bound a rule's sets
	// (policy.MaxNameSuffixes, MaxSubstrs): a larger set is not a kernel key.
	MaxNameSuffixes = 64
	MaxSubstrs      = 8
)

// Filter is the kernel part for one event kind. A nil list does not filter; a
// non-nil list is a set of which the event must match one.
type Filter struct {
	Kind rules.Kind
	// Paths are exact paths, or directory prefixes ending in "/" (file kinds).
	Paths []string
	// Access is "read" and/or "write" (file.open).
	Access []string
	// CIDRs are the server's networks, Ports its ports (network.connect: the
	// peer; network.listen: the local end).
	CIDRs []netip.Prefix
	Ports []uint16
	// Binaries are exact paths of the executed file (process.exec). Lower
	// leaves them out (exec events reach user space anyway); ForKind fills
	// them for a policy rule's kernel filter.
	Binaries []string
	// OpenFlags (file.open): the open asked for one of these flags (O_TRUNC...).
	OpenFlags []string
	// RawPath (file.open): the condition reads fd.nameraw, the path as the
	// caller passed it: the kernel captures it for this rule only.
	RawPath bool
	// FailedOpens (file.open): the condition reads evt.failed, evt.res or
	// evt.rawres, so failed opens must reach it.
	FailedOpens bool
	// NameSuffixes (file kinds with paths): "/" + the final path component
	// ends with one of these ("/x" is the name x exactly).
	NameSuffixes []string
	// NameContains: the final path component contains one of these.
	NameContains []string
	// RawContains (file.open): the path as the caller passed it contains one
	// of these; an open without one (io_uring...) passes.
	RawContains []string
	// The task keys, on every kind: the process's name (proc.name) and its
	// parent's (proc.pname) is one of these, cut to CommLen bytes as the
	// kernel keeps names; TTY, it has a controlling terminal (true) or none
	// (false); Caps, its effective set holds one of these capabilities.
	ProcessNames []string
	ParentNames  []string
	TTY          *bool
	Caps         []string
	// AncestorNames: one of the first AncestorDepth generations up the
	// process tree (1 the parent) is named one of these; AncestorsOpen, a
	// chain longer than AncestorDepth passes too (the term asked for an
	// ancestor deeper than the kernel walks, or for any ancestor).
	AncestorNames []string
	AncestorDepth int
	AncestorsOpen bool
	// ParentsOwn, AncestorsOwn: the parent or ancestor key is a policy
	// rule's own, which the kernel checks on real_parent. A key lowered from
	// a condition is not: user space decides its term on the parent that
	// forked the process, so the kernel passes a process re-parented since.
	ParentsOwn, AncestorsOwn bool
}

// MaxAncestorDepth is how many generations the kernel's ancestor walk reads
// (ANC_DEPTH).
const MaxAncestorDepth = 8

// CommLen is the longest process name the kernel keeps.
const CommLen = 15

// Narrow reports whether the filter passes fewer than every event of its kind.
func (f Filter) Narrow() bool {
	return f.Paths != nil || f.Access != nil || f.CIDRs != nil || f.Ports != nil || f.Binaries != nil || f.OpenFlags != nil ||
		f.NameSuffixes != nil || f.NameContains != nil || f.RawContains != nil ||
		f.ProcessNames != nil || f.ParentNames != nil || f.TTY != nil || f.Caps != nil || f.AncestorNames != nil
}

// String renders the filter in the policy keys' words.
func (f Filter) String() string {
	var parts []string
	if f.Paths != nil {
		parts = append(parts, "paths: ["+strings.Join(f.Paths, ", ")+"]")
	}
	if f.Access != nil {
		parts = append(parts, "access: ["+strings.Join(f.Access, ", ")+"]")
	}
	if f.OpenFlags != nil {
		parts = append(parts, "open_flags: ["+strings.Join(f.OpenFlags, ", ")+"]")
	}
	if f.NameSuffixes != nil {
		parts = append(parts, "name_suffixes: ["+strings.Join(quoteAll(f.NameSuffixes), ", ")+"]")
	}
	if f.NameContains != nil {
		parts = append(parts, "name_contains: ["+strings.Join(quoteAll(f.NameContains), ", ")+"]")
	}
	if f.RawContains != nil {
		parts = append(parts, "raw_contains: ["+strings.Join(quoteAll(f.RawContains), ", ")+"]")
	}
	if f.RawPath {
		parts = append(parts, "raw_path: true")
	}
	if f.FailedOpens {
		parts = append(parts, "failed_opens: true")
	}
	if f.CIDRs != nil {
		s := make([]string, len(f.CIDRs))
		for i, c := range f.CIDRs {
			s[i] = c.String()
		}
		parts = append(parts, "cidrs: ["+strings.Join(s, ", ")+"]")
	}
	if f.Ports != nil {
		s := make([]string, len(f.Ports))
		for i, p := range f.Ports {
			s[i] = strconv.Itoa(int(p))
		}
		parts = append(parts, "ports: ["+strings.Join(s, ", ")+"]")
	}
	if f.Binaries != nil {
		parts = append(parts, "binaries: ["+strings.Join(f.Binaries, ", ")+"]")
	}
	if f.ProcessNames != nil {
		parts = append(parts, "process_names: ["+strings.Join(f.ProcessNames, ", ")+"]")
	}
	if f.ParentNames != nil {
		parts = append(parts, "parent_names: ["+strings.Join(f.ParentNames, ", ")+"]")
	}
	if f.AncestorNames != nil {
		parts = append(parts, AncestorString(f.AncestorNames, f.AncestorDepth, f.AncestorsOpen))
	}
	if f.TTY != nil {
		parts = append(parts, "tty: "+strconv.FormatBool(*f.TTY))
	}
	if f.Caps != nil {
		parts = append(parts, "capabilities: ["+strings.Join(f.Caps, ", ")+"]")
	}
	if len(parts) == 0 || !f.Narrow() && len(parts) == boolParts(f) {
		return strings.Join(append([]string{"every " + f.Kind.String() + " event"}, parts...), " ")
	}
	return strings.Join(parts, " ")
}

// AncestorString renders the ancestor key in the policy keys' words.
func AncestorString(names []string, depth int, open bool) string {
	s := "ancestor_names: [" + strings.Join(names, ", ") + "] ancestor_depth: " + strconv.Itoa(depth)
	if open {
		s += " (a longer chain passes)"
	}
	return s
}

// Plan is a condition split between the kernel and user space.
type Plan struct {
	// Kinds are the event kinds the condition can match.
	Kinds rules.KindSet
	// Filters are the kernel parts, one per kind of Kinds that has a kernel
	// filter (not process.exec and process.exit: those events always reach
	// user space), in kind order.
	Filters []Filter
	// Always are the kinds whose events always reach user space.
	Always rules.KindSet
	// Residual are the top-level terms the kernel part does not decide,
	// rendered; user space evaluates the whole condition on what passes.
	Residual []string
}

// AlwaysInUserSpace are the kinds the process sensor always reports.
const AlwaysInUserSpace = rules.KindSet(1<<rules.ProcessExec | 1<<rules.ProcessExit)

// Lower splits e.
func Lower(e rules.Expr) Plan {
	maybe, _ := rules.ExprKinds(e)
	p := Plan{Kinds: maybe, Always: maybe & AlwaysInUserSpace}
	for _, k := range maybe.List() {
		if AlwaysInUserSpace.Has(k) {
			continue
		}
		c, _ := bounded(lowerFor(e, k))
		if c.none {
			continue // false on this kind after all
		}
		f := Filter{Kind: k, Paths: c.paths, Access: c.access, CIDRs: c.cidrs, Ports: c.ports, OpenFlags: c.flags,
			NameSuffixes: c.sfx, NameContains: c.nsub, RawContains: c.rsub}
		c.task(&f)
		if k == rules.FileOpen {
			f.RawPath = refers(e, rules.FieldFdNameraw)
			f.FailedOpens = refers(e, rules.FieldEvtFailed, rules.FieldEvtRes, rules.FieldEvtRawRes)
		}
		p.Filters = append(p.Filters, f)
	}
	var filtered rules.KindSet
	for _, f := range p.Filters {
		filtered |= rules.KindsOf(f.Kind)
	}
	for _, t := range conjuncts(e) {
		if !decided(t, filtered) {
			p.Residual = append(p.Residual, Render(t))
		}
	}
	return p
}

func (c cons) narrow() bool {
	return c.paths != nil || c.access != nil || c.cidrs != nil || c.ports != nil || c.bins != nil || c.flags != nil ||
		c.sfx != nil || c.nsub != nil || c.rsub != nil ||
		c.names != nil || c.pnames != nil || c.tty != ttyAny || c.caps != nil || c.anames != nil
}

// task sets a filter's task keys from a constraint.
func (c cons) task(f *Filter) {
	f.ProcessNames, f.ParentNames, f.Caps = c.names, c.pnames, c.caps
	f.TTY = c.tty.ptr()
	f.AncestorNames, f.AncestorDepth, f.AncestorsOpen = c.anames, c.adepth, c.aopen
}

// ttyCons is what a constraint says of the controlling terminal.
type ttyCons uint8

const (
	ttyAny  ttyCons = iota // no constraint
	ttyWith                // the process has one
	ttyNone                // it has none
)

func (t ttyCons) ptr() *bool {
	switch t {
	case ttyWith:
		b := true
		return &b
	case ttyNone:
		b := false
		return &b
	}
	return nil
}

func ttyOf(b *bool) ttyCons {
	switch {
	case b == nil:
		return ttyAny
	case *b:
		return ttyWith
	}
	return ttyNone
}

// boolParts counts the switches (raw_path, failed_opens) among a filter's parts.
func boolParts(f Filter) int {
	n := 0
	if f.RawPath {
		n++
	}
	if f.FailedOpens {
		n++
	}
	return n
}

// refers reports whether e reads one of the fields anywhere (negated or not).
func refers(e rules.Expr, ids ...rules.FieldID) bool {
	switch e := e.(type) {
	case rules.AllOf:
		return slices.ContainsFunc(e, func(x rules.Expr) bool { return refers(x, ids...) })
	case rules.AnyOf:
		return slices.ContainsFunc(e, func(x rules.Expr) bool { return refers(x, ids...) })
	case rules.NotOf:
		return refers(e.X, ids...)
	case *rules.Cmp:
		return slices.Contains(ids, e.Field)
	}
	return false
}

// cons is what the kernel can require of an event of one kind. none: no event
// of the kind satisfies the expression. A non-nil empty list is a set no value
// is in: the constraint cannot hold, which normal() turns into none.
type cons struct {
	none   bool
	paths  []string
	access []string
	cidrs  []netip.Prefix
	ports  []uint16
	bins   []string
	flags  []string
	// sfx are name suffixes (an any-of set, exactly intersected); nsub and
	// rsub name and raw-path substrings (any-of sets: a meet keeps one side).
	sfx, nsub, rsub []string
	// The task keys: names (cut to CommLen), parent names, the terminal,
	// capabilities (any of, like flags).
	names  []string
	pnames []string
	tty    ttyCons
	caps   []string
	// anames: an ancestor within adepth generations has one of these names
	// (aopen: or the chain is longer than adepth). Never exact: user space
	// decides the terms they come from.
	anames []string
	adepth int
	aopen  bool
	// loose: access is wider than the terms it came from (two access sets
	// neither of which contains the other: the kernel checks one of them).
	loose bool
}

// normal makes a constraint no event can meet (an empty set) none.
func (c cons) normal() cons {
	if c.none || isEmpty(c.paths) || isEmpty(c.access) || isEmpty(c.cidrs) || isEmpty(c.ports) || isEmpty(c.bins) ||
		isEmpty(c.sfx) || isEmpty(c.names) || isEmpty(c.pnames) || isEmpty(c.caps) || isEmpty(c.anames) {
		return cons{none: true}
	}
	return c
}

func isEmpty[T any](s []T) bool { return s != nil && len(s) == 0 }

// ForKind splits e for one event kind, as a policy rule on that event needs
// it: the strongest kernel filter of the kind (process.exec included, whose
// binaries the kernel checks), and the top-level terms the filter does not
// decide exactly. never: no event of the kind satisfies e. With no residual
// terms, the filter passes exactly the events of kind k that satisfy e.
func ForKind(e rules.Expr, k rules.Kind) (f Filter, residual []string, never bool) {
	c, cut := bounded(lowerFor(e, k))
	if c.none {
		return Filter{Kind: k}, nil, true
	}
	f = Filter{Kind: k, Paths: c.paths, Access: c.access, CIDRs: c.cidrs, Ports: c.ports, Binaries: c.bins, OpenFlags: c.flags,
		NameSuffixes: c.sfx, NameContains: c.nsub, RawContains: c.rsub}
	c.task(&f)
	if k == rules.FileOpen {
		f.RawPath = refers(e, rules.FieldFdNameraw)
		f.FailedOpens = refers(e, rules.FieldEvtFailed, rules.FieldEvtRes, rules.FieldEvtRawRes)
	}
	for _, t := range conjuncts(e) {
		if !decided(t, rules.KindsOf(k)) || (c.loose && onAccess(t)) || (cut && onName(t)) {
			residual = append(residual, Render(t))
		}
	}
	return f, residual, false
}

// bounded drops the name and raw-path sets larger than a rule may hold (no
// kernel test then, which is sound); cut: the suffixes were dropped, so the
// terms they came from are no longer decided in the kernel.
func bounded(c cons) (cons, bool) {
	cut := len(c.sfx) > MaxNameSuffixes
	if cut {
		c.sfx = nil
	}
	if len(c.nsub) > MaxSubstrs {
		c.nsub = nil
	}
	if len(c.rsub) > MaxSubstrs {
		c.rsub = nil
	}
	return c, cut
}

// onName reports whether a term is one the suffix test decides.
func onName(e rules.Expr) bool {
	c, ok := e.(*rules.Cmp)
	return ok && (c.Field == rules.FieldFdFilename || (c.Field == rules.FieldFdName && c.Op == cond.EndsWith))
}

// onAccess reports whether a term is on the open's access mode.
func onAccess(e rules.Expr) bool {
	c, ok := e.(*rules.Cmp)
	return ok && (c.Field == rules.FieldEvtIsOpenRead || c.Field == rules.FieldEvtIsOpenWrite)
}

// Intersect is the filter passing the events both a and b pass (they are of
// one kind). empty: no event passes both. loose: the access sets do not nest
// (read against write): the result keeps a's, so it passes every event both
// pass and some that b rejects; b must then be checked in user space. Two
// capability sets keep a's too (ForKind never decides capability terms).
func Intersect(a, b Filter) (f Filter, empty, loose bool) {
	bc := consOf(b)
	if a.ParentNames != nil {
		// Not intersected: a's parent is real_parent, b's the process that
		// forked this one; after a re-parenting both can hold under other names.
		bc.pnames = nil
	}
	c := meet(consOf(a), bc)
	if c.none {
		return Filter{Kind: a.Kind}, true, false
	}
	f = Filter{Kind: a.Kind, Paths: c.paths, Access: c.access, CIDRs: c.cidrs, Ports: c.ports, Binaries: c.bins,
		OpenFlags: c.flags, RawPath: a.RawPath || b.RawPath, FailedOpens: a.FailedOpens || b.FailedOpens,
		NameSuffixes: c.sfx, NameContains: c.nsub, RawContains: c.rsub}
	c.task(&f)
	if a.ParentNames != nil {
		// The rule's own parent key (real_parent, kept whole by the meet
		// above) is what the kernel checks, as for ancestors below: the
		// condition's (fork-time) stays in user space.
		f.ParentsOwn = a.ParentsOwn
	}
	if a.AncestorNames != nil {
		// The rule's own ancestor key is what the kernel checks: nothing
		// else decides it, while the condition's terms stay in user space.
		f.AncestorNames, f.AncestorDepth, f.AncestorsOpen, f.AncestorsOwn = a.AncestorNames, a.AncestorDepth, a.AncestorsOpen, a.AncestorsOwn
	}
	if a.Caps != nil && b.Caps != nil {
		// Two any-of capability sets: the kernel checks a's (the rule's
		// keys); a condition's capability terms always stay in user space.
		f.Caps = a.Caps
	}
	return f, false, c.loose
}

// consOf is a filter as a constraint.
func consOf(f Filter) cons {
	return cons{paths: f.Paths, access: f.Access, cidrs: f.CIDRs, ports: f.Ports, bins: f.Binaries, flags: f.OpenFlags,
		sfx: f.NameSuffixes, nsub: f.NameContains, rsub: f.RawContains,
		names: f.ProcessNames, pnames: f.ParentNames, tty: ttyOf(f.TTY), caps: f.Caps,
		anames: f.AncestorNames, adepth: f.AncestorDepth, aopen: f.AncestorsOpen}
}

func lowerFor(e rules.Expr, k rules.Kind) cons {
	if maybe, _ := rules.ExprKinds(e); !maybe.Has(k) {
		return cons{none: true}
	}
	switch e := e.(type) {
	case rules.AllOf:
		var c cons
		for _, x := range e {
			c = meet(c, lowerFor(x, k))
		}
		return c
	case rules.AnyOf:
		c := cons{none: true}
		for _, x := range e {
			c = join(c, lowerFor(x, k))
		}
		return c
	case rules.Const:
		return cons{none: !bool(e)}
	case *rules.Cmp:
		return lowerCmp(e, k).normal()
	}
	return cons{} // a negation or anything else: no kernel constraint
}

// meet: both hold. The result is the exact intersection of the two sides'
// sets, key by key, so that a term the kernel decides stays decided when
// another term constrains the same key.
func meet(a, b cons) cons {
	if a.none || b.none {
		return cons{none: true}
	}
	access, loose := meetAccess(a.access, b.access)
	tty := a.tty
	switch {
	case tty == ttyAny:
		tty = b.tty
	case b.tty != ttyAny && b.tty != tty:
		return cons{none: true} // a terminal and none
	}
	// Two ancestor keys: either is sound; the deeper one is kept (fewer
	// names on a tie). A chain's deeper term usually names the process it
	// comes from (the web server under shells), the rarer name.
	an := a
	if an.anames == nil || b.anames != nil && (b.adepth > a.adepth || b.adepth == a.adepth && len(b.anames) < len(a.anames)) {
		an = b
	}
	return cons{
		anames: an.anames, adepth: an.adepth, aopen: an.aopen,
		paths:  intersectPaths(a.paths, b.paths),
		access: access,
		cidrs:  intersectCIDRs(a.cidrs, b.cidrs),
		ports:  intersectSet(a.ports, b.ports),
		bins:   intersectSet(a.bins, b.bins),
		flags:  smaller(a.flags, b.flags),
		sfx:    intersectSuffixes(a.sfx, b.sfx),
		nsub:   smaller(a.nsub, b.nsub),
		rsub:   smaller(a.rsub, b.rsub),
		names:  intersectSet(a.names, b.names),
		pnames: intersectSet(a.pnames, b.pnames),
		tty:    tty,
		caps:   smaller(a.caps, b.caps),
		loose:  loose || a.loose || b.loose,
	}.normal()
}

// meetAccess: an access set passes an open having any of its modes, so two sets
// meet exactly only when one contains the other (the smaller one). Otherwise a's
// is kept, which is sound, and loose says so.
func meetAccess(a, b []string) ([]string, bool) {
	switch {
	case a == nil:
		return b, false
	case b == nil:
		return a, false
	}
	sub := func(x, y []string) bool {
		for _, v := range x {
			if !slices.Contains(y, v) {
				return false
			}
		}
		return true
	}
	switch {
	case sub(a, b):
		return a, false
	case sub(b, a):
		return b, false
	}
	return a, true
}

// intersectSet intersects two sets of exact values (nil: every value).
func intersectSet[T comparable](a, b []T) []T {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := []T{}
	for _, x := range a {
		if slices.Contains(b, x) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// intersectPaths intersects two path sets, each an exact path or a directory
// prefix ending in "/": two exact paths meet when equal, an exact path and a
// prefix when the path is below it, two prefixes in the deeper one when one
// contains the other.
func intersectPaths(a, b []string) []string {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := []string{}
	for _, x := range a {
		for _, y := range b {
			if m, ok := meetPath(x, y); ok {
				out = add(out, m)
			}
		}
	}
	return out
}

func meetPath(x, y string) (string, bool) {
	xd, yd := strings.HasSuffix(x, "/"), strings.HasSuffix(y, "/")
	switch {
	case !xd && !yd:
		return x, x == y
	case xd && !yd:
		return y, strings.HasPrefix(y, x)
	case !xd && yd:
		return x, strings.HasPrefix(x, y)
	case strings.HasPrefix(x, y):
		return x, true
	case strings.HasPrefix(y, x):
		return y, true
	}
	return "", false
}

// intersectCIDRs intersects two sets of networks: two networks meet in the
// smaller one when they overlap (networks either nest or are disjoint).
func intersectCIDRs(a, b []netip.Prefix) []netip.Prefix {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := []netip.Prefix{}
	for _, x := range a {
		for _, y := range b {
			if !x.Overlaps(y) {
				continue
			}
			m := x
			if y.Bits() > x.Bits() {
				m = y
			}
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// join: either holds. A key constrains only when both sides constrain it. A
// name suffix implies the name contains it (less a leading "/"): a side with
// suffixes and no substrings joins the other side's substrings that way
// ("endswith .so or contains .so." is "contains .so").
func join(a, b cons) cons {
	switch {
	case a.none:
		return b
	case b.none:
		return a
	}
	if a.nsub == nil && b.nsub != nil {
		a.nsub = suffixSubs(a.sfx)
	}
	if b.nsub == nil && a.nsub != nil {
		b.nsub = suffixSubs(b.sfx)
	}
	an := joinAncestors(a, b)
	return cons{
		anames: an.anames, adepth: an.adepth, aopen: an.aopen,
		paths:  union(a.paths, b.paths),
		access: union(a.access, b.access),
		cidrs:  union(a.cidrs, b.cidrs),
		ports:  union(a.ports, b.ports),
		bins:   union(a.bins, b.bins),
		flags:  union(a.flags, b.flags),
		sfx:    union(a.sfx, b.sfx),
		nsub:   minimalSubs(union(a.nsub, b.nsub)),
		rsub:   minimalSubs(union(a.rsub, b.rsub)),
		names:  union(a.names, b.names),
		pnames: union(a.pnames, b.pnames),
		tty:    joinTTY(a.tty, b.tty),
		caps:   union(a.caps, b.caps),
	}
}

// ancestry is what a constraint says of the ancestors' names: its ancestor
// key, or its parent names as an ancestor key of depth 1.
func ancestry(c cons) cons {
	if c.anames == nil && c.pnames != nil {
		return cons{anames: c.pnames, adepth: 1}
	}
	return c
}

// joinAncestors: either side holds, so an ancestor within the deeper walk has
// a name of the union. Only when one side has an ancestor key: two parent
// keys join as parent names.
func joinAncestors(a, b cons) cons {
	if a.anames == nil && b.anames == nil {
		return cons{}
	}
	x, y := ancestry(a), ancestry(b)
	if x.anames == nil || y.anames == nil {
		return cons{}
	}
	return cons{anames: union(x.anames, y.anames), adepth: max(x.adepth, y.adepth), aopen: x.aopen || y.aopen}
}

// joinTTY: either holds; a terminal or none is no constraint.
func joinTTY(a, b ttyCons) ttyCons {
	if a == b {
		return a
	}
	return ttyAny
}

// minimalSubs drops from an any-of substring set the patterns that contain
// another one (a string containing ".so." contains ".so").
func minimalSubs(subs []string) []string {
	if subs == nil {
		return nil
	}
	out := []string{}
	for i, x := range subs {
		if !slices.ContainsFunc(subs, func(y string) bool { return y != x && strings.Contains(x, y) }) && !slices.Contains(subs[:i], x) {
			out = append(out, x)
		}
	}
	return out
}

func union[T comparable](a, b []T) []T {
	if a == nil || b == nil {
		return nil
	}
	out := append([]T{}, a...)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// pathKinds are the kinds whose kernel filter takes paths, and whose fd.name is the
// path the filter checks.
const pathKinds = rules.KindSet(1<<rules.FileOpen | 1<<rules.FileWrite | 1<<rules.FileUnlink | 1<<rules.FileChmod)

// serverKinds are the kinds whose kernel address filter checks the server end.
const serverKinds = rules.KindSet(1<<rules.NetworkConnect | 1<<rules.NetworkListen)

func lowerCmp(c *rules.Cmp, k rules.Kind) cons {
	switch {
	case pathKinds.Has(k) && c.Field == rules.FieldFdName && c.Op == cond.EndsWith:
		return suffixCons(c.Values[0])
	case pathKinds.Has(k) && c.Field == rules.FieldFdName:
		return pathCons(c)
	case pathKinds.Has(k) && c.Field == rules.FieldFdFilename:
		return filenameCons(c)
	case k == rules.FileOpen && c.Field == rules.FieldFdNameraw && c.Op == cond.Glob:
		return globSubCons(c.Values[0])
	case k == rules.FileOpen && c.Field == rules.FieldFdNameraw && c.Op == cond.Contains:
		if v := c.Values[0]; v != "" && !strings.ContainsRune(v, 0) {
			return cons{rsub: []string{v[:min(len(v), MaxSubstrLen)]}} // contains v: contains its start
		}
	case pathKinds.Has(k) && c.Field == rules.FieldFdDirectory && (c.Op == cond.Eq || c.Op == cond.In):
		var ps []string
		for _, v := range c.Values {
			if v == "/" || !clean(v) || len(v)+1 > MaxPathLen {
				return cons{}
			}
			ps = add(ps, v+"/")
		}
		return cons{paths: nonNil(ps)}
	case k == rules.FileOpen && (c.Field == rules.FieldEvtIsOpenRead || c.Field == rules.FieldEvtIsOpenWrite) &&
		c.Op == cond.Eq && len(c.Values) == 1 && c.Values[0] == "true":
		if c.Field == rules.FieldEvtIsOpenRead {
			return cons{access: []string{"read"}}
		}
		return cons{access: []string{"write"}}
	case k == rules.FileOpen && c.Field == rules.FieldEvtArgFlags && c.Op == cond.Contains:
		return flagCons(c.Values[0])
	case serverKinds.Has(k) && (c.Field == rules.FieldFdSip || c.Field == rules.FieldFdSnet) && (c.Op == cond.Eq || c.Op == cond.In):
		var ps []netip.Prefix
		for _, v := range c.Values {
			p, ok := prefix(v)
			if !ok {
				return cons{}
			}
			if !slices.Contains(ps, p) {
				ps = append(ps, p)
			}
		}
		return cons{cidrs: nonNil(ps)}
	case serverKinds.Has(k) && c.Field == rules.FieldFdSport && (c.Op == cond.Eq || c.Op == cond.In):
		var ps []uint16
		for _, v := range c.Values {
			n, err := strconv.ParseInt(v, 0, 64)
			if err != nil || n < 1 || n > 65535 {
				return cons{} // port 0 cannot be a kernel filter value
			}
			if !slices.Contains(ps, uint16(n)) {
				ps = append(ps, uint16(n))
			}
		}
		return cons{ports: nonNil(ps)}
	case nameField(c) != 0 && (c.Op == cond.Eq || c.Op == cond.In):
		var ns []string
		for _, v := range c.Values {
			if v == "" {
				return cons{} // an unknown name reads as empty: not a kernel key
			}
			ns = add(ns, commCut(v))
		}
		if nameField(c) == rules.FieldProcName {
			return cons{names: nonNil(ns)}
		}
		return cons{pnames: nonNil(ns)}
	case c.Field == rules.FieldProcAname && nameField(c) == 0 && (c.Op == cond.Eq || c.Op == cond.In):
		// proc.aname[N] (N >= 2) or any ancestor (no index): one of the
		// first N generations, or of every generation the kernel walks with
		// longer chains passing.
		var ns []string
		for _, v := range c.Values {
			if v == "" {
				return cons{}
			}
			ns = add(ns, commCut(v))
		}
		depth, open := MaxAncestorDepth, true
		if c.HasIndex && c.Index <= MaxAncestorDepth {
			depth, open = c.Index, false
		}
		return cons{anames: nonNil(ns), adepth: depth, aopen: open}
	case c.Field == rules.FieldProcTty && (c.Op == cond.Eq || c.Op == cond.Ne) && len(c.Values) == 1 && isZero(c.Values[0]):
		if c.Op == cond.Eq {
			return cons{tty: ttyNone}
		}
		return cons{tty: ttyWith}
	case c.Field == rules.FieldThreadCapEffective && c.Op == cond.Contains:
		return capCons(c.Values[0])
	case k == rules.ProcessExec && c.Field == rules.FieldProcExepath && (c.Op == cond.Eq || c.Op == cond.In):
		var bs []string
		for _, v := range c.Values {
			if !clean(v) || v == "/" || len(v) > MaxPathLen {
				return cons{}
			}
			bs = add(bs, v)
		}
		return cons{bins: nonNil(bs)}
	}
	return cons{}
}

// nameField is the name a term reads, as a name key: proc.name (also
// proc.aname[0]) or proc.pname (also proc.aname[1]); 0 for any other term.
func nameField(c *rules.Cmp) rules.FieldID {
	switch {
	case c.Field == rules.FieldProcName || c.Field == rules.FieldProcAname && c.HasIndex && c.Index == 0:
		return rules.FieldProcName
	case c.Field == rules.FieldProcPname || c.Field == rules.FieldProcAname && c.HasIndex && c.Index == 1:
		return rules.FieldProcPname
	}
	return 0
}

// commCut is a name as the kernel keeps it: its first CommLen bytes.
func commCut(v string) string {
	if len(v) > CommLen {
		return v[:CommLen]
	}
	return v
}

func isZero(v string) bool {
	n, err := strconv.ParseInt(v, 0, 64)
	return err == nil && n == 0
}

// CapName is the name of capability n as thread.cap_effective renders it.
func CapName(n int) string { return capName(n) }

func capName(n int) string {
	if s := caps.Name(n); s != "" {
		return s
	}
	return "CAP_" + strconv.Itoa(n)
}

// capCons lowers thread.cap_effective contains v: the set renders as names
// joined by spaces, so a v without a space lies inside one name; the process
// must have one of the capabilities whose name contains v ("CAP_SYS" is
// CAP_SYS_ADMIN or CAP_SYS_PTRACE or ...). A v with a space spans names and
// does not narrow.
func capCons(v string) cons {
	if v == "" || strings.ContainsAny(v, " ") {
		return cons{}
	}
	var cs []string
	for n := range 64 {
		if strings.Contains(capName(n), v) {
			cs = append(cs, capName(n))
		}
	}
	return cons{caps: nonNil(cs)} // no name contains v: no event can match
}

// globSubCons lowers "fd.nameraw glob p": every literal run of p (between
// '*' and '?') is in a matching path; the longest one (its first MaxSubstrLen
// bytes) is the substring. A pattern with a class ([...]) does not narrow.
func globSubCons(p string) cons {
	if strings.ContainsRune(p, '[') || strings.ContainsRune(p, 0) {
		return cons{}
	}
	best := ""
	for _, run := range strings.FieldsFunc(p, func(r rune) bool { return r == '*' || r == '?' }) {
		if len(run) > len(best) {
			best = run
		}
	}
	if best == "" {
		return cons{}
	}
	return cons{rsub: []string{best[:min(len(best), MaxSubstrLen)]}}
}

// suffixCons lowers "fd.name endswith v": "/" + the final component ends with
// v's part from its last "/" on (the path ends with it), cut to its last
// MaxSuffixLen bytes (a weaker test when longer). A v ending in "/" or empty
// does not narrow.
func suffixCons(v string) cons {
	if v == "" || strings.HasSuffix(v, "/") || strings.ContainsRune(v, 0) {
		return cons{}
	}
	if i := strings.LastIndexByte(v, '/'); i > 0 {
		v = v[i:]
	}
	return cons{sfx: []string{v[max(0, len(v)-MaxSuffixLen):]}}
}

// filenameCons lowers the tests of fd.filename, the final path component: "="
// and "in" to the suffix "/" + the name (the name exactly), endswith to the
// suffix, contains to a name substring (its first MaxSubstrLen bytes). A value
// holding "/" is no name: not lowered.
func filenameCons(c *rules.Cmp) cons {
	for _, v := range c.Values {
		if v == "" || strings.ContainsAny(v, "/\x00") {
			return cons{}
		}
	}
	switch c.Op {
	case cond.Eq, cond.In:
		var out []string
		for _, v := range c.Values {
			s := "/" + v
			out = add(out, s[max(0, len(s)-MaxSuffixLen):])
		}
		return cons{sfx: out}
	case cond.EndsWith:
		v := c.Values[0]
		return cons{sfx: []string{v[max(0, len(v)-MaxSuffixLen):]}}
	case cond.Contains:
		v := c.Values[0]
		return cons{nsub: []string{v[:min(len(v), MaxSubstrLen)]}}
	}
	return cons{}
}

// suffixSubs are substrings every name ending with one of the suffixes
// contains (nil: none for some suffix, or no suffixes).
func suffixSubs(sfx []string) []string {
	var out []string
	for _, x := range sfx {
		x = strings.TrimPrefix(x, "/")
		if x == "" {
			return nil
		}
		out = add(out, x[:min(len(x), MaxSubstrLen)])
	}
	return out
}

// intersectSuffixes meets two any-of suffix sets exactly: a name ends with a
// and with b only when one is a suffix of the other, and then with the longer.
func intersectSuffixes(a, b []string) []string {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	out := []string{}
	for _, x := range a {
		for _, y := range b {
			switch {
			case strings.HasSuffix(x, y):
				out = add(out, x)
			case strings.HasSuffix(y, x):
				out = add(out, y)
			}
		}
	}
	return out
}

// openFlagNames are the flag names of evt.arg.flags' rendering (besides the
// access mode, which every open has), each one bit test in the kernel.
var openFlagNames = []string{"O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND", "O_NONBLOCK", "O_SYNC",
	"O_DSYNC", "O_ASYNC", "O_DIRECT", "O_LARGEFILE", "O_TMPFILE", "O_DIRECTORY", "O_NOFOLLOW", "O_NOATIME",
	"O_CLOEXEC", "O_PATH"}

// flagCons lowers evt.arg.flags contains v: the rendering joins names with
// "|", so a v without "|" lies inside one name; the open must have one of the
// flags whose name contains v (O_DIRECT is in O_DIRECTORY too). A v inside
// an access-mode name (O_RDONLY...) or spanning names does not narrow.
func flagCons(v string) cons {
	if v == "" || strings.Contains(v, "|") {
		return cons{}
	}
	for _, m := range []string{"O_RDONLY", "O_WRONLY", "O_RDWR"} {
		if strings.Contains(m, v) {
			return cons{}
		}
	}
	var fl []string
	for _, n := range openFlagNames {
		if strings.Contains(n, v) {
			fl = append(fl, n)
		}
	}
	if fl == nil {
		return cons{}
	}
	return cons{flags: fl}
}

// nonNil keeps an empty constraint (no value can match) distinct from none.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func pathCons(c *rules.Cmp) cons {
	var ps []string
	switch c.Op {
	case cond.Eq, cond.In:
		for _, v := range c.Values {
			// "/" as a filter entry is the root directory prefix, not the path "/".
			if !clean(v) || v == "/" || len(v) > MaxPathLen {
				return cons{}
			}
			ps = add(ps, v)
		}
	case cond.Pmatch:
		for _, v := range c.Values {
			v = strings.TrimSuffix(v, "/")
			if v == "" || !clean(v) || len(v)+1 > MaxPathLen {
				return cons{}
			}
			ps = add(add(ps, v), v+"/")
		}
	case cond.StartsWith, cond.Glob:
		v := c.Values[0]
		if c.Op == cond.Glob {
			if i := strings.IndexAny(v, "*?["); i >= 0 {
				v = v[:i]
			}
		}
		dir, ok := dirPrefix(v)
		if !ok {
			return cons{}
		}
		ps = add(ps, dir)
	default:
		return cons{}
	}
	return cons{paths: nonNil(ps)}
}

// dirPrefix is the longest directory prefix ("/a/b/") of every path starting with
// s; false when it is "/" (no narrowing) or not a clean absolute directory.
func dirPrefix(s string) (string, bool) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return "", false
	}
	d := s[:i]
	if !clean(d) || len(d)+1 > MaxPathLen {
		return "", false
	}
	return d + "/", true
}

// clean reports whether p is absolute and in clean form, as the kernel's path
// filter compares paths.
func clean(p string) bool {
	return strings.HasPrefix(p, "/") && path.Clean(p) == p
}

func add(ps []string, p string) []string {
	if slices.Contains(ps, p) {
		return ps
	}
	return append(ps, p)
}

func prefix(v string) (netip.Prefix, bool) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		return p.Masked(), err == nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// conjuncts are the top-level terms of an "and".
func conjuncts(e rules.Expr) []rules.Expr {
	if all, ok := e.(rules.AllOf); ok {
		var out []rules.Expr
		for _, x := range all {
			out = append(out, conjuncts(x)...)
		}
		return out
	}
	return []rules.Expr{e}
}

// decided reports whether the kernel part decides a top-level term exactly on
// every kind it filters (kinds): the event kind (evt.type), exact paths, the
// open's access mode, the server's networks and ports.
func decided(e rules.Expr, kinds rules.KindSet) bool {
	c, ok := e.(*rules.Cmp)
	if !ok {
		return false
	}
	if c.Field == rules.FieldEvtType {
		return c.Op != cond.Exists
	}
	if kinds == 0 {
		return false // nothing is filtered in the kernel
	}
	switch c.Field {
	case rules.FieldFdName:
		if kinds&^pathKinds != 0 {
			return false
		}
		if c.Op == cond.Eq || c.Op == cond.In {
			return pathCons(c).paths != nil
		}
		if c.Op == cond.StartsWith {
			return strings.HasSuffix(c.Values[0], "/") && pathCons(c).paths != nil
		}
		if c.Op == cond.EndsWith {
			// Exact when v holds no "/" but maybe as its first byte, and fits.
			v := c.Values[0]
			return len(v) <= MaxSuffixLen && !strings.Contains(strings.TrimPrefix(v, "/"), "/") && suffixCons(v).sfx != nil
		}
	case rules.FieldEvtIsOpenRead, rules.FieldEvtIsOpenWrite:
		return kinds == rules.KindsOf(rules.FileOpen) && c.Op == cond.Eq && c.Values[0] == "true"
	case rules.FieldFdFilename:
		// The suffix test is exact when no value was cut; substrings never are
		// (a long name fails closed).
		if kinds&^pathKinds != 0 || (c.Op != cond.Eq && c.Op != cond.In && c.Op != cond.EndsWith) {
			return false
		}
		for _, v := range c.Values {
			if len(v)+1 > MaxSuffixLen {
				return false
			}
		}
		return filenameCons(c).sfx != nil
	case rules.FieldFdSip, rules.FieldFdSnet, rules.FieldFdSport:
		return kinds&^serverKinds == 0 && lowerCmp(c, kinds.List()[0]).narrow()
	case rules.FieldProcExepath:
		return kinds == rules.KindsOf(rules.ProcessExec) && lowerCmp(c, rules.ProcessExec).narrow()
	case rules.FieldProcName, rules.FieldProcPname, rules.FieldProcAname:
		switch nameField(c) {
		case 0:
			return false // an ancestor beyond the parent: the kernel's key is wider
		case rules.FieldProcPname:
			// The kernel reads real_parent, user space the process that
			// forked it; the key passes a re-parented process, so user
			// space decides the term.
			return false
		}
		// Exact unless a name is longer than the kernel keeps (its prefix is the key).
		return lowerCmp(c, kinds.List()[0]).narrow() && !slices.ContainsFunc(c.Values, func(v string) bool { return len(v) > CommLen })
	case rules.FieldProcTty:
		return lowerCmp(c, kinds.List()[0]).narrow()
	}
	return false
}

// Render prints an expression in the condition syntax.
func Render(e rules.Expr) string {
	switch e := e.(type) {
	case rules.AllOf:
		return join2(e, " and ")
	case rules.AnyOf:
		return join2(e, " or ")
	case rules.NotOf:
		return "not " + paren(e.X)
	case rules.Const:
		return strconv.FormatBool(bool(e))
	case *rules.Cmp:
		name := "?"
		if fi, ok := rules.Field(e.Field); ok {
			name = fi.Name
		}
		if e.HasIndex {
			name += "[" + strconv.Itoa(e.Index) + "]"
		}
		switch e.Op {
		case cond.Exists:
			return name + " exists"
		case cond.In, cond.Intersects, cond.Pmatch:
			return fmt.Sprintf("%s %s (%s)", name, e.Op, strings.Join(quoteAll(e.Values), ", "))
		}
		v := ""
		if len(e.Values) > 0 {
			v = quote(e.Values[0])
		}
		return fmt.Sprintf("%s %s %s", name, e.Op, v)
	}
	return "?"
}

func join2(xs []rules.Expr, sep string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = paren(x)
	}
	return strings.Join(s, sep)
}

func paren(e rules.Expr) string {
	switch e.(type) {
	case rules.AllOf, rules.AnyOf:
		return "(" + Render(e) + ")"
	}
	return Render(e)
}

func quoteAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = quote(v)
	}
	return out
}

func quote(v string) string {
	if v == "" || strings.ContainsAny(v, " \t(),'\"=") {
		return strconv.Quote(v)
	}
	return v
}

// smaller is the meet of two any-of flag sets: an event meeting both meets
// either, so keeping the smaller one is sound (nil: no constraint).
func smaller(a, b []string) []string {
	switch {
	case a == nil:
		return b
	case b == nil || len(a) <= len(b):
		return a
	}
	return b
}
