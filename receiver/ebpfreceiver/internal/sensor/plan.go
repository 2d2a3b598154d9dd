//go:build linux

package sensor

import "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"

// AttachPlan is what a set of compiled policies needs attached: Policy.Ensure
// attaches it.
type AttachPlan struct {
	// Kinds says which rule kinds are in use (their programs must be attached).
	Kinds [numKinds]bool
	// NeedsLSM: a rule is enforced by a BPF LSM hook.
	NeedsLSM bool
	// ExecLSM: a process.exec deny rule needs lsm/bprm_check_security.
	ExecLSM bool
	// PathEvents lists the file events of the lsm/path_* hooks in use.
	PathEvents map[policy.Event]bool
	// NetEvents lists the network events in use (each has its own hooks).
	NetEvents map[policy.Event]bool
	// SysEvents lists the syscall-kind events in use.
	SysEvents map[policy.Event]bool
	// SysLSM lists the syscall-kind events with rules on BPF LSM hooks.
	SysLSM map[policy.Event]bool

	// fileLSM: every file rule runs in the LSM hook, none on syscall exit.
	fileLSM bool
	// lsmRules are the rules of each kind carried by security hooks (the
	// selector's lsm_rules).
	lsmRules [numKinds]uint64
	// fileRules are all file rule slots; writeRules the file.write ones,
	// pathRules those of the lsm/path_* events.
	fileRules, writeRules, pathRules uint64
	// failedRules are the file.open rules that see failed opens (syscall exit only).
	failedRules uint64
	// sysRules are the rule slots of each syscall-kind event.
	sysRules map[policy.Event]uint64
}

func newAttachPlan() *AttachPlan {
	return &AttachPlan{
		PathEvents: map[policy.Event]bool{}, NetEvents: map[policy.Event]bool{},
		SysEvents: map[policy.Event]bool{}, SysLSM: map[policy.Event]bool{}, sysRules: map[policy.Event]uint64{},
	}
}

// sysOnTracepoints says whether rules of a syscall-kind event are left to the
// tracepoints (not all carried by LSM hooks).
func (p *AttachPlan) sysOnTracepoints(ev policy.Event) bool {
	if ev == policy.EventProcessPtrace && p.sysRules[ev] != 0 {
		// The security hook sees attaches only: PTRACE_TRACEME, the POKEs and
		// the register writes are reported by the tracepoint for every rule.
		return true
	}
	return p.sysRules[ev]&^p.lsmRules[KindSys] != 0
}

// fileOpenOnLSM says whether file.open rules run in lsm/file_open.
func (p *AttachPlan) fileOpenOnLSM() bool {
	return (p.fileRules&^p.writeRules&^p.pathRules)&p.lsmRules[KindFile] != 0
}

// writeOnLSM says whether file.write rules run in lsm/file_permission.
func (p *AttachPlan) writeOnLSM() bool { return p.writeRules&p.lsmRules[KindFile] != 0 }
