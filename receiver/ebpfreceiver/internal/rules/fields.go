package rules

import (
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
)

// FieldID identifies a field of the table. Names are resolved to ids when a condition is
// compiled; the event side answers Fields calls by id.
type FieldID uint16

// Type is a field's value type.
type Type uint8

// Field types.
const (
	TypeString Type = iota + 1
	TypeNumber
	TypeBool
	// TypeIP is an address; its operands are addresses (and networks in lists).
	TypeIP
	// TypeNet is an address compared against networks: = and in mean "inside".
	TypeNet
)

func (t Type) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeNumber:
		return "number"
	case TypeBool:
		return "bool"
	case TypeIP:
		return "ip"
	case TypeNet:
		return "net"
	}
	return "type?"
}

// Index says whether a field takes a bracketed argument.
type Index uint8

// Index forms.
const (
	// IndexNone: no argument.
	IndexNone Index = iota
	// IndexOptional: proc.aname[N] is one ancestor; proc.aname alone is any ancestor.
	IndexOptional
	// IndexRequired: evt.arg[N].
	IndexRequired
)

// OpSet is a set of operators.
type OpSet uint32

// Has reports whether op is in the set.
func (s OpSet) Has(op cond.Op) bool { return s&(1<<op) != 0 }

func opSet(ops ...cond.Op) OpSet {
	var s OpSet
	for _, o := range ops {
		s |= 1 << o
	}
	return s
}

// String lists the operators, space separated.
func (s OpSet) String() string {
	var out []string
	for _, o := range cond.Ops() {
		if s.Has(o) {
			out = append(out, o.String())
		}
	}
	return strings.Join(out, " ")
}

var (
	stringOps = opSet(cond.Eq, cond.Ne, cond.In, cond.Intersects, cond.Pmatch, cond.StartsWith, cond.EndsWith,
		cond.Contains, cond.IContains, cond.BContains, cond.BStartsWith, cond.Glob, cond.IGlob, cond.Regex, cond.Exists)
	numberOps = opSet(cond.Eq, cond.Ne, cond.Lt, cond.Le, cond.Gt, cond.Ge, cond.In, cond.Exists)
	boolOps   = opSet(cond.Eq, cond.Ne, cond.Exists)
	ipOps     = opSet(cond.Eq, cond.Ne, cond.In, cond.Exists)
	evtOps    = opSet(cond.Eq, cond.Ne, cond.In, cond.Exists)
)

// FieldInfo describes one field.
type FieldInfo struct {
	ID      FieldID
	Name    string
	Aliases []string
	Type    Type
	// Kinds are the event kinds the field exists for; on any other kind a comparison on the
	// field is false.
	Kinds KindSet
	Index Index
	// Multi: without an index the field has several values (a comparison holds when one of
	// them satisfies it; != holds when none is equal). MultiStart is the first index asked.
	Multi      bool
	MultiStart int
	Ops        OpSet
	Desc       string
}

// Field ids. The zero id is invalid.
const (
	FieldInvalid FieldID = iota
	FieldEvtType
	FieldEvtNum
	FieldEvtDir
	FieldEvtRes
	FieldEvtRawRes
	FieldEvtFailed
	FieldEvtIsOpenRead
	FieldEvtIsOpenWrite
	FieldEvtIsOpenExec
	FieldEvtIsOpenCreate
	FieldEvtArg
	FieldEvtArgFlags
	FieldEvtArgRequest
	FieldEvtArgDomain
	FieldEvtArgType
	FieldEvtArgProto
	FieldEvtArgTarget
	FieldEvtArgLinkpath
	FieldEvtArgOldpath
	FieldEvtArgNewpath
	FieldEvtArgName
	FieldEvtArgPathname
	FieldEvtArgPath
	FieldEvtArgMode
	FieldEvtArgFd
	FieldEvtArgNewfd
	FieldEvtArgPid
	FieldEvtArgUID
	FieldProcName
	FieldProcExe
	FieldProcExepath
	FieldProcCmdline
	FieldProcArgs
	FieldProcCwd
	FieldProcTty
	FieldProcPid
	FieldProcPpid
	FieldProcSid
	FieldProcDuration
	FieldProcPname
	FieldProcPexe
	FieldProcPexepath
	FieldProcPcmdline
	FieldProcAname
	FieldProcApid
	FieldProcIsExeFromMemfd
	FieldProcIsExeUpperLayer
	FieldProcIsContainerExec
	FieldProcIsSuidExe
	FieldProcIsSgidExe
	FieldProcExeIno
	FieldUserUID
	FieldUserName
	FieldUserLoginUID
	FieldUserLoginName
	FieldGroupGID
	FieldGroupName
	FieldThreadCapEffective
	FieldThreadCapPermitted
	FieldContainerID
	FieldContainerName
	FieldContainerImage
	FieldContainerImageRepository
	FieldContainerImageTag
	FieldContainerPrivileged
	FieldK8sNsName
	FieldK8sPodName
	FieldFdName
	FieldFdNameraw
	FieldFdDirectory
	FieldFdFilename
	FieldFdTypechar
	FieldFdType
	FieldFdNum
	FieldFdSip
	FieldFdSport
	FieldFdCip
	FieldFdCport
	FieldFdL4proto
	FieldFdSnet
	FieldFdCnet
	FieldFdNet
	FieldFdIP
	numFields
)

// NumFields is one more than the largest field id: a table indexed by FieldID has this size.
const NumFields = int(numFields)

func f(id FieldID, name string, typ Type, kinds KindSet, desc string, aliases ...string) FieldInfo {
	fi := FieldInfo{ID: id, Name: name, Type: typ, Kinds: kinds, Desc: desc, Aliases: aliases}
	switch typ {
	case TypeString:
		fi.Ops = stringOps
	case TypeNumber:
		fi.Ops = numberOps
	case TypeBool:
		fi.Ops = boolOps
	case TypeIP, TypeNet:
		fi.Ops = ipOps
	}
	return fi
}

func (fi FieldInfo) indexed(ix Index, multiStart int) FieldInfo {
	fi.Index = ix
	fi.Multi = ix == IndexOptional
	fi.MultiStart = multiStart
	return fi
}

func (fi FieldInfo) multi() FieldInfo {
	fi.Multi = true
	return fi
}

const openKinds = KindSet(1 << FileOpen)

// fieldTable returns the field table, indexed by id. It is built on each call so that no
// caller can change another's copy.
func fieldTable() []FieldInfo {
	all := AllKinds
	t := []FieldInfo{
		{},
		func() FieldInfo {
			fi := f(FieldEvtType, "evt.type", TypeString, all, "the system call (see the evt.type table); an event that does not say which one matches every evt.type of its kind")
			fi.Ops = evtOps
			return fi
		}(),
		f(FieldEvtNum, "evt.num", TypeNumber, all, "the event's sequence number, never 0"),
		f(FieldEvtDir, "evt.dir", TypeString, all, "`<` for an event reported at the call's exit or its security hook, `>` at its entry"),
		f(FieldEvtRes, "evt.res", TypeString, syscallKinds, "SUCCESS or the error name (ENOENT, EPERM, ...)"),
		f(FieldEvtRawRes, "evt.rawres", TypeNumber, syscallKinds, "the call's return value (a negative errno on failure)"),
		f(FieldEvtFailed, "evt.failed", TypeBool, syscallKinds, "the call failed"),
		f(FieldEvtIsOpenRead, "evt.is_open_read", TypeBool, openKinds, "the open asks for read access"),
		f(FieldEvtIsOpenWrite, "evt.is_open_write", TypeBool, openKinds, "the open asks for write access"),
		f(FieldEvtIsOpenExec, "evt.is_open_exec", TypeBool, openKinds, "the open creates or opens a file with an execute bit"),
		f(FieldEvtIsOpenCreate, "evt.is_open_create", TypeBool, openKinds, "the open has O_CREAT"),
		f(FieldEvtArg, "evt.arg", TypeString, syscallKinds, "argument N of the call, rendered as text").indexed(IndexRequired, 0),
		f(FieldEvtArgFlags, "evt.arg.flags", TypeString, openKinds|1<<NamespaceChange|1<<FdDup|1<<FileLink|1<<FileRename,
			"the flags argument as names joined by | (O_RDONLY|O_CREAT|O_TRUNC, CLONE_NEWNS, ...)"),
		f(FieldEvtArgRequest, "evt.arg.request", TypeString, 1<<ProcessPtrace, "the ptrace request (PTRACE_ATTACH, PTRACE_TRACEME, PTRACE_POKETEXT, ...)"),
		f(FieldEvtArgDomain, "evt.arg.domain", TypeString, 1<<NetworkSocket, "the socket's address family (AF_INET, AF_PACKET, ...)"),
		f(FieldEvtArgType, "evt.arg.type", TypeString, 1<<NetworkSocket, "the socket type (SOCK_STREAM, SOCK_RAW, ...)"),
		f(FieldEvtArgProto, "evt.arg.proto", TypeNumber, 1<<NetworkSocket, "the socket protocol number"),
		f(FieldEvtArgTarget, "evt.arg.target", TypeString, 1<<FileSymlink, "what the new symbolic link points to"),
		f(FieldEvtArgLinkpath, "evt.arg.linkpath", TypeString, 1<<FileSymlink, "the path of the new symbolic link"),
		f(FieldEvtArgOldpath, "evt.arg.oldpath", TypeString, 1<<FileLink|1<<FileRename, "the existing path (link) or the old name (rename)"),
		f(FieldEvtArgNewpath, "evt.arg.newpath", TypeString, 1<<FileLink|1<<FileRename, "the new link or the new name"),
		f(FieldEvtArgName, "evt.arg.name", TypeString, openKinds, "the path given to the open, as passed"),
		f(FieldEvtArgPathname, "evt.arg.pathname", TypeString, 1<<FileUnlink|1<<FileChmod, "the path given to unlink or chmod, as passed"),
		f(FieldEvtArgPath, "evt.arg.path", TypeString, 1<<FileUnlink|1<<FileChmod, "same as evt.arg.pathname"),
		f(FieldEvtArgMode, "evt.arg.mode", TypeString, openKinds|1<<FileChmod, "the mode argument, octal (0755)"),
		f(FieldEvtArgFd, "evt.arg.fd", TypeNumber, 1<<FdDup|fileKinds|netKinds, "the descriptor argument (for dup, the one duplicated)"),
		f(FieldEvtArgNewfd, "evt.arg.newfd", TypeNumber, 1<<FdDup, "dup2/dup3: the descriptor asked for"),
		f(FieldEvtArgPid, "evt.arg.pid", TypeNumber, 1<<ProcessPtrace, "the traced process", "vigil.target.pid"),
		f(FieldEvtArgUID, "evt.arg.uid", TypeNumber, 1<<PrivilegeChange, "the user id asked for"),

		f(FieldProcName, "proc.name", TypeString, all, "the process name (comm: the executable's base name, at most 15 bytes)", "process.executable.name"),
		f(FieldProcExe, "proc.exe", TypeString, all, "the program as invoked (argv[0] or the path given to execve)"),
		f(FieldProcExepath, "proc.exepath", TypeString, all, "the executable's resolved absolute path", "process.executable.path"),
		f(FieldProcCmdline, "proc.cmdline", TypeString, all, "proc.name and the arguments, space separated", "process.command_line"),
		f(FieldProcArgs, "proc.args", TypeString, all, "the arguments after argv[0], space separated"),
		f(FieldProcCwd, "proc.cwd", TypeString, all, "the working directory, with a trailing /", "process.working_directory"),
		f(FieldProcTty, "proc.tty", TypeNumber, all, "the controlling terminal's device number as /proc/PID/stat gives it (34816 + N for /dev/pts/N), 0 without one", "vigil.process.tty"),
		f(FieldProcPid, "proc.pid", TypeNumber, all, "the process id", "process.pid"),
		f(FieldProcPpid, "proc.ppid", TypeNumber, all, "the parent's process id", "process.parent.pid", "process.parent_pid"),
		f(FieldProcSid, "proc.sid", TypeNumber, all, "the session id"),
		f(FieldProcDuration, "proc.duration", TypeNumber, all, "nanoseconds since the process started"),
		f(FieldProcPname, "proc.pname", TypeString, all, "the parent's name"),
		f(FieldProcPexe, "proc.pexe", TypeString, all, "the parent's program as invoked"),
		f(FieldProcPexepath, "proc.pexepath", TypeString, all, "the parent's executable path"),
		f(FieldProcPcmdline, "proc.pcmdline", TypeString, all, "the parent's command line"),
		f(FieldProcAname, "proc.aname", TypeString, all, "proc.aname[N]: the name of the Nth ancestor (0 the process, 1 its parent); proc.aname: any ancestor").indexed(IndexOptional, 1),
		f(FieldProcApid, "proc.apid", TypeNumber, all, "proc.apid[N]: the pid of the Nth ancestor; proc.apid: any ancestor").indexed(IndexOptional, 1),
		f(FieldProcIsExeFromMemfd, "proc.is_exe_from_memfd", TypeBool, all, "the executable is a memfd (fileless execution); proc.exepath is then memfd:NAME", "vigil.exe.memfd"),
		f(FieldProcIsExeUpperLayer, "proc.is_exe_upper_layer", TypeBool, all, "the executable is in the upper layer of an overlay mount (in a container: written or copied up after it started)", "vigil.exe.upper_layer"),
		f(FieldProcIsContainerExec, "proc.is_container_exec", TypeBool, all,
			"the process was started by an exec into a running container (kubectl exec, crictl exec, ctr task exec: runc exec), or descends from one; false for a container's entrypoint and its descendants and for host processes",
			"vigil.exec_into_container"),

		f(FieldProcIsSuidExe, "proc.is_suid_exe", TypeBool, all, "the executable file is set-user-id", "vigil.exe.setuid"),
		f(FieldProcIsSgidExe, "proc.is_sgid_exe", TypeBool, all, "the executable file is set-group-id (with group execute)", "vigil.exe.setgid"),
		f(FieldProcExeIno, "proc.exe_ino", TypeNumber, all, "the executable file's inode number", "vigil.exe.inode"),

		f(FieldUserUID, "user.uid", TypeNumber, all, "the effective user id", "user.id", "process.user.id"),
		f(FieldUserName, "user.name", TypeString, all, "the effective user's name"),
		f(FieldUserLoginUID, "user.loginuid", TypeNumber, all, "the audit login user id (-1 when unset)", "vigil.user.loginuid"),
		f(FieldUserLoginName, "user.loginname", TypeString, all, "the login user's name"),
		f(FieldGroupGID, "group.gid", TypeNumber, all, "the effective group id", "process.group.id"),
		f(FieldGroupName, "group.name", TypeString, all, "the effective group's name"),
		f(FieldThreadCapEffective, "thread.cap_effective", TypeString, all, "the effective capabilities as names, space separated, lowest number first (CAP_CHOWN ... CAP_SYS_ADMIN ...); read at exec", "vigil.process.cap_effective"),
		f(FieldThreadCapPermitted, "thread.cap_permitted", TypeString, all, "the permitted capabilities as names", "vigil.process.cap_permitted"),

		f(FieldContainerID, "container.id", TypeString, all, "the container id, host for a host process"),
		f(FieldContainerName, "container.name", TypeString, all, "the container name", "k8s.container.name"),
		f(FieldContainerImage, "container.image", TypeString, all, "the image with its tag"),
		f(FieldContainerImageRepository, "container.image.repository", TypeString, all, "the image without its tag", "container.image.name"),
		f(FieldContainerImageTag, "container.image.tag", TypeString, all, "the image tag"),
		f(FieldContainerPrivileged, "container.privileged", TypeBool, all, "the process is in a container and its capability bounding set holds every capability of the running kernel (a privileged container; an unprivileged one lacks some); false for host processes", "vigil.container.privileged"),
		f(FieldK8sNsName, "k8s.ns.name", TypeString, all, "the pod's namespace", "k8s.namespace.name"),
		f(FieldK8sPodName, "k8s.pod.name", TypeString, all, "the pod's name"),

		f(FieldFdName, "fd.name", TypeString, fdKinds|1<<KernelModuleLoad, "the resolved path of the file (for sockets: client:port->server:port)", "file.path"),
		f(FieldFdNameraw, "fd.nameraw", TypeString, fdKinds, "the path as passed by the process, unresolved"),
		f(FieldFdDirectory, "fd.directory", TypeString, fdKinds, "the directory part of fd.name, without a trailing /"),
		f(FieldFdFilename, "fd.filename", TypeString, fdKinds, "the last component of fd.name"),
		f(FieldFdTypechar, "fd.typechar", TypeString, fdKinds, "f file, 4 IPv4 socket, 6 IPv6 socket, u unix socket, p pipe, ..."),
		f(FieldFdType, "fd.type", TypeString, fdKinds, "file, directory, ipv4, ipv6, unix, pipe, ..."),
		f(FieldFdNum, "fd.num", TypeNumber, fdKinds, "the descriptor number (-1 when the call failed)"),
		f(FieldFdSip, "fd.sip", TypeIP, netKinds|1<<FdDup, "the server address", "server.address", "destination.address"),
		f(FieldFdSport, "fd.sport", TypeNumber, netKinds|1<<FdDup, "the server port", "server.port", "destination.port"),
		f(FieldFdCip, "fd.cip", TypeIP, netKinds|1<<FdDup, "the client address", "client.address", "source.address"),
		f(FieldFdCport, "fd.cport", TypeNumber, netKinds|1<<FdDup, "the client port", "client.port", "source.port"),
		f(FieldFdL4proto, "fd.l4proto", TypeString, sockKinds|1<<FdDup, "tcp, udp, icmp or raw", "network.transport"),
		f(FieldFdSnet, "fd.snet", TypeNet, netKinds|1<<FdDup, "the server address, compared with networks"),
		f(FieldFdCnet, "fd.cnet", TypeNet, netKinds|1<<FdDup, "the client address, compared with networks"),
		f(FieldFdNet, "fd.net", TypeNet, netKinds|1<<FdDup, "either address, compared with networks (index 0 client, 1 server)").multi(),
		f(FieldFdIP, "fd.ip", TypeIP, netKinds|1<<FdDup, "either address (index 0 client, 1 server)").multi(),
	}
	return t
}

// FieldTable is the table of every field conditions may use, in documentation order.
func FieldTable() []FieldInfo { return fieldTable()[1:] }

// LookupField finds a field by its Falco name or one of its aliases.
func LookupField(name string) (FieldInfo, bool) { return lookupIn(fieldTable(), name) }

func lookupIn(table []FieldInfo, name string) (FieldInfo, bool) {
	for _, fi := range table[1:] {
		if fi.Name == name {
			return fi, true
		}
		for _, a := range fi.Aliases {
			if a == name {
				return fi, true
			}
		}
	}
	return FieldInfo{}, false
}

// Field returns the field with id.
func Field(id FieldID) (FieldInfo, bool) {
	if id == FieldInvalid || id >= numFields {
		return FieldInfo{}, false
	}
	return fieldTable()[id], true
}
