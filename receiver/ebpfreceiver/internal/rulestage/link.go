package rulestage

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/catalog"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/falco"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/lower"
)

// Compiled is a policy rule's compiled condition (with its exceptions) and
// output: policy.Cond.Eval.
type Compiled struct {
	// Pred is nil when the rule has only an output.
	Pred   *rules.Predicate
	Output *rules.Output
}

// compiledOf returns a rule's compiled condition, nil without one.
func compiledOf(c *policy.Cond) *Compiled {
	if c == nil {
		return nil
	}
	x, _ := c.Eval.(*Compiled)
	return x
}

// Linker compiles the conditions of policy files (policy.Linker) with the rule
// engine, in one namespace of lists and macros: the rules files' first, then
// each policy file's in load order.
type Linker struct{}

var _ policy.Linker = Linker{}

// Link compiles pols' conditions; errs[i] are pols[i]'s problems.
func (Linker) Link(pols []*policy.Policy, rulesFiles []policy.FileResult) [][]*policy.Error {
	sh := newShared()
	var in []falco.File
	for _, f := range rulesFiles {
		in = append(in, falco.File{Name: f.Path, Data: f.Rules})
	}
	sh.addRulesFiles(in)
	out := make([][]*policy.Error, len(pols))
	parsed := make([]bool, len(pols))
	for i, p := range pols {
		out[i], parsed[i] = sh.add(p)
	}
	for i, p := range pols {
		if !parsed[i] {
			continue
		}
		for r := range p.Rules {
			out[i] = append(out[i], sh.linkRule(p, r)...)
		}
	}
	return out
}

// ParseLinked parses one policy file and compiles its conditions against its
// own lists and macros (a file on its own).
func ParseLinked(name string, data []byte) (*policy.Policy, error) {
	p, err := policy.ParseBytes(name, data)
	if err != nil {
		return nil, err
	}
	if errs := (Linker{}).Link([]*policy.Policy{p}, nil)[0]; len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		all := make([]error, len(errs))
		for i, e := range errs {
			all[i] = e
		}
		return nil, errors.Join(all...)
	}
	return p, nil
}

// PolicyDefs are the lists and macros of the policies, for the rules files
// (LoadFilesWith): the loaded policies' definitions.
func PolicyDefs(pols []*policy.Policy) *rules.Defs {
	d := &rules.Defs{Lists: map[string][]string{}, Macros: map[string]cond.Node{}}
	for _, p := range pols {
		for name, items := range p.Lists {
			if _, taken := d.Lists[name]; !taken {
				d.Lists[name] = items
			}
		}
		for name, text := range p.Macros {
			if _, taken := d.Macros[name]; taken {
				continue
			}
			if n, err := cond.Parse(text); err == nil {
				d.Macros[name] = n
			}
		}
	}
	return d
}

// shared is the one namespace of lists and macros of a loaded set.
type shared struct {
	defs      rules.Defs
	listFrom  map[string]string // "file:line"
	macroFrom map[string]string
	// macroAt finds a policy file's macro for error lines.
	macroAt map[string]*policy.Policy
}

func newShared() *shared {
	return &shared{
		defs:     rules.Defs{Lists: map[string][]string{}, Macros: map[string]cond.Node{}},
		listFrom: map[string]string{}, macroFrom: map[string]string{}, macroAt: map[string]*policy.Policy{},
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
		s.macroFrom[name] = d.MacroFrom[name] // defined, if broken: the name is taken
	}
}

func perr(p *policy.Policy, line int, key, format string, args ...any) *policy.Error {
	if line == 0 {
		line = p.KeyLine(key)
	}
	return &policy.Error{File: p.Source, Line: line, Key: key, Reason: fmt.Sprintf(format, args...)}
}

// add puts a policy file's definitions in the namespace; a name that is taken
// (by a rules file or an earlier policy file) is an error of this file, and
// the earlier definition stays. ok is false when a definition or condition of
// the file does not parse (its rules are then not compiled).
func (s *shared) add(p *policy.Policy) (errs []*policy.Error, ok bool) {
	ok = true
	for _, name := range sortedKeys(p.Lists) {
		key := "lists." + name
		if from, taken := s.listFrom[name]; taken {
			errs = append(errs, perr(p, 0, key, "list %q is already defined at %s; a list name is defined once across all loaded files", name, from))
			continue
		}
		s.listFrom[name] = fmt.Sprintf("%s:%d", p.Source, p.KeyLine(key))
		s.defs.Lists[name] = p.Lists[name]
	}
	for _, name := range sortedKeys(p.Macros) {
		key := "macros." + name
		n, err := cond.Parse(p.Macros[name])
		if err != nil {
			errs, ok = append(errs, parseErr(err, key, p, func(off int) int { return p.MacroLine(name, off) })), false
			continue
		}
		if from, taken := s.macroFrom[name]; taken {
			errs = append(errs, perr(p, 0, key, "macro %q is already defined at %s; a macro name is defined once across all loaded files", name, from))
			continue
		}
		s.macroFrom[name] = fmt.Sprintf("%s:%d", p.Source, p.KeyLine(key))
		s.defs.Macros[name] = n
		s.macroAt[name] = p
	}
	for i, r := range p.Rules {
		if r.Condition == "" {
			continue
		}
		if _, err := cond.Parse(r.Condition); err != nil {
			errs, ok = append(errs, parseErr(err, "rules["+strconv.Itoa(i)+"].condition", p, func(off int) int { return p.ConditionLine(i, off) })), false
		}
	}
	return errs, ok
}

// parseErr places a condition syntax error on its line.
func parseErr(err error, key string, p *policy.Policy, lineOf func(int) int) *policy.Error {
	var pe *cond.Error
	if errors.As(err, &pe) {
		return perr(p, lineOf(pe.Pos.Offset), key, "%s", pe.Msg)
	}
	return perr(p, 0, key, "%s", err.Error())
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// condErr renders a compile error of rule i's condition.
func (s *shared) condErr(p *policy.Policy, i int, err error) *policy.Error {
	key := "rules[" + strconv.Itoa(i) + "].condition"
	var cerr *rules.Error
	if !errors.As(err, &cerr) {
		return perr(p, 0, key, "%s", err.Error())
	}
	if cerr.Macro == "" {
		return perr(p, p.ConditionLine(i, cerr.Pos.Offset), key, "%s", cerr.Msg)
	}
	where := s.macroFrom[cerr.Macro]
	if mp := s.macroAt[cerr.Macro]; mp != nil {
		where = fmt.Sprintf("%s:%d", mp.Source, mp.MacroLine(cerr.Macro, cerr.Pos.Offset))
	}
	return perr(p, 0, key, "in macro %q (%s): %s", cerr.Macro, where, cerr.Msg)
}

// exceptionOf is a policy exception in the rule engine's shape.
func exceptionOf(e policy.Exception) rules.Exception {
	x := rules.Exception{Name: e.Name, Fields: e.Fields, Comps: e.Comps, At: cond.Pos{Line: 1, Col: 1}}
	for _, tuple := range e.Values {
		row := make([]rules.ExceptionValue, len(tuple))
		for i, v := range tuple {
			row[i] = rules.ExceptionValue{Items: v.Items, List: v.List}
		}
		x.Values = append(x.Values, row)
	}
	return x
}

// filterOf converts between the policy's and the lowering's filters.
func filterOf(k rules.Kind, f policy.KernelFilter) lower.Filter {
	out := lower.Filter{Kind: k, Paths: f.Paths, CIDRs: f.CIDRs, Ports: f.Ports, Binaries: f.Binaries,
		NameSuffixes: f.NameSuffixes, NameContains: f.NameContains, RawContains: f.RawContains,
		ProcessNames: f.ProcessNames, ParentNames: f.ParentNames, TTY: f.TTY, Caps: f.Capabilities,
		AncestorNames: f.AncestorNames, AncestorDepth: f.AncestorDepth, AncestorsOpen: f.AncestorsOpen,
		ParentsOwn: f.ParentNames != nil && !f.ParentsCond, AncestorsOwn: f.AncestorNames != nil && !f.AncestorsCond}
	if out.AncestorNames != nil && out.AncestorDepth == 0 {
		out.AncestorDepth = policy.MaxAncestorDepth
	}
	for _, a := range f.Access {
		out.Access = append(out.Access, string(a))
	}
	return out
}

func kernelOf(f lower.Filter) policy.KernelFilter {
	out := policy.KernelFilter{Paths: f.Paths, CIDRs: f.CIDRs, Ports: f.Ports, Binaries: f.Binaries,
		NameSuffixes: f.NameSuffixes, NameContains: f.NameContains, RawContains: f.RawContains,
		ProcessNames: f.ProcessNames, ParentNames: f.ParentNames, TTY: f.TTY, Capabilities: f.Caps,
		AncestorNames: f.AncestorNames, AncestorDepth: f.AncestorDepth, AncestorsOpen: f.AncestorsOpen,
		ParentsCond: f.ParentNames != nil && !f.ParentsOwn, AncestorsCond: f.AncestorNames != nil && !f.AncestorsOwn}
	for _, a := range f.Access {
		out.Access = append(out.Access, policy.Access(a))
	}
	return out
}

// linkRule compiles rule i of p and sets its Cond.
func (s *shared) linkRule(p *policy.Policy, i int) []*policy.Error {
	r := &p.Rules[i]
	r.Cond = nil
	if !r.HasCondition() {
		return nil
	}
	key := "rules[" + strconv.Itoa(i) + "]"
	fail := func(k, format string, args ...any) []*policy.Error {
		return []*policy.Error{perr(p, 0, k, format, args...)}
	}
	kind, ok := rules.KindByName(string(r.Event))
	if !ok {
		return fail(key+".event", "%s has no rule condition fields", r.Event)
	}
	comp := &Compiled{}
	c := &policy.Cond{Eval: comp}
	if r.Output != "" {
		comp.Output = rules.CompileOutput(r.Output)
		if len(comp.Output.Unknown) > 0 {
			return fail(key+".output", "%%%s is not a field", comp.Output.Unknown[0])
		}
	}
	defs := &s.defs
	var full cond.Node
	if r.Condition != "" {
		n, err := cond.Parse(r.Condition)
		if err != nil {
			return nil // reported by add
		}
		if _, err := rules.Compile(n, defs); err != nil {
			return []*policy.Error{s.condErr(p, i, err)}
		}
		full = n
	}
	for j := range r.Exceptions {
		pe := r.Exceptions[j]
		e := exceptionOf(pe)
		ek := key + ".exceptions[" + strconv.Itoa(j) + "]"
		errAt := func(format string, args ...any) []*policy.Error {
			return []*policy.Error{perr(p, pe.Line, ek, format, args...)}
		}
		if err := checkExceptionLists(&e, defs); err != nil {
			return errAt("%s", err)
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
			return errAt("%s", strings.TrimPrefix(msg, fmt.Sprintf("exception %q: ", e.Name)))
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
	keys := filterOf(kind, r.Keys())
	c.Kernel = r.Keys()
	if full != nil {
		pred, err := rules.Compile(full, defs)
		if err != nil {
			return []*policy.Error{s.condErr(p, i, err)}
		}
		comp.Pred = pred
		f, residual, never := lower.ForKind(pred.Expr(), kind)
		if never || !pred.Kinds().Has(kind) {
			return fail(key+".condition", "can never hold on a %s event (it can hold on %s)", r.Event, pred.Kinds())
		}
		f = allowed(r.Event, f)
		kf, empty, loose := lower.Intersect(keys, f)
		if empty {
			return fail(key+".condition", "no %s event can match both the rule's keys (%s) and the condition's kernel part (%s)", r.Event, keys, f)
		}
		if loose {
			residual = append(residual, "the condition's access mode (the rule's access key is what the kernel checks)")
		}
		// A parent or ancestor key from the condition (not the rule's own)
		// is one user space decides again (kernelOf marks it).
		c.Kernel, c.Residual = kernelOf(kf), residual
	}
	if c.UserSpace() {
		if r.Action == policy.ActionDeny {
			return fail(key+".condition", "deny needs the whole condition decided in the kernel, but %q runs in user space (use kill for an after-the-fact SIGKILL, or post)", c.Residual[0])
		}
		c.Unfiltered = r.Event != policy.EventProcessExec && !c.Kernel.Narrow() && !p.Selector.Narrows()
	}
	if r.Event == policy.EventProcessExec && r.Action == policy.ActionDeny && c.Kernel.ProcessNames != nil && r.ProcessNames == nil {
		// The exec security hook runs before the new program has its name.
		return fail(key+".condition", "a process.exec deny is decided before the new program has its name, so proc.name cannot decide it in the kernel (use proc.exepath, or kill)")
	}
	r.Cond = c
	return nil
}

// allowed drops from a lowered filter the keys the rule's event does not
// carry in the kernel (the condition still checks them in user space).
func allowed(ev policy.Event, f lower.Filter) lower.Filter {
	row, _ := catalog.Lookup(string(ev))
	if !row.AllowsFilter(catalog.FilterPaths) {
		f.Paths, f.NameSuffixes, f.NameContains = nil, nil, nil
	}
	if ev != policy.EventFileOpen {
		f.RawContains = nil
	}
	if !row.AllowsFilter(catalog.FilterAccess) {
		f.Access = nil
	}
	if !row.AllowsFilter(catalog.FilterCIDRs) {
		f.CIDRs = nil
	}
	if !row.AllowsFilter(catalog.FilterPorts) {
		f.Ports = nil
	}
	if !row.AllowsFilter(catalog.FilterBinaries) {
		f.Binaries = nil
	}
	return f
}

// checkExceptionLists: a single value given to a list operator (in,
// intersects, pmatch) names a list, which must exist.
func checkExceptionLists(e *rules.Exception, defs *rules.Defs) error {
	for ti, tuple := range e.Values {
		for fi, v := range tuple {
			if fi >= len(e.Comps) || v.List || len(v.Items) != 1 || !policy.IsListComp(e.Comps[fi]) {
				continue
			}
			if _, ok := defs.Lists[v.Items[0]]; !ok {
				return fmt.Errorf("values[%d][%d]: unknown list %q (a single value of %s names a list; write [%s] for the value itself)", ti, fi, v.Items[0], e.Comps[fi], v.Items[0])
			}
		}
	}
	return nil
}
