// Package cond parses Falco's condition syntax into an AST that keeps source positions.
//
// The grammar, loosest binding first:
//
//	expr    = and { "or" and }
//	and     = unary { "and" unary }
//	unary   = "not" unary | "(" expr ")" | atom
//	atom    = field op value | field listop "(" [ value { "," value } ] ")" | field "exists" | macro
//	field   = name [ "[" arg "]" ]          name: letters, digits, '_' and '.'
//	value   = "quoted" | 'quoted' | bare    bare: any run without blanks, ( ) , " ' =
//
// The parser knows no field names: whether a field exists, what type it has and which
// operators it supports is decided by the rules package when a condition is compiled.
package cond

import "fmt"

// Pos is a position in the condition's source text; Line and Col count from 1, Col in bytes.
type Pos struct {
	Offset int
	Line   int
	Col    int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Node is a boolean expression.
type Node interface {
	// Position is where the expression starts in the source.
	Position() Pos
	node()
}

// And is X and Y.
type And struct {
	X, Y Node
}

// Or is X or Y.
type Or struct {
	X, Y Node
}

// Not is not X; At is the position of the keyword.
type Not struct {
	X  Node
	At Pos
}

// MacroRef names a macro in boolean position.
type MacroRef struct {
	Name string
	At   Pos
}

// Field is a field reference such as proc.name or proc.aname[2].
type Field struct {
	Name string
	// Arg is the text between the brackets; HasArg tells proc.aname[] apart from proc.aname.
	Arg    string
	HasArg bool
	At     Pos
}

// String renders the field as written.
func (f Field) String() string {
	if f.HasArg {
		return f.Name + "[" + f.Arg + "]"
	}
	return f.Name
}

// Value is one operand. Quoted values are never taken as list names.
type Value struct {
	Text   string
	Quoted bool
	At     Pos
}

// Compare is a field compared with a value, a list of values, or nothing (exists).
type Compare struct {
	Field Field
	Op    Op
	// Value is the operand of a scalar operator.
	Value Value
	// List holds the items of a list operator (in, intersects, pmatch); it may be empty.
	List []Value
	// OpAt is the position of the operator.
	OpAt Pos
}

func (n *And) Position() Pos      { return n.X.Position() }
func (n *Or) Position() Pos       { return n.X.Position() }
func (n *Not) Position() Pos      { return n.At }
func (n *MacroRef) Position() Pos { return n.At }
func (n *Compare) Position() Pos  { return n.Field.At }

func (*And) node()      {}
func (*Or) node()       {}
func (*Not) node()      {}
func (*MacroRef) node() {}
func (*Compare) node()  {}

// Op is a comparison operator.
type Op uint8

// Operators. Eq is written "=" or "==".
const (
	OpInvalid Op = iota
	Eq
	Ne
	Lt
	Le
	Gt
	Ge
	In
	Intersects
	Pmatch
	StartsWith
	EndsWith
	Contains
	IContains
	BContains
	BStartsWith
	Glob
	IGlob
	Regex
	Exists
	numOps
)

var opNames = [numOps]string{
	OpInvalid: "<invalid>", Eq: "=", Ne: "!=", Lt: "<", Le: "<=", Gt: ">", Ge: ">=",
	In: "in", Intersects: "intersects", Pmatch: "pmatch", StartsWith: "startswith",
	EndsWith: "endswith", Contains: "contains", IContains: "icontains", BContains: "bcontains",
	BStartsWith: "bstartswith", Glob: "glob", IGlob: "iglob", Regex: "regex", Exists: "exists",
}

func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Ops lists every valid operator in documentation order.
func Ops() []Op {
	out := make([]Op, 0, numOps-1)
	for o := Eq; o < numOps; o++ {
		out = append(out, o)
	}
	return out
}

// IsList reports whether the operator takes a parenthesised list.
func (o Op) IsList() bool { return o == In || o == Intersects || o == Pmatch }

// IsUnary reports whether the operator takes no operand.
func (o Op) IsUnary() bool { return o == Exists }

// ParseOp maps an operator's spelling to the operator ("==" is Eq).
func ParseOp(s string) (Op, bool) {
	if s == "==" {
		return Eq, true
	}
	for o := Eq; o < numOps; o++ {
		if opNames[o] == s {
			return o, true
		}
	}
	return OpInvalid, false
}
