package main

import (
	"path"
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
			f := lower.Filter{Kind: kind, Paths: kr.Paths, CIDRs: kr.CIDRs, Ports: kr.Ports, Binaries: kr.Binaries,
				ProcessNames: kr.ProcessNames, ParentNames: kr.ParentNames, TTY: kr.TTY, Caps: kr.Capabilities}
			if kr.AncestorNames != nil && (ev.Parent != nil && 1+len(ev.Ancestors) >= kr.Depth()) {
				// Only where the record names as many generations as the key
				// reads: a record's ancestry ends at the receiver's ancestor_depth.
				f.AncestorNames, f.AncestorDepth, f.AncestorsOpen = kr.AncestorNames, kr.Depth(), kr.AncestorsOpen
			}
			if ev.Proc == nil || !ev.Proc.ExecAttrs {
				f.TTY, f.Caps = nil, nil // the record does not tell: not filtered offline
			}
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
		m.Name = procName(ev.Proc)
		m.TTY = ev.Proc.TTY != 0
		for n := range 64 {
			if ev.Proc.CapEffective&(1<<n) != 0 {
				m.Caps = append(m.Caps, lower.CapName(n))
			}
		}
	}
	if ev.Parent != nil {
		m.PName = procName(ev.Parent)
	}
	for _, a := range ev.Ancestors {
		n := a.Name
		if n == "" {
			n = path.Base(a.Executable)
		}
		m.Ancestors = append(m.Ancestors, n)
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

// procName is a process's name as the rule stage reads proc.name: the task
// name the record carries, else its executable's base name cut to what the
// kernel keeps.
func procName(p *event.Process) string {
	if p.Name != "" {
		return p.Name
	}
	n := path.Base(p.Executable)
	if p.Executable == "" {
		n = ""
	}
	if len(n) > lower.CommLen {
		n = n[:lower.CommLen]
	}
	return n
}
