package falco

import (
	"testing"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

// FuzzLoad: any bytes load without panicking; every skipped rule has a file, a line and a
// reason; every loaded rule's assembled condition (appends and exceptions included) prints
// into text that compiles again to a predicate of the same kinds.
func FuzzLoad(f *testing.F) {
	// Small seeds: the fuzzer mutates short inputs far faster, and the full test files are
	// covered by the unit tests.
	f.Add([]byte("- rule: x\n  condition: evt.type = execve and proc.name in (a, b)\n  output: o\n  priority: NOTICE\n"))
	f.Add([]byte("- macro: m\n  condition: not m\n- rule: r\n  condition: m\n  output: o\n  priority: INFO\n"))
	f.Add([]byte("- list: l\n  items: [a, b]\n- list: l\n  items: [c]\n  append: true\n- macro: m\n  condition: proc.name in (l)\n" +
		"- rule: r\n  desc: d\n  condition: >\n    evt.type = execve\n    and m\n  output: \"%proc.name %fd.x\"\n  priority: WARNING\n" +
		"  exceptions:\n    - name: e\n      fields: [proc.pname, proc.cmdline]\n      comps: [in, startswith]\n      values:\n        - [[x, y], \"z \"]\n" +
		"- rule: r\n  condition: and not proc.pid = 1\n  append: true\n" +
		"- rule: r\n  exceptions:\n    - name: e\n      values: [[[w], v]]\n  override:\n    exceptions: append\n" +
		"- rule: r\n  priority: debug\n  enabled: false\n  override:\n    priority: replace\n    enabled: replace\n" +
		"- rule: s\n  source: k8s_audit\n  condition: x\n  output: o\n  priority: INFO\n- required_engine_version: 1\n"))
	f.Fuzz(checkLoad)
}

func checkLoad(t *testing.T, data []byte) {
	if len(data) > 64<<10 {
		return
	}
	res := Load(File{Name: "f.yaml", Data: data})
	for _, s := range res.Skipped {
		if s.Reason == "" || s.File == "" || s.Line <= 0 {
			t.Fatalf("skipped without a reason, file or line: %+v", s)
		}
	}
	for _, r := range res.Rules {
		if r.Predicate == nil || r.Output == nil {
			t.Fatalf("rule %q loaded without a predicate or output", r.Name)
		}
		text := cond.String(r.Condition)
		n, err := cond.Parse(text)
		if err != nil {
			t.Fatalf("rule %q: printed condition %q does not parse: %v", r.Name, text, err)
		}
		p, err := rules.Compile(n, res.Defs)
		if err != nil {
			t.Fatalf("rule %q: printed condition %q does not compile: %v", r.Name, text, err)
		}
		if p.Kinds() != r.Predicate.Kinds() {
			t.Fatalf("rule %q: kinds %s after printing, %s before", r.Name, p.Kinds(), r.Predicate.Kinds())
		}
	}
	// Every rule item is accounted for: by name among the loaded or skipped rules, or
	// (without a usable name) by a note.
	items, err := read(File{Name: "f.yaml", Data: data})
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, r := range res.Rules {
		seen[r.Name] = true
	}
	for _, s := range res.Skipped {
		seen[s.Rule] = true
	}
	for _, it := range items {
		if it.kind != "rule" {
			continue
		}
		if it.name == "" {
			if len(res.Notes) == 0 {
				t.Fatalf("a rule item at line %d without a name left no note", it.line)
			}
			continue
		}
		if !seen[it.name] {
			t.Fatalf("rule %q (line %d) neither loaded nor skipped", it.name, it.line)
		}
	}
}
