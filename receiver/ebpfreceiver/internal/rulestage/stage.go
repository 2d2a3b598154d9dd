package rulestage

import (
	"slices"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
)

// Rule is one loaded user-space rule.
type Rule struct {
	// Name is the rule's name (security_rule.name), Ruleset its file's name.
	Name, Ruleset string
	// Severity is the policy severity name closest to the priority (debug, info,
	// warn, error, fatal); SeverityNumber and SeverityText the exact OTLP severity.
	Severity       string
	SeverityNumber int
	SeverityText   string
	Predicate      *rules.Predicate
	Output         *rules.Output
	// Kernel is the name of the kernel policy generated for the rule, "" when the
	// rule runs on the always-on process events only.
	Kernel string
}

// Set is a compiled, immutable set of rules: built on each reload, shared with the
// read loop.
type Set struct {
	rules     []Rule
	rs        *rules.Ruleset
	generated map[string]bool
}

// NewSet indexes rules by the event kinds they can match.
func NewSet(rs []Rule) *Set {
	s := &Set{rules: append([]Rule(nil), rs...), generated: map[string]bool{}}
	preds := make([]*rules.Predicate, len(s.rules))
	for i, r := range s.rules {
		preds[i] = r.Predicate
		if r.Kernel != "" {
			s.generated[r.Kernel] = true
		}
	}
	s.rs = rules.NewRuleset(preds)
	return s
}

// Len is the number of rules.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}

// Generated reports whether policy is a kernel policy generated for a rule of the
// set: its records exist only to feed the rule stage.
func (s *Set) Generated(policy string) bool { return s != nil && s.generated[policy] }

// IsGenerated reports whether a policy name has the form of a generated one.
func IsGenerated(policy string) bool { return strings.HasPrefix(policy, GeneratedPrefix) }

// GeneratedPrefix starts the name of every kernel policy generated for a rule.
const GeneratedPrefix = "falco:"

// Stage evaluates a Set on events. It holds the read loop's scratch state: one
// Stage per read loop, not safe for concurrent use.
type Stage struct {
	f    Fields
	hits []int
	out  []byte
}

// Match evaluates set on ev and appends one Match per rule that fires, in rule
// order. With no rule firing it does not allocate.
func (st *Stage) Match(set *Set, ev *event.Event, dst []*event.Match) []*event.Match {
	if set == nil || len(set.rules) == 0 || ev.Proc == nil {
		return dst
	}
	st.f.Reset(ev)
	if st.f.kind == rules.KindInvalid {
		return dst
	}
	st.hits = set.rs.Match(&st.f, st.hits[:0])
	if st.f.canonicalPath() {
		// A file through a bind mount: the rules that hold on its canonical
		// path match too (once each).
		n := len(st.hits)
		st.f.canonical = true
		st.hits = set.rs.Match(&st.f, st.hits)
		st.hits = dedupeHits(st.hits, n)
		st.f.canonical = false
	}
	for _, i := range st.hits {
		r := &set.rules[i]
		st.out = r.Output.Render(st.out[:0], &st.f)
		dst = append(dst, &event.Match{
			Policy: r.Ruleset, Rule: r.Name, Event: ev.Name, Action: event.ActionPost,
			Severity: r.Severity, UserSpace: true, Body: string(st.out),
			SeverityNumber: r.SeverityNumber, SeverityText: r.SeverityText,
		})
	}
	return dst
}

// Rules returns the set's rules (a copy).
func (s *Set) Rules() []Rule {
	if s == nil {
		return nil
	}
	return append([]Rule(nil), s.rules...)
}

// Holds evaluates a policy rule's condition on ev (false for an event no rule
// sees). It does not allocate.
func (st *Stage) Holds(pred *rules.Predicate, ev *event.Event) bool {
	if pred == nil || ev.Proc == nil {
		return pred == nil
	}
	st.f.Reset(ev)
	if st.f.kind == rules.KindInvalid {
		return false
	}
	if pred.Eval(&st.f) {
		return true
	}
	if !st.f.canonicalPath() {
		return false
	}
	st.f.canonical = true // a file through a bind mount: its canonical path too
	defer func() { st.f.canonical = false }()
	return pred.Eval(&st.f)
}

// dedupeHits drops from hits[n:] the rules already in hits[:n], in place.
func dedupeHits(hits []int, n int) []int {
	out := hits[:n]
	for _, h := range hits[n:] {
		if !slices.Contains(hits[:n], h) {
			out = append(out, h)
		}
	}
	return out
}

// Render renders a rule's output for ev.
func (st *Stage) Render(out *rules.Output, ev *event.Event) string {
	if out == nil || ev.Proc == nil {
		return ""
	}
	st.f.Reset(ev)
	st.out = out.Render(st.out[:0], &st.f)
	return string(st.out)
}

// HoldsCond evaluates a policy rule's compiled condition on ev: true when the
// rule has none.
func (st *Stage) HoldsCond(c *policy.Cond, ev *event.Event) bool {
	x := compiledOf(c)
	if x == nil {
		return true
	}
	return st.Holds(x.Pred, ev)
}

// RenderCond renders a policy rule's output for ev, "" without one.
func (st *Stage) RenderCond(c *policy.Cond, ev *event.Event) string {
	x := compiledOf(c)
	if x == nil || x.Output == nil {
		return ""
	}
	return st.Render(x.Output, ev)
}

// HasOutput reports whether a policy rule renders its own body.
func HasOutput(c *policy.Cond) bool {
	x := compiledOf(c)
	return x != nil && x.Output != nil
}
