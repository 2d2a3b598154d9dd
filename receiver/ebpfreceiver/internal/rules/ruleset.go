package rules

import (
	"sort"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

// Bounds on the process-name index: a predicate that needs more names than
// maxIndexedNames, or that would take the index beyond maxIndexEntries (name and kind
// pairs over all predicates), is evaluated on every event of its kinds instead.
const (
	maxIndexedNames = 4096
	maxIndexEntries = 1 << 18
)

// Ruleset evaluates many predicates against one event, looking only at the predicates that
// can match the event's kind and, among those, the event's process name.
//
// A predicate that can hold only for some process names (every way of satisfying it needs
// proc.name = X or proc.name in (...)) is filed under those names; the others are evaluated
// on every event of their kinds. The index only skips predicates that would evaluate to
// false, so Match gives the same verdicts, in the same order, as evaluating every
// predicate of the kind (MatchEach).
type Ruleset struct {
	preds  []*Predicate
	byKind [numKinds][]int32
	// byName[k] maps a process name onto the predicates of kind k filed under it, in
	// order; nil when no predicate of the kind is filed by name.
	byName [numKinds]map[string][]int32
	// rest[k] are the predicates of kind k that are not filed by name, in order.
	rest [numKinds][]int32
}

// NewRuleset indexes predicates by the kinds they can match and the process names they
// need. A nil predicate never matches.
func NewRuleset(preds []*Predicate) *Ruleset {
	rs := &Ruleset{preds: append([]*Predicate(nil), preds...)}
	entries := 0
	for i, p := range rs.preds {
		if p == nil {
			continue
		}
		names, filed := NamesRequired(p.expr)
		kinds := p.kinds.List()
		if filed && entries+len(names)*len(kinds) > maxIndexEntries {
			filed = false
		}
		if filed {
			entries += len(names) * len(kinds)
		}
		for _, k := range kinds {
			rs.byKind[k] = append(rs.byKind[k], int32(i))
			if !filed {
				rs.rest[k] = append(rs.rest[k], int32(i))
				continue
			}
			if rs.byName[k] == nil {
				rs.byName[k] = map[string][]int32{}
			}
			for _, n := range names {
				rs.byName[k][n] = append(rs.byName[k][n], int32(i))
			}
			// A predicate that needs a name from an empty set never holds: it is
			// filed nowhere.
		}
	}
	return rs
}

// Len is the number of predicates.
func (rs *Ruleset) Len() int { return len(rs.preds) }

// Match appends to dst the indexes of the predicates the event satisfies, in order. With a
// dst of enough capacity it does not allocate.
func (rs *Ruleset) Match(f Fields, dst []int) []int {
	k := f.Kind()
	if k >= numKinds {
		return dst
	}
	idx := rs.byName[k]
	if idx == nil {
		return rs.eval(f, k, rs.byKind[k], dst)
	}
	var named []int32
	if name, ok := f.Str(FieldProcName, 0); ok {
		named = idx[name]
	}
	rest := rs.rest[k]
	if len(named) == 0 {
		return rs.eval(f, k, rest, dst)
	}
	// Both lists are in rule order and disjoint: merge them.
	i, j := 0, 0
	for i < len(named) || j < len(rest) {
		var x int32
		if j == len(rest) || (i < len(named) && named[i] < rest[j]) {
			x, i = named[i], i+1
		} else {
			x, j = rest[j], j+1
		}
		if rs.preds[x].root.eval(f, k) {
			dst = append(dst, int(x))
		}
	}
	return dst
}

// MatchEach is Match without the process-name index: every predicate of the event's kind
// is evaluated. It gives the same result as Match, at a higher cost.
func (rs *Ruleset) MatchEach(f Fields, dst []int) []int {
	k := f.Kind()
	if k >= numKinds {
		return dst
	}
	return rs.eval(f, k, rs.byKind[k], dst)
}

func (rs *Ruleset) eval(f Fields, k Kind, list []int32, dst []int) []int {
	for _, i := range list {
		if rs.preds[i].root.eval(f, k) {
			dst = append(dst, int(i))
		}
	}
	return dst
}

// NamesRequired returns, when filed is true, the process names (proc.name values) outside
// of which the expression cannot hold: an event whose proc.name is missing or not among
// them fails it. An empty list means the expression never holds. filed is false when the
// expression may hold whatever the name (or the names are more than the index keeps).
// The answer is sound, not the tightest: only proc.name = X and proc.name in/intersects
// (...) terms count, through and, or and not.
func NamesRequired(e Expr) (names []string, filed bool) {
	set, ok := namesOf(e, false)
	if !ok {
		return nil, false
	}
	names = make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, true
}

// namesOf computes the required names of e, or of "not e" when neg.
func namesOf(e Expr, neg bool) (map[string]struct{}, bool) {
	switch e := e.(type) {
	case AllOf:
		if neg { // not (a and b) = not a or not b
			return unionOf(e, true)
		}
		return intersectionOf(e, false)
	case AnyOf:
		if neg { // not (a or b) = not a and not b
			return intersectionOf(e, true)
		}
		return unionOf(e, false)
	case NotOf:
		return namesOf(e.X, !neg)
	case Const:
		if bool(e) == neg { // never holds
			return map[string]struct{}{}, true
		}
		return nil, false
	case *Cmp:
		if neg || e.Field != FieldProcName || e.HasIndex {
			return nil, false
		}
		switch e.Op {
		case cond.Eq, cond.In, cond.Intersects:
		default:
			return nil, false
		}
		if len(e.Values) > maxIndexedNames {
			return nil, false
		}
		set := make(map[string]struct{}, len(e.Values))
		for _, v := range e.Values {
			set[v] = struct{}{}
		}
		return set, true
	}
	return nil, false
}

// intersectionOf: a conjunction needs what any of its terms needs, so the names every
// filed term allows.
func intersectionOf(terms []Expr, neg bool) (map[string]struct{}, bool) {
	var out map[string]struct{}
	for _, x := range terms {
		set, ok := namesOf(x, neg)
		if !ok {
			continue
		}
		if out == nil {
			out = set
			continue
		}
		for n := range out {
			if _, keep := set[n]; !keep {
				delete(out, n)
			}
		}
	}
	return out, out != nil
}

// unionOf: a disjunction is filed only when every term is, under the names of any.
func unionOf(terms []Expr, neg bool) (map[string]struct{}, bool) {
	out := map[string]struct{}{}
	for _, x := range terms {
		set, ok := namesOf(x, neg)
		if !ok {
			return nil, false
		}
		for n := range set {
			out[n] = struct{}{}
		}
		if len(out) > maxIndexedNames {
			return nil, false
		}
	}
	return out, true
}
