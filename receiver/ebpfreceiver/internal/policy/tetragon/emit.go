package tetragon

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// emit writes the Vigil policy: one selector for the policy (every rule must
// have the same matchBinaries), rules merged where they are identical.
func (c *converter) emit(s *spec) *Result {
	first := s.rules[0].binSel
	for _, r := range s.rules[1:] {
		if r.binSel.key() != first.key() {
			c.errorf(r.line, "", "selectors with different matchBinaries (lines %d and %d) cannot share one Vigil policy: its selector applies to every rule; split the TracingPolicy", lineOr(first.line, s.rules[0].line), lineOr(r.binSel.line, r.line))
			return nil
		}
	}
	var rules []*vrule
	names := map[string]bool{}
	for _, r := range s.rules {
		if slices.ContainsFunc(rules, func(x *vrule) bool { return sameRule(x, r) }) {
			continue
		}
		base, n := r.name, 2
		for names[r.name] {
			r.name = fmt.Sprintf("%s-%d", base, n)
			n++
		}
		names[r.name] = true
		rules = append(rules, r)
	}
	mode := s.mode
	if mode == "" {
		// Tetragon enforces unless told otherwise.
		mode = "monitor"
		for _, r := range rules {
			if r.action == "kill" || r.action == "deny" {
				mode = "enforce"
			}
		}
	}
	if c.opt.Mode != "" {
		mode = c.opt.Mode
	}

	w := &writer{}
	w.line(0, "# Converted from the Tetragon TracingPolicy %q.", s.name)
	w.line(s.nameLine, "name: %s", scalar(s.name))
	w.line(s.modeLine, "mode: %s", mode)
	if len(first.exact)+len(first.prefixes)+len(s.podLabels) > 0 || s.namespace != "" {
		w.line(first.line, "selector:")
		if len(first.exact) > 0 {
			w.line(first.line, "  binaries: %s", flow(first.exact))
		}
		if len(first.prefixes) > 0 {
			w.line(first.line, "  binary_prefixes: %s", flow(first.prefixes))
		}
		if s.namespace != "" {
			w.line(s.nameLine, "  namespaces: [%s]", scalar(s.namespace))
		}
		if len(s.podLabels) > 0 {
			w.line(s.podLine, "  pod_labels:")
			for _, k := range slices.Sorted(maps.Keys(s.podLabels)) {
				w.line(s.podLine, "    %s: %s", scalar(k), scalar(s.podLabels[k]))
			}
		}
	}
	w.line(s.rules[0].line, "rules:")
	for _, r := range rules {
		w.line(r.line, "  - name: %s", scalar(r.name))
		w.line(r.line, "    event: %s", r.event)
		if len(r.paths) > 0 {
			w.line(r.pathsAt, "    paths: %s", flow(r.paths))
		}
		if len(r.suffixes) > 0 {
			w.line(r.pathsAt, "    name_suffixes: %s", flow(r.suffixes))
		}
		if len(r.access) > 0 {
			w.line(r.line, "    access: %s", flow(r.access))
		}
		if len(r.bins) > 0 {
			w.line(r.pathsAt, "    binaries: %s", flow(r.bins))
		}
		if len(r.cidrs) > 0 {
			w.line(r.netAt, "    cidrs: %s", flow(r.cidrs))
		}
		if len(r.ports) > 0 {
			ps := make([]string, len(r.ports))
			for i, p := range r.ports {
				ps[i] = strconv.Itoa(p)
			}
			w.line(r.netAt, "    ports: [%s]", strings.Join(ps, ", "))
		}
		w.line(r.line, "    action: %s", r.action)
	}
	return &Result{Name: s.name, YAML: []byte(w.b.String()), Lines: w.lines}
}

func lineOr(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}

func sameRule(a, b *vrule) bool {
	return a.event == b.event && a.action == b.action && slices.Equal(a.paths, b.paths) && slices.Equal(a.suffixes, b.suffixes) && slices.Equal(a.access, b.access) &&
		slices.Equal(a.cidrs, b.cidrs) && slices.Equal(a.ports, b.ports) && slices.Equal(a.bins, b.bins)
}

type writer struct {
	b     strings.Builder
	lines []int
}

func (w *writer) line(src int, format string, args ...any) {
	fmt.Fprintf(&w.b, format, args...)
	w.b.WriteByte('\n')
	w.lines = append(w.lines, src)
}

var plainRe = regexp.MustCompile(`^[A-Za-z0-9/][A-Za-z0-9/._-]*$`)

// scalar writes a string as YAML: plain when that cannot be read as anything
// else, double-quoted otherwise.
func scalar(s string) string {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~":
		return strconv.Quote(s)
	}
	if plainRe.MatchString(s) {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return s
		}
	}
	return strconv.Quote(s)
}

func flow(vs []string) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = scalar(v)
	}
	return "[" + strings.Join(out, ", ") + "]"
}
