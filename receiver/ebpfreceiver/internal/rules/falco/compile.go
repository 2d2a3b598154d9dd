package falco

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

// compile parses the macros, then compiles every rule in definition order.
func (c *collector) compile() {
	defs := &rules.Defs{Lists: c.lists, Macros: map[string]cond.Node{}}
	badMacro := map[string]string{}
	for _, name := range c.macroList {
		m := c.macros[name]
		n, err := cond.Parse(m.cond.s)
		if err != nil {
			reason := c.condError(m.cond, err)
			badMacro[name] = reason
			c.note(m.file, m.line, "macro %q: %s", name, reason)
			continue
		}
		defs.Macros[name] = n
	}
	if c.extra != nil {
		lists := make(map[string][]string, len(c.lists)+len(c.extra.Lists))
		for name, items := range c.extra.Lists {
			lists[name] = items
		}
		for name, items := range c.lists { // the rules files' own win
			lists[name] = items
		}
		defs.Lists = lists
		for name, n := range c.extra.Macros {
			if _, own := c.macros[name]; !own {
				defs.Macros[name] = n
			}
		}
	}
	c.res.Defs = defs
	for _, name := range c.ruleList {
		r := c.rules[name]
		if r.problem != "" {
			c.res.Skipped = append(c.res.Skipped, Skipped{Rule: r.name, File: r.problemFile, Line: r.problemAt, Reason: r.problem})
			continue
		}
		rule, reason, line := c.compileRule(r, defs, badMacro)
		if reason != "" {
			c.res.Skipped = append(c.res.Skipped, Skipped{Rule: r.name, File: r.file, Line: line, Reason: reason})
			continue
		}
		if !r.enabled {
			c.res.Skipped = append(c.res.Skipped, Skipped{Rule: r.name, File: r.file, Line: r.line,
				Reason: "disabled (enabled: false)", Disabled: true})
			continue
		}
		c.res.Rules = append(c.res.Rules, rule)
	}
}

// condError renders a parse or compile error of an assembled condition as
// "file:line: message" resolved to the line of the offending term.
func (c *collector) condError(t text, err error) string {
	var perr *cond.Error
	var cerr *rules.Error
	switch {
	case errors.As(err, &perr):
		file, line := t.where(perr.Pos.Offset)
		return fmt.Sprintf("%s:%d: %s", file, line, perr.Msg)
	case errors.As(err, &cerr) && cerr.Macro == "":
		file, line := t.where(cerr.Pos.Offset)
		return fmt.Sprintf("%s:%d: %s", file, line, cerr.Msg)
	case errors.As(err, &cerr):
		if m, ok := c.macros[cerr.Macro]; ok {
			file, line := m.cond.where(cerr.Pos.Offset)
			return fmt.Sprintf("in macro %q at %s:%d: %s", cerr.Macro, file, line, cerr.Msg)
		}
	}
	return err.Error()
}

func (c *collector) compileRule(r *ruleDef, defs *rules.Defs, badMacro map[string]string) (*Rule, string, int) {
	if r.source != "" && r.source != "syscall" {
		return nil, fmt.Sprintf("source %s is not supported (only syscall rules load)", r.source), r.line
	}
	if !r.hasCond {
		return nil, "condition is missing", r.line
	}
	prio, ok := ParsePriority(r.priority)
	if !ok {
		if r.priority == "" {
			return nil, "priority is missing", r.line
		}
		return nil, fmt.Sprintf("priority %q is not one of EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL, DEBUG", r.priority), r.line
	}
	if r.output == "" {
		return nil, "output is missing", r.line
	}
	n, err := cond.Parse(r.cond.s)
	if err != nil {
		msg := c.condError(r.cond, err)
		return nil, "condition: " + strip(msg, r.file), lineIn(msg, r.file, r.line)
	}
	if _, err := rules.Compile(n, defs); err != nil {
		reason, line := c.compileReason(r, err, badMacro)
		return nil, reason, line
	}
	var excNodes []cond.Node
	for i, e := range r.exceptions {
		en, err := e.exc.Node()
		if err == nil && en != nil {
			_, err = rules.Compile(en, defs)
		}
		if err != nil {
			msg := err.Error()
			var cerr *rules.Error
			if errors.As(err, &cerr) {
				msg = cerr.Msg
			}
			return nil, fmt.Sprintf("exceptions[%d] %q: %s", i, e.exc.Name, strings.TrimPrefix(msg, fmt.Sprintf("exception %q: ", e.exc.Name))), e.line
		}
		excNodes = append(excNodes, en)
	}
	full := rules.WithExceptions(n, excNodes)
	pred, err := rules.Compile(full, defs)
	if err != nil {
		reason, line := c.compileReason(r, err, badMacro)
		return nil, reason, line
	}
	out := rules.CompileOutput(r.output)
	for _, u := range out.Unknown {
		c.note(r.file, r.line, "rule %q: output field %s is not supported: it renders %s", r.name, u, rules.NA)
	}
	file := r.file
	if i := strings.LastIndexAny(file, `/\`); i >= 0 {
		file = file[i+1:]
	}
	return &Rule{
		Name: r.name, Desc: r.desc, Priority: prio, Tags: r.tags, Ruleset: file, Line: r.line,
		Condition: full, Predicate: pred, OutputFormat: r.output, Output: out,
	}, "", 0
}

func (c *collector) compileReason(r *ruleDef, err error, badMacro map[string]string) (string, int) {
	var cerr *rules.Error
	if errors.As(err, &cerr) && strings.HasPrefix(cerr.Msg, "unknown macro ") {
		name := strings.TrimPrefix(cerr.Msg, "unknown macro ")
		if why, ok := badMacro[name]; ok {
			return fmt.Sprintf("macro %q does not parse: %s", name, why), r.line
		}
	}
	msg := c.condError(r.cond, err)
	return strip(msg, r.file), lineIn(msg, r.file, r.line)
}

// strip removes a leading "file:line: " naming the rule's own file: the Skipped entry
// carries that line.
func strip(msg, file string) string {
	f, l, rest := splitWhere(msg)
	if f == file && l > 0 {
		return rest
	}
	return msg
}

func lineIn(msg, file string, def int) int {
	if f, l, _ := splitWhere(msg); f == file && l > 0 {
		return l
	}
	return def
}
