package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/catalog"
)

// Capabilities are the kernel features probed at start-up that decide which
// actions can be carried out.
type Capabilities struct {
	// LSM: the in-kernel hooks on the kernel's security functions can be
	// attached: BPF LSM programs (CONFIG_BPF_LSM and "bpf" in the active LSM
	// list) or, where BPF LSM is not active, the same programs as fmod_ret on
	// the security_* functions (BPF trampolines). Needed to deny anything but
	// network.connect, and for the file.unlink/rename/chmod events.
	LSM bool
	// Fentry: fentry/fexit/fmod_ret programs (BPF trampolines). Where BPF LSM
	// is not active they make LSM true (fmod_ret); never needed by a policy.
	Fentry bool
	// Kprobe: kprobes. Fallback hooks, never needed by a policy.
	Kprobe bool
	// CgroupSockAddr: cgroup/connect4 and cgroup/connect6 programs, which can
	// deny network.connect without LSM.
	CgroupSockAddr bool
	// SendSignal: the bpf_send_signal helper, needed by kill.
	SendSignal bool
}

// TypicalCapabilities are those of a current distribution kernel booted with
// BPF LSM enabled.
func TypicalCapabilities() Capabilities {
	return Capabilities{LSM: true, Fentry: true, Kprobe: true, CgroupSockAddr: true, SendSignal: true}
}

// has answers the catalog's capability questions.
func (c Capabilities) has(k catalog.Capability) bool {
	switch k {
	case catalog.CapLSM:
		return c.LSM
	case catalog.CapCgroupSockAddr:
		return c.CgroupSockAddr
	}
	return false
}

// denyNeeds says what a deny on event e needs and whether c has it (the
// catalog's Deny row).
func denyNeeds(e Event, c Capabilities) (need string, ok bool) {
	row, found := catalog.Lookup(string(e))
	if !found {
		return "a known event", false
	}
	return row.Deny.Needs, row.DenyPossible(c.has)
}

// CheckCapabilities checks that every rule's action can be carried out with
// c and sets each rule's EffectiveAction: its action, or kill when the
// action is deny, the kernel cannot deny that event, the rule says
// fallback: kill and the kernel can send signals. It checks in monitor mode
// too, so that monitor shows what enforce would do. On error the rules'
// EffectiveAction is left as Action.
func (p *Policy) CheckCapabilities(c Capabilities) error {
	var errs []*Error
	eff := make([]Action, len(p.Rules))
	for i := range p.Rules {
		r := &p.Rules[i]
		key := "rules[" + strconv.Itoa(i) + "]"
		fail := func(field, format string, args ...any) {
			k := key + "." + field
			errs = append(errs, &Error{File: p.Source, Line: p.line(k), Key: k, Reason: fmt.Sprintf(format, args...)})
		}
		eff[i] = r.Action
		switch r.Action {
		case ActionKill:
			// A kill decided in user space is the receiver's SIGKILL.
			if !c.SendSignal && !r.Cond.UserSpace() {
				fail("action", "kill needs bpf_send_signal, which this kernel does not offer")
			}
		case ActionDeny:
			need, ok := denyNeeds(r.Event, c)
			switch {
			case ok:
			case r.Fallback == ActionKill && c.SendSignal:
				eff[i] = ActionKill
			case r.Fallback == ActionKill:
				fail("action", "deny for %s needs %s, which this kernel does not offer, and fallback kill needs bpf_send_signal, which it does not offer either", r.Event, need)
			default:
				fail("action", "deny for %s needs %s, which this kernel does not offer (add fallback: kill to kill instead)", r.Event, need)
			}
		}
	}
	if len(errs) > 0 {
		for i := range p.Rules {
			p.Rules[i].EffectiveAction = p.Rules[i].Action
		}
		return joinErrors(errs)
	}
	for i := range p.Rules {
		p.Rules[i].EffectiveAction = eff[i]
	}
	return nil
}

// CheckImplemented rejects rules that this version's sensors cannot carry out
// on a kernel where the security hooks load (lsm) or not: events only the
// security hooks see, and denies no sensor implements (the catalog's
// Deny.Hooks). It applies fallback: kill to deny rules on events no sensor can
// refuse here. Capabilities other than the security hooks are assumed checked
// by CheckCapabilities.
func (p *Policy) CheckImplemented(lsm bool) error {
	has := func(k catalog.Capability) bool { return k != catalog.CapLSM || lsm }
	var errs []*Error
	for i := range p.Rules {
		r := &p.Rules[i]
		key := "rules[" + strconv.Itoa(i) + "]"
		row, ok := catalog.Lookup(string(r.Event))
		if !ok || !row.Policy {
			errs = append(errs, p.ErrorAt(key+".event",
				"%s is not implemented by this version's sensors (supported: %s)", r.Event, supportedList()))
			continue
		}
		if r.HasCondition() && r.Cond == nil {
			errs = append(errs, p.ErrorAt(key+".condition",
				"the condition is not compiled (a policy with a condition, exceptions or output is loaded with a Linker: LoadLinked)"))
			continue
		}
		if row.SecurityHookOnly && !lsm {
			hook := ""
			if hs := row.HooksOf(catalog.HookLSM); len(hs) > 0 {
				hook = " (" + hs[0].String() + ")"
			}
			errs = append(errs, p.ErrorAt(key+".event",
				"%s needs BPF LSM or fmod_ret%s, which this kernel does not offer", r.Event, hook))
			continue
		}
		if r.EffectiveAction != ActionDeny || row.CanDeny(has) {
			continue
		}
		if r.Fallback == ActionKill {
			r.EffectiveAction = ActionKill
			continue
		}
		errs = append(errs, p.ErrorAt(key+".action",
			"deny for %s is not implemented by this version's sensors (deny works for %s); add fallback: kill to kill instead", r.Event, denyList()))
	}
	if len(errs) == 0 {
		return nil
	}
	return joinErrors(errs)
}

func supportedList() string {
	var s []string
	for _, e := range catalog.PolicyEvents() {
		s = append(s, e.Name)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// denyList says which events can be denied and with what, from the catalog.
func denyList() string {
	var lsm, other []string
	for _, e := range catalog.PolicyEvents() {
		switch {
		case len(e.Deny.Hooks) == 0:
		case e.Deny.Hooks[0].Type == catalog.HookLSM:
			lsm = append(lsm, e.Name)
		default:
			other = append(other, e.Name)
		}
	}
	return strings.Join(lsm, ", ") + " with BPF LSM or fmod_ret, and for " + strings.Join(other, ", ")
}
