package rulestage

import "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"

// syscallNames name the syscalls the syscall-kind events report (event.Syscall.Nr),
// x86_64 numbers and, for a 32-bit caller (event.Compat), ia32 ones. The 16-bit uid
// calls of ia32 carry the names of their 32-bit versions, as Falco names them.
var syscallNames = map[uint32]string{
	101: "ptrace", 105: "setuid", 106: "setgid", 113: "setreuid", 114: "setregid",
	117: "setresuid", 119: "setresgid", 122: "setfsuid", 123: "setfsgid", 126: "capset",
	175: "init_module", 272: "unshare", 308: "setns", 313: "finit_module", 321: "bpf",
	nrLink: "link", nrSymlink: "symlink", nrLinkat: "linkat", nrSymlinkat: "symlinkat",
	nrSocket: "socket", nrDup: "dup", nrDup2: "dup2", nrDup3: "dup3", nrFcntl: "fcntl",
}

var syscallNames32 = map[uint32]string{
	26: "ptrace", 23: "setuid", 213: "setuid", 46: "setgid", 214: "setgid",
	70: "setreuid", 203: "setreuid", 71: "setregid", 204: "setregid",
	164: "setresuid", 208: "setresuid", 170: "setresgid", 210: "setresgid",
	138: "setfsuid", 215: "setfsuid", 139: "setfsgid", 216: "setfsgid", 185: "capset",
	128: "init_module", 310: "unshare", 346: "setns", 350: "finit_module", 357: "bpf",
	nr32Link: "link", nr32Symlink: "symlink", nr32Linkat: "linkat", nr32Symlinkat: "symlinkat",
	nr32Socket: "socket", nr32Socketcall: "socket", nr32Dup: "dup", nr32Dup2: "dup2", nr32Dup3: "dup3",
	nr32Fcntl: "fcntl", nr32Fcntl64: "fcntl",
}

// evtType answers evt.type for the events that say which syscall they come from; false
// (the event matches every evt.type of its kind) for the others.
func evtType(ev *event.Event) (string, bool) {
	sc, ok := event.SyscallOf(ev.Detail)
	if !ok {
		return "", false
	}
	names := syscallNames
	if ev.Compat {
		names = syscallNames32
	}
	name, ok := names[sc.Nr]
	return name, ok
}
