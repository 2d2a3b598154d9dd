package rules

import (
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

func compileT(t testing.TB, src string, defs *Defs) *Predicate {
	t.Helper()
	n, err := cond.Parse(src)
	require.NoError(t, err, src)
	p, err := Compile(n, defs)
	require.NoError(t, err, src)
	return p
}

// withException compiles src with a Falco-shaped exception on fields.
func withException(t testing.TB, src string, defs *Defs, e Exception) *Predicate {
	t.Helper()
	n, err := cond.Parse(src)
	require.NoError(t, err, src)
	x, err := e.Node()
	require.NoError(t, err)
	p, err := Compile(WithExceptions(n, []cond.Node{x}), defs)
	require.NoError(t, err, src)
	return p
}

func TestNamesRequired(t *testing.T) {
	defs := testDefs(t)
	for _, tc := range []struct {
		src   string
		names []string
		filed bool
	}{
		{"proc.name = bash", []string{"bash"}, true},
		{"spawned_process and proc.name in (shell_binaries)", []string{"ash", "bash", "sh", "zsh"}, true},
		{"shell_procs and proc.pname = node", []string{"ash", "bash", "fish", "sh", "zsh"}, true},
		{"proc.name intersects (a, b)", []string{"a", "b"}, true},
		{"proc.name = a or proc.name in (b, c)", []string{"a", "b", "c"}, true},
		{"(proc.name = a and fd.num = 3) or (proc.name = b and fd.num = 4)", []string{"a", "b"}, true},
		{"proc.name in (a, b) and proc.name in (b, c)", []string{"b"}, true},
		{"proc.name = a and proc.name = c", []string{}, true}, // never holds
		{"proc.name = a and not proc.name = b", []string{"a"}, true},
		{"not (not proc.name in (a, b))", []string{"a", "b"}, true},
		{"not (proc.name != a or fd.num = 3)", nil, false}, // not (x != a) holds without a name
		{"not (proc.name = a and fd.num = 3)", nil, false},
		{"not (fd.num = 3 or not proc.name = a)", []string{"a"}, true},
		{"proc.name = a or fd.num = 3", nil, false},
		{"not proc.name = a", nil, false},
		{"proc.name != a", nil, false},
		{"proc.name startswith a", nil, false},
		{"proc.name exists", nil, false},
		{"proc.aname[0] = bash", nil, false},
		{"proc.pname in (node)", nil, false},
		{"spawned_process", nil, false},
	} {
		names, filed := NamesRequired(compileT(t, tc.src, defs).Expr())
		assert.Equal(t, tc.filed, filed, tc.src)
		if tc.filed {
			assert.Equal(t, tc.names, names, tc.src)
		}
	}
	// An exception is negated: it narrows nothing, and what the condition
	// needs stays needed.
	p := withException(t, "proc.name in (sh, bash)", defs, Exception{Name: "e", Fields: []string{"proc.name", "proc.pname"},
		Comps: []string{"=", "in"}, Values: [][]ExceptionValue{{{Items: []string{"bash"}}, {Items: []string{"node", "deno"}, List: true}}}})
	names, filed := NamesRequired(p.Expr())
	assert.True(t, filed)
	assert.Equal(t, []string{"bash", "sh"}, names)
	p = withException(t, "spawned_process", defs, Exception{Name: "e", Fields: []string{"proc.name"}, Comps: []string{"in"},
		Values: [][]ExceptionValue{{{Items: []string{"bash"}, List: true}}}})
	_, filed = NamesRequired(p.Expr())
	assert.False(t, filed, "an exception on proc.name does not make the rule need a name")
}

// The index evaluates only the rules an event's name can satisfy and returns
// the matches in rule order, interleaving filed and unfiled rules.
func TestRulesetIndexOrder(t *testing.T) {
	defs := testDefs(t)
	preds := []*Predicate{
		compileT(t, "spawned_process and proc.pid = 1", defs),      // 0: not filed, false
		compileT(t, "spawned_process and proc.name = bash", defs),  // 1: filed, true
		compileT(t, "spawned_process and proc.pname = node", defs), // 2: not filed, true
		nil, // 3
		compileT(t, "shell_procs and proc.tty = 0", defs),              // 4: filed, true
		compileT(t, "proc.name = node", defs),                          // 5: filed under another name
		compileT(t, "spawned_process and not proc.name = node", defs),  // 6: not filed, true
		compileT(t, "proc.name in (bash) and proc.name in (sh)", defs), // 7: never
		compileT(t, "fd.name = /etc/shadow and proc.name = cat", defs), // 8: other kind
	}
	rs := NewRuleset(preds)
	ev := execEvent()
	assert.Equal(t, []int{1, 2, 4, 6}, rs.Match(ev, nil))
	assert.Equal(t, rs.MatchEach(ev, nil), rs.Match(ev, nil))
	open := openEvent("/etc/shadow")
	assert.Equal(t, []int{8}, rs.Match(open, nil))
	nameless := execEvent()
	delete(nameless.str, FieldProcName)
	assert.Equal(t, []int{2, 6}, rs.Match(nameless, nil), "without a name only the unfiled rules can hold")
	assert.Equal(t, rs.MatchEach(nameless, nil), rs.Match(nameless, nil))
	// Not a single filed rule is evaluated for a name none of them needs.
	counting := &countingFields{testEvent: execEvent().s(FieldProcName, "ls")}
	rs.Match(counting, nil)
	assert.Equal(t, 1, counting.reads[FieldProcPid], "rule 0 (not filed) is evaluated")
	assert.Zero(t, counting.reads[FieldProcTty], "rule 4 (a shell's) is not evaluated for ls")
	dst := make([]int, 0, 8)
	assert.Zero(t, testing.AllocsPerRun(50, func() { dst = rs.Match(ev, dst[:0]) }), "Match does not allocate")
}

// countingFields counts the reads of each field.
type countingFields struct {
	*testEvent
	reads [NumFields]int
}

func (c *countingFields) Str(id FieldID, idx int) (string, bool) {
	c.reads[id]++
	return c.testEvent.Str(id, idx)
}

func (c *countingFields) Num(id FieldID, idx int) (int64, bool) {
	c.reads[id]++
	return c.testEvent.Num(id, idx)
}

// nameCond builds a condition that leans on proc.name (directly, through lists and
// macros, negated, under or), with other terms from the general generator.
func (g *gen) nameCond(depth int) string {
	if depth > 3 {
		return g.nameLeaf()
	}
	switch g.next(8) {
	case 0:
		return "not " + g.nameCond(depth+1)
	case 1, 2:
		return "(" + g.nameCond(depth+1) + " and " + g.nameCond(depth+1) + ")"
	case 3:
		return "(" + g.nameCond(depth+1) + " or " + g.nameCond(depth+1) + ")"
	case 4:
		return g.cond(depth + 1)
	}
	return g.nameLeaf()
}

var indexNames = []string{"bash", "sh", "zsh", "fish", "node", "cat", "ssh", "nc", "x", "Bash", "ls"}

func (g *gen) nameLeaf() string {
	a, b := g.pick(indexNames), g.pick(indexNames)
	switch g.next(12) {
	case 0:
		return "proc.name = " + a
	case 1:
		return "proc.name in (" + a + ", " + b + ")"
	case 2:
		return "proc.name in (shell_binaries)"
	case 3:
		return "shell_procs"
	case 4:
		return "proc.name != " + a
	case 5:
		return "proc.name startswith " + a[:1]
	case 6:
		return "proc.name intersects (" + a + ")"
	case 7:
		return "proc.aname[0] = " + a
	case 8:
		return "proc.name in (empty)"
	case 9:
		return "proc.pname in (" + a + ", " + b + ")"
	case 10:
		return "spawned_process"
	}
	return "proc.name exists"
}

// exception builds a Falco-shaped exception on the process's names.
func (g *gen) exception() Exception {
	switch g.next(3) {
	case 0:
		return Exception{Name: "by_name", Fields: []string{"proc.name"}, Comps: []string{"in"},
			Values: [][]ExceptionValue{{{Items: []string{g.pick(indexNames), g.pick(indexNames)}, List: true}}}}
	case 1:
		return Exception{Name: "by_pair", Fields: []string{"proc.name", "proc.pname"},
			Values: [][]ExceptionValue{{{Items: []string{g.pick(indexNames)}}, {Items: []string{g.pick(indexNames)}}}}}
	}
	return Exception{Name: "by_list", Fields: []string{"proc.name"}, Comps: []string{"in"},
		Values: [][]ExceptionValue{{{Items: []string{"shell_binaries"}}}}}
}

// FuzzRulesetIndex: for generated rule sets and events of every name, Match (with the
// process-name index) gives exactly the matches of evaluating every rule (MatchEach),
// of each predicate on its own and of the reference interpreter; a rule the index files
// under names holds only for those names.
func FuzzRulesetIndex(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{7, 0, 2, 11, 1, 3, 4, 0, 9, 9, 9, 1, 2, 0, 5})
	f.Add([]byte{3, 1, 1, 0, 0, 4, 7, 2, 2, 8, 6, 1, 0, 3, 3, 3, 3, 10, 200, 17})
	defs := testDefs(f)
	delete(defs.Macros, "loop_a")
	delete(defs.Macros, "loop_b")
	delete(defs.Macros, "bad_field")
	base := []*testEvent{execEvent(), openEvent("/etc/shadow"), connectEvent("203.0.113.9", 443)}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{data: data}
		preds := make([]*Predicate, 1+g.next(12))
		for i := range preds {
			src := g.nameCond(0)
			n, err := cond.Parse(src)
			if err != nil {
				t.Fatalf("generated %q does not parse: %v", src, err)
			}
			if g.next(3) == 0 {
				e := g.exception()
				x, err := e.Node()
				if err != nil {
					t.Fatalf("exception %+v: %v", e, err)
				}
				n = WithExceptions(n, []cond.Node{x})
			}
			if p, err := Compile(n, defs); err == nil {
				preds[i] = p // a condition that does not compile stays a nil rule
			}
		}
		rs := NewRuleset(preds)
		for _, b := range base {
			for _, name := range append(slices.Clone(indexNames), "") {
				ev := *b
				ev.str = maps(b.str)
				if name == "" {
					delete(ev.str, FieldProcName)
				} else {
					ev.str[FieldProcName] = []string{name}
				}
				got := rs.Match(&ev, nil)
				if each := rs.MatchEach(&ev, nil); !slices.Equal(got, each) {
					t.Fatalf("%s named %q: indexed %v, every rule %v", ev.kind, name, got, each)
				}
				var want, ref []int
				for i, p := range preds {
					if p == nil {
						continue
					}
					if p.Eval(&ev) {
						want = append(want, i)
					}
					if p.Kinds().Has(ev.kind) && refEval(p.Expr(), &ev) {
						ref = append(ref, i)
					}
					if names, filed := NamesRequired(p.Expr()); filed && p.Eval(&ev) && !slices.Contains(names, name) {
						t.Fatalf("rule %d holds for %q but is filed under %v", i, name, names)
					}
				}
				if !slices.Equal(got, want) || !slices.Equal(got, ref) {
					t.Fatalf("%s named %q: indexed %v, each predicate %v, reference %v", ev.kind, name, got, want, ref)
				}
			}
		}
	})
}

func maps(m map[FieldID][]string) map[FieldID][]string {
	out := make(map[FieldID][]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// The index is bounded: a predicate needing more names than it keeps, and the
// predicates beyond its total, are evaluated on every event instead, with the
// same verdicts.
func TestRulesetIndexBounds(t *testing.T) {
	defs := testDefs(t)
	big := make([]string, maxIndexedNames+1)
	for i := range big {
		big[i] = "n" + strconv.Itoa(i)
	}
	defs.Lists["big"] = big
	p := compileT(t, "spawned_process and proc.name in (big)", defs)
	_, filed := NamesRequired(p.Expr())
	assert.False(t, filed, "more names than the index keeps")
	defs.Lists["most"] = big[:maxIndexedNames]
	most := compileT(t, "spawned_process and proc.name in (most)", defs)
	_, filed = NamesRequired(most.Expr())
	require.True(t, filed)
	n := maxIndexEntries/maxIndexedNames + 2
	preds := make([]*Predicate, n)
	for i := range preds {
		preds[i] = most
	}
	preds = append(preds, p)
	rs := NewRuleset(preds)
	assert.Len(t, rs.rest[ProcessExec], 3, "the predicates beyond the index's total and the one with too many names")
	all := make([]int, len(preds))
	for i := range all {
		all[i] = i
	}
	ev := execEvent().s(FieldProcName, big[7])
	assert.Equal(t, all, rs.Match(ev, nil))
	assert.Equal(t, []int{n}, rs.Match(execEvent().s(FieldProcName, big[maxIndexedNames]), nil))
	assert.Empty(t, rs.Match(execEvent(), nil))
}
