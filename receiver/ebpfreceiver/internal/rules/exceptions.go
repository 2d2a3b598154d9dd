package rules

import (
	"fmt"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

// Exception is Falco's exception shape: a name, fields, one comparison operator per field,
// and value tuples. The rule matches only when no tuple matches. With one field (Single),
// Values is a list of single-item tuples.
type Exception struct {
	Name   string
	Fields []string
	// Comps defaults to = for every field (in for the single-field form).
	Comps  []string
	Values [][]ExceptionValue
	// At is where the exception was written; generated terms carry it.
	At cond.Pos
}

// ExceptionValue is one item of a tuple: a scalar, or a list for the list operators (an
// item naming a defined list stands for its items).
type ExceptionValue struct {
	Items []string
	List  bool
}

// Node builds the condition the exception excludes: the or of its tuples, each the and of
// its field comparisons. It returns nil for an exception without values (it excludes
// nothing).
func (e *Exception) Node() (cond.Node, error) {
	comps := e.Comps
	if len(comps) == 0 {
		comps = make([]string, len(e.Fields))
		for i := range comps {
			comps[i] = "="
		}
	}
	if len(comps) != len(e.Fields) {
		return nil, fmt.Errorf("exception %q: %d fields but %d comps", e.Name, len(e.Fields), len(comps))
	}
	ops := make([]cond.Op, len(comps))
	for i, c := range comps {
		op, ok := cond.ParseOp(c)
		if !ok || op.IsUnary() {
			return nil, fmt.Errorf("exception %q: comps[%d]: unknown operator %q", e.Name, i, c)
		}
		ops[i] = op
	}
	var out cond.Node
	for ti, tuple := range e.Values {
		if len(tuple) != len(e.Fields) {
			return nil, fmt.Errorf("exception %q: values[%d] has %d items for %d fields", e.Name, ti, len(tuple), len(e.Fields))
		}
		var term cond.Node
		for i, v := range tuple {
			c, err := e.compare(e.Fields[i], ops[i], v, ti)
			if err != nil {
				return nil, err
			}
			if term == nil {
				term = c
			} else {
				term = &cond.And{X: term, Y: c}
			}
		}
		if term == nil {
			continue
		}
		if out == nil {
			out = term
		} else {
			out = &cond.Or{X: out, Y: term}
		}
	}
	return out, nil
}

func (e *Exception) compare(field string, op cond.Op, v ExceptionValue, ti int) (cond.Node, error) {
	f, err := parseFieldRef(field)
	if err != nil {
		return nil, fmt.Errorf("exception %q: %w", e.Name, err)
	}
	f.At = e.At
	c := &cond.Compare{Field: f, Op: op, OpAt: e.At}
	if op.IsList() {
		c.List = []cond.Value{}
		for _, it := range v.Items {
			c.List = append(c.List, cond.Value{Text: it, At: e.At})
		}
		return c, nil
	}
	if v.List || len(v.Items) != 1 {
		return nil, fmt.Errorf("exception %q: values[%d]: operator %s takes one value, not a list", e.Name, ti, op)
	}
	c.Value = cond.Value{Text: v.Items[0], Quoted: true, At: e.At}
	return c, nil
}

// parseFieldRef parses a field name such as proc.aname[2] by parsing it as a condition.
func parseFieldRef(s string) (cond.Field, error) {
	n, err := cond.Parse(s + " exists")
	if err != nil {
		return cond.Field{}, fmt.Errorf("field %q: %w", s, err)
	}
	c, ok := n.(*cond.Compare)
	if !ok {
		return cond.Field{}, fmt.Errorf("field %q is not a field name", s)
	}
	return c.Field, nil
}

// WithExceptions returns "n and not (e1) and not (e2) ...".
func WithExceptions(n cond.Node, excs []cond.Node) cond.Node {
	for _, x := range excs {
		if x != nil {
			n = &cond.And{X: n, Y: &cond.Not{X: x, At: x.Position()}}
		}
	}
	return n
}
