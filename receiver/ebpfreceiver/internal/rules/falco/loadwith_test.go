package falco

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

// Definitions made outside rules files (a policy file's) are seen under the
// names the rules files do not define; the rules files' own win.
func TestLoadWithExtraDefinitions(t *testing.T) {
	from, err := cond.Parse("proc.pname = node")
	require.NoError(t, err)
	mine, err := cond.Parse("proc.pname = other")
	require.NoError(t, err)
	extra := &rules.Defs{
		Lists:  map[string][]string{"vigil_shells": {"sh", "bash"}, "own_list": {"x"}},
		Macros: map[string]cond.Node{"from_node": from, "own_macro": mine},
	}
	res := LoadWith(extra, File{Name: "r.yaml", Data: []byte(`
- list: own_list
  items: [cat]
- macro: own_macro
  condition: proc.pname = init
- rule: Shell From Node
  desc: d
  condition: evt.type = execve and proc.name in (vigil_shells) and from_node
  output: o
  priority: WARNING
- rule: Own
  desc: d
  condition: evt.type = execve and proc.name in (own_list) and own_macro
  output: o
  priority: WARNING
`)})
	require.Empty(t, res.Skipped)
	require.Len(t, res.Rules, 2)
	assert.Equal(t, "AllOf{evt.type = execve, proc.name in (sh, bash), proc.pname = node}", show(res.Rules[0].Predicate.Expr()))
	assert.Equal(t, "AllOf{evt.type = execve, proc.name in (cat), proc.pname = init}", show(res.Rules[1].Predicate.Expr()))

	d := CollectDefinitions(File{Name: "r.yaml", Data: []byte("- list: l\n  items: [a]\n- macro: m\n  condition: proc.name = a\n- macro: bad\n  condition: (proc.name\n")})
	assert.Equal(t, map[string][]string{"l": {"a"}}, d.Lists)
	assert.Equal(t, "r.yaml:1", d.ListFrom["l"])
	assert.Equal(t, "r.yaml:3", d.MacroFrom["m"])
	assert.Contains(t, d.Macros, "m")
	assert.Contains(t, d.BadMacros, "bad")
}

func show(e rules.Expr) string {
	switch e := e.(type) {
	case rules.AllOf:
		s := "AllOf{"
		for i, x := range e {
			if i > 0 {
				s += ", "
			}
			s += show(x)
		}
		return s + "}"
	case *rules.Cmp:
		fi, _ := rules.Field(e.Field)
		switch e.Op {
		case cond.In:
			v := ""
			for i, x := range e.Values {
				if i > 0 {
					v += ", "
				}
				v += x
			}
			return fi.Name + " in (" + v + ")"
		}
		return fi.Name + " " + e.Op.String() + " " + e.Values[0]
	}
	return "?"
}
