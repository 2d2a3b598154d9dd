// Package tetragon converts Tetragon TracingPolicy files (apiVersion
// cilium.io/v1alpha1, kind TracingPolicy or TracingPolicyNamespaced) into Vigil
// policies, for the subset whose hooks, selectors and actions mean a Vigil
// event, filter and action. Everything else is an error that names the line
// and the key ("spec.kprobes[1].selectors[0].matchArgs[2]: operator Mask is not
// supported"), never a silent approximation. The output is the text of a Vigil
// policy, which the policy package parses as it parses any policy file.
package tetragon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/catalog"
)

// Error is one problem in a TracingPolicy file: "file:line: key: reason".
type Error struct {
	File   string
	Line   int
	Key    string
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Options change how a file converts.
type Options struct {
	// Mode, when set (monitor or enforce), overrides the policy's own
	// policy-mode option, as Tetragon's load-time mode does.
	Mode string
	// SkipUnsupported drops a hook or selector that cannot convert, with a
	// note, instead of failing the file. A filter inside a selector is never
	// dropped (that would widen what the selector matches).
	SkipUnsupported bool
}

// Result is a converted policy.
type Result struct {
	// Name is the policy's name: the TracingPolicy's metadata.name.
	Name string
	// YAML is the Vigil policy.
	YAML []byte
	// Lines[i] is the line of the TracingPolicy that line i+1 of YAML comes
	// from (0 for none), so that errors found in YAML can point at the source.
	Lines []int
	// Notes say what the conversion ignored or where Vigil reports more or
	// less than Tetragon would, as "file:line: key: note".
	Notes []string
}

// SourceLine returns the TracingPolicy line that line n (1-based) of YAML came
// from, 0 when unknown.
func (r *Result) SourceLine(n int) int {
	if n < 1 || n > len(r.Lines) {
		return 0
	}
	return r.Lines[n-1]
}

// IsTracingPolicy reports whether data is a Tetragon policy: a mapping whose
// apiVersion is cilium.io/... and whose kind is TracingPolicy or
// TracingPolicyNamespaced.
func IsTracingPolicy(data []byte) bool {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil || len(doc.Content) != 1 {
		return false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return false
	}
	var api, kind string
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "apiVersion":
			api = root.Content[i+1].Value
		case "kind":
			kind = root.Content[i+1].Value
		}
	}
	return strings.HasPrefix(api, "cilium.io/") && (kind == "TracingPolicy" || kind == "TracingPolicyNamespaced")
}

// vrule is one Vigil rule being built.
type vrule struct {
	name     string
	line     int
	event    string
	paths    []string
	suffixes []string
	access   []string
	cidrs    []string
	ports    []int
	bins     []string
	action   string
	binSel   binSel
	pathsAt  int // source line of each filter, for the output's line map
	netAt    int
}

// binSel is a selector's matchBinaries, which becomes the policy's selector.
type binSel struct {
	exact, prefixes []string
	line            int
}

func (b binSel) key() string {
	return strings.Join(b.exact, "\x00") + "\x01" + strings.Join(b.prefixes, "\x00")
}

type converter struct {
	file  string
	opt   Options
	errs  []*Error
	notes []string
	// unitErrs collects the errors of the hook or selector being converted
	// (see unit); nil outside one.
	unitErrs *[]*Error
	// noted holds the hooks whose narrower/wider note was given, so that a
	// hook with several selectors gets one.
	noted map[string]bool
}

func (c *converter) errorf(line int, key, format string, args ...any) {
	e := &Error{File: c.file, Line: line, Key: key, Reason: fmt.Sprintf(format, args...)}
	if c.unitErrs != nil {
		*c.unitErrs = append(*c.unitErrs, e)
		return
	}
	c.errs = append(c.errs, e)
}

func (c *converter) notef(line int, key, format string, args ...any) {
	c.notes = append(c.notes, (&Error{File: c.file, Line: line, Key: key, Reason: fmt.Sprintf(format, args...)}).Error())
}

// unit runs f collecting its errors; with SkipUnsupported a failing unit is
// dropped with a note, otherwise its errors are the file's.
func (c *converter) unit(line int, key, what string, f func() bool) bool {
	var errs []*Error
	outer := c.unitErrs
	c.unitErrs = &errs
	ok := f()
	c.unitErrs = outer
	if len(errs) == 0 {
		return ok
	}
	if c.opt.SkipUnsupported && outer == nil {
		for _, e := range errs {
			c.notef(e.Line, e.Key, "%s skipped: %s", what, e.Reason)
		}
		return false
	}
	for _, e := range errs {
		c.errorf(e.Line, e.Key, "%s", e.Reason)
	}
	return false
}

// Convert converts one TracingPolicy file. name is the file name used in
// errors. The error joins one *Error per problem, by line.
func Convert(name string, data []byte, opt Options) (*Result, error) {
	c := &converter{file: name, opt: opt, noted: map[string]bool{}}
	root, err := c.document(data)
	if err != nil {
		return nil, err
	}
	res := c.policy(root)
	if len(c.errs) > 0 {
		sort.SliceStable(c.errs, func(i, j int) bool { return c.errs[i].Line < c.errs[j].Line })
		out := make([]error, len(c.errs))
		for i, e := range c.errs {
			out[i] = e
		}
		return nil, errors.Join(out...)
	}
	res.Notes = c.notes
	return res, nil
}

func (c *converter) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, &Error{File: c.file, Reason: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: c.file, Line: extra.Line, Reason: "more than one YAML document; put one TracingPolicy per file"}
	} else if !errors.Is(err, io.EOF) {
		return nil, &Error{File: c.file, Reason: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: c.file, Reason: "a TracingPolicy must be a mapping"}
	}
	return doc.Content[0], nil
}

// fields walks a mapping: known keys go to set, other keys are errors with
// the reason unsupported gives (or "unknown key").
func (c *converter) fields(n *yaml.Node, key string, known map[string]bool, set func(name, key string, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		c.errorf(n.Line, key, "must be a mapping")
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ck := k.Value
		if key != "" {
			ck = key + "." + k.Value
		}
		supported, isKnown := known[k.Value]
		first, dup := seen[k.Value]
		seen[k.Value] = k.Line
		switch {
		case dup:
			c.errorf(k.Line, ck, "duplicate key (first at line %d)", first)
		case !isKnown:
			c.errorf(k.Line, ck, "unknown key")
		case !supported:
			c.errorf(k.Line, ck, "%s is not supported", k.Value)
		default:
			set(k.Value, ck, v)
		}
	}
}

func keys(supported []string, unsupported ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range supported {
		m[k] = true
	}
	for _, k := range unsupported {
		m[k] = false
	}
	return m
}

func (c *converter) str(v *yaml.Node, key string) string {
	if v.Kind != yaml.ScalarNode {
		c.errorf(v.Line, key, "must be a string")
		return ""
	}
	return v.Value
}

func (c *converter) list(v *yaml.Node, key string) []*yaml.Node {
	if v.Kind != yaml.SequenceNode {
		c.errorf(v.Line, key, "must be a list")
		return nil
	}
	return v.Content
}

func (c *converter) strs(v *yaml.Node, key string) []string {
	var out []string
	for i, n := range c.list(v, key) {
		out = append(out, c.str(n, fmt.Sprintf("%s[%d]", key, i)))
	}
	return out
}

func (c *converter) boolean(v *yaml.Node, key string) bool {
	var b bool
	if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil {
		c.errorf(v.Line, key, "must be true or false")
	}
	return b
}

func (c *converter) integer(v *yaml.Node, key string) (int, bool) {
	var x int
	if v.Kind != yaml.ScalarNode || v.Decode(&x) != nil || x < 0 {
		c.errorf(v.Line, key, "must be a non-negative integer")
		return 0, false
	}
	return x, true
}

type spec struct {
	name, namespace string
	nameLine        int
	kind            string
	mode            string
	modeLine        int
	podLabels       map[string]string
	podLine         int
	rules           []*vrule
}

var (
	topKeys  = keys([]string{"apiVersion", "kind", "metadata", "spec"})
	metaKeys = keys([]string{"name", "namespace", "annotations", "labels"})
	specKeys = keys([]string{"kprobes", "tracepoints", "lsmhooks", "fentries", "options", "podSelector"},
		"uprobes", "usdts", "loader", "containerSelector", "hostSelector", "lists", "enforcers", "selectorsMacros")
	hookKeys = keys([]string{"call", "syscall", "return", "message", "args", "returnArg", "selectors", "tags", "ignore", "data"},
		"returnArgAction")
	tpKeys  = keys([]string{"subsystem", "event", "message", "args", "selectors", "tags", "raw"})
	lsmKeys = keys([]string{"hook", "message", "args", "selectors", "tags"})
	argKeys = keys([]string{"index", "type", "label", "resolve", "sizeArgIndex", "returnCopy", "maxData", "source", "btfType"})
	selKeys = keys([]string{"matchArgs", "matchActions", "matchBinaries"},
		"matchPIDs", "matchData", "matchReturnArgs", "matchReturnActions", "matchParentBinaries", "matchNamespaces",
		"matchNamespaceChanges", "matchCapabilities", "matchCapabilityChanges", "macros")
	matchArgKeys = keys([]string{"index", "args", "operator", "values"})
	binKeys      = keys([]string{"operator", "values"}, "followChildren")
	actionKeys   = keys([]string{"action", "argError", "argSig", "rateLimit", "rateLimitScope"},
		"argFd", "argName", "argUrl", "argFqdn", "argSock", "argIndex", "argValue", "argRegs", "kernelStackTrace", "userStackTrace", "imaHash")
)

func (c *converter) policy(root *yaml.Node) *Result {
	s := &spec{}
	var specNode *yaml.Node
	var specKey string
	c.fields(root, "", topKeys, func(name, key string, v *yaml.Node) {
		switch name {
		case "apiVersion":
			if api := c.str(v, key); !strings.HasPrefix(api, "cilium.io/") {
				c.errorf(v.Line, key, "%q is not a Tetragon policy (cilium.io/v1alpha1)", api)
			}
		case "kind":
			s.kind = c.str(v, key)
			if s.kind != "TracingPolicy" && s.kind != "TracingPolicyNamespaced" {
				c.errorf(v.Line, key, "kind %q is not supported (TracingPolicy, TracingPolicyNamespaced)", s.kind)
			}
		case "metadata":
			c.fields(v, key, metaKeys, func(name, key string, v *yaml.Node) {
				switch name {
				case "name":
					s.name, s.nameLine = c.str(v, key), v.Line
				case "namespace":
					s.namespace = c.str(v, key)
				}
			})
		case "spec":
			specNode, specKey = v, key
		}
	})
	if s.name == "" {
		c.errorf(root.Line, "metadata.name", "required")
	}
	if s.kind == "TracingPolicyNamespaced" && s.namespace == "" {
		c.errorf(root.Line, "metadata.namespace", "required for a TracingPolicyNamespaced")
	}
	if s.kind != "TracingPolicyNamespaced" {
		s.namespace = ""
	}
	if specNode == nil {
		c.errorf(root.Line, "spec", "required")
		return nil
	}
	hooks := 0
	c.fields(specNode, specKey, specKeys, func(name, key string, v *yaml.Node) {
		switch name {
		case "options":
			c.options(s, v, key)
		case "podSelector":
			c.podSelector(s, v, key)
		default:
			for i, h := range c.list(v, key) {
				hooks++
				hk := fmt.Sprintf("%s[%d]", key, i)
				var rs []*vrule
				if c.unit(h.Line, hk, "hook", func() bool { rs = c.hook(name, h, hk); return true }) {
					s.rules = append(s.rules, rs...)
				}
			}
		}
	})
	if hooks == 0 && len(c.errs) == 0 {
		c.errorf(specNode.Line, specKey, "no kprobes, tracepoints or lsmhooks: nothing to convert")
	}
	if len(c.errs) > 0 {
		return nil
	}
	if len(s.rules) == 0 {
		c.errorf(specNode.Line, specKey, "no hook converted")
		return nil
	}
	return c.emit(s)
}

func (c *converter) options(s *spec, v *yaml.Node, key string) {
	for i, o := range c.list(v, key) {
		ok := fmt.Sprintf("%s[%d]", key, i)
		var name, value string
		c.fields(o, ok, keys([]string{"name", "value"}), func(n, k string, v *yaml.Node) {
			if n == "name" {
				name = c.str(v, k)
			} else {
				value = c.str(v, k)
			}
		})
		if name == "policy-mode" {
			switch value {
			case "monitor", "enforce":
				s.mode, s.modeLine = value, o.Line
			default:
				c.errorf(o.Line, ok, "policy-mode must be monitor or enforce, got %q", value)
			}
			continue
		}
		c.notef(o.Line, ok, "option %s ignored (a Tetragon loader setting)", name)
	}
}

func (c *converter) podSelector(s *spec, v *yaml.Node, key string) {
	s.podLine = v.Line
	c.fields(v, key, keys([]string{"matchLabels"}, "matchExpressions"), func(_, k string, v *yaml.Node) {
		if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
			c.errorf(v.Line, k, "must be a non-empty mapping of labels")
			return
		}
		s.podLabels = map[string]string{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			s.podLabels[v.Content[i].Value] = v.Content[i+1].Value
		}
	})
}

// hookArgs reads a hook's args: index -> type, and position -> index (for
// matchArgs' args:).
type hookArgs struct {
	types map[int]string
	order []int
}

func (c *converter) args(v *yaml.Node, key string) hookArgs {
	a := hookArgs{types: map[int]string{}}
	for i, n := range c.list(v, key) {
		ak := fmt.Sprintf("%s[%d]", key, i)
		idx, typ := -1, ""
		c.fields(n, ak, argKeys, func(name, k string, v *yaml.Node) {
			switch name {
			case "index":
				if x, ok := c.integer(v, k); ok {
					idx = x
				}
			case "type":
				typ = c.str(v, k)
			}
		})
		a.types[idx] = typ
		a.order = append(a.order, idx)
	}
	return a
}

// hook converts one kprobe, fentry, tracepoint or LSM hook into rules.
func (c *converter) hook(section string, h *yaml.Node, key string) []*vrule {
	var call, subsystem, event, hookName string
	var syscall bool
	var args hookArgs
	var selectors *yaml.Node
	var selKey string
	known := hookKeys
	switch section {
	case "tracepoints":
		known = tpKeys
	case "lsmhooks":
		known = lsmKeys
	}
	c.fields(h, key, known, func(name, k string, v *yaml.Node) {
		switch name {
		case "call":
			call = c.str(v, k)
		case "hook":
			hookName = c.str(v, k)
		case "subsystem":
			subsystem = c.str(v, k)
		case "event":
			event = c.str(v, k)
		case "syscall":
			syscall = c.boolean(v, k)
		case "args":
			args = c.args(v, k)
		case "selectors":
			selectors, selKey = v, k
		case "raw", "return":
			c.boolean(v, k)
		}
	})
	var tg target
	var found bool
	var label string
	switch section {
	case "tracepoints":
		label = subsystem + "/" + event
		if sc, ok := strings.CutPrefix(label, "syscalls/sys_enter_"); ok {
			tg, found = syscalls()[sc]
			// The tracepoint's fields are not the call's arguments.
			tg.args = nil
		} else {
			tg, found = tracepoints()[label]
		}
	case "lsmhooks":
		label = hookName
		fn := "security_" + hookName
		if alias, ok := lsmFunctions[hookName]; ok {
			fn = alias
		}
		tg, found = kernelHooks()[fn]
	default:
		label = call
		if syscall {
			tg, found = syscalls()[syscallName(call)]
		} else {
			tg, found = kernelHooks()[call]
		}
	}
	if label == "" || label == "/" {
		c.errorf(h.Line, key, "names no function")
		return nil
	}
	if !found {
		c.errorf(h.Line, key, "%s is not supported: it maps onto no Vigil event", label)
		return nil
	}
	if tg.args != nil && args.types == nil {
		args.types = map[int]string{}
	}
	base := ruleName(label)
	var sels []*yaml.Node
	if selectors != nil {
		sels = c.list(selectors, selKey)
	}
	if len(sels) == 0 {
		if tg.needs != noNeed {
			c.errorf(h.Line, key, "%s needs %s", label, tg.need)
			return nil
		}
		r := &vrule{name: base, line: h.Line, action: "post"}
		return c.finish(tg, r, label, h.Line, key, nil)
	}
	var out []*vrule
	for j, sn := range sels {
		sk := fmt.Sprintf("%s[%d]", selKey, j)
		name := base
		if len(sels) > 1 {
			name = fmt.Sprintf("%s-%d", base, j)
		}
		var rs []*vrule
		if c.unit(sn.Line, sk, "selector", func() bool { rs = c.selector(tg, args, label, name, sn, sk); return true }) {
			out = append(out, rs...)
		}
	}
	return out
}

// ruleName makes a Vigil rule name of a hook name: lowercase, no leading
// underscores, '/' as '.', at most 60 characters.
func ruleName(s string) string {
	s = strings.ToLower(strings.TrimLeft(s, "_"))
	s = strings.ReplaceAll(s, "/", ".")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	out := strings.Trim(b.String(), "._-")
	if len(out) > 60 {
		out = strings.Trim(out[:60], "._-")
	}
	if out == "" {
		out = "hook"
	}
	return out
}

// argFilter is what a selector's matchArgs say, per role.
type argFilter struct {
	paths, bins, cidrs []string
	suffixes           []string // Postfix on a path: the file name's end (name_suffixes)
	ports              []int
	mask               []string // "read", "write"
	pathsAt, netAt     int
	seen               map[int]bool
}

func (c *converter) selector(tg target, args hookArgs, label, name string, sn *yaml.Node, key string) []*vrule {
	f := &argFilter{seen: map[int]bool{}}
	r := &vrule{name: name, line: sn.Line, action: "post"}
	c.fields(sn, key, selKeys, func(field, k string, v *yaml.Node) {
		switch field {
		case "matchArgs":
			for i, m := range c.list(v, k) {
				c.matchArg(tg, args, label, f, m, fmt.Sprintf("%s[%d]", k, i))
			}
		case "matchBinaries":
			items := c.list(v, k)
			if len(items) > 1 {
				c.errorf(v.Line, k, "more than one matchBinaries entry (their intersection) is not supported")
				return
			}
			for i, m := range items {
				r.binSel = c.matchBinaries(m, fmt.Sprintf("%s[%d]", k, i))
			}
			if tg.event == "process.exec" {
				c.errorf(v.Line, k, "on %s, matchBinaries names the program calling execve; a Vigil policy's selector sees the program executed", label)
			}
		case "matchActions":
			for i, m := range c.list(v, k) {
				c.matchAction(tg, r, m, fmt.Sprintf("%s[%d]", k, i))
			}
		}
	})
	if tg.needs != noNeed && !f.seen[tg.needs*2] {
		c.errorf(sn.Line, key, "%s needs %s", label, tg.need)
	}
	return c.finish(tg, r, label, sn.Line, key, f)
}

// finish turns a rule with its filters into the Vigil rules of tg.
func (c *converter) finish(tg target, r *vrule, label string, line int, key string, f *argFilter) []*vrule {
	if f == nil {
		f = &argFilter{seen: map[int]bool{}}
	}
	note := func(what string) {
		if !c.noted[label+what] {
			c.noted[label+what] = true
			c.notef(line, key, "%s: %s", label, what)
		}
	}
	if tg.narrower != "" {
		note(tg.narrower)
	}
	if tg.wider != "" {
		if r.action != "post" {
			c.errorf(line, key, "%s with %s: %s, so the action would apply to more than the hook sees", label, r.action, tg.wider)
			return nil
		}
		note(tg.wider)
	}
	r.paths, r.bins, r.cidrs, r.ports, r.suffixes = f.paths, f.bins, f.cidrs, f.ports, f.suffixes
	r.pathsAt, r.netAt = f.pathsAt, f.netAt
	rules := []*vrule{r}
	switch tg.event {
	case "file.permission":
		// MAY_READ is reported at the open for reading; MAY_WRITE at each write.
		mask := f.mask
		if len(mask) == 0 {
			mask = []string{"read", "write"}
		}
		rules = nil
		for _, m := range mask {
			x := *r
			if m == "read" {
				x.event, x.access = "file.open", []string{"read"}
			} else {
				x.event = "file.write"
			}
			if len(mask) > 1 {
				x.name = r.name + "-" + m
			}
			rules = append(rules, &x)
		}
		note("a read is reported when the file is opened for reading (file.open), a write at each write (file.write)")
	default:
		r.event = tg.event
	}
	for _, x := range rules {
		if x.action == "deny" {
			row, _ := catalog.Lookup(x.event)
			if len(row.Deny.Hooks) == 0 {
				c.errorf(line, key, "Override on %s: Vigil cannot refuse %s (%s)", label, x.event, row.Deny.Needs)
				return nil
			}
		}
	}
	return rules
}

func (c *converter) matchArg(tg target, args hookArgs, label string, f *argFilter, m *yaml.Node, key string) {
	idx := -1
	var op string
	var values []string
	var valLine int
	c.fields(m, key, matchArgKeys, func(name, k string, v *yaml.Node) {
		switch name {
		case "index":
			if x, ok := c.integer(v, k); ok && idx < 0 {
				idx = x
			}
		case "args":
			pos := c.list(v, k)
			if len(pos) != 1 {
				c.errorf(v.Line, k, "exactly one argument is supported")
				return
			}
			if x, ok := c.integer(pos[0], k); ok {
				if x >= len(args.order) {
					c.errorf(v.Line, k, "args[%d] is not declared", x)
					return
				}
				idx = args.order[x]
			}
		case "operator":
			op = c.str(v, k)
		case "values":
			values, valLine = c.strs(v, k), v.Line
		}
	})
	if idx < 0 || op == "" {
		c.errorf(m.Line, key, "needs index (or args) and operator")
		return
	}
	if _, ok := args.types[idx]; !ok && tg.args != nil {
		c.errorf(m.Line, key, "index %d is not declared in args", idx)
		return
	}
	rl, ok := tg.args[idx]
	if !ok {
		c.errorf(m.Line, key, "a filter on argument %d of %s is not supported (%s has no such filter)", idx, label, eventOf(tg))
		return
	}
	// A socket argument takes one address and one port filter; any other
	// argument one filter.
	slot := idx * 2
	if (rl == roleSock || rl == roleSockaddr) && strings.HasSuffix(op, "Port") {
		slot++
	}
	if f.seen[slot] {
		c.errorf(m.Line, key, "a second filter on argument %d (their intersection) is not supported", idx)
		return
	}
	f.seen[slot] = true
	if len(values) == 0 {
		c.errorf(m.Line, key, "values: required")
		return
	}
	unsupported := func(why string) { c.errorf(m.Line, key, "operator %s is not supported%s", op, why) }
	switch rl {
	case rolePath:
		switch op {
		case "Equal":
			f.paths = append(f.paths, values...)
		case "Prefix":
			for _, p := range values {
				if strings.HasSuffix(p, "/") {
					f.paths = append(f.paths, p)
				} else {
					f.paths = append(f.paths, p, p+"/")
				}
			}
		case "Postfix":
			// The path ends with the value: Vigil's kernel tests the end of the
			// file's name (name_suffixes), so a value may hold no directory
			// part; "/NAME" is that name exactly.
			for _, v := range values {
				if v == "" || v == "/" || strings.Contains(v[1:], "/") {
					c.errorf(valLine, key+".values", "%q: a Postfix must end a file name (no directory part except a leading /)", v)
					continue
				}
				f.suffixes = append(f.suffixes, v)
			}
			f.pathsAt = m.Line
			return
		default:
			unsupported(" on a path: Vigil's kernel path filter takes exact paths (Equal), directories (Prefix) and file name ends (Postfix)")
			return
		}
		for _, p := range values {
			if !strings.HasPrefix(p, "/") {
				c.errorf(valLine, key+".values", "%q: only absolute paths can be filtered", p)
			}
		}
		f.pathsAt = m.Line
	case roleExecPath:
		if op != "Equal" {
			unsupported(" on the executed file: Vigil matches exact paths of the executed file")
			return
		}
		f.bins = append(f.bins, values...)
		f.pathsAt = m.Line
	case roleMask:
		if op != "Equal" {
			unsupported(" on the access mask: only Equal 4 (MAY_READ) and 2 (MAY_WRITE)")
			return
		}
		for _, v := range values {
			switch v {
			case "4", "0x4", "0x04":
				f.mask = append(f.mask, "read")
			case "2", "0x2", "0x02":
				f.mask = append(f.mask, "write")
			default:
				c.errorf(valLine, key+".values", "mask %s is not supported (4 MAY_READ or 2 MAY_WRITE)", v)
			}
		}
	case roleSock, roleSockaddr:
		addr, port := op == "DAddr", op == "DPort"
		if rl == roleSockaddr {
			addr, port = addr || op == "SAddr", port || op == "SPort"
		}
		switch {
		case addr:
			for _, v := range values {
				cidr, err := toCIDR(v)
				if err != nil {
					c.errorf(valLine, key+".values", "%s", err)
					continue
				}
				f.cidrs = append(f.cidrs, cidr)
			}
		case port:
			for _, v := range values {
				p, err := strconv.Atoi(v)
				if err != nil || p < 1 || p > 65535 {
					c.errorf(valLine, key+".values", "port %q is not supported (a single port 1..65535; ranges are not)", v)
					continue
				}
				f.ports = append(f.ports, p)
			}
		default:
			unsupported(" on " + label + ": network.connect filters the peer address (DAddr) and port (DPort)")
			return
		}
		f.netAt = m.Line
	case roleUID:
		if op != "Equal" || !allZero(values) {
			c.errorf(m.Line, key, "only Equal 0 is supported: privilege.change reports changes to id 0")
		}
	case roleCaps:
		if op != "NotEqual" || !allZero(values) {
			c.errorf(m.Line, key, "only NotEqual 0 is supported: privilege.change reports capsets that add capabilities")
		}
	case roleReadID:
		if op != "Equal" || len(values) != 1 || values[0] != "2" {
			c.errorf(m.Line, key, "only Equal 2 (the module id) is supported: kernel.module_load reports module loads")
		}
	case roleBPFCmd:
		if op != "Equal" || len(values) != 1 || values[0] != "5" {
			c.errorf(m.Line, key, "only Equal 5 (BPF_PROG_LOAD) is supported: bpf.load reports program loads")
		}
	case rolePtraceReq:
		for _, v := range values {
			if op != "Equal" || (v != "16" && v != "0x10" && v != "16902" && v != "0x4206") {
				c.errorf(m.Line, key, "only Equal 16 (PTRACE_ATTACH) and 0x4206 (PTRACE_SEIZE) are supported: process.ptrace reports attaches")
				break
			}
		}
	}
}

func eventOf(tg target) string {
	if tg.event == "file.permission" {
		return "file.open/file.write"
	}
	return tg.event
}

func allZero(vs []string) bool {
	for _, v := range vs {
		if v != "0" {
			return false
		}
	}
	return len(vs) > 0
}

func toCIDR(v string) (string, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		if p.Masked() != p {
			return "", fmt.Errorf("%s has host bits set", v)
		}
		return p.String(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return "", fmt.Errorf("%q is not an address or CIDR", v)
	}
	return netip.PrefixFrom(a, a.BitLen()).String(), nil
}

func (c *converter) matchBinaries(m *yaml.Node, key string) binSel {
	b := binSel{line: m.Line}
	var op string
	var values []string
	c.fields(m, key, binKeys, func(name, k string, v *yaml.Node) {
		switch name {
		case "operator":
			op = c.str(v, k)
		case "values":
			values = c.strs(v, k)
		}
	})
	if len(values) == 0 {
		c.errorf(m.Line, key, "values: required")
		return b
	}
	switch op {
	case "In":
		b.exact = values
	case "Prefix":
		for _, v := range values {
			if !strings.HasSuffix(v, "/") {
				c.errorf(m.Line, key, "Prefix %q is not supported: a Vigil binary prefix is a directory ending in /", v)
			}
		}
		b.prefixes = values
	default:
		c.errorf(m.Line, key, "operator %s is not supported: a Vigil policy selects binaries by exact path (In) or directory (Prefix), it cannot exclude them", op)
	}
	return b
}

func (c *converter) matchAction(tg target, r *vrule, m *yaml.Node, key string) {
	var action string
	var argSig, argErr *yaml.Node
	c.fields(m, key, actionKeys, func(name, k string, v *yaml.Node) {
		switch name {
		case "action":
			action = c.str(v, k)
		case "argSig":
			argSig = v
		case "argError":
			argErr = v
		case "rateLimit", "rateLimitScope":
			c.notef(v.Line, k, "%s ignored: Vigil reports every match", name)
		}
	})
	set := func(a string) {
		if r.action != "post" && r.action != a {
			c.errorf(m.Line, key, "a second enforcement action (%s after %s): a Vigil rule has one action", action, r.action)
			return
		}
		r.action = a
	}
	switch action {
	case "Post":
	case "Sigkill":
		set("kill")
	case "Signal":
		if argSig == nil || (argSig.Value != "9" && argSig.Value != "SIGKILL") {
			c.errorf(m.Line, key, "Signal is supported with argSig 9 (SIGKILL) only")
			return
		}
		set("kill")
	case "Override":
		if argErr != nil && argErr.Value != "-1" {
			c.notef(argErr.Line, key+".argError", "Vigil refuses with EPERM (-1), not %s", argErr.Value)
		}
		set("deny")
	case "":
		c.errorf(m.Line, key, "action: required")
	default:
		c.errorf(m.Line, key, "action %s is not supported (Post, Sigkill, Signal 9, Override)", action)
	}
}
