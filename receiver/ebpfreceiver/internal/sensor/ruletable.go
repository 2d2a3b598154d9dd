//go:build linux

package sensor

import (
	"slices"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// RuleRef names the policy rule behind a kernel rule slot.
type RuleRef struct {
	Policy   string
	Rule     string
	Event    policy.Event
	Action   policy.Action // effective on this kernel
	Severity policy.Severity
	Enforce  bool
	// Cond is the rule's compiled condition and output, nil without; when
	// Cond.UserSpace(), the kernel only posts for the rule and the receiver
	// decides the match (and its count or kill).
	Cond *policy.Cond
}

// RuleTable is what the read path needs of the compiled policies: the rule
// behind each kernel rule slot, and for filter_in_user_space the file
// decision in Go. It is never modified after Compile returns it.
type RuleTable struct {
	// Refs names each used rule slot: index kind*64+slot.
	Refs map[int]RuleRef
	// Policies are the compiled policy names, by slot.
	Policies map[int]string

	// The file rules and selectors, for MatchFileInUserSpace.
	userFile []userFileRule
	userSel  map[int]*policy.Policy
	// idPaths are the exact rule paths by the identity they resolved to.
	idPaths map[FileID][]string
	// conds: a rule's condition is decided in user space (Matching).
	conds bool
	// The exec rules, for MatchExecInUserSpace.
	userExec []userExecRule
}

// HasConditions reports whether some rule's match is decided in user space by
// its condition: the read path then uses Matching rather than Strongest.
func (t *RuleTable) HasConditions() bool { return t.conds }

// Matching appends the rules of a kind's matched mask to dst, strongest action
// first (kill > deny > post > count), lowest slot first on ties: the read path
// takes the first whose condition holds.
func (t *RuleTable) Matching(kind int, mask uint64, dst []RuleRef) []RuleRef {
	start := len(dst)
	for i := 0; i < maxRules; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		if ref, ok := t.Refs[kind*maxRules+i]; ok {
			dst = append(dst, ref)
		}
	}
	got := dst[start:]
	// Insertion sort: at most 64 entries, stable on slot order.
	for i := 1; i < len(got); i++ {
		for j := i; j > 0 && actionRank(got[j].Action) > actionRank(got[j-1].Action); j-- {
			got[j], got[j-1] = got[j-1], got[j]
		}
	}
	return dst
}

type userExecRule struct {
	slot, policy int
	paths        []string
	ids          []processExeId
	flags        uint8
	task         taskTest
}

// ExeIDOf is the identity of the regular file a path names (false when it
// names none), as the exec rules key it.
func ExeIDOf(path string) (FileID, bool) {
	id, ok := exeIdentity(path)
	return FileID{Dev: id.Dev, Ino: id.Ino}, ok
}

// MatchExecInUserSpace is the kernel's process.exec decision taken in Go for
// a program the kernel did not see executed: the one a dynamic loader runs
// (ld.so PROGRAM), whose exec record names the loader. It returns the mask of
// exec rules matching the program's path or identity and flags, for a process
// the rules' policies select (namespace and pod-label selectors are not
// evaluated here: such policies do not match).
func (t *RuleTable) MatchExecInUserSpace(path string, id FileID, flags uint32, p FileProcess) uint64 {
	var out uint64
	for _, r := range t.userExec {
		if r.flags != 0 && uint32(r.flags)&flags == 0 {
			continue
		}
		if len(r.paths) > 0 && !slices.Contains(r.paths, path) &&
			!(id.Ino != 0 && slices.Contains(r.ids, processExeId{Ino: id.Ino, Dev: id.Dev})) {
			continue
		}
		if !r.task.holds(p) || !selects(t.userSel[r.policy], p) {
			continue
		}
		out |= 1 << r.slot
	}
	return out
}

func newRuleTable() *RuleTable {
	return &RuleTable{Refs: map[int]RuleRef{}, Policies: map[int]string{}, userSel: map[int]*policy.Policy{},
		idPaths: map[FileID][]string{}}
}

type userFileRule struct {
	slot, policy int
	paths        []pathEntry
	access       uint8
	oflags       uint32   // open_flags mask (0: any)
	prefix       bool     // a directory prefix among the paths (fail closed on unresolved paths)
	ids          []FileID // identities of the exact paths at compile time
	suffixes     []string // name_suffixes (nil: no name test)
	nameContains []string // name_contains
	task         taskTest
}

// FileOpen is what user-space filtering knows of an open: its resolved path
// (Truncated: only its last part), requested flags and file identity.
type FileOpen struct {
	Path      string
	Flags     uint32
	ID        FileID
	Truncated bool
	// Subtree: the path crossed a subtree mount (a bind mount); Canonical is
	// then the file's canonical path, matched as Path is, or "" when it could
	// not be resolved (prefix rules match: fail closed, as for Truncated).
	Subtree   bool
	Canonical string
}

// FileProcess is what user-space filtering needs to know about a process.
type FileProcess struct {
	UID         uint32
	Executable  string
	InContainer bool
	// For the task keys: the process's and its parent's names, whether it
	// has a controlling terminal, its effective capabilities (as at exec).
	Name, ParentName string
	TTY              bool
	CapEffective     uint64
	// Ancestors are the names up the process tree, the parent first, as far
	// as the process cache knows them (at most policy.MaxAncestorDepth + 1);
	// AncestorsCut: the chain goes on past the last one.
	Ancestors    []string
	AncestorsCut bool
}

// MatchFileInUserSpace is the kernel's file.open decision taken in Go: the mask
// of file rules that match. Used only in filter_in_user_space mode (a debug
// mode that makes the kernel emit every file.open). The path test is the one
// the LPM closure uses (pathEntry.matches).
func (t *RuleTable) MatchFileInUserSpace(o FileOpen, p FileProcess) uint64 {
	access := uint8(1)
	switch o.Flags & 3 {
	case 1:
		access = 2
	case 2:
		access = 3
	}
	var out uint64
	for _, r := range t.userFile {
		if r.access != 0 && r.access&access == 0 {
			continue
		}
		if r.oflags != 0 && r.oflags&o.Flags == 0 {
			continue
		}
		// The name filters on the resolved path's final component (whole
		// also when the path is truncated: it is walked from the file up),
		// and on the canonical path's: a rule holds on either path, each
		// path with its own name (they differ for a file bind-mounted under
		// another name); raw_contains cannot be decided here (the kernel
		// sends no raw path in this mode): it passes.
		nameOpen := r.namesHold(o.Path)
		nameCanon := o.Canonical != "" && r.namesHold(o.Canonical)
		if !nameOpen && !nameCanon {
			continue
		}
		unresolved := o.Truncated || (o.Subtree && o.Canonical == "")
		if len(r.paths) > 0 && !(unresolved && r.prefix) && !slices.Contains(r.ids, o.ID) &&
			!slices.ContainsFunc(r.paths, func(e pathEntry) bool {
				return (nameOpen && e.matches(o.Path)) || (nameCanon && e.matches(o.Canonical))
			}) {
			continue
		}
		if !r.task.holds(p) || !selects(t.userSel[r.policy], p) {
			continue
		}
		out |= 1 << r.slot
	}
	return out
}

// namesHold: the rule's name filters (name_suffixes, name_contains), if any,
// hold on the final component of path.
func (r *userFileRule) namesHold(path string) bool {
	return (r.suffixes == nil || nameEndsWith(path, r.suffixes)) &&
		(r.nameContains == nil || nameContainsAny(path, r.nameContains))
}

// nameContainsAny is the kernel's name_contains test taken in Go: the final
// component of a path contains one of the patterns.
func nameContainsAny(path string, pats []string) bool {
	name := path[strings.LastIndexByte(path, '/')+1:]
	if len(name) > nameKeyLen {
		return true // longer than the kernel reads: a candidate there too
	}
	for _, p := range pats {
		if strings.Contains(name, p) {
			return true
		}
	}
	return false
}

// selects is the kernel's process selector taken in Go.
func selects(pol *policy.Policy, p FileProcess) bool {
	if pol == nil {
		return false
	}
	s := pol.Selector
	if len(s.UIDs) > 0 && !slices.Contains(s.UIDs, p.UID) {
		return false
	}
	if len(s.Binaries)+len(s.BinaryPrefixes) > 0 {
		ok := slices.Contains(s.Binaries, p.Executable)
		for _, pre := range s.BinaryPrefixes {
			ok = ok || strings.HasPrefix(p.Executable, pre)
		}
		if !ok {
			return false
		}
	}
	switch s.Containers {
	case policy.ContainersOnly:
		return p.InContainer
	case policy.ContainersNone:
		return !p.InContainer
	}
	// Namespace and pod-label selectors need the cgroup sets: not evaluated here.
	return len(s.Namespaces) == 0 && len(s.PodLabels) == 0
}

// Strongest returns the rule of a kind's matched mask whose action ranks highest
// (kill > deny > post > count), the lowest slot on ties: the kernel's choice.
func (t *RuleTable) Strongest(kind int, mask uint64) (RuleRef, bool) {
	best, bestRank, found := RuleRef{}, -1, false
	for i := 0; i < maxRules; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		ref, ok := t.Refs[kind*maxRules+i]
		if !ok {
			continue
		}
		if r := actionRank(ref.Action); r > bestRank {
			best, bestRank, found = ref, r, true
		}
	}
	return best, found
}

func actionRank(a policy.Action) int {
	switch a {
	case policy.ActionKill:
		return 3
	case policy.ActionDeny:
		return 2
	case policy.ActionPost:
		return 1
	}
	return 0
}

// IdentityPaths returns the exact rule paths that resolved to a file identity
// when the policies were compiled: the policy paths a record matched by
// identity (FlagIDMatch) names.
func (t *RuleTable) IdentityPaths(id FileID) []string {
	if t == nil {
		return nil
	}
	return t.idPaths[id]
}
