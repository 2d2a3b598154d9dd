// Package rules is Vigil's source-agnostic rule engine. It knows events only through the
// Fields interface: a condition (package cond) is compiled against the field table into a
// Predicate whose field names are resolved to ids, whose operands are parsed for the field's
// type, and whose evaluation does not allocate. Falco rules files are read by package falco.
//
// Semantics follow Falco: a comparison on a field the event does not have is false (so
// "not" of it is true, and != on a missing field is false); string comparisons are
// case-sensitive except icontains and iglob; pmatch is a path-prefix match; glob's '*'
// also matches '/'.
package rules

import (
	"fmt"
	"strings"
)

// MarkdownFieldTable renders the field table and the evt.type table as Markdown; the
// documentation embeds it (a test keeps the two equal).
func MarkdownFieldTable() string {
	var b strings.Builder
	b.WriteString("| field | aliases | type | index | event kinds | description |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, fi := range FieldTable() {
		aliases := make([]string, len(fi.Aliases))
		for i, a := range fi.Aliases {
			aliases[i] = "`" + a + "`"
		}
		ix := ""
		switch fi.Index {
		case IndexOptional:
			ix = "optional `[N]`"
		case IndexRequired:
			ix = "required `[N]`"
		}
		if fi.Multi && fi.Index == IndexNone {
			ix = "multi-valued"
		}
		typ := fi.Type.String()
		if fi.ID == FieldEvtType {
			typ = "syscall name"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", fi.Name, strings.Join(aliases, ", "), typ, ix,
			kindsDoc(fi.Kinds), strings.ReplaceAll(fi.Desc, "|", "\\|"))
	}
	b.WriteString("\nOperators by type: string: ")
	b.WriteString(code(stringOps.String()))
	b.WriteString("; number: ")
	b.WriteString(code(numberOps.String()))
	b.WriteString("; bool: ")
	b.WriteString(code(boolOps.String()))
	b.WriteString("; ip and net: ")
	b.WriteString(code(ipOps.String()))
	b.WriteString("; `evt.type`: ")
	b.WriteString(code(evtOps.String()))
	b.WriteString(".\n\n| event kind | Falco `evt.type` values |\n|---|---|\n")
	for _, k := range Kinds() {
		var names []string
		for _, s := range syscalls {
			if s.Kind == k {
				names = append(names, "`"+s.Name+"`")
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", k, strings.Join(names, ", "))
	}
	return b.String()
}

// kindsDoc names a kind set, as "all except ..." when that is shorter.
func kindsDoc(s KindSet) string {
	if s == AllKinds {
		return "all"
	}
	if rest := AllKinds &^ s; rest.Len() <= 3 {
		return "all except " + rest.String()
	}
	return s.String()
}

func code(ops string) string {
	f := strings.Fields(ops)
	for i := range f {
		f[i] = "`" + f[i] + "`"
	}
	return strings.Join(f, " ")
}
