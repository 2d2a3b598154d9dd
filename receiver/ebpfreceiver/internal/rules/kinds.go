package rules

import (
	"math/bits"
	"strings"
)

// Kind is an event kind, by Vigil's event name. The rule engine knows events only by kind
// and through Fields; the event side maps its own kinds onto these.
type Kind uint8

// Event kinds.
const (
	KindInvalid Kind = iota
	ProcessExec
	ProcessExit
	FileOpen
	FileWrite
	FileUnlink
	FileRename
	FileChmod
	FileLink
	FileSymlink
	NetworkConnect
	NetworkListen
	NetworkAccept
	NetworkSocket
	NetworkSend
	FdDup
	PrivilegeChange
	NamespaceChange
	KernelModuleLoad
	BPFLoad
	ProcessPtrace
	numKinds
)

var kindNames = [numKinds]string{
	KindInvalid: "", ProcessExec: "process.exec", ProcessExit: "process.exit",
	FileOpen: "file.open", FileWrite: "file.write", FileUnlink: "file.unlink", FileRename: "file.rename",
	FileChmod: "file.chmod", FileLink: "file.link", FileSymlink: "file.symlink",
	NetworkConnect: "network.connect", NetworkListen: "network.listen", NetworkAccept: "network.accept",
	NetworkSocket: "network.socket", NetworkSend: "network.send", FdDup: "fd.dup",
	PrivilegeChange: "privilege.change", NamespaceChange: "namespace.change",
	KernelModuleLoad: "kernel.module_load", BPFLoad: "bpf.load", ProcessPtrace: "process.ptrace",
}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind?"
}

// Kinds lists every valid kind in documentation order.
func Kinds() []Kind {
	out := make([]Kind, 0, numKinds-1)
	for k := KindInvalid + 1; k < numKinds; k++ {
		out = append(out, k)
	}
	return out
}

// KindByName returns the kind with Vigil's event name s.
func KindByName(s string) (Kind, bool) {
	for k := KindInvalid + 1; k < numKinds; k++ {
		if kindNames[k] == s {
			return k, true
		}
	}
	return KindInvalid, false
}

// KindSet is a set of kinds.
type KindSet uint32

// AllKinds holds every kind.
const AllKinds KindSet = (1<<numKinds - 1) &^ 1

// KindsOf returns the set holding ks.
func KindsOf(ks ...Kind) KindSet {
	var s KindSet
	for _, k := range ks {
		s |= 1 << k
	}
	return s
}

// Has reports whether k is in the set.
func (s KindSet) Has(k Kind) bool { return k < numKinds && s&(1<<k) != 0 }

// Len is the number of kinds in the set.
func (s KindSet) Len() int { return bits.OnesCount32(uint32(s)) }

// List returns the kinds in the set in documentation order.
func (s KindSet) List() []Kind {
	var out []Kind
	for _, k := range Kinds() {
		if s.Has(k) {
			out = append(out, k)
		}
	}
	return out
}

func (s KindSet) String() string {
	if s == AllKinds {
		return "all"
	}
	names := make([]string, 0, s.Len())
	for _, k := range s.List() {
		names = append(names, k.String())
	}
	return strings.Join(names, ", ")
}

const (
	fileKinds    = 1<<FileOpen | 1<<FileWrite | 1<<FileUnlink | 1<<FileRename | 1<<FileChmod | 1<<FileLink | 1<<FileSymlink
	netKinds     = 1<<NetworkConnect | 1<<NetworkListen | 1<<NetworkAccept | 1<<NetworkSend
	sockKinds    = netKinds | 1<<NetworkSocket
	fdKinds      = fileKinds | netKinds | 1<<FdDup
	syscallKinds = AllKinds &^ (1 << ProcessExit)
)

// Syscall maps a Falco evt.type value onto the Vigil kind that reports it.
type Syscall struct {
	Name string
	Kind Kind
}

// syscalls is the evt.type table. A Falco evt.type absent from it is not sensed: a term
// naming it matches nothing.
var syscalls = [...]Syscall{
	{"execve", ProcessExec}, {"execveat", ProcessExec},
	{"procexit", ProcessExit},
	{"open", FileOpen}, {"openat", FileOpen}, {"openat2", FileOpen}, {"creat", FileOpen},
	{"write", FileWrite}, {"pwrite", FileWrite}, {"pwrite64", FileWrite}, {"writev", FileWrite},
	{"pwritev", FileWrite}, {"pwritev2", FileWrite},
	{"unlink", FileUnlink}, {"unlinkat", FileUnlink},
	{"rename", FileRename}, {"renameat", FileRename}, {"renameat2", FileRename},
	{"chmod", FileChmod}, {"fchmod", FileChmod}, {"fchmodat", FileChmod}, {"fchmodat2", FileChmod},
	{"link", FileLink}, {"linkat", FileLink},
	{"symlink", FileSymlink}, {"symlinkat", FileSymlink},
	{"connect", NetworkConnect},
	{"listen", NetworkListen},
	{"accept", NetworkAccept}, {"accept4", NetworkAccept},
	{"socket", NetworkSocket},
	{"sendto", NetworkSend}, {"sendmsg", NetworkSend},
	{"dup", FdDup}, {"dup2", FdDup}, {"dup3", FdDup},
	{"setuid", PrivilegeChange}, {"setgid", PrivilegeChange}, {"setreuid", PrivilegeChange},
	{"setregid", PrivilegeChange}, {"setresuid", PrivilegeChange}, {"setresgid", PrivilegeChange},
	{"setfsuid", PrivilegeChange}, {"setfsgid", PrivilegeChange}, {"capset", PrivilegeChange},
	{"unshare", NamespaceChange}, {"setns", NamespaceChange},
	{"init_module", KernelModuleLoad}, {"finit_module", KernelModuleLoad},
	{"bpf", BPFLoad},
	{"ptrace", ProcessPtrace},
}

// Syscalls returns the evt.type table.
func Syscalls() []Syscall { return append([]Syscall(nil), syscalls[:]...) }

// syscallKind returns the kind an evt.type value maps onto.
func syscallKind(name string) (Kind, bool) {
	for _, s := range syscalls {
		if s.Name == name {
			return s.Kind, true
		}
	}
	return KindInvalid, false
}

// syscallsOf returns how many evt.type values map onto k.
func syscallsOf(k Kind) int {
	n := 0
	for _, s := range syscalls {
		if s.Kind == k {
			n++
		}
	}
	return n
}
