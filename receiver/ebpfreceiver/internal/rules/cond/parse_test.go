package cond

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePrecedence(t *testing.T) {
	// not binds tighter than and, and tighter than or.
	n, err := Parse("not a and b or c and not d")
	require.NoError(t, err)
	assert.Equal(t, "((not a) and b) or (c and (not d))", paren(n))

	n, err = Parse("a or b or c")
	require.NoError(t, err)
	assert.Equal(t, "(a or b) or c", paren(n))

	n, err = Parse("not (a or b)")
	require.NoError(t, err)
	assert.Equal(t, "not (a or b)", paren(n))
}

// paren prints with every operator parenthesised, to make the tree visible.
func paren(n Node) string {
	switch n := n.(type) {
	case *And:
		return wrap(n.X) + " and " + wrap(n.Y)
	case *Or:
		return wrap(n.X) + " or " + wrap(n.Y)
	case *Not:
		return "not " + wrap(n.X)
	}
	return String(n)
}

func wrap(n Node) string {
	switch n.(type) {
	case *MacroRef, *Compare:
		return paren(n)
	}
	return "(" + paren(n) + ")"
}

func TestParseCompare(t *testing.T) {
	src := "evt.type in (open, openat,'openat2') and proc.aname[2] = \"sshd\" and evt.arg.flags contains O_TRUNC\n" +
		"  and fd.name startswith /etc/ and proc.pname exists and fd.num>=0 and proc.cmdline icontains \" -e\"\n" +
		"  and proc.pname in (runc:[0:PARENT], runc) and fd.sport != -1 and fd.name pmatch (/etc, /root) and x == y"
	n, err := Parse(src)
	require.NoError(t, err)
	var cmps []*Compare
	var walk func(Node)
	walk = func(n Node) {
		switch n := n.(type) {
		case *And:
			walk(n.X)
			walk(n.Y)
		case *Compare:
			cmps = append(cmps, n)
		}
	}
	walk(n)
	require.Len(t, cmps, 11)
	c := cmps[0]
	assert.Equal(t, In, c.Op)
	assert.Equal(t, "evt.type", c.Field.Name)
	require.Len(t, c.List, 3)
	assert.Equal(t, Value{Text: "open", At: Pos{13, 1, 14}}, c.List[0])
	assert.Equal(t, Value{Text: "openat2", Quoted: true, At: Pos{26, 1, 27}}, c.List[2])

	c = cmps[1]
	assert.Equal(t, Field{Name: "proc.aname", Arg: "2", HasArg: true, At: Pos{41, 1, 42}}, c.Field)
	assert.Equal(t, Eq, c.Op)
	assert.Equal(t, "sshd", c.Value.Text)
	assert.True(t, c.Value.Quoted)

	assert.Equal(t, Contains, cmps[2].Op)
	assert.Equal(t, Value{Text: "O_TRUNC", At: cmps[2].Value.At}, cmps[2].Value)
	assert.Equal(t, "/etc/", cmps[3].Value.Text)
	assert.Equal(t, 2, cmps[3].Field.At.Line)
	assert.Equal(t, 7, cmps[3].Field.At.Col)
	assert.Equal(t, Exists, cmps[4].Op)
	assert.Equal(t, Ge, cmps[5].Op)
	assert.Equal(t, "0", cmps[5].Value.Text)
	assert.Equal(t, " -e", cmps[6].Value.Text)
	assert.Equal(t, []string{"runc:[0:PARENT]", "runc"}, []string{cmps[7].List[0].Text, cmps[7].List[1].Text})
	assert.Equal(t, "-1", cmps[8].Value.Text)
	assert.Equal(t, Pmatch, cmps[9].Op)
	assert.Equal(t, Eq, cmps[10].Op)
	assert.Equal(t, "x", cmps[10].Field.Name)
}

func TestParseQuoting(t *testing.T) {
	_, err := Parse(`proc.cmdline = "a \"b\" \\ \x41\n" and proc.name = 'it''s'`)
	require.Error(t, err, "two adjacent quoted strings are not one value")
	n, err := Parse(`proc.cmdline = "a \"b\" \\ \x41\n\q" and proc.name = 'it\'s'`)
	require.NoError(t, err)
	a := n.(*And)
	assert.Equal(t, "a \"b\" \\ A\n\\q", a.X.(*Compare).Value.Text)
	assert.Equal(t, "it's", a.Y.(*Compare).Value.Text)
	again, err := Parse(String(n))
	require.NoError(t, err)
	assert.True(t, Equal(n, again), String(n))
}

func TestParseMacro(t *testing.T) {
	n, err := Parse("spawned_process and not (shell_procs or never_true)")
	require.NoError(t, err)
	a := n.(*And)
	assert.Equal(t, &MacroRef{Name: "spawned_process", At: Pos{0, 1, 1}}, a.X)
	nt := a.Y.(*Not)
	assert.Equal(t, Pos{20, 1, 21}, nt.At)
	or := nt.X.(*Or)
	assert.Equal(t, "never_true", or.Y.(*MacroRef).Name)
}

func TestParseEmptyList(t *testing.T) {
	n, err := Parse("proc.name in ()")
	require.NoError(t, err)
	assert.Empty(t, n.(*Compare).List)
	assert.NotNil(t, n.(*Compare).List)
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"", "1:1: expected a field, a macro, not or (, found end of condition"},
		{"a and", "1:6: expected a field, a macro, not or (, found end of condition"},
		{"(a or b", "1:8: expected ) to close ( at 1:1, found end of condition"},
		{"proc.name", "1:10: field proc.name: expected an operator, found end of condition"},
		{"proc.name sh", `1:11: field proc.name: expected an operator, found "sh"`},
		{"proc.name =", "1:12: =: expected a value, found end of condition"},
		{"proc.name = )", `1:13: =: expected a value, found ")"`},
		{"proc.name in sh", `1:14: in: expected ( to start a list, found "sh"`},
		{"proc.name in (a b)", `1:17: in: expected , or ) in the list, found "b)"`},
		{"proc.name in (a,", "1:17: in: expected a value, found end of condition"},
		{"proc.name in (a", "1:16: in: list opened at 1:14 is not closed"},
		{"a b", `1:3: unexpected "b"`},
		{"a\n  and )", `2:7: expected a field, a macro, not or (, found ")"`},
		{"proc.name = \"x", "1:13: string opened here is not closed"},
		{"proc.aname[2 = x", "1:11: field proc.aname: [ without ]"},
		{"and = 1", `1:1: expected a field, a macro, not or (, found "and"`},
		{"a or not", "1:9: expected a field, a macro, not or (, found end of condition"},
	} {
		_, err := Parse(tc.src)
		if assert.Error(t, err, tc.src) {
			assert.Equal(t, tc.want, err.Error(), tc.src)
		}
	}
}

func TestParseDepthBounded(t *testing.T) {
	deep := ""
	for range MaxDepth + 5 {
		deep += "("
	}
	_, err := Parse(deep + "a")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nested deeper than")
}

func TestStringRoundTrip(t *testing.T) {
	for _, src := range []string{
		"a and (b or c)",
		"(a and b) and c",
		"a and (b and c)",
		"not not a",
		"proc.name == sh",
		"fd.name in (\"/a b\", /c, 'd')",
		"proc.name exists and not proc.pname exists",
	} {
		n, err := Parse(src)
		require.NoError(t, err, src)
		printed := String(n)
		again, err := Parse(printed)
		require.NoError(t, err, printed)
		assert.True(t, Equal(n, again), "%s -> %s", src, printed)
	}
	a, _ := Parse("a and (b and c)")
	b, _ := Parse("(a and b) and c")
	assert.False(t, Equal(a, b), "association is kept")
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"spawned_process and proc.name in (sh, bash) and not proc.pname = node",
		"evt.type in (open,openat) and fd.name startswith /etc/ or fd.name glob '/home/*/.ssh/*'",
		`proc.cmdline contains " -e" and proc.aname[2] != "x\\y\"z"`,
		"not (a or b) and c exists",
		"fd.sip in (10.0.0.0/8, 192.168.1.1) and fd.sport>=1024",
		"proc.pname in (runc:[0:PARENT], runc:[1:CHILD])",
		"evt.arg[1] = x and evt.arg.flags contains O_TRUNC",
		"proc.name in ()",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		n, err := Parse(src)
		if err != nil {
			var perr *Error
			if e, ok := err.(*Error); ok {
				perr = e
			}
			if perr == nil || perr.Pos.Offset < 0 || perr.Pos.Offset > len(src) {
				t.Fatalf("bad error %v for %q", err, src)
			}
			return
		}
		printed := String(n)
		again, err := Parse(printed)
		if err != nil {
			t.Fatalf("reparse of %q (from %q) failed: %v", printed, src, err)
		}
		if !Equal(n, again) {
			t.Fatalf("round trip changed the tree: %q -> %q", src, printed)
		}
		if String(again) != printed {
			t.Fatalf("printing is not stable: %q vs %q", printed, String(again))
		}
	})
}

func TestParseTightOperators(t *testing.T) {
	for src, want := range map[string][3]string{
		"evt.dir=<":        {"evt.dir", "=", "<"},
		"evt.dir = >":      {"evt.dir", "=", ">"},
		"proc.pid>1":       {"proc.pid", ">", "1"},
		"proc.pid<=-1":     {"proc.pid", "<=", "-1"},
		"proc.name!=sh":    {"proc.name", "!=", "sh"},
		"proc.name==a<b!c": {"proc.name", "=", "a<b!c"},
	} {
		n, err := Parse(src)
		require.NoError(t, err, src)
		c := n.(*Compare)
		assert.Equal(t, want, [3]string{c.Field.Name, c.Op.String(), c.Value.Text}, src)
	}
}

func TestUnquote(t *testing.T) {
	for in, want := range map[string]string{`"sh -c id"`: "sh -c id", `'a\'b'`: "a'b", `"x\"y"`: `x"y`, `""`: ""} {
		got, ok := Unquote(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{`sh`, `"a" "b"`, `"open`, `'`, ``, `"a"b`} {
		_, ok := Unquote(in)
		assert.False(t, ok, in)
	}
}
