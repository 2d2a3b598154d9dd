package main

import (
	"slices"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/lower"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
)

// policyMatch is a policy rule that fires on a replayed event.
type policyMatch struct {
	policy *policy.Policy
	rule   *policy.Rule
	body   string
}

// matchPolicies evaluates the policies' rules on a replayed event as the
// receiver does: the kernel part (selector, the rule's keys narrowed by its
// condition) modelled in Go, then the condition where user space decides it.
// Selectors on Kubernetes namespaces and pod labels need the cluster: a policy
// with one never matches offline.
func matchPolicies(pols []*policy.Policy, st *rulestage.Stage, ev *event.Event, dst []policyMatch) []policyMatch {
	kind := rulestage.KindOf(ev)
	for _, p := range pols {
		if !selects(p.Selector, ev) {
			continue
		}
		for i := range p.Rules {
			r := &p.Rules[i]
			if string(r.Event) != kind.String() {
				continue
			}
			kr := r.KernelRule()
			f := lower.Filter{Kind: kind, Paths: kr.Paths, CIDRs: kr.CIDRs, Ports: kr.Ports, Binaries: kr.Binaries}
			for _, a := range kr.Access {
				f.Access = append(f.Access, string(a))
			}
			if r.Event != policy.EventProcessExec {
				f.Binaries = nil // binaries filter only exec events
			}
			if !f.Accepts(modelOf(ev, kind)) {
				continue
			}
			if r.Cond.UserSpace() && !st.HoldsCond(r.Cond, ev) {
				continue
			}
			m := policyMatch{policy: p, rule: r, body: st.RenderCond(r.Cond, ev)}
			dst = append(dst, m)
		}
	}
	return dst
}

// modelOf is what the kernel filters look at, taken from a replayed event.
func modelOf(ev *event.Event, kind rules.Kind) lower.Event {
	m := lower.Event{Kind: kind}
	if ev.Proc != nil {
		m.Exe = ev.Proc.Executable
	}
	switch d := ev.Detail.(type) {
	case *event.File:
		m.Path = d.Path
		m.Read = d.Access == event.AccessRead || d.Access == event.AccessReadWrite
		m.Write = d.Access == event.AccessWrite || d.Access == event.AccessReadWrite
	case *event.Network:
		m.Server = d.Addr()
	}
	return m
}

// selects is the selector, on what a replayed record says of its process.
func selects(s policy.Selector, ev *event.Event) bool {
	p := ev.Proc
	if p == nil {
		return false
	}
	if len(s.UIDs) > 0 && !slices.Contains(s.UIDs, p.UID) {
		return false
	}
	if len(s.Binaries)+len(s.BinaryPrefixes) > 0 {
		ok := slices.Contains(s.Binaries, p.Executable)
		for _, pre := range s.BinaryPrefixes {
			ok = ok || strings.HasPrefix(p.Executable, pre)
		}
		if !ok {
			return false
		}
	}
	switch s.Containers {
	case policy.ContainersOnly:
		if p.ContainerID == "" {
			return false
		}
	case policy.ContainersNone:
		if p.ContainerID != "" {
			return false
		}
	}
	return len(s.Namespaces) == 0 && len(s.PodLabels) == 0
}
