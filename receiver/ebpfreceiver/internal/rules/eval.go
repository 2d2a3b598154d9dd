package rules

import (
	"encoding/hex"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

// Fields is how the engine reads an event. The event side implements it; ids come from the
// field table. idx is the bracket index of an indexed field (proc.aname[2] asks idx 2) and 0
// otherwise; for a multi-valued field the engine asks idx = MultiStart, MultiStart+1, ...
// until ok is false. ok false means the event does not have the field (or that value).
// Implementations must not allocate: return strings the event already holds.
type Fields interface {
	Kind() Kind
	Str(id FieldID, idx int) (string, bool)
	Num(id FieldID, idx int) (int64, bool)
	Bool(id FieldID, idx int) (bool, bool)
	Addr(id FieldID, idx int) (netip.Addr, bool)
}

// node is a compiled term; k is the event's kind, read once per evaluation.
type node interface {
	eval(f Fields, k Kind) bool
}

type allNode []node

func (n allNode) eval(f Fields, k Kind) bool {
	for _, x := range n {
		if !x.eval(f, k) {
			return false
		}
	}
	return true
}

type anyNode []node

func (n anyNode) eval(f Fields, k Kind) bool {
	for _, x := range n {
		if x.eval(f, k) {
			return true
		}
	}
	return false
}

type notNode struct{ x node }

func (n notNode) eval(f Fields, k Kind) bool { return !n.x.eval(f, k) }

type constNode bool

func (n constNode) eval(Fields, Kind) bool { return bool(n) }

// evtTypeNode: the kind must be one the listed system calls map onto, and when the event
// names its system call, the name must be listed.
type evtTypeNode struct {
	kinds KindSet
	names []string
}

func (n *evtTypeNode) eval(f Fields, k Kind) bool {
	if !n.kinds.Has(k) {
		return false
	}
	name, ok := f.Str(FieldEvtType, 0)
	if !ok {
		return true
	}
	for _, s := range n.names {
		if s == name {
			return true
		}
	}
	return false
}

// values walks the values of a field reference: one for a scalar or indexed field, several
// for a multi-valued one.
// A field exists only for the kinds the table lists: on any other kind the engine does not
// ask the event, and the field is missing.
type ref struct {
	id    FieldID
	idx   int
	multi bool
	kinds KindSet
}

func (r ref) span() (first, last int) {
	if r.multi {
		return r.idx, r.idx + MaxMulti - 1
	}
	return r.idx, r.idx
}

// strNode compares a string field. ne: the field is present and no value matches.
type strNode struct {
	ref
	m  strMatcher
	ne bool
}

func (n *strNode) eval(f Fields, k Kind) bool {
	if !n.kinds.Has(k) {
		return false
	}
	first, last := n.span()
	present := false
	for i := first; i <= last; i++ {
		s, ok := f.Str(n.id, i)
		if !ok {
			break
		}
		present = true
		if n.m.match(s) {
			return !n.ne
		}
	}
	return n.ne && present
}

type strMatcher interface{ match(s string) bool }

type (
	mAny      struct{}
	mEq       string
	mPrefix   string
	mSuffix   string
	mContains string
	mIContain string // lower-case needle
	mGlob     struct {
		p    string
		fold bool
	}
	mRegex  struct{ re *regexp.Regexp }
	mSet    []string
	mMap    map[string]struct{}
	mPmatch []string // paths without a trailing '/', except "/"
)

func (mAny) match(string) bool        { return true }
func (m mEq) match(s string) bool     { return s == string(m) }
func (m mPrefix) match(s string) bool { return strings.HasPrefix(s, string(m)) }
func (m mSuffix) match(s string) bool { return strings.HasSuffix(s, string(m)) }
func (m mContains) match(s string) bool {
	return strings.Contains(s, string(m))
}
func (m mGlob) match(s string) bool  { return globMatch(m.p, s, m.fold) }
func (m mRegex) match(s string) bool { return m.re.MatchString(s) }

func (m mIContain) match(s string) bool {
	n := string(m)
	if len(n) == 0 {
		return true
	}
	for i := 0; i+len(n) <= len(s); i++ {
		if lower(s[i]) != n[0] {
			continue
		}
		j := 1
		for j < len(n) && lower(s[i+j]) == n[j] {
			j++
		}
		if j == len(n) {
			return true
		}
	}
	return false
}

func (m mSet) match(s string) bool {
	for _, v := range m {
		if v == s {
			return true
		}
	}
	return false
}

func (m mMap) match(s string) bool {
	_, ok := m[s]
	return ok
}

func (m mPmatch) match(s string) bool {
	for _, p := range m {
		if p == "/" {
			if strings.HasPrefix(s, "/") {
				return true
			}
			continue
		}
		if strings.HasPrefix(s, p) && (len(s) == len(p) || s[len(p)] == '/') {
			return true
		}
	}
	return false
}

// setThreshold: lists longer than this are looked up in a map.
const setThreshold = 8

func stringMatcher(op cond.Op, vals []string) strMatcher {
	switch op {
	case cond.Exists:
		return mAny{}
	case cond.Eq, cond.Ne:
		return mEq(vals[0])
	case cond.In, cond.Intersects:
		if len(vals) > setThreshold {
			m := make(mMap, len(vals))
			for _, v := range vals {
				m[v] = struct{}{}
			}
			return m
		}
		return mSet(vals)
	case cond.Pmatch:
		out := make(mPmatch, 0, len(vals))
		for _, v := range vals {
			if v != "/" {
				v = strings.TrimRight(v, "/")
				if v == "" {
					v = "/"
				}
			}
			out = append(out, v)
		}
		return out
	case cond.StartsWith:
		return mPrefix(vals[0])
	case cond.EndsWith:
		return mSuffix(vals[0])
	case cond.Contains:
		return mContains(vals[0])
	case cond.IContains:
		return mIContain(strings.ToLower(vals[0]))
	case cond.BContains:
		b, _ := hex.DecodeString(vals[0])
		return mContains(string(b))
	case cond.BStartsWith:
		b, _ := hex.DecodeString(vals[0])
		return mPrefix(string(b))
	case cond.Glob:
		return mGlob{p: vals[0]}
	case cond.IGlob:
		return mGlob{p: vals[0], fold: true}
	case cond.Regex:
		return mRegex{re: regexp.MustCompile(vals[0])} // checked by checkValues
	}
	return nil
}

type numNode struct {
	ref
	op   cond.Op
	vals []int64
}

func (n *numNode) eval(f Fields, k Kind) bool {
	if !n.kinds.Has(k) {
		return false
	}
	first, last := n.span()
	present := false
	for i := first; i <= last; i++ {
		v, ok := f.Num(n.id, i)
		if !ok {
			break
		}
		present = true
		if n.op != cond.Ne && n.test(v) {
			return true
		}
		if n.op == cond.Ne && v == n.vals[0] {
			return false
		}
	}
	return n.op == cond.Ne && present
}

func (n *numNode) test(v int64) bool {
	switch n.op {
	case cond.Exists:
		return true
	case cond.Eq:
		return v == n.vals[0]
	case cond.Lt:
		return v < n.vals[0]
	case cond.Le:
		return v <= n.vals[0]
	case cond.Gt:
		return v > n.vals[0]
	case cond.Ge:
		return v >= n.vals[0]
	case cond.In:
		for _, x := range n.vals {
			if x == v {
				return true
			}
		}
	}
	return false
}

type boolNode struct {
	ref
	op  cond.Op
	val bool
}

func (n *boolNode) eval(f Fields, k Kind) bool {
	if !n.kinds.Has(k) {
		return false
	}
	v, ok := f.Bool(n.id, n.idx)
	if !ok {
		return false
	}
	switch n.op {
	case cond.Eq:
		return v == n.val
	case cond.Ne:
		return v != n.val
	}
	return true // exists
}

// addrNode: eq/ne against an address or (net fields) a network; in against networks.
type addrNode struct {
	ref
	op   cond.Op
	nets []netip.Prefix
}

func (n *addrNode) eval(f Fields, k Kind) bool {
	if !n.kinds.Has(k) {
		return false
	}
	first, last := n.span()
	present := false
	for i := first; i <= last; i++ {
		a, ok := f.Addr(n.id, i)
		if !ok {
			break
		}
		present = true
		if n.op == cond.Exists {
			return true
		}
		hit := false
		for _, p := range n.nets {
			if p.Contains(a.Unmap()) || p.Contains(a) {
				hit = true
				break
			}
		}
		if hit {
			return n.op != cond.Ne
		}
	}
	return n.op == cond.Ne && present
}

// compile builds the evaluator of a resolved expression.
func (r *resolver) compile(e Expr) (node, error) {
	n, _, err := r.compileCost(e)
	return n, err
}

// compileCost builds the evaluator of e and estimates its cost (the sum of its
// comparisons' costOf); the terms of each and and or are ordered by compileTerms.
func (r *resolver) compileCost(e Expr) (node, int, error) {
	switch e := e.(type) {
	case AllOf:
		out, cost, err := r.compileTerms(e, false)
		return allNode(out), cost, err
	case AnyOf:
		out, cost, err := r.compileTerms(e, true)
		return anyNode(out), cost, err
	case NotOf:
		n, cost, err := r.compileCost(e.X)
		if err != nil {
			return nil, 0, err
		}
		return notNode{n}, cost, nil
	case Const:
		return constNode(e), 0, nil
	case *Cmp:
		n, err := r.compileCmp(e)
		if err != nil {
			return nil, 0, err
		}
		return n, costOf(n), nil
	}
	return nil, 0, nil
}

// compileTerms compiles the terms of an and (or false) or an or (or true) in the order
// most likely to decide it soonest. A rule's positive terms are usually false on an
// event (most events match no rule) and its negated terms, its exceptions, usually true:
// an and evaluates its positive terms first, an or its negated ones; within each group,
// the cheapest first (stable: equal costs keep the written order). Terms have no side
// effects, so the order changes only how soon the evaluation stops, never its result.
func (r *resolver) compileTerms(terms []Expr, or bool) ([]node, int, error) {
	type term struct {
		n     node
		cost  int
		early bool
	}
	ts := make([]term, 0, len(terms))
	total := 0
	for _, x := range terms {
		n, c, err := r.compileCost(x)
		if err != nil {
			return nil, 0, err
		}
		_, negated := n.(notNode)
		ts = append(ts, term{n, c, negated == or})
		total += c
	}
	sort.SliceStable(ts, func(i, j int) bool {
		if ts[i].early != ts[j].early {
			return ts[i].early
		}
		return ts[i].cost < ts[j].cost
	})
	out := make([]node, len(ts))
	for i, t := range ts {
		out[i] = t.n
	}
	return out, total, nil
}

func (r *resolver) compileCmp(c *Cmp) (node, error) {
	fi := r.table[c.Field]
	rf := ref{id: c.Field, idx: c.Index, kinds: fi.Kinds}
	if fi.Multi && !c.HasIndex {
		rf.multi, rf.idx = true, fi.MultiStart
	}
	if c.Field == FieldEvtType {
		if c.Op == cond.Exists {
			return constNode(true), nil
		}
		n := &evtTypeNode{}
		for _, v := range c.Values {
			if k, ok := syscallKind(v); ok {
				n.kinds |= KindsOf(k)
				n.names = append(n.names, v)
			}
		}
		if n.kinds == 0 {
			return constNode(false), nil
		}
		return n, nil
	}
	switch fi.Type {
	case TypeString:
		return &strNode{ref: rf, m: stringMatcher(c.Op, c.Values), ne: c.Op == cond.Ne}, nil
	case TypeNumber:
		n := &numNode{ref: rf, op: c.Op}
		for _, v := range c.Values {
			x, _ := parseNum(v)
			n.vals = append(n.vals, x)
		}
		return n, nil
	case TypeBool:
		n := &boolNode{ref: rf, op: c.Op}
		if len(c.Values) > 0 {
			n.val, _ = parseBool(c.Values[0])
		}
		return n, nil
	case TypeIP, TypeNet:
		n := &addrNode{ref: rf, op: c.Op}
		for _, v := range c.Values {
			p, _ := parsePrefix(v)
			n.nets = append(n.nets, p)
		}
		if c.Op == cond.In && len(n.nets) == 0 {
			return constNode(false), nil
		}
		return n, nil
	}
	return nil, &Error{Pos: c.Pos, Macro: c.Macro, Msg: "field of unknown type"}
}

// Relative costs of evaluating a term: a field read through the Fields interface is a
// unit; matching adds to it; a multi-valued field reads up to MaxMulti values.
const (
	costRead  = 2
	costMulti = 8
)

// costOf estimates what evaluating a comparison costs on one event, in arbitrary units.
func costOf(n node) int {
	switch n := n.(type) {
	case constNode:
		return 0
	case *evtTypeNode:
		return costRead
	case *boolNode:
		return costRead
	case *numNode:
		return multiCost(n.ref, costRead+len(n.vals)/4)
	case *addrNode:
		return multiCost(n.ref, costRead+len(n.nets))
	case *strNode:
		return multiCost(n.ref, costRead+matchCost(n.m))
	}
	return costRead
}

func multiCost(r ref, one int) int {
	if r.multi {
		return one * costMulti
	}
	return one
}

// matchCost is what a string matcher adds to the read of its field.
func matchCost(m strMatcher) int {
	switch m := m.(type) {
	case mAny:
		return 0
	case mEq, mPrefix, mSuffix:
		return 1
	case mSet:
		return 1 + len(m)/2
	case mMap:
		return 4
	case mPmatch:
		return 1 + len(m)
	case mContains:
		return 4
	case mIContain:
		return 8
	case mGlob:
		return 10
	case mRegex:
		return 40
	}
	return 4
}
