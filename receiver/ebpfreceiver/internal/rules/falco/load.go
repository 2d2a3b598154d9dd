package falco

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

// Rule is a loaded rule.
type Rule struct {
	Name     string
	Desc     string
	Priority Priority
	Tags     []string
	// Ruleset is the name of the file that defined the rule.
	Ruleset string
	// Line is where the rule was defined.
	Line int
	// Condition is the rule's condition with its exceptions ("and not (...)").
	Condition cond.Node
	Predicate *rules.Predicate
	// OutputFormat is the output text; Output its compiled form.
	OutputFormat string
	Output       *rules.Output
}

// Skipped is a rule that did not load.
type Skipped struct {
	Rule   string
	File   string
	Line   int
	Reason string
	// Disabled: the rule compiled but is disabled (enabled: false).
	Disabled bool
}

func (s Skipped) String() string {
	return fmt.Sprintf("%s:%d: rule %q: %s", s.File, s.Line, s.Rule, s.Reason)
}

// Note is something the loader ignored or changed, worth telling the user.
type Note struct {
	File string
	Line int
	Msg  string
}

func (n Note) String() string { return fmt.Sprintf("%s:%d: %s", n.File, n.Line, n.Msg) }

// Result is what a load produced. A file that cannot be read at all is in Errors; the other
// files load regardless.
type Result struct {
	Rules   []*Rule
	Skipped []Skipped
	Notes   []Note
	Errors  []error
	// Defs are the collected lists and the macros that parsed.
	Defs *rules.Defs
}

// Loaded is the number of rules that loaded.
func (r *Result) Loaded() int { return len(r.Rules) }

// LoadFiles reads and loads rules files in order; later files append to and override
// earlier ones, as in Falco.
func LoadFiles(paths ...string) *Result {
	var files []File
	var errs []error
	for _, p := range paths {
		st, err := os.Stat(p)
		if err == nil && st.Size() > MaxFileSize {
			err = fmt.Errorf("larger than %d bytes", MaxFileSize)
		}
		var data []byte
		if err == nil {
			data, err = os.ReadFile(p)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		files = append(files, File{Name: p, Data: data})
	}
	r := Load(files...)
	r.Errors = append(errs, r.Errors...)
	return r
}

// textSeg is one piece of a condition assembled by appends.
type textSeg struct {
	start int
	src   src
}

type text struct {
	s    string
	segs []textSeg
}

func newText(s string, at src) text { return text{s: s, segs: []textSeg{{0, at}}} }

func (t text) append(s string, at src) text {
	start := len(t.s) + 1
	return text{s: t.s + " " + s, segs: append(append([]textSeg(nil), t.segs...), textSeg{start, at})}
}

// where maps an offset of the assembled text to file:line.
func (t text) where(off int) (string, int) {
	seg := t.segs[0]
	for _, s := range t.segs {
		if s.start <= off {
			seg = s
		}
	}
	return seg.src.file, seg.src.lineOf(off - seg.start)
}

type macroDef struct {
	name string
	cond text
	file string
	line int
}

type exceptionDef struct {
	exc  rules.Exception
	file string
	line int
}

type ruleDef struct {
	name        string
	file        string
	line        int
	desc        string
	output      string
	priority    string
	tags        []string
	source      string
	enabled     bool
	cond        text
	hasCond     bool
	exceptions  []*exceptionDef
	problem     string // a reason to skip found while collecting
	problemAt   int
	problemFile string
}

type collector struct {
	res       *Result
	extra     *rules.Defs
	listAt    map[string]string // where each list was first defined
	lists     map[string][]string
	macros    map[string]*macroDef
	macroList []string
	rules     map[string]*ruleDef
	ruleList  []string
}

// Load loads rules files given as bytes, in order.
func Load(files ...File) *Result { return LoadWith(nil, files...) }

// LoadWith is Load with definitions made outside rules files (a policy file's
// lists: and macros:): the rules see them under every name the rules files do
// not define themselves.
func LoadWith(extra *rules.Defs, files ...File) *Result {
	c := collect(files)
	c.extra = extra
	c.compile()
	return c.res
}

func collect(files []File) *collector {
	c := &collector{res: &Result{}, lists: map[string][]string{}, macros: map[string]*macroDef{}, rules: map[string]*ruleDef{}}
	for _, f := range files {
		items, err := read(f)
		if err != nil {
			c.res.Errors = append(c.res.Errors, err)
			continue
		}
		for _, it := range items {
			c.collect(it)
		}
	}
	return c
}

// Definitions are the lists and macros of a set of rules files, after their
// appends and overrides, with where each was defined ("file:line").
type Definitions struct {
	Lists       map[string][]string
	Macros      map[string]cond.Node
	ListFrom    map[string]string
	MacroFrom   map[string]string
	BadMacros   map[string]string // macros that do not parse, with the reason
	FilesFailed []error
}

// CollectDefinitions reads rules files for their lists and macros only (the
// rules are not compiled).
func CollectDefinitions(files ...File) *Definitions {
	c := collect(files)
	d := &Definitions{Lists: c.lists, Macros: map[string]cond.Node{}, ListFrom: map[string]string{},
		MacroFrom: map[string]string{}, BadMacros: map[string]string{}, FilesFailed: c.res.Errors}
	for name, where := range c.listAt {
		d.ListFrom[name] = where
	}
	for _, name := range c.macroList {
		m := c.macros[name]
		d.MacroFrom[name] = fmt.Sprintf("%s:%d", m.file, m.line)
		n, err := cond.Parse(m.cond.s)
		if err != nil {
			d.BadMacros[name] = c.condError(m.cond, err)
			continue
		}
		d.Macros[name] = n
	}
	return d
}

func (c *collector) note(file string, line int, format string, args ...any) {
	c.res.Notes = append(c.res.Notes, Note{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (c *collector) noteErr(err error) {
	file, line, msg := splitWhere(err.Error())
	c.res.Notes = append(c.res.Notes, Note{File: file, Line: line, Msg: msg})
}

// splitWhere splits "file:line: msg".
func splitWhere(s string) (string, int, string) {
	i := strings.Index(s, ": ")
	if i < 0 {
		return "", 0, s
	}
	head := s[:i]
	j := strings.LastIndexByte(head, ':')
	if j < 0 {
		return "", 0, s
	}
	var line int
	if _, err := fmt.Sscanf(head[j+1:], "%d", &line); err != nil {
		return "", 0, s
	}
	return head[:j], line, s[i+2:]
}

// overrides reads the override mapping: key -> append or replace.
func overrides(it *item) (map[string]string, error) {
	n, ok := it.keys["override"]
	if !ok {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: override must be a mapping", it.file, n.Line)
	}
	out := map[string]string{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j].Value, n.Content[j+1].Value
		if v != "append" && v != "replace" {
			return nil, fmt.Errorf("%s:%d: override.%s must be append or replace", it.file, n.Content[j+1].Line, k)
		}
		out[k] = v
	}
	return out, nil
}

func (c *collector) collect(it *item) {
	switch it.kind {
	case "required_engine_version":
		v, _, _ := it.str("required_engine_version")
		c.note(it.file, it.line, "required_engine_version %s is not checked", v)
		return
	case "required_plugin_versions":
		c.note(it.file, it.line, "required_plugin_versions ignored: plugins are not supported")
		return
	case "":
		keys := make([]string, 0, len(it.keys))
		for k := range it.keys {
			keys = append(keys, k)
		}
		c.note(it.file, it.line, "item ignored: it is not a rule, macro or list (keys: %s)", strings.Join(sortStrings(keys), ", "))
		return
	}
	if it.name == "" {
		c.note(it.file, it.line, "%s ignored: its name must be a non-empty string", it.kind)
		return
	}
	ov, err := overrides(it)
	if err != nil {
		if it.kind == "rule" {
			c.skipAt(it, it.line, err)
		} else {
			c.noteErr(err)
		}
		return
	}
	appendOld, _, err := it.boolean("append")
	if err != nil {
		if it.kind == "rule" {
			c.skipAt(it, it.line, err)
		} else {
			c.noteErr(err)
		}
		return
	}
	switch it.kind {
	case "list":
		c.collectList(it, ov, appendOld)
	case "macro":
		c.collectMacro(it, ov, appendOld)
	case "rule":
		c.collectRule(it, ov, appendOld)
	}
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

func (c *collector) collectList(it *item, ov map[string]string, appendOld bool) {
	n, ok := it.keys["items"]
	if !ok {
		c.note(it.file, it.line, "list %q ignored: no items", it.name)
		return
	}
	items, err := strList(n, it.file, "items")
	if err != nil {
		c.noteErr(fmt.Errorf("list %q: %w", it.name, err))
		return
	}
	old, exists := c.lists[it.name]
	if appendOld || ov["items"] == "append" {
		if !exists {
			c.note(it.file, it.line, "list %q ignored: it appends to a list that is not defined", it.name)
			return
		}
		c.lists[it.name] = append(append([]string(nil), old...), items...)
		return
	}
	c.lists[it.name] = items
	if c.listAt == nil {
		c.listAt = map[string]string{}
	}
	if _, ok := c.listAt[it.name]; !ok {
		c.listAt[it.name] = fmt.Sprintf("%s:%d", it.file, it.line)
	}
}

func (c *collector) collectMacro(it *item, ov map[string]string, appendOld bool) {
	n, ok := it.keys["condition"]
	if !ok || n.Kind != yaml.ScalarNode {
		c.note(it.file, it.line, "macro %q ignored: condition must be a string", it.name)
		return
	}
	at := src{file: it.file, node: n, raw: it.raw}
	old, exists := c.macros[it.name]
	if appendOld || ov["condition"] == "append" {
		if !exists {
			c.note(it.file, it.line, "macro %q ignored: it appends to a macro that is not defined", it.name)
			return
		}
		old.cond = old.cond.append(n.Value, at)
		return
	}
	if !exists {
		c.macroList = append(c.macroList, it.name)
	}
	c.macros[it.name] = &macroDef{name: it.name, cond: newText(n.Value, at), file: it.file, line: it.line}
}

var ruleKeys = map[string]bool{
	"rule": true, "desc": true, "condition": true, "output": true, "priority": true, "tags": true,
	"enabled": true, "exceptions": true, "source": true, "append": true, "override": true,
	"warn_evttypes": true, "skip-if-unknown-filter": true, "capture": true, "capture_duration": true,
}

func (c *collector) skipAt(it *item, line int, err error) {
	_, l, msg := splitWhere(err.Error())
	if l != 0 {
		line = l
	}
	c.res.Skipped = append(c.res.Skipped, Skipped{Rule: it.name, File: it.file, Line: line, Reason: msg})
}

func (c *collector) collectRule(it *item, ov map[string]string, appendOld bool) {
	for k := range it.keys {
		if !ruleKeys[k] {
			c.note(it.file, it.key[k].Line, "rule %q: key %s ignored", it.name, k)
		}
	}
	old, exists := c.rules[it.name]
	onlyEnabled := len(it.keys) == 2 && it.keys["enabled"] != nil
	if appendOld || ov != nil || (exists && onlyEnabled) {
		if !exists {
			c.skipAt(it, it.line, errors.New("it appends to or overrides a rule that is not defined"))
			return
		}
		if err := c.modifyRule(old, it, ov, appendOld); err != nil && old.problem == "" {
			// A broken append or override makes the rule unusable: skip it, naming the item.
			old.problem, old.problemAt = splitReason(err, it.line)
			old.problemFile = it.file
		}
		return
	}
	if onlyEnabled {
		c.skipAt(it, it.line, errors.New("enabled: given for a rule that is not defined"))
		return
	}
	r := &ruleDef{name: it.name, file: it.file, line: it.line, enabled: true}
	if exists {
		c.note(it.file, it.line, "rule %q replaces the rule defined at %s:%d", it.name, old.file, old.line)
		for i, n := range c.ruleList {
			if n == it.name {
				c.ruleList = append(c.ruleList[:i], c.ruleList[i+1:]...)
				break
			}
		}
	}
	c.rules[it.name] = r
	c.ruleList = append(c.ruleList, it.name)
	if err := c.fillRule(r, it, nil); err != nil {
		r.problem, r.problemAt = splitReason(err, it.line)
		r.problemFile = it.file
	}
}

func splitReason(err error, line int) (string, int) {
	_, l, msg := splitWhere(err.Error())
	if l != 0 {
		line = l
	}
	return msg, line
}

// fillRule sets the rule's keys from the item; with ov (an override or append item) only
// the keys the override names are replaced or appended.
func (c *collector) fillRule(r *ruleDef, it *item, ov map[string]string) error {
	set := func(key string) bool { return ov == nil || ov[key] == "replace" }
	var errs []error
	if s, ok, err := it.str("desc"); err != nil {
		errs = append(errs, err)
	} else if ok && set("desc") {
		r.desc = s
	}
	if s, ok, err := it.str("output"); err != nil {
		errs = append(errs, err)
	} else if ok && set("output") {
		r.output = s
	}
	if s, ok, err := it.str("priority"); err != nil {
		errs = append(errs, err)
	} else if ok && set("priority") {
		r.priority = s
	}
	if s, ok, err := it.str("source"); err != nil {
		errs = append(errs, err)
	} else if ok && ov == nil {
		r.source = s
	}
	if b, ok, err := it.boolean("enabled"); err != nil {
		errs = append(errs, err)
	} else if ok && (ov == nil || ov["enabled"] == "replace" || len(it.keys) == 2) {
		r.enabled = b
	}
	if n, ok := it.keys["tags"]; ok {
		tags, err := strList(n, it.file, "tags")
		switch {
		case err != nil:
			errs = append(errs, err)
		case ov != nil && ov["tags"] == "append":
			r.tags = append(r.tags, tags...)
		case set("tags"):
			r.tags = tags
		}
	}
	if n, ok := it.keys["condition"]; ok {
		if n.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("%s:%d: condition must be a string", it.file, n.Line))
		} else {
			at := src{file: it.file, node: n, raw: it.raw}
			if ov == nil || ov["condition"] == "replace" {
				r.cond, r.hasCond = newText(n.Value, at), true
			}
		}
	}
	if n, ok := it.keys["exceptions"]; ok {
		excs, err := readExceptions(n, it.file)
		if err != nil {
			errs = append(errs, err)
		} else if ov == nil || ov["exceptions"] == "replace" {
			r.exceptions = excs
		}
	}
	return errors.Join(errs...)
}

// modifyRule applies an append (old style: condition and exceptions append) or an override.
func (c *collector) modifyRule(r *ruleDef, it *item, ov map[string]string, appendOld bool) error {
	if appendOld {
		ov = map[string]string{}
		for _, k := range []string{"condition", "exceptions"} {
			if _, ok := it.keys[k]; ok {
				ov[k] = "append"
			}
		}
		for _, k := range []string{"desc", "output", "priority", "tags"} {
			if _, ok := it.keys[k]; ok {
				c.note(it.file, it.key[k].Line, "rule %q: append: true appends only condition and exceptions; %s ignored", it.name, k)
			}
		}
	}
	for k := range ov {
		if _, ok := it.keys[k]; !ok {
			return fmt.Errorf("%s:%d: override.%s names a key the item does not give", it.file, it.line, k)
		}
	}
	for k := range it.keys {
		if k != "rule" && k != "append" && k != "override" && ov[k] == "" && !(k == "enabled" && len(it.keys) == 2) {
			c.note(it.file, it.key[k].Line, "rule %q: %s ignored: override does not name it", it.name, k)
		}
	}
	if err := c.fillRule(r, it, ov); err != nil {
		return err
	}
	if ov["condition"] == "append" {
		n := it.keys["condition"]
		if n.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s:%d: condition must be a string", it.file, n.Line)
		}
		r.cond = r.cond.append(n.Value, src{file: it.file, node: n, raw: it.raw})
	}
	if ov["exceptions"] == "append" {
		excs, err := readExceptions(it.keys["exceptions"], it.file)
		if err != nil {
			return err
		}
		for _, e := range excs {
			merged := false
			for _, old := range r.exceptions {
				if old.exc.Name == e.exc.Name {
					if len(e.exc.Fields) > 0 {
						return fmt.Errorf("%s:%d: exception %q: an appended exception of an existing name gives only values", e.file, e.line, e.exc.Name)
					}
					old.exc.Values = append(old.exc.Values, e.exc.Values...)
					merged = true
				}
			}
			if !merged {
				r.exceptions = append(r.exceptions, e)
			}
		}
	}
	return nil
}

// readExceptions reads Falco's exceptions list.
func readExceptions(n *yaml.Node, file string) ([]*exceptionDef, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: exceptions must be a list", file, n.Line)
	}
	var out []*exceptionDef
	for i, e := range n.Content {
		if e.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: exceptions[%d] must be a mapping", file, e.Line, i)
		}
		d := &exceptionDef{file: file, line: e.Line}
		d.exc.At = cond.Pos{Line: 1, Col: 1}
		single := false
		var values *yaml.Node
		for j := 0; j+1 < len(e.Content); j += 2 {
			k, v := e.Content[j].Value, e.Content[j+1]
			switch k {
			case "name":
				d.exc.Name = v.Value
			case "fields":
				if v.Kind == yaml.ScalarNode {
					d.exc.Fields, single = []string{v.Value}, true
				} else {
					fs, err := strList(v, file, fmt.Sprintf("exceptions[%d].fields", i))
					if err != nil {
						return nil, err
					}
					d.exc.Fields = fs
				}
			case "comps":
				if v.Kind == yaml.ScalarNode {
					d.exc.Comps = []string{v.Value}
				} else {
					cs, err := strList(v, file, fmt.Sprintf("exceptions[%d].comps", i))
					if err != nil {
						return nil, err
					}
					d.exc.Comps = cs
				}
			case "values":
				values = v
			default:
				return nil, fmt.Errorf("%s:%d: exceptions[%d]: unknown key %s", file, e.Content[j].Line, i, k)
			}
		}
		if d.exc.Name == "" {
			return nil, fmt.Errorf("%s:%d: exceptions[%d]: name is missing", file, e.Line, i)
		}
		if values != nil {
			if values.Kind != yaml.SequenceNode {
				return nil, fmt.Errorf("%s:%d: exceptions[%d].values must be a list", file, values.Line, i)
			}
			if single {
				// fields: f, comps: in, values: [a, b]  is  f in (a, b).
				if len(d.exc.Comps) == 0 {
					d.exc.Comps = []string{"in"}
				}
				items, err := strList(values, file, fmt.Sprintf("exceptions[%d].values", i))
				if err != nil {
					return nil, err
				}
				if op, _ := cond.ParseOp(d.exc.Comps[0]); op.IsList() {
					d.exc.Values = [][]rules.ExceptionValue{{{Items: items, List: true}}}
				} else {
					for _, it := range items {
						d.exc.Values = append(d.exc.Values, []rules.ExceptionValue{{Items: []string{it}}})
					}
				}
			} else {
				for ti, tuple := range values.Content {
					if tuple.Kind != yaml.SequenceNode {
						return nil, fmt.Errorf("%s:%d: exceptions[%d].values[%d] must be a list (one item per field)", file, tuple.Line, i, ti)
					}
					var row []rules.ExceptionValue
					for _, v := range tuple.Content {
						switch v.Kind {
						case yaml.ScalarNode:
							row = append(row, rules.ExceptionValue{Items: []string{v.Value}})
						case yaml.SequenceNode:
							items, err := strList(v, file, fmt.Sprintf("exceptions[%d].values[%d]", i, ti))
							if err != nil {
								return nil, err
							}
							row = append(row, rules.ExceptionValue{Items: items, List: true})
						default:
							return nil, fmt.Errorf("%s:%d: exceptions[%d].values[%d]: items must be strings or lists", file, v.Line, i, ti)
						}
					}
					d.exc.Values = append(d.exc.Values, row)
				}
			}
		}
		out = append(out, d)
	}
	return out, nil
}
