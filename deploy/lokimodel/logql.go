package lokimodel

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The LogQL subset (anything else is a parse error, so that a query the model cannot
// evaluate fails its test instead of passing unchecked):
//
//	expr     = cmp { ("and" | "unless") cmp }
//	cmp      = primary [ ">" number ]
//	primary  = agg | range | "(" expr ")" | log          (a log query only on its own)
//	agg      = ("sum" | "count") [ by ] "(" expr ")" [ by ]
//	by       = "by" "(" label { "," label } ")"
//	range    = ("count_over_time" | "rate" | "absent_over_time") "(" log "[" duration "]" [ "offset" duration ] ")"
//	log      = "{" matcher { "," matcher } "}" { "|" matcher }
//	matcher  = label ("=" | "!=" | "=~" | "!~") string
//
// Label filters (the "|" stages) see the stream labels and the structured metadata; a
// missing label has the value "". Regular expressions match the whole value.

// Matcher compares one label.
type Matcher struct {
	Name, Op, Value string
	re              *regexp.Regexp
}

func (m Matcher) matches(v string) bool {
	switch m.Op {
	case "=":
		return v == m.Value
	case "!=":
		return v != m.Value
	case "=~":
		return m.re.MatchString(v)
	default: // "!~"
		return !m.re.MatchString(v)
	}
}

// LogQuery is a stream selector and its label filters.
type LogQuery struct {
	Selector []Matcher
	Filters  []Matcher
}

// Expr is a parsed query.
type Expr interface{ isExpr() }

// RangeAgg is count_over_time, rate or absent_over_time over a log range.
type RangeAgg struct {
	Func          string
	Log           LogQuery
	Range, Offset time.Duration
}

// VectorAgg is sum or count, optionally by labels.
type VectorAgg struct {
	Op    string
	By    []string
	HasBy bool
	Inner Expr
}

// Compare keeps the samples greater than Value.
type Compare struct {
	Inner Expr
	Value float64
}

// SetOp is "and" or "unless" on whole label sets.
type SetOp struct {
	Op          string
	Left, Right Expr
}

func (LogQuery) isExpr()  {}
func (RangeAgg) isExpr()  {}
func (VectorAgg) isExpr() {}
func (Compare) isExpr()   {}
func (SetOp) isExpr()     {}

// Parse parses a query of the subset.
func Parse(q string) (Expr, error) {
	p := &parser{toks: nil}
	if err := p.lex(q); err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	e, err := p.expr()
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	if err := validate(e, true); err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	return e, nil
}

func validate(e Expr, top bool) error {
	switch x := e.(type) {
	case LogQuery:
		if !top {
			return errors.New("a log query cannot be an operand")
		}
		return checkSelector(x.Selector)
	case RangeAgg:
		return checkSelector(x.Log.Selector)
	case VectorAgg:
		return validate(x.Inner, false)
	case Compare:
		return validate(x.Inner, false)
	case SetOp:
		if err := validate(x.Left, false); err != nil {
			return err
		}
		return validate(x.Right, false)
	}
	return fmt.Errorf("unknown expression %T", e)
}

// checkSelector applies Loki's rule: at least one stream matcher must not match "".
func checkSelector(ms []Matcher) error {
	for _, m := range ms {
		if !m.matches("") {
			return nil
		}
	}
	return errors.New("the stream selector needs at least one matcher that does not match the empty string")
}

type token struct {
	kind byte // 'i' ident, 's' string, 'n' number/duration, 'p' punctuation
	text string
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) lex(s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case c == '"':
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
					switch s[j] {
					case '"', '\\':
						b.WriteByte(s[j])
					default:
						return fmt.Errorf("unsupported escape \\%c", s[j])
					}
					continue
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return errors.New("unterminated string")
			}
			p.toks = append(p.toks, token{'s', b.String()})
			i = j + 1
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(s) && (s[j] == '_' || unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j]))) {
				j++
			}
			p.toks = append(p.toks, token{'i', s[i:j]})
			i = j
		case unicode.IsDigit(rune(c)):
			j := i
			for j < len(s) && (unicode.IsDigit(rune(s[j])) || s[j] == '.' || unicode.IsLetter(rune(s[j]))) {
				j++
			}
			p.toks = append(p.toks, token{'n', s[i:j]})
			i = j
		default:
			for _, op := range []string{"=~", "!~", "!=", "=", "{", "}", "(", ")", "[", "]", ",", "|", ">"} {
				if strings.HasPrefix(s[i:], op) {
					p.toks = append(p.toks, token{'p', op})
					i += len(op)
					goto next
				}
			}
			return fmt.Errorf("unsupported character %q at %d", c, i)
		next:
		}
	}
	return nil
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{}
}

func (p *parser) accept(kind byte, text string) bool {
	t := p.peek()
	if t.kind == kind && (text == "" || t.text == text) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) want(kind byte, text string) (token, error) {
	t := p.peek()
	if t.kind != kind || (text != "" && t.text != text) {
		if t.kind == 0 {
			return t, fmt.Errorf("want %q, got end of query", text)
		}
		return t, fmt.Errorf("want %q, got %q", text, t.text)
	}
	p.pos++
	return t, nil
}

func (p *parser) expr() (Expr, error) {
	left, err := p.cmp()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != 'i' || (t.text != "and" && t.text != "unless") {
			return left, nil
		}
		p.pos++
		right, err := p.cmp()
		if err != nil {
			return nil, err
		}
		left = SetOp{Op: t.text, Left: left, Right: right}
	}
}

func (p *parser) cmp() (Expr, error) {
	e, err := p.primary()
	if err != nil {
		return nil, err
	}
	if p.accept('p', ">") {
		t, err := p.want('n', "")
		if err != nil {
			return nil, err
		}
		v, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, fmt.Errorf("comparison: %q is not a number", t.text)
		}
		return Compare{Inner: e, Value: v}, nil
	}
	return e, nil
}

func (p *parser) primary() (Expr, error) {
	t := p.peek()
	switch {
	case t.kind == 'p' && t.text == "(":
		p.pos++
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		_, err = p.want('p', ")")
		return e, err
	case t.kind == 'p' && t.text == "{":
		return p.log()
	case t.kind == 'i' && (t.text == "sum" || t.text == "count"):
		p.pos++
		agg := VectorAgg{Op: t.text}
		if p.peek().kind == 'i' && p.peek().text == "by" {
			by, err := p.by()
			if err != nil {
				return nil, err
			}
			agg.By, agg.HasBy = by, true
		}
		if _, err := p.want('p', "("); err != nil {
			return nil, err
		}
		inner, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.want('p', ")"); err != nil {
			return nil, err
		}
		if p.peek().kind == 'i' && p.peek().text == "by" {
			if agg.HasBy {
				return nil, errors.New("by given twice")
			}
			by, err := p.by()
			if err != nil {
				return nil, err
			}
			agg.By, agg.HasBy = by, true
		}
		agg.Inner = inner
		return agg, nil
	case t.kind == 'i' && (t.text == "count_over_time" || t.text == "rate" || t.text == "absent_over_time"):
		p.pos++
		if _, err := p.want('p', "("); err != nil {
			return nil, err
		}
		lq, err := p.log()
		if err != nil {
			return nil, err
		}
		r := RangeAgg{Func: t.text, Log: lq}
		if _, err := p.want('p', "["); err != nil {
			return nil, err
		}
		if r.Range, err = p.duration(); err != nil {
			return nil, err
		}
		if _, err := p.want('p', "]"); err != nil {
			return nil, err
		}
		if p.accept('i', "offset") {
			if r.Offset, err = p.duration(); err != nil {
				return nil, err
			}
		}
		_, err = p.want('p', ")")
		return r, err
	case t.kind == 0:
		return nil, errors.New("unexpected end of query")
	}
	return nil, fmt.Errorf("unsupported %q", t.text)
}

func (p *parser) by() ([]string, error) {
	p.pos++ // "by"
	if _, err := p.want('p', "("); err != nil {
		return nil, err
	}
	var out []string
	for {
		t, err := p.want('i', "")
		if err != nil {
			return nil, err
		}
		out = append(out, t.text)
		if !p.accept('p', ",") {
			break
		}
	}
	_, err := p.want('p', ")")
	return out, err
}

func (p *parser) duration() (time.Duration, error) {
	t, err := p.want('n', "")
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(t.text)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("duration %q", t.text)
	}
	return d, nil
}

func (p *parser) log() (LogQuery, error) {
	var lq LogQuery
	if _, err := p.want('p', "{"); err != nil {
		return lq, err
	}
	for {
		m, err := p.matcher()
		if err != nil {
			return lq, err
		}
		lq.Selector = append(lq.Selector, m)
		if !p.accept('p', ",") {
			break
		}
	}
	if _, err := p.want('p', "}"); err != nil {
		return lq, err
	}
	for p.accept('p', "|") {
		m, err := p.matcher()
		if err != nil {
			return lq, fmt.Errorf("pipeline stage: only label filters (label op \"value\") are supported: %w", err)
		}
		lq.Filters = append(lq.Filters, m)
	}
	return lq, nil
}

func (p *parser) matcher() (Matcher, error) {
	name, err := p.want('i', "")
	if err != nil {
		return Matcher{}, err
	}
	op := p.peek()
	if op.kind != 'p' || !slices.Contains([]string{"=", "!=", "=~", "!~"}, op.text) {
		return Matcher{}, fmt.Errorf("label %s: want =, !=, =~ or !~, got %q", name.text, op.text)
	}
	p.pos++
	val, err := p.want('s', "")
	if err != nil {
		return Matcher{}, fmt.Errorf("label %s: want a quoted value: %w", name.text, err)
	}
	m := Matcher{Name: name.text, Op: op.text, Value: val.text}
	if op.text == "=~" || op.text == "!~" {
		if m.re, err = regexp.Compile("^(?:" + val.text + ")$"); err != nil {
			return Matcher{}, fmt.Errorf("label %s: %w", name.text, err)
		}
	}
	return m, nil
}

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Result of an instant query: a vector for metric queries, the entries for log queries.
type Result struct {
	Vector  []Sample
	Entries []Entry
}

// Eval evaluates q at time at over the stored entries (an instant query; a log query
// returns the entries in (at-logRange, at]).
func Eval(q string, entries []Entry, at time.Time, logRange time.Duration) (Result, error) {
	e, err := Parse(q)
	if err != nil {
		return Result{}, err
	}
	if lq, ok := e.(LogQuery); ok {
		return Result{Entries: selectEntries(lq, entries, at.Add(-logRange), at)}, nil
	}
	v := evalVector(e, entries, at)
	sort.Slice(v, func(i, j int) bool { return key(v[i].Labels) < key(v[j].Labels) })
	return Result{Vector: v}, nil
}

func selectEntries(lq LogQuery, entries []Entry, from, to time.Time) []Entry {
	var out []Entry
	for _, e := range entries {
		if !e.Time.After(from) || e.Time.After(to) {
			continue
		}
		if matchAll(lq.Selector, func(n string) string { return e.Labels[n] }) &&
			matchAll(lq.Filters, func(n string) string { return labelOf(e, n) }) {
			out = append(out, e)
		}
	}
	return out
}

// labelOf is a label as the pipeline sees it: stream label, else structured metadata.
func labelOf(e Entry, name string) string {
	if v, ok := e.Labels[name]; ok {
		return v
	}
	return e.Metadata[name]
}

func matchAll(ms []Matcher, get func(string) string) bool {
	for _, m := range ms {
		if !m.matches(get(m.Name)) {
			return false
		}
	}
	return true
}

func evalVector(e Expr, entries []Entry, at time.Time) []Sample {
	switch x := e.(type) {
	case RangeAgg:
		end := at.Add(-x.Offset)
		sel := selectEntries(x.Log, entries, end.Add(-x.Range), end)
		if x.Func == "absent_over_time" {
			if len(sel) > 0 {
				return nil
			}
			lbs := map[string]string{}
			for _, m := range x.Log.Selector {
				if m.Op == "=" {
					lbs[m.Name] = m.Value
				}
			}
			return []Sample{{Labels: lbs, Value: 1}}
		}
		groups := map[string]*Sample{}
		var order []string
		for _, en := range sel {
			lbs := clone(en.Metadata)
			for k, v := range en.Labels {
				lbs[k] = v
			}
			k := key(lbs)
			if groups[k] == nil {
				groups[k] = &Sample{Labels: lbs}
				order = append(order, k)
			}
			groups[k].Value++
		}
		out := make([]Sample, 0, len(order))
		for _, k := range order {
			s := *groups[k]
			if x.Func == "rate" {
				s.Value /= x.Range.Seconds()
			}
			out = append(out, s)
		}
		return out
	case VectorAgg:
		in := evalVector(x.Inner, entries, at)
		groups := map[string]*Sample{}
		var order []string
		for _, s := range in {
			lbs := map[string]string{}
			for _, n := range x.By {
				if v := s.Labels[n]; v != "" {
					lbs[n] = v
				}
			}
			k := key(lbs)
			if groups[k] == nil {
				groups[k] = &Sample{Labels: lbs}
				order = append(order, k)
			}
			if x.Op == "sum" {
				groups[k].Value += s.Value
			} else {
				groups[k].Value++
			}
		}
		out := make([]Sample, 0, len(order))
		for _, k := range order {
			out = append(out, *groups[k])
		}
		return out
	case Compare:
		var out []Sample
		for _, s := range evalVector(x.Inner, entries, at) {
			if s.Value > x.Value && !math.IsNaN(s.Value) {
				out = append(out, s)
			}
		}
		return out
	case SetOp:
		right := map[string]bool{}
		for _, s := range evalVector(x.Right, entries, at) {
			right[key(s.Labels)] = true
		}
		var out []Sample
		for _, s := range evalVector(x.Left, entries, at) {
			if right[key(s.Labels)] == (x.Op == "and") {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// key is a canonical form of a label set.
func key(lbs map[string]string) string {
	names := make([]string, 0, len(lbs))
	for n := range lbs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + "=" + strconv.Quote(lbs[n]) + ",")
	}
	return b.String()
}
