// Package catalog lists every event Vigil's sensors report, one row per event:
// its name, the rule kind it belongs to, the filter keys a policy rule may use
// for it, the kernel hooks that implement it, what a deny needs and the
// attributes its records carry. The policy front end, the sensors and the docs
// read it; it imports nothing of the kernel side, so the offline policy checker
// can use it without linking the eBPF library.
package catalog

// Kind groups events that share a kernel rule table (64 rule slots each) and
// a filter shape.
type Kind string

// Kinds.
const (
	KindFile      Kind = "file"      // path filters (LPM trie on the resolved path)
	KindNetwork   Kind = "network"   // CIDR and port filters
	KindExec      Kind = "exec"      // executed-binary filters
	KindSyscall   Kind = "syscall"   // no filter keys: the selector decides
	KindLifecycle Kind = "lifecycle" // process lifecycle records: not policy events
)

// Filter keys a rule may use.
const (
	FilterPaths    = "paths"
	FilterAccess   = "access"
	FilterCIDRs    = "cidrs"
	FilterPorts    = "ports"
	FilterBinaries = "binaries"
	FilterExeFlags = "exe_flags"
)

// HookType says how a hook attaches.
type HookType string

// Hook types.
const (
	// HookBTFTracepoint: tp_btf/NAME (a BTF-typed raw tracepoint).
	HookBTFTracepoint HookType = "tp_btf"
	// HookLSM: the security hook NAME, as BPF LSM (lsm/NAME) or, where BPF LSM
	// is not active, as fmod_ret on the kernel function security_NAME.
	HookLSM HookType = "lsm"
	// HookCgroup: a cgroup socket program cgroup/NAME on the cgroup2 root.
	HookCgroup HookType = "cgroup"
	// HookSyscallExit: the syscall NAME (x86_64 and ia32), decided by a handler
	// of the one program on tp_btf/sys_exit that every sensor's syscall
	// handlers share (bpf/dispatch.h). HookSyscallEnter: the x86_64 syscall
	// NAME on its own tracepoint syscalls/sys_enter_NAME (a program there runs
	// on that syscall only), its ia32 twin on tp_btf/sys_exit's dispatcher
	// (the per-syscall tracepoints skip ia32); tp_btf/sys_enter for both where
	// those tracepoints cannot attach.
	HookSyscallEnter HookType = "syscall_enter"
	HookSyscallExit  HookType = "syscall_exit"
)

// Hook is one kernel attachment point.
type Hook struct {
	Type HookType
	Name string
}

// String names the hook as the logs and docs do: "lsm/file_open",
// "tracepoint/syscalls/sys_enter_setuid", "tp_btf/sys_exit:accept4",
// "cgroup/connect4".
func (h Hook) String() string {
	switch h.Type {
	case HookSyscallEnter:
		return "tracepoint/syscalls/sys_enter_" + h.Name
	case HookSyscallExit:
		return "tp_btf/sys_exit:" + h.Name
	}
	return string(h.Type) + "/" + h.Name
}

// Capability is a kernel feature probed at start-up.
type Capability string

// Capabilities a deny may need.
const (
	// CapLSM: the security hooks load (BPF LSM, or their fmod_ret build).
	CapLSM Capability = "lsm"
	// CapCgroupSockAddr: cgroup/connect4 and cgroup/connect6 programs.
	CapCgroupSockAddr Capability = "cgroup_sock_addr"
)

// Deny says what refusing an event takes.
type Deny struct {
	// AnyOf are the capabilities of which one suffices (none: no kernel can).
	AnyOf []Capability
	// Needs says it in words, for errors: "BPF LSM or fmod_ret".
	Needs string
	// Hooks are the hooks of this version's sensors that refuse the event;
	// none when no sensor of this version can deny it (even with AnyOf).
	Hooks []Hook
}

// Event is one row of the catalog.
type Event struct {
	// Name is the record's event_name and what a rule's event: names.
	Name string
	Kind Kind
	// Policy: rules may name this event (lifecycle records are always on).
	Policy bool
	// Filters are the rule keys allowed for this event.
	Filters []string
	// Hooks implement the event; a rule attaches only those it needs.
	Hooks []Hook
	// SecurityHookOnly: only the security hooks (HookLSM) see this event, so
	// it needs CapLSM to be observed at all.
	SecurityHookOnly bool
	Deny             Deny
	// Attributes are the event-specific attributes of its records (besides
	// the process, parent and rule attributes every record carries).
	Attributes []string
}

// onEntry and onExit are syscalls the syscall dispatchers decide (bpf/dispatch.h).
func onEntry(names ...string) []Hook { return hooksOf(HookSyscallEnter, names) }

func onExit(names ...string) []Hook { return hooksOf(HookSyscallExit, names) }

func hooksOf(t HookType, names []string) []Hook {
	out := make([]Hook, len(names))
	for i, n := range names {
		out[i] = Hook{t, n}
	}
	return out
}

func lsm(names ...string) []Hook {
	out := make([]Hook, len(names))
	for i, n := range names {
		out[i] = Hook{HookLSM, n}
	}
	return out
}

func join(hs ...[]Hook) []Hook {
	var out []Hook
	for _, h := range hs {
		out = append(out, h...)
	}
	return out
}

func with(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

// rows is the catalog: the policy events in documentation order, then the
// lifecycle records.
func rows() []Event {
	sysExit := []Hook{{HookBTFTracepoint, "sys_exit"}}
	byLSM := []Capability{CapLSM}
	needsLSM := "BPF LSM or fmod_ret"
	fileAttrs := []string{"file.path", "vigil.hook"}
	netPeer := []string{"network.peer.address", "network.peer.port", "network.transport", "network.type"}
	sysAttrs := []string{"vigil.syscall.number", "vigil.syscall.args", "vigil.hook"}
	privHooks := lsm("task_fix_setuid", "task_fix_setgid", "capset")
	moduleHooks := lsm("kernel_read_file", "kernel_load_data")
	connect := []Hook{{HookCgroup, "connect4"}, {HookCgroup, "connect6"}}
	ptraceHooks := lsm("ptrace_access_check", "ptrace_traceme")
	return []Event{
		{Name: "file.open", Kind: KindFile, Policy: true, Filters: []string{FilterPaths, FilterAccess},
			Hooks: join(sysExit, lsm("file_open")),
			Deny:  Deny{AnyOf: byLSM, Needs: needsLSM, Hooks: lsm("file_open")}, Attributes: with(fileAttrs, "vigil.file.access")},
		{Name: "file.write", Kind: KindFile, Policy: true, Filters: []string{FilterPaths},
			Hooks: join(sysExit, lsm("file_permission")),
			Deny:  Deny{AnyOf: byLSM, Needs: needsLSM, Hooks: lsm("file_permission")}, Attributes: with(fileAttrs, "vigil.file.access")},
		{Name: "file.unlink", Kind: KindFile, Policy: true, Filters: []string{FilterPaths}, Hooks: lsm("path_unlink"),
			SecurityHookOnly: true, Deny: Deny{AnyOf: byLSM, Needs: needsLSM, Hooks: lsm("path_unlink")}, Attributes: fileAttrs},
		{Name: "file.rename", Kind: KindFile, Policy: true, Filters: []string{FilterPaths}, Hooks: lsm("path_rename"),
			SecurityHookOnly: true, Deny: Deny{AnyOf: byLSM, Needs: needsLSM, Hooks: lsm("path_rename")},
			Attributes: with(fileAttrs, "vigil.file.rename_side")},
		{Name: "file.chmod", Kind: KindFile, Policy: true, Filters: []string{FilterPaths}, Hooks: lsm("path_chmod"),
			SecurityHookOnly: true, Deny: Deny{AnyOf: byLSM, Needs: needsLSM, Hooks: lsm("path_chmod")},
			Attributes: with(fileAttrs, "vigil.file.mode")},
		{Name: "network.connect", Kind: KindNetwork, Policy: true, Filters: []string{FilterCIDRs, FilterPorts}, Hooks: connect,
			Deny:       Deny{AnyOf: []Capability{CapLSM, CapCgroupSockAddr}, Needs: "BPF LSM, fmod_ret or cgroup/connect programs", Hooks: connect},
			Attributes: netPeer},
		{Name: "network.accept", Kind: KindNetwork, Policy: true, Filters: []string{FilterCIDRs, FilterPorts},
			Hooks: onExit("accept4", "accept"), Deny: Deny{AnyOf: byLSM, Needs: needsLSM}, Attributes: netPeer},
		{Name: "network.listen", Kind: KindNetwork, Policy: true, Filters: []string{FilterCIDRs, FilterPorts},
			Hooks: onExit("listen"), Deny: Deny{AnyOf: byLSM, Needs: needsLSM},
			Attributes: []string{"network.local.address", "network.local.port", "network.transport", "network.type"}},
		{Name: "process.exec", Kind: KindExec, Policy: true, Filters: []string{FilterBinaries, FilterExeFlags},
			Hooks: join([]Hook{{HookBTFTracepoint, "sched_process_exec"}}, lsm("bprm_check_security")),
			Deny:  Deny{AnyOf: byLSM, Needs: needsLSM, Hooks: lsm("bprm_check_security")}, Attributes: []string{"vigil.exec.path"}},
		{Name: "privilege.change", Kind: KindSyscall, Policy: true,
			Hooks: join(onEntry("setuid", "setreuid", "setresuid", "setfsuid", "setgid", "setregid", "setresgid", "setfsgid", "capset"), privHooks),
			Deny:  Deny{AnyOf: byLSM, Needs: needsLSM, Hooks: privHooks}, Attributes: sysAttrs},
		{Name: "namespace.change", Kind: KindSyscall, Policy: true,
			Hooks: onExit("setns", "unshare", "clone", "clone3"),
			// setns, unshare and clone pass no security hook that could refuse them.
			Deny:       Deny{Needs: "a BPF hook that can refuse setns, unshare and clone (no kernel has one yet)"},
			Attributes: sysAttrs},
		{Name: "kernel.module_load", Kind: KindSyscall, Policy: true,
			Hooks: join(onExit("init_module", "finit_module"), moduleHooks),
			Deny:  Deny{AnyOf: byLSM, Needs: needsLSM, Hooks: moduleHooks}, Attributes: with(sysAttrs, "file.path")},
		{Name: "bpf.load", Kind: KindSyscall, Policy: true, Hooks: join(onExit("bpf"), lsm("bpf")),
			Deny: Deny{AnyOf: byLSM, Needs: needsLSM, Hooks: lsm("bpf")}, Attributes: with(sysAttrs, "vigil.bpf.program_type")},
		// The security hooks see attaches and PTRACE_TRACEME; the POKEs and register
		// writes only the tracepoint, which stays attached with them.
		{Name: "process.ptrace", Kind: KindSyscall, Policy: true, Hooks: join(onExit("ptrace"), ptraceHooks),
			Deny: Deny{AnyOf: byLSM, Needs: needsLSM, Hooks: ptraceHooks}, Attributes: with(sysAttrs, "vigil.target.pid")},
		{Name: "file.link", Kind: KindSyscall, Policy: true, Hooks: onExit("link", "linkat"),
			Deny:       Deny{AnyOf: byLSM, Needs: needsLSM},
			Attributes: with(sysAttrs, "file.path", "vigil.file.link.old_path")},
		{Name: "file.symlink", Kind: KindSyscall, Policy: true, Hooks: onExit("symlink", "symlinkat"),
			Deny:       Deny{AnyOf: byLSM, Needs: needsLSM},
			Attributes: with(sysAttrs, "file.path", "file.symbolic_link.target_path")},
		{Name: "network.socket", Kind: KindSyscall, Policy: true, Hooks: join(onExit("socket"), lsm("socket_create")),
			Deny:       Deny{AnyOf: byLSM, Needs: needsLSM, Hooks: lsm("socket_create")},
			Attributes: with(sysAttrs, "vigil.socket.family", "vigil.socket.type", "vigil.socket.protocol")},
		{Name: "fd.dup", Kind: KindSyscall, Policy: true,
			Hooks: onExit("dup", "dup2", "dup3", "fcntl"),
			// Nothing can refuse a dup: the descriptor is already the process's.
			Deny: Deny{Needs: "a hook that can refuse dup2 (no kernel has one)"},
			Attributes: with(sysAttrs, "vigil.fd.old", "vigil.fd.new", "network.type", "network.transport",
				"network.peer.address", "network.peer.port", "network.local.address", "network.local.port", "vigil.socket.family")},
		{Name: "process.exit", Kind: KindLifecycle, Hooks: []Hook{{HookBTFTracepoint, "sched_process_exit"}},
			Attributes: []string{"process.exit.code", "vigil.exit.signal", "vigil.exit.core_dumped"}},
		{Name: "process.fork", Kind: KindLifecycle, Hooks: []Hook{{HookBTFTracepoint, "sched_process_fork"}}},
	}
}

// All returns every row, in documentation order. Each call builds a fresh
// table (the catalog holds no state): callers look events up at load time,
// not per event.
func All() []Event { return rows() }

// PolicyEvents returns the rows rules may name, in documentation order.
func PolicyEvents() []Event {
	var out []Event
	for _, e := range rows() {
		if e.Policy {
			out = append(out, e)
		}
	}
	return out
}

// Lookup returns an event's row.
func Lookup(name string) (Event, bool) {
	for _, e := range rows() {
		if e.Name == name {
			return e, true
		}
	}
	return Event{}, false
}

// AllowsFilter reports whether a rule on this event may use the filter key.
func (e Event) AllowsFilter(key string) bool {
	for _, f := range e.Filters {
		if f == key {
			return true
		}
	}
	return false
}

// HooksOf returns the event's hooks of one type.
func (e Event) HooksOf(t HookType) []Hook {
	var out []Hook
	for _, h := range e.Hooks {
		if h.Type == t {
			out = append(out, h)
		}
	}
	return out
}

// CanDeny reports whether this version's sensors can refuse the event, given
// which capabilities are present.
func (e Event) CanDeny(has func(Capability) bool) bool {
	if len(e.Deny.Hooks) == 0 {
		return false
	}
	for _, h := range e.Deny.Hooks {
		switch h.Type {
		case HookLSM:
			if has(CapLSM) {
				return true
			}
		case HookCgroup:
			if has(CapCgroupSockAddr) {
				return true
			}
		}
	}
	return false
}

// DenyPossible reports whether the kernel's capabilities allow a deny at all
// (one of Deny.AnyOf), whether or not this version implements it.
func (e Event) DenyPossible(has func(Capability) bool) bool {
	for _, c := range e.Deny.AnyOf {
		if has(c) {
			return true
		}
	}
	return false
}
