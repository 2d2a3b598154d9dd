package policy

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/falco"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/lower"
)

// Bounds on a policy file's definitions.
const (
	// MaxDefinitions bounds the lists plus the macros of one file.
	MaxDefinitions = 1024
	// MaxListItems bounds the items of one list.
	MaxListItems = 4096
	// MaxExceptions bounds the exceptions of one rule.
	MaxExceptions = 64
)

// defNameRe is a list or macro name: a bare word without a dot (a dotted name
// is a field).
var defNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// Cond is a rule's compiled condition (with its exceptions) and output, split
// between the kernel and user space.
type Cond struct {
	// Pred is the condition with its exceptions ("and not (...)"); nil when
	// the rule has only an output.
	Pred *rules.Predicate
	// Kernel is what the kernel checks: the rule's own keys (paths, access,
	// cidrs, ports, binaries) intersected with the condition's kernel part.
	Kernel lower.Filter
	// Residual are the terms of the condition the kernel does not decide;
	// when there are any, the receiver evaluates the whole condition on each
	// event the kernel passes. Empty: the kernel decides the rule alone.
	Residual []string
	// Unfiltered: user space evaluates the rule, and neither the selector nor
	// the kernel filter narrows its event: every such event crosses.
	Unfiltered bool
	// Output renders the record's body; nil without output.
	Output *rules.Output
}

// UserSpace reports whether the receiver evaluates the rule's condition.
func (c *Cond) UserSpace() bool { return c != nil && len(c.Residual) > 0 }

// KernelRule is the rule as the kernel policy maps carry it: the filter keys
// are the kernel part of its condition, and a rule whose condition user space
// decides only posts from the kernel (the receiver counts or kills when the
// condition holds).
func (r *Rule) KernelRule() Rule {
	k := *r
	if r.Cond == nil {
		return k
	}
	f := r.Cond.Kernel
	k.Paths, k.CIDRs, k.Ports, k.Binaries = f.Paths, f.CIDRs, f.Ports, f.Binaries
	k.Access = nil
	for _, a := range f.Access {
		k.Access = append(k.Access, Access(a))
	}
	if r.Cond.UserSpace() {
		k.EffectiveAction, k.Fallback = ActionPost, ""
	}
	return k
}

// sources keeps, per policy, what maps an offset of a condition back to its
// file line, and the parsed conditions.
type sources struct {
	raw       []string
	macroNode map[string]*yaml.Node
	macros    map[string]cond.Node
	condNode  map[int]*yaml.Node
	conds     map[int]cond.Node
	excLine   map[int][]int
}

func (d *decoder) lists(v *yaml.Node, key string) {
	if v.Kind != yaml.MappingNode {
		d.errorf(v.Line, key, "must be a mapping of list names to lists, not %s", kindName(v))
		return
	}
	d.p.Lists = map[string][]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		lk := childKey(key, k.Value)
		if !d.defName(k, key, lk, "list") {
			continue
		}
		if _, dup := d.p.Lists[k.Value]; dup {
			d.errorf(k.Line, lk, "duplicate list (first at line %d)", d.p.lines[lk])
			continue
		}
		d.p.lines[lk] = k.Line
		if val.Kind != yaml.SequenceNode {
			d.errorf(val.Line, lk, "must be a list of values, not %s", kindName(val))
			continue
		}
		if len(val.Content) > MaxListItems {
			d.errorf(val.Line, lk, "has %d items; a list may hold at most %d", len(val.Content), MaxListItems)
			continue
		}
		items := []string{}
		for j, n := range val.Content {
			if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
				d.errorf(n.Line, lk+"["+strconv.Itoa(j)+"]", "must be a value, not %s", kindName(n))
				continue
			}
			items = append(items, n.Value)
		}
		d.p.Lists[k.Value] = items
	}
}

// defName checks a list or macro name and the file's definition count.
func (d *decoder) defName(k *yaml.Node, key, lk, what string) bool {
	switch {
	case k.Kind != yaml.ScalarNode:
		d.errorf(k.Line, key, "%s names must be strings", what)
		return false
	case !defNameRe.MatchString(k.Value):
		d.errorf(k.Line, lk, "%q is not a %s name (letters, digits and '_', not starting with a digit, at most 128)", k.Value, what)
		return false
	case len(d.p.Lists)+len(d.p.Macros) >= MaxDefinitions:
		d.errorf(k.Line, lk, "more than %d lists and macros in one file", MaxDefinitions)
		return false
	}
	return true
}

func (d *decoder) macros(v *yaml.Node, key string) {
	if v.Kind != yaml.MappingNode {
		d.errorf(v.Line, key, "must be a mapping of macro names to conditions, not %s", kindName(v))
		return
	}
	d.p.Macros = map[string]string{}
	src := d.p.src
	src.macroNode, src.macros = map[string]*yaml.Node{}, map[string]cond.Node{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		lk := childKey(key, k.Value)
		if !d.defName(k, key, lk, "macro") {
			continue
		}
		if _, dup := d.p.Macros[k.Value]; dup {
			d.errorf(k.Line, lk, "duplicate macro (first at line %d)", d.p.lines[lk])
			continue
		}
		d.p.lines[lk] = k.Line
		if val.Kind != yaml.ScalarNode || val.Tag == "!!null" {
			d.errorf(val.Line, lk, "must be a condition string, not %s", kindName(val))
			continue
		}
		d.p.Macros[k.Value] = val.Value
		n, err := cond.Parse(val.Value)
		if err != nil {
			line, msg := d.parseError(val, err)
			d.errorf(line, lk, "%s", msg)
			continue
		}
		src.macroNode[k.Value], src.macros[k.Value] = val, n
	}
}

// parseError places a condition syntax error on its line.
func (d *decoder) parseError(v *yaml.Node, err error) (int, string) {
	var perr *cond.Error
	if errors.As(err, &perr) {
		return lineOf(v, d.p.src.raw, perr.Pos.Offset), perr.Msg
	}
	return v.Line, err.Error()
}

func (d *decoder) condition(r *Rule, i int, v *yaml.Node, key string) {
	r.Condition = d.str(v, key)
	if r.Condition == "" {
		if !d.bad[key] {
			d.errorf(v.Line, key, "must not be empty (leave the key out instead)")
		}
		return
	}
	n, err := cond.Parse(r.Condition)
	if err != nil {
		line, msg := d.parseError(v, err)
		d.errorf(line, key, "%s", msg)
		return
	}
	src := d.p.src
	if src.conds == nil {
		src.conds, src.condNode = map[int]cond.Node{}, map[int]*yaml.Node{}
	}
	src.conds[i], src.condNode[i] = n, v
}

// exceptions reads Falco's exception shape: name, fields, comps, values.
func (d *decoder) exceptions(v *yaml.Node, key string) []rules.Exception {
	var out []rules.Exception
	if v.Kind == yaml.SequenceNode && len(v.Content) > MaxExceptions {
		d.errorf(v.Line, key, "has %d exceptions; a rule may have at most %d", len(v.Content), MaxExceptions)
		return nil
	}
	d.seq(v, key, func(_ int, ek string, n *yaml.Node) {
		e := rules.Exception{At: cond.Pos{Line: 1, Col: 1}}
		single, ok := false, true
		var values *yaml.Node
		d.fields(n, ek, []string{"name", "fields", "comps", "values"}, func(name, k string, v *yaml.Node) {
			switch name {
			case "name":
				e.Name = d.str(v, k)
			case "fields":
				if v.Kind == yaml.ScalarNode {
					e.Fields, single = []string{d.str(v, k)}, true
				} else {
					e.Fields = d.strs(v, k)
				}
			case "comps":
				if v.Kind == yaml.ScalarNode {
					e.Comps = []string{d.str(v, k)}
				} else {
					e.Comps = d.strs(v, k)
				}
			case "values":
				values = v
			}
		})
		if d.bad[ek] {
			return
		}
		if e.Name == "" {
			d.errorf(n.Line, ek+".name", "is required")
			return
		}
		if len(e.Fields) == 0 {
			d.errorf(n.Line, ek+".fields", "is required")
			return
		}
		for ci, c := range e.Comps {
			if op, known := cond.ParseOp(c); !known || op.IsUnary() {
				d.errorf(n.Line, ek+".comps["+strconv.Itoa(ci)+"]", "unknown operator %q", c)
				ok = false
			}
		}
		if single && len(e.Comps) == 0 {
			e.Comps = []string{"in"}
		}
		if len(e.Comps) > 0 && len(e.Comps) != len(e.Fields) {
			d.errorf(n.Line, ek+".comps", "%d operators for %d fields", len(e.Comps), len(e.Fields))
			ok = false
		}
		if !ok {
			return
		}
		if values != nil {
			vk := ek + ".values"
			if values.Kind != yaml.SequenceNode {
				d.errorf(values.Line, vk, "must be a list, not %s", kindName(values))
				return
			}
			if single {
				op, _ := cond.ParseOp(e.Comps[0])
				var items []string
				for _, it := range values.Content {
					if it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
						d.errorf(it.Line, vk, "items must be values, not %s", kindName(it))
						return
					}
					items = append(items, it.Value)
				}
				if op.IsList() {
					e.Values = [][]rules.ExceptionValue{{{Items: items, List: true}}}
				} else {
					for _, it := range items {
						e.Values = append(e.Values, []rules.ExceptionValue{{Items: []string{it}}})
					}
				}
			} else {
				for ti, tuple := range values.Content {
					tk := vk + "[" + strconv.Itoa(ti) + "]"
					d.p.lines[tk] = tuple.Line
					if tuple.Kind != yaml.SequenceNode || len(tuple.Content) != len(e.Fields) {
						d.errorf(tuple.Line, tk, "must be a list of %d values, one per field", len(e.Fields))
						return
					}
					var row []rules.ExceptionValue
					for _, it := range tuple.Content {
						switch {
						case it.Kind == yaml.ScalarNode && it.Tag != "!!null":
							row = append(row, rules.ExceptionValue{Items: []string{it.Value}})
						case it.Kind == yaml.SequenceNode:
							var items []string
							for _, x := range it.Content {
								if x.Kind != yaml.ScalarNode || x.Tag == "!!null" {
									d.errorf(x.Line, tk, "items must be values or lists of values")
									return
								}
								items = append(items, x.Value)
							}
							row = append(row, rules.ExceptionValue{Items: items, List: true})
						default:
							d.errorf(it.Line, tk, "items must be values or lists of values, not %s", kindName(it))
							return
						}
					}
					e.Values = append(e.Values, row)
				}
			}
		}
		out = append(out, e)
	})
	return out
}

// lineOf maps an offset in a scalar's value onto the file line it was written on.
func lineOf(n *yaml.Node, raw []string, off int) int {
	// An error at the end of the condition is on its last character's line.
	off = max(0, min(off, len(strings.TrimRight(n.Value, "\n"))-1))
	switch n.Style {
	case yaml.LiteralStyle:
		return n.Line + 1 + strings.Count(n.Value[:min(off, len(n.Value))], "\n")
	case yaml.FoldedStyle, 0, yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		// Folded and multi-line flow scalars join lines with a space: walk the
		// raw lines, trimmed, until their joined length passes the offset.
		first := n.Line
		if n.Style == yaml.FoldedStyle {
			first++
		}
		total := 0
		for l := first; l <= len(raw); l++ {
			text := raw[l-1]
			if l == n.Line && n.Style != yaml.FoldedStyle && n.Column-1 <= len(text) {
				text = text[n.Column-1:]
			}
			text = strings.TrimSpace(text)
			if text == "" && l > first {
				continue
			}
			total += len(text) + 1
			if total > off {
				return l
			}
		}
	}
	return n.Line
}

// shared is the one namespace of lists and macros of a loaded set: the rules
// files' first, then each policy file's, in load order.
type shared struct {
	defs      rules.Defs
	listFrom  map[string]string // "file:line"
	macroFrom map[string]string
	// vigil are the definitions policy files made, for the rules files.
	vigil rules.Defs
	// macroAt finds a policy file's macro for error lines.
	macroAt map[string]*Policy
}

func newShared() *shared {
	return &shared{
		defs:     rules.Defs{Lists: map[string][]string{}, Macros: map[string]cond.Node{}},
		vigil:    rules.Defs{Lists: map[string][]string{}, Macros: map[string]cond.Node{}},
		listFrom: map[string]string{}, macroFrom: map[string]string{}, macroAt: map[string]*Policy{},
	}
}

// addRulesFiles puts the rules files' lists and macros in the namespace.
func (s *shared) addRulesFiles(files []falco.File) {
	if len(files) == 0 {
		return
	}
	d := falco.CollectDefinitions(files...)
	for name, items := range d.Lists {
		s.defs.Lists[name] = items
		s.listFrom[name] = d.ListFrom[name]
	}
	for name, n := range d.Macros {
		s.defs.Macros[name] = n
		s.macroFrom[name] = d.MacroFrom[name]
	}
	for name := range d.BadMacros {
		s.macroFrom[name] = d.MacroFrom[name] // defined, if broken: still taken
	}
}

// add puts a policy file's definitions in the namespace; a name that is taken
// (by a rules file or an earlier policy file) is an error of this file, and
// the earlier definition stays.
func (s *shared) add(p *Policy) []*Error {
	var errs []*Error
	for _, name := range sortedKeys(p.Lists) {
		key := "lists." + name
		if from, taken := s.listFrom[name]; taken {
			errs = append(errs, &Error{File: p.Source, Line: p.line(key), Key: key,
				Reason: fmt.Sprintf("list %q is already defined at %s; a list name is defined once across all loaded files", name, from)})
			continue
		}
		s.listFrom[name] = fmt.Sprintf("%s:%d", p.Source, p.line(key))
		s.defs.Lists[name], s.vigil.Lists[name] = p.Lists[name], p.Lists[name]
	}
	for _, name := range sortedKeys(p.Macros) {
		key := "macros." + name
		if from, taken := s.macroFrom[name]; taken {
			errs = append(errs, &Error{File: p.Source, Line: p.line(key), Key: key,
				Reason: fmt.Sprintf("macro %q is already defined at %s; a macro name is defined once across all loaded files", name, from)})
			continue
		}
		n, ok := p.src.macros[name]
		if !ok {
			continue
		}
		s.macroFrom[name] = fmt.Sprintf("%s:%d", p.Source, p.line(key))
		s.defs.Macros[name], s.vigil.Macros[name] = n, n
		s.macroAt[name] = p
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// link compiles the policy's conditions against the namespace.
func (p *Policy) link(s *shared) []*Error {
	var errs []*Error
	for i := range p.Rules {
		errs = append(errs, p.linkRule(i, s)...)
	}
	return errs
}

// condErr renders a compile error of rule i's condition.
func (p *Policy) condErr(i int, s *shared, err error) *Error {
	key := "rules[" + strconv.Itoa(i) + "].condition"
	node := p.src.condNode[i]
	line := p.line(key)
	var cerr *rules.Error
	if !errors.As(err, &cerr) {
		return &Error{File: p.Source, Line: line, Key: key, Reason: err.Error()}
	}
	if cerr.Macro == "" {
		if node != nil {
			line = lineOf(node, p.src.raw, cerr.Pos.Offset)
		}
		return &Error{File: p.Source, Line: line, Key: key, Reason: cerr.Msg}
	}
	where := s.macroFrom[cerr.Macro]
	if mp := s.macroAt[cerr.Macro]; mp != nil {
		if mn := mp.src.macroNode[cerr.Macro]; mn != nil {
			where = fmt.Sprintf("%s:%d", mp.Source, lineOf(mn, mp.src.raw, cerr.Pos.Offset))
		}
	}
	return &Error{File: p.Source, Line: line, Key: key, Reason: fmt.Sprintf("in macro %q (%s): %s", cerr.Macro, where, cerr.Msg)}
}

func (p *Policy) linkRule(i int, s *shared) []*Error {
	r := &p.Rules[i]
	r.Cond = nil
	if r.Condition == "" && len(r.Exceptions) == 0 && r.Output == "" {
		return nil
	}
	key := "rules[" + strconv.Itoa(i) + "]"
	fail := func(k string, line int, format string, args ...any) []*Error {
		if line == 0 {
			line = p.line(k)
		}
		return []*Error{{File: p.Source, Line: line, Key: k, Reason: fmt.Sprintf(format, args...)}}
	}
	kind, ok := rules.KindByName(string(r.Event))
	if !ok {
		return fail(key+".event", 0, "%s has no rule condition fields", r.Event)
	}
	c := &Cond{}
	if r.Output != "" {
		c.Output = rules.CompileOutput(r.Output)
		if len(c.Output.Unknown) > 0 {
			return fail(key+".output", 0, "%%%s is not a field", c.Output.Unknown[0])
		}
	}
	defs := &s.defs
	var full cond.Node
	if n := p.src.conds[i]; n != nil {
		if _, err := rules.Compile(n, defs); err != nil {
			return []*Error{p.condErr(i, s, err)}
		}
		full = n
	}
	for j := range r.Exceptions {
		e := &r.Exceptions[j]
		ek := key + ".exceptions[" + strconv.Itoa(j) + "]"
		if err := checkExceptionLists(e, defs); err != nil {
			return fail(ek, 0, "%s", err)
		}
		en, err := e.Node()
		if err == nil && en != nil {
			_, err = rules.Compile(en, defs)
		}
		if err != nil {
			msg := err.Error()
			var cerr *rules.Error
			if errors.As(err, &cerr) {
				msg = cerr.Msg
			}
			return fail(ek, 0, "%s", strings.TrimPrefix(msg, fmt.Sprintf("exception %q: ", e.Name)))
		}
		if en == nil {
			continue
		}
		not := &cond.Not{X: en, At: en.Position()}
		if full == nil {
			full = not
		} else {
			full = &cond.And{X: full, Y: not}
		}
	}
	keys := lower.Filter{Kind: kind, Paths: r.Paths, CIDRs: r.CIDRs, Ports: r.Ports, Binaries: r.Binaries}
	for _, a := range r.Access {
		keys.Access = append(keys.Access, string(a))
	}
	c.Kernel = keys
	if full != nil {
		pred, err := rules.Compile(full, defs)
		if err != nil {
			return []*Error{p.condErr(i, s, err)}
		}
		c.Pred = pred
		f, residual, never := lower.ForKind(pred.Expr(), kind)
		if never || !pred.Kinds().Has(kind) {
			return fail(key+".condition", 0, "can never hold on a %s event (it can hold on %s)", r.Event, pred.Kinds())
		}
		f = p.allowed(r, f)
		kf, empty, loose := lower.Intersect(keys, f)
		if empty {
			return fail(key+".condition", 0, "no %s event can match both the rule's keys (%s) and the condition's kernel part (%s)", r.Event, keys, f)
		}
		if loose {
			residual = append(residual, "the condition's access mode (the rule's access key is what the kernel checks)")
		}
		c.Kernel, c.Residual = kf, residual
	}
	if c.UserSpace() {
		switch r.Action {
		case ActionDeny:
			return fail(key+".condition", 0, "deny needs the whole condition decided in the kernel, but %q runs in user space (use kill for an after-the-fact SIGKILL, or post)", c.Residual[0])
		}
		c.Unfiltered = r.Event != EventProcessExec && !c.Kernel.Narrow() && !p.Selector.narrows()
	}
	r.Cond = c
	return nil
}

// allowed drops from a lowered filter the keys the rule's event does not
// carry in the kernel (the condition still checks them in user space).
func (p *Policy) allowed(r *Rule, f lower.Filter) lower.Filter {
	if !r.Event.allows("paths") {
		f.Paths = nil
	}
	if !r.Event.allows("access") {
		f.Access = nil
	}
	if !r.Event.allows("cidrs") {
		f.CIDRs = nil
	}
	if !r.Event.allows("ports") {
		f.Ports = nil
	}
	if !r.Event.allows("binaries") {
		f.Binaries = nil
	}
	return f
}

func (s Selector) narrows() bool {
	return len(s.Binaries)+len(s.BinaryPrefixes)+len(s.UIDs)+len(s.Namespaces)+len(s.PodLabels) > 0 ||
		(s.Containers != "" && s.Containers != ContainersAny)
}

// checkExceptionLists: a single value given to a list operator (in,
// intersects, pmatch) names a list, which must exist.
func checkExceptionLists(e *rules.Exception, defs *rules.Defs) error {
	for ti, tuple := range e.Values {
		for fi, v := range tuple {
			if fi >= len(e.Comps) || v.List || len(v.Items) != 1 {
				continue
			}
			if op, _ := cond.ParseOp(e.Comps[fi]); !op.IsList() {
				continue
			}
			if _, ok := defs.Lists[v.Items[0]]; !ok {
				return fmt.Errorf("values[%d][%d]: unknown list %q (a single value of %s names a list; write [%s] for the value itself)", ti, fi, v.Items[0], e.Comps[fi], v.Items[0])
			}
		}
	}
	return nil
}

// Warnings are what loading the policy found worth telling without refusing
// it: rules whose every event crosses to user space.
func (p *Policy) Warnings() []string {
	var out []string
	for i, r := range p.Rules {
		if r.Cond != nil && r.Cond.Unfiltered {
			key := "rules[" + strconv.Itoa(i) + "].condition"
			out = append(out, fmt.Sprintf("%s:%d: %s: the kernel cannot narrow %s for this rule: every %s event reaches user space for the condition", p.Source, p.line(key), key, r.Event, r.Event))
		}
	}
	return out
}

// Unfiltered counts the rules whose every event crosses to user space.
func (p *Policy) Unfiltered() int {
	n := 0
	for _, r := range p.Rules {
		if r.Cond != nil && r.Cond.Unfiltered {
			n++
		}
	}
	return n
}
