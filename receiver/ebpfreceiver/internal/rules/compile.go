package rules

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

// Bounds on what one condition may expand into.
const (
	// MaxListDepth bounds lists naming lists.
	MaxListDepth = 16
	// MaxMacroDepth bounds macros using macros.
	MaxMacroDepth = 64
	// MaxValues bounds the operands of one comparison after list expansion.
	MaxValues = 65536
	// MaxTerms bounds the comparisons of one condition after macro expansion.
	MaxTerms = 100000
	// MaxMulti bounds the values asked of a multi-valued field (ancestors, endpoints).
	MaxMulti = 64
)

// Defs are the named lists and macros a condition may refer to.
type Defs struct {
	// Lists maps a list name to its items; an item naming another list stands for its items.
	Lists map[string][]string
	// Macros maps a macro name to its parsed condition.
	Macros map[string]cond.Node
}

// Error is a compile error at a position of a condition; Macro names the macro the position
// is in (empty: the condition compiled).
type Error struct {
	Pos   cond.Pos
	Macro string
	Msg   string
}

func (e *Error) Error() string {
	if e.Macro != "" {
		return fmt.Sprintf("macro %q %s: %s", e.Macro, e.Pos, e.Msg)
	}
	return e.Pos.String() + ": " + e.Msg
}

// Predicate is a compiled condition.
type Predicate struct {
	root   node
	expr   Expr
	kinds  KindSet
	fields []FieldID
}

// Eval reports whether the event satisfies the condition. It does not allocate.
func (p *Predicate) Eval(f Fields) bool {
	k := f.Kind()
	return p.kinds.Has(k) && p.root.eval(f, k)
}

// Kinds are the event kinds the condition can match; every other kind fails it.
func (p *Predicate) Kinds() KindSet { return p.kinds }

// Expr is the resolved condition.
func (p *Predicate) Expr() Expr { return p.expr }

// Fields are the fields the condition reads, in first-use order.
func (p *Predicate) Fields() []FieldID { return append([]FieldID(nil), p.fields...) }

// Compile resolves and checks a condition and builds its evaluator. Errors name the position
// of the offending term: an unknown field or macro, an operator the field does not support,
// a value of the wrong type, a macro cycle, or a condition that can match no sensed event.
func Compile(n cond.Node, defs *Defs) (*Predicate, error) {
	if defs == nil {
		defs = &Defs{}
	}
	r := &resolver{defs: defs, table: fieldTable()}
	e, err := r.resolve(n, "", 0)
	if err != nil {
		return nil, err
	}
	return build(e, n, r)
}

func build(e Expr, n cond.Node, r *resolver) (*Predicate, error) {
	maybe, _ := kindsOf(e, r.table)
	if maybe == 0 {
		msg := "the condition can match no event kind"
		if len(r.unsensed) > 0 {
			msg = fmt.Sprintf("evt.type %s is not sensed, so the condition can match no event", strings.Join(r.unsensed, ", "))
		}
		return nil, &Error{Pos: n.Position(), Msg: msg}
	}
	root, err := r.compile(e)
	if err != nil {
		return nil, err
	}
	return &Predicate{root: root, expr: e, kinds: maybe, fields: fieldsOf(e, map[FieldID]bool{}, nil)}, nil
}

type resolver struct {
	defs     *Defs
	table    []FieldInfo
	stack    []string
	terms    int
	unsensed []string
}

func (r *resolver) errf(pos cond.Pos, macro, format string, args ...any) error {
	return &Error{Pos: pos, Macro: macro, Msg: fmt.Sprintf(format, args...)}
}

func (r *resolver) resolve(n cond.Node, macro string, depth int) (Expr, error) {
	switch n := n.(type) {
	case *cond.And:
		x, err := r.resolve(n.X, macro, depth)
		if err != nil {
			return nil, err
		}
		y, err := r.resolve(n.Y, macro, depth)
		if err != nil {
			return nil, err
		}
		return allOf(x, y), nil
	case *cond.Or:
		x, err := r.resolve(n.X, macro, depth)
		if err != nil {
			return nil, err
		}
		y, err := r.resolve(n.Y, macro, depth)
		if err != nil {
			return nil, err
		}
		return anyOf(x, y), nil
	case *cond.Not:
		x, err := r.resolve(n.X, macro, depth)
		if err != nil {
			return nil, err
		}
		return NotOf{X: x}, nil
	case *cond.MacroRef:
		body, ok := r.defs.Macros[n.Name]
		if !ok {
			return nil, r.errf(n.At, macro, "unknown macro %s", n.Name)
		}
		for i, m := range r.stack {
			if m == n.Name {
				cycle := append(append([]string(nil), r.stack[i:]...), n.Name)
				return nil, r.errf(n.At, macro, "macro cycle: %s", strings.Join(cycle, " -> "))
			}
		}
		if len(r.stack) >= MaxMacroDepth {
			return nil, r.errf(n.At, macro, "macros nested deeper than %d", MaxMacroDepth)
		}
		r.stack = append(r.stack, n.Name)
		e, err := r.resolve(body, n.Name, depth+1)
		r.stack = r.stack[:len(r.stack)-1]
		return e, err
	case *cond.Compare:
		r.terms++
		if r.terms > MaxTerms {
			return nil, r.errf(n.Field.At, macro, "the condition expands to more than %d comparisons", MaxTerms)
		}
		return r.compare(n, macro)
	}
	return nil, fmt.Errorf("unknown condition node %T", n)
}

func allOf(x, y Expr) Expr {
	var out AllOf
	for _, e := range []Expr{x, y} {
		if same, ok := e.(AllOf); ok {
			out = append(out, same...)
		} else {
			out = append(out, e)
		}
	}
	return out
}

func anyOf(x, y Expr) Expr {
	var out AnyOf
	for _, e := range []Expr{x, y} {
		if same, ok := e.(AnyOf); ok {
			out = append(out, same...)
		} else {
			out = append(out, e)
		}
	}
	return out
}

func (r *resolver) compare(n *cond.Compare, macro string) (Expr, error) {
	fname := n.Field.Name
	if n.Field.HasArg && fname == "evt.arg" {
		if _, err := strconv.Atoi(n.Field.Arg); err != nil {
			// evt.arg[flags] is evt.arg.flags.
			fname = "evt.arg." + n.Field.Arg
		}
	}
	fi, ok := lookupIn(r.table, fname)
	if !ok {
		return nil, r.errf(n.Field.At, macro, "field %s is not supported", n.Field)
	}
	c := &Cmp{Field: fi.ID, Op: n.Op, Pos: n.Field.At, Macro: macro}
	if n.Field.HasArg && fname == n.Field.Name {
		if fi.Index == IndexNone {
			return nil, r.errf(n.Field.At, macro, "field %s takes no [argument]", fi.Name)
		}
		ix, err := strconv.Atoi(n.Field.Arg)
		if err != nil || ix < 0 || ix > MaxMulti {
			return nil, r.errf(n.Field.At, macro, "field %s: the argument must be a number from 0 to %d, not %q", fi.Name, MaxMulti, n.Field.Arg)
		}
		c.Index, c.HasIndex = ix, true
	} else if fi.Index == IndexRequired {
		return nil, r.errf(n.Field.At, macro, "field %s needs an [index]", fi.Name)
	}
	if !fi.Ops.Has(n.Op) {
		return nil, r.errf(n.OpAt, macro, "operator %s is not supported by %s (%s; supported: %s)", n.Op, fi.Name, fi.Type, fi.Ops)
	}
	switch {
	case n.Op.IsUnary():
	case n.Op.IsList():
		vals, err := r.expand(n.List, macro)
		if err != nil {
			return nil, err
		}
		c.Values = vals
	default:
		c.Values = []string{n.Value.Text}
	}
	if err := r.checkValues(fi, c, n, macro); err != nil {
		return nil, err
	}
	if fi.ID == FieldEvtType {
		for _, v := range c.Values {
			if _, ok := syscallKind(v); !ok && !contains(r.unsensed, v) {
				r.unsensed = append(r.unsensed, v)
			}
		}
		if n.Op == cond.Ne {
			c.Op = cond.Eq
			return NotOf{X: c}, nil
		}
	}
	return c, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// expand replaces unquoted items naming a list by the list's items.
func (r *resolver) expand(items []cond.Value, macro string) ([]string, error) {
	out := make([]string, 0, len(items))
	var add func(item string, depth int, at cond.Pos) error
	add = func(item string, depth int, at cond.Pos) error {
		sub, ok := r.defs.Lists[item]
		if !ok {
			if len(out) >= MaxValues {
				return r.errf(at, macro, "the list expands to more than %d values", MaxValues)
			}
			out = append(out, item)
			return nil
		}
		if depth >= MaxListDepth {
			return r.errf(at, macro, "list %s: lists nested deeper than %d (a cycle?)", item, MaxListDepth)
		}
		for _, s := range sub {
			// Falco lists hold command lines quoted inside the item ('"sh -c id"') because
			// its lists were once pasted into the condition text: such an item is the
			// quoted string, and is not a list name.
			if text, ok := cond.Unquote(s); ok {
				if len(out) >= MaxValues {
					return r.errf(at, macro, "the list expands to more than %d values", MaxValues)
				}
				out = append(out, text)
				continue
			}
			if err := add(s, depth+1, at); err != nil {
				return err
			}
		}
		return nil
	}
	for _, v := range items {
		if v.Quoted {
			out = append(out, v.Text)
			continue
		}
		if err := add(v.Text, 0, v.At); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkValues parses each operand for the field's type at compile time, so that a bad value
// is a load error and not a silent mismatch.
func (r *resolver) checkValues(fi FieldInfo, c *Cmp, n *cond.Compare, macro string) error {
	at := n.Value.At
	if n.Op.IsList() {
		at = n.OpAt
	}
	for _, v := range c.Values {
		var err error
		switch fi.Type {
		case TypeNumber:
			_, err = parseNum(v)
		case TypeBool:
			_, err = parseBool(v)
		case TypeIP:
			if n.Op.IsList() {
				_, err = parsePrefix(v)
			} else {
				_, err = netip.ParseAddr(v)
			}
		case TypeNet:
			_, err = parsePrefix(v)
		case TypeString:
			switch n.Op {
			case cond.Glob, cond.IGlob:
				err = checkGlob(v)
			case cond.Regex:
				_, err = regexp.Compile(v)
			case cond.BContains, cond.BStartsWith:
				_, err = hex.DecodeString(v)
			}
		}
		if err != nil {
			return r.errf(at, macro, "%s %s: bad operand %q for a %s field: %v", fi.Name, n.Op, v, fi.Type, err)
		}
	}
	return nil
}

func parseNum(s string) (int64, error) { return strconv.ParseInt(s, 0, 64) }

func parseBool(s string) (bool, error) {
	switch s {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("want true or false")
}

// parsePrefix accepts a network or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
