package cond

import "strings"

// String prints a condition in a canonical form that Parse reads back into the same tree
// (positions aside): binary operands that are themselves and/or expressions are
// parenthesised, "==" prints as "=", quoted values print double-quoted.
func String(n Node) string {
	var b strings.Builder
	write(&b, n)
	return b.String()
}

func write(b *strings.Builder, n Node) {
	switch n := n.(type) {
	case *And:
		operand(b, n.X)
		b.WriteString(" and ")
		operand(b, n.Y)
	case *Or:
		operand(b, n.X)
		b.WriteString(" or ")
		operand(b, n.Y)
	case *Not:
		b.WriteString("not ")
		operand(b, n.X)
	case *MacroRef:
		b.WriteString(n.Name)
	case *Compare:
		b.WriteString(n.Field.String())
		b.WriteByte(' ')
		b.WriteString(n.Op.String())
		switch {
		case n.Op.IsUnary():
		case n.Op.IsList():
			b.WriteString(" (")
			for i, v := range n.List {
				if i > 0 {
					b.WriteString(", ")
				}
				writeValue(b, v)
			}
			b.WriteByte(')')
		default:
			b.WriteByte(' ')
			writeValue(b, n.Value)
		}
	}
}

func operand(b *strings.Builder, n Node) {
	switch n.(type) {
	case *And, *Or:
		b.WriteByte('(')
		write(b, n)
		b.WriteByte(')')
	default:
		write(b, n)
	}
}

func writeValue(b *strings.Builder, v Value) {
	if !v.Quoted {
		b.WriteString(v.Text)
		return
	}
	b.WriteString(Quote(v.Text))
}

// Quote returns s double-quoted with the escapes Parse understands.
func Quote(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Equal reports whether two trees are the same, ignoring positions.
func Equal(a, b Node) bool {
	switch a := a.(type) {
	case *And:
		b, ok := b.(*And)
		return ok && Equal(a.X, b.X) && Equal(a.Y, b.Y)
	case *Or:
		b, ok := b.(*Or)
		return ok && Equal(a.X, b.X) && Equal(a.Y, b.Y)
	case *Not:
		b, ok := b.(*Not)
		return ok && Equal(a.X, b.X)
	case *MacroRef:
		b, ok := b.(*MacroRef)
		return ok && a.Name == b.Name
	case *Compare:
		b, ok := b.(*Compare)
		if !ok || a.Field.Name != b.Field.Name || a.Field.Arg != b.Field.Arg || a.Field.HasArg != b.Field.HasArg ||
			a.Op != b.Op || !valueEqual(a.Value, b.Value) || len(a.List) != len(b.List) {
			return false
		}
		for i := range a.List {
			if !valueEqual(a.List[i], b.List[i]) {
				return false
			}
		}
		return true
	}
	return false
}

func valueEqual(a, b Value) bool { return a.Text == b.Text && a.Quoted == b.Quoted }

// Unquote reads s as one quoted string ("..." or '...', with the escapes Parse understands)
// and reports whether it was one.
func Unquote(s string) (string, bool) {
	if len(s) < 2 || (s[0] != '"' && s[0] != '\'') {
		return "", false
	}
	p := &parser{src: s, lines: []int{0}}
	text, err := p.scanQuoted(s[0])
	if err != nil || p.i != len(s) {
		return "", false
	}
	return text, true
}
