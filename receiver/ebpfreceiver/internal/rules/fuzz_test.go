package rules

import (
	"encoding/hex"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

// gen builds a condition from fuzz bytes: fields from the table, operators they support,
// operands from a pool that the test events can match.
type gen struct {
	data []byte
	i    int
}

func (g *gen) next(n int) int {
	if n <= 0 {
		return 0
	}
	if g.i >= len(g.data) {
		return 0
	}
	b := g.data[g.i]
	g.i++
	return int(b) % n
}

var (
	genStrings = []string{"bash", "node", "cat", "ssh", "/etc/shadow", "/etc/hosts", "/usr/bin", "/usr/bin/bash", "/", "-c",
		"bash -c id", "BASH", "containerd-shim", "systemd", "tcp", "f", "4", "O_RDONLY", "CAP_SYS_ADMIN", "sys_admin", "shell_binaries", ""}
	genGlobs   = []string{"*", "/usr/*", "ba?h", "[a-c]*", "*/bash", "/ETC/*", "[!b]*", "*../*"}
	genRegexps = []string{"^b", "sh$", "^/usr/(s)?bin/", "ssh|bash"}
	genHex     = []string{"62", "2d63", "2f657463", ""}
	genNums    = []string{"0", "1", "-1", "3", "443", "4242", "2000000000", "0x10"}
	genAddrs   = []string{"10.1.2.3", "203.0.113.9", "127.0.0.1", "2001:db8::1"}
	genNets    = []string{"10.0.0.0/8", "203.0.113.0/24", "127.0.0.0/8", "0.0.0.0/0", "10.1.2.3"}
	genTypes   = []string{"execve", "execveat", "open", "openat", "connect", "ptrace", "mkdir"}
	genMacros  = []string{"spawned_process", "shell_procs", "open_read", "never_true"}
)

func (g *gen) pick(pool []string) string { return pool[g.next(len(pool))] }

func (g *gen) value(fi FieldInfo, op cond.Op) string {
	switch {
	case fi.ID == FieldEvtType:
		return g.pick(genTypes)
	case fi.Type == TypeNumber:
		return g.pick(genNums)
	case fi.Type == TypeBool:
		return g.pick([]string{"true", "false"})
	case fi.Type == TypeIP && !op.IsList():
		return g.pick(genAddrs)
	case fi.Type == TypeIP || fi.Type == TypeNet:
		return g.pick(genNets)
	case op == cond.Glob || op == cond.IGlob:
		return g.pick(genGlobs)
	case op == cond.Regex:
		return g.pick(genRegexps)
	case op == cond.BContains || op == cond.BStartsWith:
		return g.pick(genHex)
	}
	return g.pick(genStrings)
}

func (g *gen) cond(depth int) string {
	if depth > 4 {
		return g.leaf()
	}
	switch g.next(7) {
	case 0:
		return "not " + g.cond(depth+1)
	case 1:
		return "(" + g.cond(depth+1) + " and " + g.cond(depth+1) + ")"
	case 2:
		return "(" + g.cond(depth+1) + " or " + g.cond(depth+1) + ")"
	case 3:
		return g.pick(genMacros)
	}
	return g.leaf()
}

func bareable(v string) bool {
	return v != "" && !strings.ContainsAny(v, " \t(),\"'=")
}

func (g *gen) leaf() string {
	table := FieldTable()
	fi := table[g.next(len(table))]
	name := fi.Name
	if len(fi.Aliases) > 0 && g.next(3) == 0 {
		name = fi.Aliases[0]
	}
	switch fi.Index {
	case IndexRequired:
		name += "[" + strconv.Itoa(g.next(3)) + "]"
	case IndexOptional:
		if g.next(2) == 0 {
			name += "[" + strconv.Itoa(g.next(5)) + "]"
		}
	}
	var ops []cond.Op
	for _, o := range cond.Ops() {
		if fi.Ops.Has(o) {
			ops = append(ops, o)
		}
	}
	op := ops[g.next(len(ops))]
	switch {
	case op.IsUnary():
		return name + " exists"
	case op.IsList():
		n := g.next(4)
		items := make([]string, n)
		for i := range items {
			v := g.value(fi, op)
			items[i] = cond.Quote(v)
			if bareable(v) && (fi.Type != TypeString || g.next(2) == 0) {
				items[i] = v // bare: list names expand
			}
		}
		return name + " " + op.String() + " (" + strings.Join(items, ", ") + ")"
	}
	return name + " " + op.String() + " " + cond.Quote(g.value(fi, op))
}

// refEval is a plain interpreter of a resolved expression, written apart from the compiled
// evaluator, that the compiled one must agree with.
func refEval(e Expr, f Fields) bool {
	switch e := e.(type) {
	case AllOf:
		for _, x := range e {
			if !refEval(x, f) {
				return false
			}
		}
		return true
	case AnyOf:
		for _, x := range e {
			if refEval(x, f) {
				return true
			}
		}
		return false
	case NotOf:
		return !refEval(e.X, f)
	case Const:
		return bool(e)
	case *Cmp:
		return refCmp(e, f)
	}
	panic("unknown expr")
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func refCmp(c *Cmp, f Fields) bool {
	fi, _ := Field(c.Field)
	k := f.Kind()
	if c.Field == FieldEvtType {
		if c.Op == cond.Exists {
			return true
		}
		name, known := f.Str(FieldEvtType, 0)
		for _, v := range c.Values {
			if sk, ok := syscallKind(v); ok && sk == k && (!known || name == v) {
				return true
			}
		}
		return false
	}
	if !fi.Kinds.Has(k) {
		return false
	}
	// Collect the values.
	idxs := []int{c.Index}
	if fi.Multi && !c.HasIndex {
		idxs = nil
		for i := fi.MultiStart; i < fi.MultiStart+MaxMulti; i++ {
			idxs = append(idxs, i)
		}
	}
	var hits, present int
	for _, i := range idxs {
		var ok, hit bool
		switch fi.Type {
		case TypeString:
			var s string
			if s, ok = f.Str(c.Field, i); ok {
				hit = refStr(c, s)
			}
		case TypeNumber:
			var v int64
			if v, ok = f.Num(c.Field, i); ok {
				hit = refNum(c, v)
			}
		case TypeBool:
			var v bool
			if v, ok = f.Bool(c.Field, i); ok {
				want := len(c.Values) > 0 && c.Values[0] == "true"
				hit = c.Op == cond.Exists || (c.Op == cond.Eq && v == want) || (c.Op == cond.Ne && v == want)
			}
		default:
			var a netip.Addr
			if a, ok = f.Addr(c.Field, i); ok {
				hit = c.Op == cond.Exists
				for _, v := range c.Values {
					p, _ := parsePrefix(v)
					if p.Contains(a) {
						hit = true
					}
				}
			}
		}
		if !ok {
			break
		}
		present++
		if hit {
			hits++
		}
	}
	if c.Op == cond.Ne {
		// hit above means "equal".
		return present > 0 && hits == 0
	}
	return hits > 0
}

func refStr(c *Cmp, s string) bool {
	v := ""
	if len(c.Values) > 0 {
		v = c.Values[0]
	}
	switch c.Op {
	case cond.Exists:
		return true
	case cond.Eq, cond.Ne:
		return s == v
	case cond.In, cond.Intersects:
		for _, x := range c.Values {
			if s == x {
				return true
			}
		}
		return false
	case cond.Pmatch:
		for _, x := range c.Values {
			q := strings.TrimRight(x, "/")
			if (q == "" && strings.HasPrefix(s, "/")) || (q != "" && (s == q || strings.HasPrefix(s, q+"/"))) {
				return true
			}
		}
		return false
	case cond.StartsWith:
		return strings.HasPrefix(s, v)
	case cond.EndsWith:
		return strings.HasSuffix(s, v)
	case cond.Contains:
		return strings.Contains(s, v)
	case cond.IContains:
		return strings.Contains(asciiLower(s), asciiLower(v))
	case cond.BContains, cond.BStartsWith:
		b, _ := hex.DecodeString(v)
		if c.Op == cond.BContains {
			return strings.Contains(s, string(b))
		}
		return strings.HasPrefix(s, string(b))
	case cond.Glob:
		return regexp.MustCompile(globRegexp(v)).MatchString(s)
	case cond.IGlob:
		return regexp.MustCompile(globRegexp(asciiLower(v))).MatchString(asciiLower(s))
	case cond.Regex:
		return regexp.MustCompile(v).MatchString(s)
	}
	panic("op " + c.Op.String())
}

func refNum(c *Cmp, v int64) bool {
	var w int64
	if len(c.Values) > 0 {
		w, _ = strconv.ParseInt(c.Values[0], 0, 64)
	}
	switch c.Op {
	case cond.Exists:
		return true
	case cond.Eq, cond.Ne:
		return v == w
	case cond.Lt:
		return v < w
	case cond.Le:
		return v <= w
	case cond.Gt:
		return v > w
	case cond.Ge:
		return v >= w
	case cond.In:
		for _, x := range c.Values {
			y, _ := strconv.ParseInt(x, 0, 64)
			if y == v {
				return true
			}
		}
		return false
	}
	panic("op " + c.Op.String())
}

// FuzzCompile: for generated conditions, the compiled evaluator agrees with the reference
// interpreter, negation inverts it on every event, a match is always of a kind the
// predicate claims, and the printed condition evaluates the same.
func FuzzCompile(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5})
	f.Add([]byte("spawned_process and proc.name in (shell_binaries)"))
	f.Add([]byte{2, 4, 40, 3, 1, 4, 9, 0, 1, 1, 4, 33, 7})
	defs := testDefs(f)
	delete(defs.Macros, "loop_a")
	delete(defs.Macros, "loop_b")
	delete(defs.Macros, "bad_field")
	ancestorless := openEvent("/tmp/../x")
	delete(ancestorless.str, FieldEvtType)
	delete(ancestorless.str, FieldProcAname)
	events := []*testEvent{execEvent(), openEvent("/etc/shadow"), openEvent("/"), connectEvent("203.0.113.9", 443),
		connectEvent("2001:db8::1", 22), ancestorless, execEvent().s(FieldFdName, "/etc/shadow").n(FieldFdNum, 3)}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{data: data}
		src := g.cond(0)
		n, err := cond.Parse(src)
		if err != nil {
			t.Fatalf("generated %q does not parse: %v", src, err)
		}
		p, err := Compile(n, defs)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("%q: error of type %T: %v", src, err, err)
			}
			return
		}
		neg, err := Compile(&cond.Not{X: n}, defs)
		if err != nil {
			// The only failure a negation may add: a condition true for every kind negates
			// into one that can match nothing.
			if !strings.Contains(err.Error(), "can match no") {
				t.Fatalf("not (%s): %v", src, err)
			}
			neg = nil
		}
		again, err := cond.Parse(cond.String(n))
		if err != nil {
			t.Fatalf("reprint of %q: %v", src, err)
		}
		p2, err := Compile(again, defs)
		if err != nil {
			t.Fatalf("reprint of %q does not compile: %v", src, err)
		}
		for i, ev := range events {
			got := p.Eval(ev)
			if want := refEval(p.Expr(), ev); got != want {
				t.Fatalf("%q on event %d: compiled %v, reference %v", src, i, got, want)
			}
			if got && !p.Kinds().Has(ev.Kind()) {
				t.Fatalf("%q matched %s outside its kinds %s", src, ev.Kind(), p.Kinds())
			}
			if neg != nil && neg.Eval(ev) == got {
				t.Fatalf("not (%q) on event %d is also %v", src, i, got)
			}
			if neg == nil && !got {
				t.Fatalf("%q is false on event %d but its negation can match nothing", src, i)
			}
			if p2.Eval(ev) != got {
				t.Fatalf("%q and its reprint disagree on event %d", src, i)
			}
		}
	})
}
