package rules

import (
	"strconv"
	"strings"
)

// NA is what an output renders for a field the event does not have or the table lacks.
const NA = "<NA>"

// Output is a compiled Falco output format: text with %field references.
type Output struct {
	parts []outPart
	// Unknown lists the referenced names that are not fields; they render as <NA>.
	Unknown []string
}

type outPart struct {
	lit   string
	field FieldID
	typ   Type
	idx   int
	multi bool
}

// CompileOutput parses an output format. "%proc.name", "%proc.aname[2]" and "%evt.type"
// reference fields; a '%' not followed by a name is literal text.
func CompileOutput(format string) *Output {
	o := &Output{}
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			o.parts = append(o.parts, outPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); {
		c := format[i]
		if c != '%' || i+1 >= len(format) || !isOutNameStart(format[i+1]) {
			lit.WriteByte(c)
			i++
			continue
		}
		j := i + 1
		for j < len(format) && isOutNameByte(format[j]) {
			j++
		}
		name := strings.TrimRight(format[i+1:j], ".")
		j = i + 1 + len(name)
		arg, hasArg := "", false
		if j < len(format) && format[j] == '[' {
			if end := strings.IndexByte(format[j:], ']'); end > 0 {
				arg, hasArg = format[j+1:j+end], true
				j += end + 1
			}
		}
		flush()
		o.parts = append(o.parts, o.resolve(name, arg, hasArg))
		i = j
	}
	flush()
	return o
}

func isOutNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isOutNameByte(c byte) bool { return isOutNameStart(c) || c == '.' || (c >= '0' && c <= '9') }

func (o *Output) resolve(name, arg string, hasArg bool) outPart {
	full := name
	if hasArg {
		full += "[" + arg + "]"
	}
	if hasArg && name == "evt.arg" {
		if _, err := strconv.Atoi(arg); err != nil {
			name, hasArg = "evt.arg."+arg, false
		}
	}
	fi, ok := LookupField(name)
	if !ok {
		o.Unknown = append(o.Unknown, full)
		return outPart{lit: NA}
	}
	p := outPart{field: fi.ID, typ: fi.Type}
	if hasArg {
		ix, err := strconv.Atoi(arg)
		if err != nil || ix < 0 || ix > MaxMulti || fi.Index == IndexNone {
			o.Unknown = append(o.Unknown, full)
			return outPart{lit: NA}
		}
		p.idx = ix
	} else if fi.Index == IndexRequired {
		o.Unknown = append(o.Unknown, full)
		return outPart{lit: NA}
	} else if fi.Multi {
		p.multi, p.idx = true, fi.MultiStart
	}
	return p
}

// Render appends the output for an event to dst. Multi-valued fields render their values
// space separated. With a dst of enough capacity it does not allocate.
func (o *Output) Render(dst []byte, f Fields) []byte {
	for _, p := range o.parts {
		if p.field == FieldInvalid {
			dst = append(dst, p.lit...)
			continue
		}
		last := p.idx
		if p.multi {
			last = p.idx + MaxMulti - 1
		}
		n := 0
		for i := p.idx; i <= last; i++ {
			start := len(dst)
			if n > 0 {
				dst = append(dst, ' ')
			}
			var ok bool
			dst, ok = appendValue(dst, f, p, i)
			if !ok {
				dst = dst[:start]
				break
			}
			n++
		}
		if n == 0 {
			dst = append(dst, NA...)
		}
	}
	return dst
}

func appendValue(dst []byte, f Fields, p outPart, i int) ([]byte, bool) {
	if p.field == FieldEvtType {
		if s, ok := f.Str(p.field, i); ok {
			return append(dst, s...), true
		}
		return append(dst, f.Kind().String()...), true
	}
	switch p.typ {
	case TypeString:
		s, ok := f.Str(p.field, i)
		return append(dst, s...), ok
	case TypeNumber:
		v, ok := f.Num(p.field, i)
		return strconv.AppendInt(dst, v, 10), ok
	case TypeBool:
		v, ok := f.Bool(p.field, i)
		return strconv.AppendBool(dst, v), ok
	case TypeIP, TypeNet:
		a, ok := f.Addr(p.field, i)
		if !ok {
			return dst, false
		}
		return a.AppendTo(dst), true
	}
	return dst, false
}
