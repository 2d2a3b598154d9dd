package rulestage

import (
	"fmt"
	"path/filepath"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/falco"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/lower"
)

// Loaded is what the rules files of a policy set load to: the rule stage's
// rule set, the kernel policies generated for its rules, and what to tell the user.
type Loaded struct {
	Set *Set
	// Policies are the generated kernel policies, one per rule that needs kernel
	// events, named GeneratedPrefix + "<file>:<rule>".
	Policies []*policy.Policy
	// Rules are the loaded rules with their kernel and user-space parts.
	Rules []LoadedRule
	// SkippedRules are the rules that did not load, disabled ones included.
	SkippedRules []falco.Skipped
	Files        int
	Loaded       int
	// Skipped counts the rules that did not load (not the disabled ones, which
	// Disabled counts).
	Skipped  int
	Disabled int
	// Unfiltered counts loaded rules whose kernel part cannot narrow an event kind.
	Unfiltered int
	// Problems are skipped rules and unreadable files ("file:line: rule "X": reason"),
	// reported in the component status; Warnings are logged only.
	Problems []string
	Warnings []string
}

// LoadedRule is a loaded rule and how it is split between kernel and user space.
type LoadedRule struct {
	Rule *falco.Rule
	// Path is the rules file it was defined in, as configured.
	Path string
	Plan lower.Plan
	// Kernel is its generated kernel policy, nil when it needs none.
	Kernel *policy.Policy
}

// eventOf maps a rule engine kind onto the policy event the kernel senses for
// it; false for a kind this version does not sense.
func eventOf(k rules.Kind) (policy.Event, bool) {
	switch k {
	case rules.FileOpen:
		return policy.EventFileOpen, true
	case rules.FileWrite:
		return policy.EventFileWrite, true
	case rules.FileUnlink:
		return policy.EventFileUnlink, true
	case rules.FileRename:
		return policy.EventFileRename, true
	case rules.FileChmod:
		return policy.EventFileChmod, true
	case rules.NetworkConnect:
		return policy.EventNetworkConnect, true
	case rules.NetworkAccept:
		return policy.EventNetworkAccept, true
	case rules.NetworkListen:
		return policy.EventNetworkListen, true
	case rules.PrivilegeChange:
		return policy.EventPrivilegeChange, true
	case rules.NamespaceChange:
		return policy.EventNamespaceChange, true
	case rules.KernelModuleLoad:
		return policy.EventKernelModuleLoad, true
	case rules.BPFLoad:
		return policy.EventBPFLoad, true
	case rules.ProcessPtrace:
		return policy.EventProcessPtrace, true
	case rules.FileLink:
		return policy.EventFileLink, true
	case rules.FileSymlink:
		return policy.EventFileSymlink, true
	case rules.NetworkSocket:
		return policy.EventNetworkSocket, true
	case rules.FdDup:
		return policy.EventFdDup, true
	}
	return "", false
}

// GeneratedPolicy is the kernel policy a rule's plan needs (nil when every kind
// it matches reaches user space anyway), and the kinds of the plan that no
// sensor reports.
func GeneratedPolicy(file, rule string, plan lower.Plan) (*policy.Policy, []rules.Kind) {
	var unsensed []rules.Kind
	p := &policy.Policy{Name: GeneratedPrefix + file + ":" + rule, Mode: policy.ModeMonitor, Source: file}
	for _, f := range plan.Filters {
		ev, ok := eventOf(f.Kind)
		if !ok {
			unsensed = append(unsensed, f.Kind)
			continue
		}
		r := policy.Rule{Name: string(ev), Event: ev, Paths: f.Paths, CIDRs: f.CIDRs, Ports: f.Ports,
			OpenFlags: f.OpenFlags, RawPath: f.RawPath, FailedOpens: f.FailedOpens,
			ProcessNames: f.ProcessNames, ParentNames: f.ParentNames, TTY: f.TTY, Capabilities: f.Caps,
			AncestorNames: f.AncestorNames, AncestorDepth: f.AncestorDepth, AncestorsOpen: f.AncestorsOpen,
			// The rules file's condition decides both name keys again.
			ParentsCond: f.ParentNames != nil, AncestorsCond: f.AncestorNames != nil,
			NameSuffixes: f.NameSuffixes, NameContains: f.NameContains, RawContains: f.RawContains,
			Action: policy.ActionPost, EffectiveAction: policy.ActionPost, Severity: policy.SeverityInfo}
		for _, a := range f.Access {
			r.Access = append(r.Access, policy.Access(a))
		}
		p.Rules = append(p.Rules, r)
	}
	if len(p.Rules) == 0 {
		return nil, unsensed
	}
	return p, unsensed
}

// severityOf maps a Falco priority onto the nearest policy severity.
func severityOf(p falco.Priority) string {
	switch n := p.SeverityNumber(); {
	case n >= 21:
		return string(policy.SeverityFatal)
	case n >= 17:
		return string(policy.SeverityError)
	case n >= 13:
		return string(policy.SeverityWarn)
	case n >= 9:
		return string(policy.SeverityInfo)
	}
	return string(policy.SeverityDebug)
}

// LoadFiles loads the rules files of a policy set together (lists and macros
// are shared, later files may append to earlier ones), lowers each rule and
// generates the kernel policies it needs. At most room generated policies are
// kept; the rules beyond are skipped with the reason.
func LoadFiles(files []policy.FileResult, room int) Loaded { return LoadFilesWith(nil, files, room) }

// LoadFilesWith is LoadFiles with the lists and macros the policy files of the
// set define (policy.Set.Defs): the rules see them too.
func LoadFilesWith(defs *rules.Defs, files []policy.FileResult, room int) Loaded {
	var out Loaded
	if len(files) == 0 {
		return out
	}
	in := make([]falco.File, len(files))
	for i, f := range files {
		in[i] = falco.File{Name: f.Path, Data: f.Rules}
	}
	res := falco.LoadWith(defs, in...)
	out.Files = len(files)
	for _, err := range res.Errors {
		out.Problems = append(out.Problems, err.Error())
	}
	out.SkippedRules = res.Skipped
	for _, s := range res.Skipped {
		if s.Disabled {
			out.Disabled++
			out.Warnings = append(out.Warnings, s.String())
			continue
		}
		out.Skipped++
		out.Problems = append(out.Problems, s.String())
	}
	var rs []Rule
	for _, r := range res.Rules {
		plan := lower.Lower(r.Predicate.Expr())
		gen, unsensed := GeneratedPolicy(r.Ruleset, r.Name, plan)
		where := fmt.Sprintf("%s:%d: rule %q", pathOf(files, r.Ruleset), r.Line, r.Name)
		if gen != nil && len(out.Policies) >= room {
			sk := falco.Skipped{Rule: r.Name, File: pathOf(files, r.Ruleset), Line: r.Line,
				Reason: fmt.Sprintf("no kernel policy slot left for its filter (at most %d policies in all)", policy.MaxPolicies)}
			out.Skipped++
			out.SkippedRules = append(out.SkippedRules, sk)
			out.Problems = append(out.Problems, sk.String())
			continue
		}
		for _, k := range unsensed {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %s is not sensed by this version: the rule cannot fire on it", where, k))
		}
		wide := false
		for _, f := range plan.Filters {
			if _, sensed := eventOf(f.Kind); sensed && !f.Narrow() {
				wide = true
				out.Warnings = append(out.Warnings, fmt.Sprintf("%s: the kernel cannot narrow %s: every %s event reaches user space", where, f.Kind, f.Kind))
			}
		}
		if wide {
			out.Unfiltered++
		}
		rule := Rule{Name: r.Name, Ruleset: r.Ruleset, Severity: severityOf(r.Priority),
			SeverityNumber: r.Priority.SeverityNumber(), SeverityText: r.Priority.SeverityText(),
			Predicate: r.Predicate, Output: r.Output}
		if gen != nil {
			gen.Source = pathOf(files, r.Ruleset) // errors about the filter name the file
			rule.Kernel = gen.Name
			out.Policies = append(out.Policies, gen)
		}
		rs = append(rs, rule)
		out.Rules = append(out.Rules, LoadedRule{Rule: r, Path: pathOf(files, r.Ruleset), Plan: plan, Kernel: gen})
		out.Loaded++
	}
	out.Set = NewSet(rs)
	return out
}

// pathOf finds the configured path of the rules file named base.
func pathOf(files []policy.FileResult, base string) string {
	for _, f := range files {
		if filepath.Base(f.Path) == base {
			return f.Path
		}
	}
	return base
}
