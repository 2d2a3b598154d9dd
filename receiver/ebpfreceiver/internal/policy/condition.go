package policy

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
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

// Exception is Falco's exception shape: a name, fields, one comparison
// operator per field, and value tuples. With one field given as a scalar,
// comps defaults to in and values is one list.
type Exception struct {
	Name   string
	Fields []string
	Comps  []string
	Values [][]ExceptionValue
	// Line is where the exception was written.
	Line int
}

// ExceptionValue is one item of a tuple: a value, or a list of values.
type ExceptionValue struct {
	Items []string
	List  bool
}

// comps are the operators an exception may use.
var comps = []string{"=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects", "pmatch", "startswith", "endswith",
	"contains", "icontains", "bstartswith", "bcontains", "glob", "iglob", "regex"}

func knownComp(c string) bool { return contains(comps, c) }

// IsListComp reports whether an exception operator takes a list.
func IsListComp(c string) bool { return c == "in" || c == "intersects" || c == "pmatch" }

// Cond is what linking a rule's condition, exceptions and output produced: the
// rule's split between the kernel and user space. This package parses the
// keys; the rule engine's Linker compiles them (Load with a Linker).
type Cond struct {
	// Kernel is what the kernel checks: the rule's own keys intersected with
	// the condition's kernel part.
	Kernel KernelFilter
	// Residual are the terms of the condition the kernel does not decide;
	// when there are any, the receiver evaluates the whole condition on each
	// event the kernel passes. Empty: the kernel decides the rule alone.
	Residual []string
	// Unfiltered: user space evaluates the rule, and neither the selector nor
	// the kernel filter narrows its event: every such event crosses.
	Unfiltered bool
	// Eval is the compiled condition and output, owned by the Linker that
	// made it (opaque to this package).
	Eval any
}

// UserSpace reports whether the receiver evaluates the rule's condition.
func (c *Cond) UserSpace() bool { return c != nil && len(c.Residual) > 0 }

// KernelFilter is a rule's filter keys as the kernel checks them.
type KernelFilter struct {
	Paths        []string
	Access       []Access
	CIDRs        []netip.Prefix
	Ports        []uint16
	Binaries     []string
	NameSuffixes []string
	NameContains []string
	RawContains  []string
	// The task keys: the process's and its parent's names, its terminal,
	// its capabilities (any of).
	ProcessNames []string
	ParentNames  []string
	ParentsCond  bool // a condition's key: a re-parented process passes (Rule.ParentsCond)
	TTY          *bool
	Capabilities []string
	// AncestorNames within AncestorDepth generations (0: MaxAncestorDepth);
	// AncestorsOpen, a longer chain passes.
	AncestorNames []string
	AncestorDepth int
	AncestorsOpen bool
	AncestorsCond bool
}

// Narrow reports whether the filter passes fewer than every event of its kind.
func (f KernelFilter) Narrow() bool {
	return f.Paths != nil || f.Access != nil || f.CIDRs != nil || f.Ports != nil || f.Binaries != nil ||
		f.NameSuffixes != nil || f.NameContains != nil || f.RawContains != nil ||
		f.ProcessNames != nil || f.ParentNames != nil || f.TTY != nil || f.Capabilities != nil || f.AncestorNames != nil
}

// String renders the filter in the policy keys' words.
func (f KernelFilter) String() string {
	var parts []string
	list := func(key string, n int, item func(int) string) {
		s := make([]string, n)
		for i := range s {
			s[i] = item(i)
		}
		parts = append(parts, key+": ["+strings.Join(s, ", ")+"]")
	}
	if f.Paths != nil {
		list("paths", len(f.Paths), func(i int) string { return f.Paths[i] })
	}
	if f.Access != nil {
		list("access", len(f.Access), func(i int) string { return string(f.Access[i]) })
	}
	if f.CIDRs != nil {
		list("cidrs", len(f.CIDRs), func(i int) string { return f.CIDRs[i].String() })
	}
	if f.Ports != nil {
		list("ports", len(f.Ports), func(i int) string { return strconv.Itoa(int(f.Ports[i])) })
	}
	if f.Binaries != nil {
		list("binaries", len(f.Binaries), func(i int) string { return f.Binaries[i] })
	}
	if f.NameSuffixes != nil {
		list("name_suffixes", len(f.NameSuffixes), func(i int) string { return f.NameSuffixes[i] })
	}
	if f.NameContains != nil {
		list("name_contains", len(f.NameContains), func(i int) string { return f.NameContains[i] })
	}
	if f.RawContains != nil {
		list("raw_contains", len(f.RawContains), func(i int) string { return f.RawContains[i] })
	}
	if f.ProcessNames != nil {
		list("process_names", len(f.ProcessNames), func(i int) string { return f.ProcessNames[i] })
	}
	if f.ParentNames != nil {
		list("parent_names", len(f.ParentNames), func(i int) string { return f.ParentNames[i] })
	}
	if f.AncestorNames != nil {
		list("ancestor_names", len(f.AncestorNames), func(i int) string { return f.AncestorNames[i] })
		d := f.AncestorDepth
		if d == 0 {
			d = MaxAncestorDepth
		}
		s := "ancestor_depth: " + strconv.Itoa(d)
		if f.AncestorsOpen {
			s += " (a longer chain passes)"
		}
		parts = append(parts, s)
	}
	if f.TTY != nil {
		parts = append(parts, "tty: "+strconv.FormatBool(*f.TTY))
	}
	if f.Capabilities != nil {
		list("capabilities", len(f.Capabilities), func(i int) string { return f.Capabilities[i] })
	}
	return strings.Join(parts, " ")
}

// Keys is the rule's own filter keys.
func (r *Rule) Keys() KernelFilter {
	return KernelFilter{Paths: r.Paths, Access: r.Access, CIDRs: r.CIDRs, Ports: r.Ports, Binaries: r.Binaries,
		NameSuffixes: r.NameSuffixes, NameContains: r.NameContains, RawContains: r.RawContains,
		ProcessNames: r.ProcessNames, ParentNames: r.ParentNames, ParentsCond: r.ParentsCond, TTY: r.TTY, Capabilities: r.Capabilities,
		AncestorNames: r.AncestorNames, AncestorDepth: r.AncestorDepth, AncestorsOpen: r.AncestorsOpen, AncestorsCond: r.AncestorsCond}
}

// HasCondition reports whether the rule has a condition, exceptions or an
// output: keys a Linker compiles.
func (r *Rule) HasCondition() bool {
	return r.Condition != "" || len(r.Exceptions) > 0 || r.Output != ""
}

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
	k.Paths, k.Access, k.CIDRs, k.Ports, k.Binaries = f.Paths, f.Access, f.CIDRs, f.Ports, f.Binaries
	k.NameSuffixes, k.NameContains, k.RawContains = f.NameSuffixes, f.NameContains, f.RawContains
	k.ProcessNames, k.ParentNames, k.ParentsCond, k.TTY, k.Capabilities = f.ProcessNames, f.ParentNames, f.ParentsCond, f.TTY, f.Capabilities
	k.AncestorNames, k.AncestorDepth, k.AncestorsOpen, k.AncestorsCond = f.AncestorNames, f.AncestorDepth, f.AncestorsOpen, f.AncestorsCond
	if r.Cond.UserSpace() {
		k.EffectiveAction, k.Fallback = ActionPost, ""
	}
	return k
}

// Linker compiles the conditions of a loaded set: lists, macros, conditions,
// exceptions and outputs need the rule engine, which this package does not
// know. Link sets each rule's Cond and returns, per policy (by index), its
// errors. rulesFiles are the set's rules files, whose lists and macros share
// the namespace.
type Linker interface {
	Link(pols []*Policy, rulesFiles []FileResult) [][]*Error
}

// Narrows reports whether the selector restricts the processes.
func (s Selector) Narrows() bool {
	return len(s.Binaries)+len(s.BinaryPrefixes)+len(s.UIDs)+len(s.Namespaces)+len(s.PodLabels) > 0 ||
		(s.Containers != "" && s.Containers != ContainersAny)
}

// sources keeps, per policy, what maps an offset of a condition back to its
// file line.
type sources struct {
	raw       []string
	macroNode map[string]*yaml.Node
	condNode  map[int]*yaml.Node
}

// ConditionLine is the file line of an offset in rule i's condition.
func (p *Policy) ConditionLine(i, offset int) int {
	if p.src != nil {
		if n := p.src.condNode[i]; n != nil {
			return lineOf(n, p.src.raw, offset)
		}
	}
	return p.line("rules[" + strconv.Itoa(i) + "].condition")
}

// MacroLine is the file line of an offset in macro name's condition.
func (p *Policy) MacroLine(name string, offset int) int {
	if p.src != nil {
		if n := p.src.macroNode[name]; n != nil {
			return lineOf(n, p.src.raw, offset)
		}
	}
	return p.line("macros." + name)
}

// KeyLine is the line of a key ("rules[0].paths"), or of its nearest
// ancestor that has one.
func (p *Policy) KeyLine(key string) int { return p.line(key) }

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
	src.macroNode = map[string]*yaml.Node{}
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
		src.macroNode[k.Value] = val
	}
}

func (d *decoder) condition(r *Rule, i int, v *yaml.Node, key string) {
	r.Condition = d.str(v, key)
	if r.Condition == "" {
		if !d.bad[key] {
			d.errorf(v.Line, key, "must not be empty (leave the key out instead)")
		}
		return
	}
	src := d.p.src
	if src.condNode == nil {
		src.condNode = map[int]*yaml.Node{}
	}
	src.condNode[i] = v
}

// exceptions reads Falco's exception shape: name, fields, comps, values.
func (d *decoder) exceptions(v *yaml.Node, key string) []Exception {
	var out []Exception
	if v.Kind == yaml.SequenceNode && len(v.Content) > MaxExceptions {
		d.errorf(v.Line, key, "has %d exceptions; a rule may have at most %d", len(v.Content), MaxExceptions)
		return nil
	}
	d.seq(v, key, func(_ int, ek string, n *yaml.Node) {
		e := Exception{Line: n.Line}
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
			if !knownComp(c) {
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
				var items []string
				for _, it := range values.Content {
					if it.Kind != yaml.ScalarNode || it.Tag == "!!null" {
						d.errorf(it.Line, vk, "items must be values, not %s", kindName(it))
						return
					}
					items = append(items, it.Value)
				}
				if IsListComp(e.Comps[0]) {
					e.Values = [][]ExceptionValue{{{Items: items, List: true}}}
				} else {
					for _, it := range items {
						e.Values = append(e.Values, []ExceptionValue{{Items: []string{it}}})
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
					var row []ExceptionValue
					for _, it := range tuple.Content {
						switch {
						case it.Kind == yaml.ScalarNode && it.Tag != "!!null":
							row = append(row, ExceptionValue{Items: []string{it.Value}})
						case it.Kind == yaml.SequenceNode:
							var items []string
							for _, x := range it.Content {
								if x.Kind != yaml.ScalarNode || x.Tag == "!!null" {
									d.errorf(x.Line, tk, "items must be values or lists of values")
									return
								}
								items = append(items, x.Value)
							}
							row = append(row, ExceptionValue{Items: items, List: true})
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
