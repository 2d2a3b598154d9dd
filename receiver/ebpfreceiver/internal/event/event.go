// Package event holds the typed events that sit between the kernel's records and
// OTLP: the decoder produces them, the process tracker and the matcher complete
// them, and the OTLP builder reads them. Nothing here knows a record layout, a
// kernel object or pdata, so every stage can be tested without a kernel.
package event

import (
	"net/netip"
	"strconv"
	"time"
)

// Event names: the LogRecord event_name field.
const (
	ProcessExec       = "process.exec"
	ProcessExit       = "process.exit"
	ProcessFork       = "process.fork"
	FileOpen          = "file.open"
	FileWrite         = "file.write"
	FileUnlink        = "file.unlink"
	FileRename        = "file.rename"
	FileChmod         = "file.chmod"
	NetworkConnect    = "network.connect"
	NetworkAccept     = "network.accept"
	NetworkListen     = "network.listen"
	PrivilegeChange   = "privilege.change"
	NamespaceChange   = "namespace.change"
	KernelModuleLoad  = "kernel.module_load"
	BPFLoad           = "bpf.load"
	ProcessPtrace     = "process.ptrace"
	FileLink          = "file.link"
	FileSymlink       = "file.symlink"
	NetworkSocket     = "network.socket"
	FdDup             = "fd.dup"
	PolicyMatchMetric = "policy.match" // labels policy records in the received-events metric
)

// Event is one thing the kernel reported, completed by the stages of the read path.
type Event struct {
	// Name is the stable event name (ProcessExec, FileOpen, ...).
	Name string
	// KTime is the boot-clock time, in ns, when the kernel saw it.
	KTime uint64
	// Observed is when the receiver read it.
	Observed time.Time
	// Proc is the process the event is about: a shared, immutable process-cache
	// entry once the tracker ran (never modify it).
	Proc *Process
	// Parent is the parent process, when known.
	Parent *Process
	// Ancestors are the ancestors beyond the parent, nearest first.
	Ancestors []Ancestor
	// Match is the policy rule that matched, nil for plain process events.
	Match *Match
	// Kernel is the in-kernel pre-filter's verdict: the rule slots that matched.
	Kernel Verdict
	// Hook is the kind of kernel hook that reported a policy event.
	Hook Hook
	// Compat: a 32-bit (ia32) syscall; syscall numbers in Detail are ia32 ones.
	Compat bool
	// IOUring: done by an io_uring request, not a syscall.
	IOUring bool
	// Cred are the credentials the kernel read with a policy event (the process
	// may have changed them since its exec).
	Cred Cred
	// Detail is what is specific to the event kind (Exec, Exit, Fork, File,
	// Network, ExecAttempt, Privilege, Namespace, Module, BPF, Ptrace).
	Detail Detail
}

// Process is one process image (a fork, or an exec replacing it, is a new image).
type Process struct {
	ExecID        string // unique per boot: "<start or exec ktime hex>-<pid>"
	PID, PPID     uint32
	ParentExecID  string
	Executable    string
	Args          []string // redacted once the tracker built the entry
	CommandLine   string   // Args joined by spaces, once (entries are shared and immutable)
	Cwd           string
	UID, GID      uint32 // real ids
	EUID, EGID    uint32
	StartBoottime uint64 // boot-clock ns the image started (exec time, or fork time)
	CgroupID      uint64
	ContainerID   string
	PodUID        string
	Runtime       string
	ArgsTruncated bool
	Redacted      bool // secrets were masked in Args
	// ExecIntoContainer: the process was started by an exec into a running
	// container (runc exec, under kubectl exec, crictl exec and ctr task exec),
	// or descends from such a process. It is derived from fork-time ancestry,
	// never from the parent at exec time (that runc exec may have exited).
	ExecIntoContainer bool
	// Runc is the step of container start-up the process is in, as its
	// fork-time ancestry tells: what ExecIntoContainer is derived from.
	Runc RuncStep

	// Read at exec (and at start-up for running processes), inherited at fork.

	// TTY is the controlling terminal as /proc/PID/stat numbers it (tty_nr:
	// the device number in the user-space dev_t encoding), 0 without one.
	TTY uint32
	// LoginUID is the audit login uid, NoLoginUID when unset.
	LoginUID uint32
	// CapEffective, CapPermitted and CapBounding are capability sets, bit N
	// for capability N (CAP_SYS_ADMIN is 21).
	CapEffective, CapPermitted, CapBounding uint64
	// ExecAttrs says TTY, LoginUID, the capability sets and Exe were read
	// (false for a process known only from a policy record).
	ExecAttrs bool
	// Name is the task name the kernel keeps (comm: the base name of the
	// path given to exec, at most 15 bytes; "sh" for a busybox applet whose
	// Executable is /bin/busybox), "" when not read.
	Name string
	// UserName is the effective user's name in the host's user database, ""
	// when it has none.
	UserName string
	// Exe are the executable file's flags and identity.
	Exe ExeInfo
	// Privileged: a container process whose capability bounding set holds
	// every capability of the running kernel (what a privileged container
	// gets; an unprivileged one has capabilities removed from it).
	Privileged bool
}

// NoLoginUID is the audit login uid of a process no login started.
const NoLoginUID = ^uint32(0)

// ExeFlags are properties of an executable file.
type ExeFlags uint32

// Executable flags, as the kernel's enum vigil_exe_flags numbers them.
const (
	ExeMemfd      ExeFlags = 1 << 0 // an anonymous memory file (memfd_create): fileless
	ExeUpperLayer ExeFlags = 1 << 1 // in the upper layer of an overlay mount
	ExeSetuid     ExeFlags = 1 << 2 // set-user-id file
	ExeSetgid     ExeFlags = 1 << 3 // set-group-id file (with group execute)
)

// ExeInfo is what the kernel read about an executable file beyond its path.
type ExeInfo struct {
	Flags ExeFlags
	// Dev (the kernel's dev_t of the file system: major << 20 | minor) and
	// Ino identify the file whatever path or mount it was run by.
	Dev uint32
	Ino uint64
}

// RuncStep is where a process stands in runc's start of a container process.
type RuncStep uint8

// Runc steps.
const (
	RuncNone       RuncStep = iota // not runc, nor a runc init
	RuncExec                       // runc exec: starts a process in a running container
	RuncCreate                     // runc create or runc run: starts a container
	RuncInitExec                   // runc init started by a runc exec
	RuncInitCreate                 // runc init started by runc create or run
)

// Ancestor names one ancestor process.
type Ancestor struct {
	ExecID     string
	Executable string
	Name       string // the task name (Process.Name), "" when not read
}

// Cred are the ids a policy record carries.
type Cred struct {
	UID, EUID, GID uint32
}

// Match is the policy rule behind an event and what its action did.
type Match struct {
	Policy   string
	Rule     string
	Event    string // the rule's event
	Action   string // post, count, deny or kill: effective on this kernel
	Severity string // debug, info, warn, error or fatal
	Enforce  bool   // the policy is in enforce mode
	Applied  bool   // the action was carried out (denied or killed)

	// UserSpace: a rule condition evaluated in the receiver decided the match
	// (a Falco-syntax rule). Its record carries the full process context, and
	// Body, SeverityNumber and SeverityText when set.
	UserSpace bool
	// Body is the rule's rendered output.
	Body string
	// SeverityNumber and SeverityText are the OTLP severity, when the rule's
	// priority is finer than Severity (0: use Severity).
	SeverityNumber int
	SeverityText   string
}

// Verdict is what the kernel decided: which rule slots of a rule kind matched,
// and whether it carried out their action. The matcher resolves it into a Match.
type Verdict struct {
	Kind    int    // rule kind (the kernel's enum rule_kind)
	Rules   uint64 // matched rule slots within Kind; 0: no rule matched
	Applied bool
}

// Policy actions (the values of Match.Action).
const (
	ActionPost  = "post"
	ActionCount = "count"
	ActionDeny  = "deny"
	ActionKill  = "kill"
)

// Hook is the kind of kernel hook a policy event came from.
type Hook uint8

// Hooks.
const (
	HookNone    Hook = iota // process records
	HookSyscall             // a syscall tracepoint
	HookLSM                 // a BPF LSM hook
	HookFmodRet             // the fmod_ret build of the security hooks
)

// Detail is the part of an event specific to its kind.
type Detail interface{ detail() }

// Exec is an exec record's own data, beyond the process it started.
type Exec struct {
	// CgroupPath is "<parent cgroup name>/<cgroup name>" as the kernel read it.
	CgroupPath string
	// Raw are the arguments as the kernel read them (before redaction).
	Raw []string
	// ParentStartBoottime is the parent's start time (boot-clock ns).
	ParentStartBoottime uint64
	// Kthread and NoMM come from task iterator records: a kernel thread, or a
	// task without memory (an exited task waiting for its parent's wait()).
	Kthread, NoMM bool
	// Rules are the process.exec rule slots that matched in the kernel (0: none).
	Rules uint64
	// Applied: the kernel carried out the rule's action.
	Applied bool
	// LoaderProgram: the process is a dynamic loader run as a program; this
	// is the program it loads (absolute, as the process sees it).
	LoaderProgram string
}

// Exit is a process exit.
type Exit struct {
	// Status is the raw wait status: exit code << 8 | core dump flag 0x80 | signal.
	Status uint32
}

// Code is the exit code when the process exited on its own.
func (e Exit) Code() int { return int(e.Status>>8) & 0xff }

// Signal is the signal that ended the process, 0 when it exited on its own.
func (e Exit) Signal() int { return int(e.Status & 0x7f) }

// CoreDumped reports whether the terminating signal dumped core.
func (e Exit) CoreDumped() bool { return e.Status&0x80 != 0 }

// Fork is a new process (a fork record).
type Fork struct{}

// FileAccess is how a file is opened.
type FileAccess uint8

// File accesses, from the open flags' access mode.
const (
	AccessRead FileAccess = iota
	AccessWrite
	AccessReadWrite
)

// String is the attribute value of an access.
func (a FileAccess) String() string {
	switch a {
	case AccessWrite:
		return "write"
	case AccessReadWrite:
		return "read_write"
	}
	return "read"
}

// RenameSide says which name of a rename File.Path is.
type RenameSide uint8

// Rename sides.
const (
	RenameFrom RenameSide = iota // the old name
	RenameTo                     // the new name
)

// File is a file event (open, write, unlink, rename, chmod).
type File struct {
	Path string
	// Truncated: the path could not be resolved whole (deeper than the
	// kernel's walk or longer than its buffer): Path is only its last part,
	// and the record was matched by every prefix rule (fail closed).
	Truncated bool
	// OpenFlags are the open(2) flags (file.open: those the caller asked for;
	// file.write: the file's).
	OpenFlags uint32
	// Dev and Ino are the file's identity (superblock device in the kernel's
	// MAJOR<<20|MINOR encoding, inode number); 0 when unknown.
	Dev uint32
	Ino uint64
	// IDMatch: a rule matched the file by its identity (a hard link or a bind
	// mount of an exact rule file), not by Path; PolicyPath is that rule path.
	IDMatch    bool
	PolicyPath string
	// Raw is the path as the caller passed it (file.open rules with raw_path or
	// failed_opens), "" when not captured.
	Raw string
	// SubtreeMount: Path crossed a mount that shows a subtree of its file
	// system (a bind mount of a directory or a file); Canonical is then the
	// file's path in the host's mount namespace, matched by the rules as Path
	// is, or "" when it could not be resolved (the record was then matched by
	// every prefix rule: fail closed).
	SubtreeMount bool
	Canonical    string
	// Failed: the open failed with Res (a negative errno); Path is then Raw
	// made absolute and cleaned, not resolved.
	Failed bool
	Res    int32
	// Access is the access mode of OpenFlags.
	Access FileAccess
	// Mode is the requested permission bits (file.chmod).
	Mode uint32
	// Side is which name of a rename Path is (file.rename).
	Side RenameSide
}

// Direction says which end of a connection an event is about.
type Direction uint8

// Directions.
const (
	Outbound  Direction = iota // connect: the peer is remote
	Inbound                    // accept: the peer connected to us
	Listening                  // listen: only the local address is known
)

// Network is a network event (connect, accept, listen).
type Network struct {
	Direction Direction
	// Family is the address family (2 AF_INET, 10 AF_INET6).
	Family uint16
	// Local is the local address (listen).
	Local netip.AddrPort
	// Peer is the remote address (connect, accept).
	Peer netip.AddrPort
	// Transport is the IP protocol number (6 tcp, 17 udp).
	Transport uint8
}

// Addr is the address the event is about: the local one for listen, the peer's otherwise.
func (n Network) Addr() netip.AddrPort {
	if n.Direction == Listening {
		return n.Local
	}
	return n.Peer
}

// ExecAttempt is an exec refused (or reported) before it replaced the caller.
type ExecAttempt struct {
	Path      string
	Truncated bool
}

// Syscall is what every syscall-kind event carries: the syscall (or, from an
// in-kernel security hook, the syscall it stands for) and its first arguments
// as the hook read them.
type Syscall struct {
	Nr   uint32
	Args [3]uint64
}

// Privilege is a privilege.change: a set*id or capset call raising privileges.
type Privilege struct {
	Syscall
	// New are the requested (syscall hook) or committed (security hook) ids:
	// uid/gid, effective, saved; for capset the effective, inheritable and
	// permitted sets. An id of 2^32-1 (or -1) means unchanged.
	New [3]uint64
	// Old are the credentials before the change.
	Old Cred
}

// Namespace is a namespace.change: setns, unshare, clone or clone3 into new namespaces.
type Namespace struct {
	Syscall
	// Flags are the CLONE_NEW* flags asked for (setns: the fd in Args[0] and the
	// namespace type in Args[1]).
	Flags uint64
}

// Module is a kernel.module_load.
type Module struct {
	Syscall
	// Path is the module file (finit_module from a security hook), "" otherwise.
	Path      string
	Truncated bool
}

// BPF is a bpf.load: a bpf(2) program load.
type BPF struct {
	Syscall
	// Cmd is the bpf(2) command.
	Cmd uint64
	// ProgType is the program type, known only from a security hook.
	ProgType uint64
	// ProgTypeKnown reports whether ProgType was read.
	ProgTypeKnown bool
}

// Ptrace is a process.ptrace request: an attach (ATTACH, SEIZE, or from a
// security hook any attach-level access), PTRACE_TRACEME, or a write into a
// traced process (the POKEs, the register sets).
type Ptrace struct {
	Syscall
	Request uint64
	// TargetPID is the traced process's pid as passed (a syscall argument; 0
	// for PTRACE_TRACEME, which names no process), or from a security hook the
	// process being attached.
	TargetPID uint64
}

// Link is a file.link (a hard link: Old is the existing path, New the new name)
// or a file.symlink (Old is the link's target, the text it will hold; New the
// link's path). Both are as the process passed them: a relative path is
// relative to the directory descriptor in Syscall.Args (-100, AT_FDCWD: the
// working directory).
type Link struct {
	Syscall
	Old, New  string
	Truncated bool // a path may have been cut to the kernel's buffer
}

// Socket is a network.socket: a socket created with socket(2).
type Socket struct {
	Syscall
	// Family, Type and Protocol are socket(2)'s arguments (Type with its
	// SOCK_NONBLOCK and SOCK_CLOEXEC bits).
	Family   uint16
	Type     uint32
	Protocol uint16
}

// Dup is an fd.dup: a socket duplicated onto descriptor 0, 1 or 2.
type Dup struct {
	Syscall
	// OldFD is the descriptor duplicated, NewFD the new one (the call's result).
	OldFD, NewFD int64
	// Flags are dup3's flags or fcntl's command.
	Flags uint64
	// Family, SockType and Protocol describe the socket (AF_INET 2, SOCK_STREAM 1, IPPROTO_TCP 6).
	Family   uint16
	SockType uint16
	Protocol uint8
	// Local is the socket's local end (its address only for IPv4), Peer the remote one.
	Local, Peer netip.AddrPort
}

func (*Exec) detail()        {}
func (Exit) detail()         {}
func (Fork) detail()         {}
func (*File) detail()        {}
func (*Network) detail()     {}
func (*ExecAttempt) detail() {}
func (*Privilege) detail()   {}
func (*Namespace) detail()   {}
func (*Module) detail()      {}
func (*BPF) detail()         {}
func (*Ptrace) detail()      {}
func (*Link) detail()        {}
func (*Socket) detail()      {}
func (*Dup) detail()         {}

// SyscallOf returns the syscall part of a syscall-kind detail.
func SyscallOf(d Detail) (Syscall, bool) {
	switch d := d.(type) {
	case *Privilege:
		return d.Syscall, true
	case *Namespace:
		return d.Syscall, true
	case *Module:
		return d.Syscall, true
	case *BPF:
		return d.Syscall, true
	case *Ptrace:
		return d.Syscall, true
	case *Link:
		return d.Syscall, true
	case *Socket:
		return d.Syscall, true
	case *Dup:
		return d.Syscall, true
	}
	return Syscall{}, false
}

// socketFamilies are the address family names Falco renders evt.arg.domain with.
var socketFamilies = map[uint16]string{
	0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK", 6: "AF_NETROM",
	7: "AF_BRIDGE", 8: "AF_ATMPVC", 9: "AF_X25", 10: "AF_INET6", 11: "AF_ROSE", 12: "AF_DECnet", 13: "AF_NETBEUI",
	14: "AF_SECURITY", 15: "AF_KEY", 16: "AF_NETLINK", 17: "AF_PACKET", 18: "AF_ASH", 19: "AF_ECONET",
	20: "AF_ATMSVC", 21: "AF_RDS", 22: "AF_SNA", 23: "AF_IRDA", 24: "AF_PPPOX", 25: "AF_WANPIPE", 26: "AF_LLC",
	27: "AF_IB", 28: "AF_MPLS", 29: "AF_CAN", 30: "AF_TIPC", 31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC",
	34: "AF_ISDN", 35: "AF_PHONET", 36: "AF_IEEE802154", 37: "AF_CAIF", 38: "AF_ALG", 39: "AF_NFC", 40: "AF_VSOCK",
	41: "AF_KCM", 42: "AF_QIPCRTR", 43: "AF_SMC", 44: "AF_XDP", 45: "AF_MCTP",
}

// SocketFamily names an address family as Falco renders it (AF_INET,
// AF_PACKET, ...), or its number for one without a name.
func SocketFamilyName(f uint16) string {
	if n, ok := socketFamilies[f]; ok {
		return n
	}
	return strconv.Itoa(int(f))
}

// SocketType names a socket type (SOCK_STREAM, SOCK_RAW, ...), or its number.
func SocketTypeName(t uint32) string {
	switch t {
	case 1:
		return "SOCK_STREAM"
	case 2:
		return "SOCK_DGRAM"
	case 3:
		return "SOCK_RAW"
	case 4:
		return "SOCK_RDM"
	case 5:
		return "SOCK_SEQPACKET"
	case 6:
		return "SOCK_DCCP"
	case 10:
		return "SOCK_PACKET"
	}
	return strconv.FormatUint(uint64(t), 10)
}

// AppendOpenFlags renders open flags as Falco does: O_RDONLY|O_CREAT|O_TRUNC.
func AppendOpenFlags(b []byte, fl uint32) []byte {
	// The flag bits Falco names, in its order (x86-64 values; O_SYNC includes
	// O_DSYNC's bit and is tested first).
	names := [...]struct {
		bit  uint32
		name string
	}{
		{0o100, "O_CREAT"}, {0o200, "O_EXCL"}, {0o400, "O_NOCTTY"}, {0o1000, "O_TRUNC"}, {0o2000, "O_APPEND"},
		{0o4000, "O_NONBLOCK"}, {0o4010000, "O_SYNC"}, {0o10000, "O_DSYNC"}, {0o20000, "O_ASYNC"}, {0o40000, "O_DIRECT"},
		{0o100000, "O_LARGEFILE"}, {0o20200000, "O_TMPFILE"}, {0o200000, "O_DIRECTORY"}, {0o400000, "O_NOFOLLOW"},
		{0o1000000, "O_NOATIME"}, {0o2000000, "O_CLOEXEC"}, {0o10000000, "O_PATH"},
	}
	switch fl & 3 {
	case 1:
		b = append(b, "O_WRONLY"...)
	case 2:
		b = append(b, "O_RDWR"...)
	default:
		b = append(b, "O_RDONLY"...)
	}
	seen := uint32(3)
	for _, f := range names {
		if fl&f.bit == f.bit && f.bit&^seen != 0 {
			b = append(append(b, '|'), f.name...)
			seen |= f.bit
		}
	}
	return b
}

// ErrnoName is the symbolic name of an errno an open can fail with ("" for
// others): evt.res and error.type of failed opens.
func ErrnoName(errno int32) string {
	switch errno {
	case 1:
		return "EPERM"
	case 2:
		return "ENOENT"
	case 5:
		return "EIO"
	case 6:
		return "ENXIO"
	case 9:
		return "EBADF"
	case 12:
		return "ENOMEM"
	case 13:
		return "EACCES"
	case 16:
		return "EBUSY"
	case 17:
		return "EEXIST"
	case 19:
		return "ENODEV"
	case 20:
		return "ENOTDIR"
	case 21:
		return "EISDIR"
	case 22:
		return "EINVAL"
	case 23:
		return "ENFILE"
	case 24:
		return "EMFILE"
	case 26:
		return "ETXTBSY"
	case 27:
		return "EFBIG"
	case 28:
		return "ENOSPC"
	case 30:
		return "EROFS"
	case 36:
		return "ENAMETOOLONG"
	case 40:
		return "ELOOP"
	case 75:
		return "EOVERFLOW"
	case 95:
		return "EOPNOTSUPP"
	case 116:
		return "ESTALE"
	}
	return ""
}
