package policy

import (
	"fmt"
	"strconv"
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

// denyNeeds says what a deny on event e needs and whether c has it.
func denyNeeds(e Event, c Capabilities) (need string, ok bool) {
	switch e {
	case EventNetworkConnect:
		return "BPF LSM, fmod_ret or cgroup/connect programs", c.LSM || c.CgroupSockAddr
	case EventNamespaceChange:
		// setns, unshare and clone pass no BPF LSM hook that could refuse them.
		return "a BPF hook that can refuse setns, unshare and clone (no kernel has one yet)", false
	}
	return "BPF LSM or fmod_ret", c.LSM
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
			if !c.SendSignal {
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
