package cond

import (
	"fmt"
	"sort"
	"strings"
)

// MaxDepth bounds the nesting of parentheses and "not" so that a hostile condition cannot
// exhaust the stack.
const MaxDepth = 200

// MaxArgLen bounds the text between a field's brackets.
const MaxArgLen = 256

// Error is a syntax error at a position of the condition.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Parse parses a condition.
func Parse(src string) (Node, error) {
	p := &parser{src: src}
	p.lines = lineStarts(src)
	n, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i < len(p.src) {
		return nil, p.errAt(p.i, "unexpected %s", p.describe(p.i))
	}
	return n, nil
}

type parser struct {
	src   string
	i     int
	lines []int
}

func lineStarts(src string) []int {
	ls := []int{0}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			ls = append(ls, i+1)
		}
	}
	return ls
}

func (p *parser) pos(off int) Pos {
	l := sort.Search(len(p.lines), func(i int) bool { return p.lines[i] > off }) - 1
	return Pos{Offset: off, Line: l + 1, Col: off - p.lines[l] + 1}
}

func (p *parser) errAt(off int, format string, args ...any) error {
	return &Error{Pos: p.pos(off), Msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isNameByte(c byte) bool {
	return c == '_' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func isNameStart(c byte) bool { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// isBareByte reports whether c may appear in an unquoted value.
func isBareByte(c byte) bool {
	if isSpace(c) {
		return false
	}
	switch c {
	case '(', ')', ',', '"', '\'', '=':
		return false
	}
	return true
}

func (p *parser) skipSpace() {
	for p.i < len(p.src) && isSpace(p.src[p.i]) {
		p.i++
	}
}

// describe names what is at off, for error messages.
func (p *parser) describe(off int) string {
	if off >= len(p.src) {
		return "end of condition"
	}
	end := off
	for end < len(p.src) && end-off < 24 && !isSpace(p.src[end]) {
		end++
	}
	if end == off {
		end = off + 1
	}
	return fmt.Sprintf("%q", p.src[off:end])
}

// peekWord returns the name-like word at the cursor without consuming it.
func (p *parser) peekWord() string {
	j := p.i
	for j < len(p.src) && isNameByte(p.src[j]) {
		j++
	}
	return p.src[p.i:j]
}

// keyword reports whether the keyword kw is at the cursor as a whole word, and consumes it.
func (p *parser) keyword(kw string) bool {
	p.skipSpace()
	if p.peekWord() != kw {
		return false
	}
	p.i += len(kw)
	return true
}

func (p *parser) parseOr(depth int) (Node, error) {
	x, err := p.parseAnd(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		y, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		x = &Or{X: x, Y: y}
	}
	return x, nil
}

func (p *parser) parseAnd(depth int) (Node, error) {
	x, err := p.parseUnary(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		y, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		x = &And{X: x, Y: y}
	}
	return x, nil
}

func (p *parser) parseUnary(depth int) (Node, error) {
	if depth >= MaxDepth {
		return nil, p.errAt(p.i, "condition nested deeper than %d levels", MaxDepth)
	}
	p.skipSpace()
	start := p.i
	if p.keyword("not") {
		x, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &Not{X: x, At: p.pos(start)}, nil
	}
	if p.i < len(p.src) && p.src[p.i] == '(' {
		p.i++
		x, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.i >= len(p.src) || p.src[p.i] != ')' {
			return nil, p.errAt(p.i, "expected ) to close ( at %s, found %s", p.pos(start), p.describe(p.i))
		}
		p.i++
		return x, nil
	}
	return p.parseAtom()
}

func isKeyword(w string) bool { return w == "and" || w == "or" || w == "not" }

func (p *parser) parseAtom() (Node, error) {
	start := p.i
	if p.i >= len(p.src) || !isNameStart(p.src[p.i]) {
		return nil, p.errAt(p.i, "expected a field, a macro, not or (, found %s", p.describe(p.i))
	}
	name := p.peekWord()
	if isKeyword(name) {
		return nil, p.errAt(p.i, "expected a field, a macro, not or (, found %q", name)
	}
	p.i += len(name)
	f := Field{Name: name, At: p.pos(start)}
	if p.i < len(p.src) && p.src[p.i] == '[' {
		end := strings.IndexByte(p.src[p.i+1:], ']')
		if end < 0 {
			return nil, p.errAt(p.i, "field %s: [ without ]", name)
		}
		if end > MaxArgLen {
			return nil, p.errAt(p.i, "field %s: argument longer than %d bytes", name, MaxArgLen)
		}
		f.Arg, f.HasArg = p.src[p.i+1:p.i+1+end], true
		if strings.ContainsAny(f.Arg, "\n\r") {
			return nil, p.errAt(p.i, "field %s: argument spans lines", name)
		}
		p.i += end + 2
	}
	afterName := p.i
	p.skipSpace()
	opAt := p.i
	op, ok := p.scanOp()
	if !ok {
		// No operator: a macro reference.
		if f.HasArg || strings.Contains(name, ".") {
			return nil, p.errAt(opAt, "field %s: expected an operator, found %s", f, p.describe(opAt))
		}
		p.i = afterName
		return &MacroRef{Name: name, At: f.At}, nil
	}
	c := &Compare{Field: f, Op: op, OpAt: p.pos(opAt)}
	switch {
	case op.IsUnary():
	case op.IsList():
		list, err := p.parseList(op)
		if err != nil {
			return nil, err
		}
		c.List = list
	default:
		p.skipSpace()
		v, err := p.parseValue(op)
		if err != nil {
			return nil, err
		}
		c.Value = v
	}
	return c, nil
}

// scanOp consumes an operator at the cursor.
func (p *parser) scanOp() (Op, bool) {
	s := p.src[p.i:]
	for _, sym := range []string{"==", "!=", "<=", ">=", "=", "<", ">"} {
		if strings.HasPrefix(s, sym) {
			op, _ := ParseOp(sym)
			p.i += len(sym)
			return op, true
		}
	}
	w := p.peekWord()
	if op, ok := ParseOp(w); ok && w != "" && !strings.ContainsAny(w[:1], "=!<>") {
		p.i += len(w)
		return op, true
	}
	return OpInvalid, false
}

func (p *parser) parseList(op Op) ([]Value, error) {
	p.skipSpace()
	if p.i >= len(p.src) || p.src[p.i] != '(' {
		return nil, p.errAt(p.i, "%s: expected ( to start a list, found %s", op, p.describe(p.i))
	}
	open := p.i
	p.i++
	list := []Value{}
	p.skipSpace()
	if p.i < len(p.src) && p.src[p.i] == ')' {
		p.i++
		return list, nil
	}
	for {
		p.skipSpace()
		v, err := p.parseValue(op)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		p.skipSpace()
		if p.i >= len(p.src) {
			return nil, p.errAt(p.i, "%s: list opened at %s is not closed", op, p.pos(open))
		}
		switch p.src[p.i] {
		case ',':
			p.i++
		case ')':
			p.i++
			return list, nil
		default:
			return nil, p.errAt(p.i, "%s: expected , or ) in the list, found %s", op, p.describe(p.i))
		}
	}
}

func (p *parser) parseValue(op Op) (Value, error) {
	start := p.i
	if p.i >= len(p.src) {
		return Value{}, p.errAt(p.i, "%s: expected a value, found end of condition", op)
	}
	if q := p.src[p.i]; q == '"' || q == '\'' {
		text, err := p.scanQuoted(q)
		if err != nil {
			return Value{}, err
		}
		return Value{Text: text, Quoted: true, At: p.pos(start)}, nil
	}
	for p.i < len(p.src) && isBareByte(p.src[p.i]) {
		p.i++
	}
	if p.i == start {
		return Value{}, p.errAt(p.i, "%s: expected a value, found %s", op, p.describe(p.i))
	}
	return Value{Text: p.src[start:p.i], At: p.pos(start)}, nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// scanQuoted consumes a string quoted with q. Escapes: \\ \" \' \n \t \r \xHH; a backslash
// before any other byte is kept as written.
func (p *parser) scanQuoted(q byte) (string, error) {
	start := p.i
	p.i++
	var b strings.Builder
	for p.i < len(p.src) {
		c := p.src[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\' && p.i+1 < len(p.src):
			e := p.src[p.i+1]
			switch e {
			case '\\', '"', '\'':
				b.WriteByte(e)
				p.i += 2
			case 'n':
				b.WriteByte('\n')
				p.i += 2
			case 't':
				b.WriteByte('\t')
				p.i += 2
			case 'r':
				b.WriteByte('\r')
				p.i += 2
			case 'x':
				if p.i+3 < len(p.src) {
					h, ok1 := hexVal(p.src[p.i+2])
					l, ok2 := hexVal(p.src[p.i+3])
					if ok1 && ok2 {
						b.WriteByte(h<<4 | l)
						p.i += 4
						continue
					}
				}
				b.WriteByte(c)
				p.i++
			default:
				b.WriteByte(c)
				p.i++
			}
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", p.errAt(start, "string opened here is not closed")
}
