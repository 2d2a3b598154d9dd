package rules

// Ruleset evaluates many predicates against one event, looking only at the predicates that
// can match the event's kind.
type Ruleset struct {
	preds  []*Predicate
	byKind [numKinds][]int32
}

// NewRuleset indexes predicates by the kinds they can match. A nil predicate never matches.
func NewRuleset(preds []*Predicate) *Ruleset {
	rs := &Ruleset{preds: append([]*Predicate(nil), preds...)}
	for i, p := range rs.preds {
		if p == nil {
			continue
		}
		for _, k := range p.kinds.List() {
			rs.byKind[k] = append(rs.byKind[k], int32(i))
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
	for _, i := range rs.byKind[k] {
		if rs.preds[i].root.eval(f, k) {
			dst = append(dst, int(i))
		}
	}
	return dst
}
