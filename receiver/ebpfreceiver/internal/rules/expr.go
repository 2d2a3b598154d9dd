package rules

import "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"

// Expr is a condition after compilation: macros expanded, lists expanded, fields resolved
// and checked. The lowering stage splits it into a kernel part and a residual.
type Expr interface{ expr() }

// AllOf holds when every term holds.
type AllOf []Expr

// AnyOf holds when at least one term holds.
type AnyOf []Expr

// NotOf is the negation of X.
type NotOf struct{ X Expr }

// Const is a term decided at compile time (for example evt.type in a list that names no
// sensed system call).
type Const bool

// Cmp is one comparison on a field.
type Cmp struct {
	Field FieldID
	// Index is the bracket index (proc.aname[2]); HasIndex tells it from no index.
	Index    int
	HasIndex bool
	Op       cond.Op
	// Values are the operands, lists expanded (one for scalar operators, none for exists).
	Values []string
	// Pos and Macro say where the term was written (Macro empty: in the rule itself).
	Pos   cond.Pos
	Macro string
}

func (AllOf) expr() {}
func (AnyOf) expr() {}
func (NotOf) expr() {}
func (Const) expr() {}
func (*Cmp) expr()  {}

// ExprKinds returns the kinds a resolved expression may hold for (maybe: outside it the
// expression is false) and the kinds it holds for on every event (must). The lowering stage
// uses it per subexpression.
func ExprKinds(e Expr) (maybe, must KindSet) { return kindsOf(e, fieldTable()) }

// kindsOf computes the kinds an expression may hold for (maybe) and the kinds it holds for
// on every event (must). Both are sound: outside maybe it is false, inside must it is true.
func kindsOf(e Expr, table []FieldInfo) (maybe, must KindSet) {
	switch e := e.(type) {
	case AllOf:
		maybe, must = AllKinds, AllKinds
		for _, x := range e {
			m, s := kindsOf(x, table)
			maybe &= m
			must &= s
		}
		return maybe, must
	case AnyOf:
		for _, x := range e {
			m, s := kindsOf(x, table)
			maybe |= m
			must |= s
		}
		return maybe, must
	case NotOf:
		m, s := kindsOf(e.X, table)
		return AllKinds &^ s, AllKinds &^ m
	case Const:
		if e {
			return AllKinds, AllKinds
		}
		return 0, 0
	case *Cmp:
		if e.Field == FieldEvtType {
			return evtTypeKinds(e)
		}
		return table[e.Field].Kinds, 0
	}
	return AllKinds, 0
}

// evtTypeKinds: evt.type = X may hold for X's kind, and must hold for a kind whose every
// system call is listed. (evt.type != X is compiled as not evt.type = X.)
func evtTypeKinds(e *Cmp) (maybe, must KindSet) {
	if e.Op == cond.Exists {
		return AllKinds, AllKinds
	}
	count := map[Kind]int{}
	seen := map[string]bool{}
	for _, v := range e.Values {
		if k, ok := syscallKind(v); ok && !seen[v] {
			seen[v] = true
			maybe |= KindsOf(k)
			count[k]++
		}
	}
	for k, n := range count {
		if n >= syscallsOf(k) {
			must |= KindsOf(k)
		}
	}
	return maybe, must
}

// fieldsOf appends the fields an expression reads.
func fieldsOf(e Expr, seen map[FieldID]bool, out []FieldID) []FieldID {
	switch e := e.(type) {
	case AllOf:
		for _, x := range e {
			out = fieldsOf(x, seen, out)
		}
	case AnyOf:
		for _, x := range e {
			out = fieldsOf(x, seen, out)
		}
	case NotOf:
		out = fieldsOf(e.X, seen, out)
	case *Cmp:
		if !seen[e.Field] {
			seen[e.Field] = true
			out = append(out, e.Field)
		}
	}
	return out
}
