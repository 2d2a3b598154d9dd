package tetragon

import "strings"

// role says what a hook argument means for the Vigil event it maps onto, and
// so which matchArgs operators can become a Vigil rule filter.
type role int

const (
	rolePath      role = iota + 1 // a file (or path) whose resolved path Vigil filters: paths
	roleMask                      // security_file_permission's MAY_READ / MAY_WRITE mask
	roleExecPath                  // the file being executed: rules[].binaries
	roleSock                      // a socket being connected: DAddr / DPort of the peer
	roleSockaddr                  // the address a socket connects to: its address and port
	roleUID                       // a user or group id asked for: Equal 0 only
	roleCaps                      // a capability set given to capset: NotEqual 0 only
	roleReadID                    // kernel_read_file_id / kernel_load_data_id: Equal 2 (module)
	roleBPFCmd                    // the bpf() command: Equal 5 (BPF_PROG_LOAD)
	rolePtraceReq                 // the ptrace request: PTRACE_ATTACH or PTRACE_SEIZE
)

// target is what a Tetragon hook becomes.
type target struct {
	event string
	// args maps an argument index to its role; an argument not listed
	// cannot be filtered on.
	args map[int]role
	// needs, when set, names an argument that must be filtered for the hook
	// to mean the Vigil event (security_kernel_read_file reads firmware too).
	needs int
	need  string
	// narrower says what Vigil reports less of than the hook (a note); wider
	// what it reports more of (a note for post, an error for kill and deny).
	narrower, wider string
}

const noNeed = -1

// to is a target without special needs.
func to(event string, args map[int]role) target {
	return target{event: event, args: args, needs: noNeed}
}

var (
	privNarrower = "Vigil reports a set*id call that makes a uid or gid 0 that was not, and capset calls that add capabilities; other credential changes are not reported"
	execArgs     = map[int]role{0: roleExecPath}
)

// kernelHooks maps kernel functions (kprobes, fentries, and LSM hooks with
// their security_ prefix) onto Vigil events.
func kernelHooks() map[string]target {
	file := func(i int) target { return to("file.open", map[int]role{i: rolePath}) }
	priv1 := to("privilege.change", map[int]role{0: roleUID})
	priv2 := to("privilege.change", map[int]role{0: roleUID, 1: roleUID})
	priv3 := to("privilege.change", map[int]role{0: roleUID, 1: roleUID, 2: roleUID})
	for _, p := range []*target{&priv1, &priv2, &priv3} {
		p.narrower = privNarrower
	}
	capset := to("privilege.change", map[int]role{2: roleCaps, 3: roleCaps, 4: roleCaps})
	capset.narrower = "Vigil reports a capset that adds capabilities, not one that keeps or drops them"
	commit := to("privilege.change", nil)
	commit.narrower = privNarrower
	readFile := to("kernel.module_load", map[int]role{1: roleReadID})
	readFile.needs, readFile.need = 1, "matchArgs index 1 Equal 2 (READING_MODULE): without it the hook also sees firmware, kexec images and IMA policies"
	loadData := to("kernel.module_load", map[int]role{0: roleReadID})
	loadData.needs, loadData.need = 0, "matchArgs index 0 Equal 2 (LOADING_MODULE): without it the hook also sees firmware and kexec images"
	modReq := to("kernel.module_load", nil)
	modReq.narrower = "Vigil reports the load of the requested module (by modprobe), not the request itself"
	userns := to("namespace.change", nil)
	userns.wider = "Vigil reports every namespace change (unshare, setns, clone with CLONE_NEW*), not user namespaces only"
	bpfProg := to("bpf.load", nil)
	return map[string]target{
		"security_file_open":             file(0),
		"fd_install":                     file(1),
		"security_file_permission":       to("file.permission", map[int]role{0: rolePath, 1: roleMask}),
		"security_bprm_check":            execBinprm(),
		"security_bprm_creds_for_exec":   execBinprm(),
		"tcp_connect":                    to("network.connect", map[int]role{0: roleSock}),
		"security_socket_connect":        to("network.connect", map[int]role{1: roleSockaddr}),
		"commit_creds":                   commit,
		"__sys_setuid":                   priv1,
		"__sys_setgid":                   priv1,
		"__sys_setfsuid":                 priv1,
		"__sys_setfsgid":                 priv1,
		"__sys_setreuid":                 priv2,
		"__sys_setregid":                 priv2,
		"__sys_setresuid":                priv3,
		"__sys_setresgid":                priv3,
		"security_capset":                capset,
		"security_task_fix_setuid":       commit,
		"security_kernel_module_request": modReq,
		"do_init_module":                 to("kernel.module_load", nil),
		"security_kernel_read_file":      readFile,
		"security_kernel_load_data":      loadData,
		"bpf_check":                      bpfProg,
		"security_bpf_prog":              bpfProg,
		"security_bpf_prog_load":         bpfProg,
		"security_ptrace_access_check":   to("process.ptrace", nil),
		"create_user_ns":                 userns,
	}
}

// lsmFunctions names the kernel function of the LSM hooks whose function is
// not security_<hook>.
var lsmFunctions = map[string]string{
	"bprm_check_security": "security_bprm_check",
}

func execBinprm() target { return to("process.exec", execArgs) }

// syscalls maps system calls (kprobes with syscall: true, and the
// syscalls/sys_enter_* tracepoints) onto Vigil events.
func syscalls() map[string]target {
	k := kernelHooks()
	ptrace := to("process.ptrace", map[int]role{0: rolePtraceReq})
	ptrace.narrower = "Vigil reports PTRACE_ATTACH and PTRACE_SEIZE (the attaches), not other requests"
	bpf := to("bpf.load", map[int]role{0: roleBPFCmd})
	bpf.narrower = "Vigil reports BPF_PROG_LOAD, not the other bpf() commands"
	ns := to("namespace.change", nil)
	return map[string]target{
		"execve":       to("process.exec", execArgs),
		"execveat":     to("process.exec", map[int]role{1: roleExecPath}),
		"connect":      to("network.connect", map[int]role{1: roleSockaddr}),
		"setuid":       k["__sys_setuid"],
		"setgid":       k["__sys_setgid"],
		"setfsuid":     k["__sys_setfsuid"],
		"setfsgid":     k["__sys_setfsgid"],
		"setreuid":     k["__sys_setreuid"],
		"setregid":     k["__sys_setregid"],
		"setresuid":    k["__sys_setresuid"],
		"setresgid":    k["__sys_setresgid"],
		"capset":       withNarrower(to("privilege.change", nil), k["security_capset"].narrower),
		"ptrace":       ptrace,
		"init_module":  to("kernel.module_load", nil),
		"finit_module": to("kernel.module_load", nil),
		"bpf":          bpf,
		"unshare":      ns,
		"setns":        ns,
	}
}

func withNarrower(x target, n string) target { x.narrower = n; return x }

// syscallName returns the system call a kprobe names (with syscall: true:
// "sys_setuid", "__x64_sys_setuid"), or "".
func syscallName(call string) string {
	for _, p := range []string{"__x64_", "__arm64_", "__ia32_"} {
		call = strings.TrimPrefix(call, p)
	}
	if s, ok := strings.CutPrefix(call, "sys_"); ok {
		return s
	}
	return ""
}

// tracepoints maps non-syscall tracepoints onto Vigil events.
func tracepoints() map[string]target {
	return map[string]target{
		"sched/sched_process_exec": to("process.exec", nil),
		"module/module_load":       to("kernel.module_load", nil),
	}
}
