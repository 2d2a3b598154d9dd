// Package rulestage is the receiver's user-space rule stage: it answers the rule
// engine's field questions from the typed events (Fields), and evaluates the loaded
// rules on each event that reaches user space (Stage). It is the one package that
// knows both package event and package rules; neither imports the other.
package rulestage

import (
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
)

// commLen is the kernel's task name length without its terminating NUL: proc.name
// is the executable's base name cut to it, as the kernel's comm is.
const commLen = 15

// oCreat is O_CREAT on Linux.
const oCreat = 0o100

// Fields answers rules.Fields for one event at a time. Reset it with an event; the
// strings it returns are the event's own, or, for the few fields built from
// several parts (proc.cmdline when argv[0] is not the name, proc.cwd, a socket's
// fd.name), live in a buffer of the Fields that stays valid until the next Reset.
// The zero value is ready; a Fields is not safe for concurrent use.
type Fields struct {
	ev   *event.Event
	kind rules.Kind
	// bufs hold the built strings, one per field that needs one, so that two of
	// them can be in use at once.
	bufs [numBuilt][]byte
	// built[i] is the string in bufs[i], once built for the current event.
	built [numBuilt]string
	ok    [numBuilt]bool
	// canonical: the file's path fields (fd.name, fd.directory, fd.filename)
	// read its canonical path (event.File.Canonical: a file reached through a
	// bind mount) instead of the path as opened.
	canonical bool
	// names are proc.name and proc.pname, read once per event: every exec rule
	// asks for them.
	names    [2]string
	namesOK  [2]bool
	namesSet [2]bool
}

const (
	builtCmdline = iota
	builtPcmdline
	builtCwd
	builtSockName
	builtFlags
	builtMode
	builtCapEffective
	builtCapPermitted
	numBuilt
)

var _ rules.Fields = (*Fields)(nil)

// Reset points f at ev. ev must stay unchanged while f is used.
func (f *Fields) Reset(ev *event.Event) {
	f.ev = ev
	f.kind = KindOf(ev)
	f.ok = [numBuilt]bool{}
	f.canonical = false
	f.namesSet = [2]bool{}
}

// canonicalPath reports whether the event is a file reached through a subtree
// mount with a canonical path other than the path as opened: its conditions
// are evaluated on both paths (a condition that holds on either holds, as the
// kernel's path rules match either).
func (f *Fields) canonicalPath() bool {
	d, ok := f.ev.Detail.(*event.File)
	return ok && d.Canonical != "" && d.Canonical != d.Path
}

// procName is name(ev.Proc) (i 0) or name(ev.Parent) (i 1), computed once per event.
func (f *Fields) procName(i int) (string, bool) {
	if !f.namesSet[i] {
		p := f.ev.Proc
		if i == 1 {
			p = f.ev.Parent
		}
		f.names[i], f.namesOK[i] = name(p)
		f.namesSet[i] = true
	}
	return f.names[i], f.namesOK[i]
}

// KindOf maps an event onto the rule engine's kind (rules.KindInvalid for a
// fork, which no rule sees).
func KindOf(ev *event.Event) rules.Kind {
	switch ev.Name {
	case event.ProcessExec:
		return rules.ProcessExec
	case event.ProcessExit:
		return rules.ProcessExit
	case event.FileOpen:
		return rules.FileOpen
	case event.FileWrite:
		return rules.FileWrite
	case event.FileUnlink:
		return rules.FileUnlink
	case event.FileRename:
		return rules.FileRename
	case event.FileChmod:
		return rules.FileChmod
	case event.NetworkConnect:
		return rules.NetworkConnect
	case event.NetworkAccept:
		return rules.NetworkAccept
	case event.NetworkListen:
		return rules.NetworkListen
	case event.PrivilegeChange:
		return rules.PrivilegeChange
	case event.NamespaceChange:
		return rules.NamespaceChange
	case event.KernelModuleLoad:
		return rules.KernelModuleLoad
	case event.BPFLoad:
		return rules.BPFLoad
	case event.ProcessPtrace:
		return rules.ProcessPtrace
	case event.FileLink:
		return rules.FileLink
	case event.FileSymlink:
		return rules.FileSymlink
	case event.NetworkSocket:
		return rules.NetworkSocket
	case event.FdDup:
		return rules.FdDup
	}
	return rules.KindInvalid
}

// Kind is the event's kind.
func (f *Fields) Kind() rules.Kind { return f.kind }

// baseName is the last path component of p.
func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// comm is the kernel's task name for an executable path.
func comm(exe string) string {
	n := baseName(exe)
	if len(n) > commLen {
		n = n[:commLen]
	}
	return n
}

// name is a process's proc.name; ok false when the process is not known.
func name(p *event.Process) (string, bool) {
	if p == nil {
		return "", false
	}
	if p.Name != "" {
		return p.Name, true // the kernel's comm
	}
	if p.Executable == "" {
		return "", false
	}
	return comm(p.Executable), true
}

func exe(p *event.Process) (string, bool) {
	if p == nil {
		return "", false
	}
	if len(p.Args) > 0 && p.Args[0] != "" {
		return p.Args[0], true
	}
	return p.Executable, p.Executable != ""
}

// args is the arguments after argv[0]: a tail of the command line, which joins them
// with spaces.
func args(p *event.Process) (string, bool) {
	if p == nil || len(p.Args) == 0 {
		return "", false
	}
	if n := len(p.Args[0]) + 1; n <= len(p.CommandLine) {
		return p.CommandLine[n:], true
	}
	return "", true
}

// view makes a string of a Fields buffer without copying it; the buffer is only
// rewritten by a later Reset's fields, when the string is no longer in use.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// cmdline is Falco's proc.cmdline: the name, then the arguments after argv[0].
func (f *Fields) cmdline(p *event.Process, slot int) (string, bool) {
	n, ok := name(p)
	if !ok {
		return "", false
	}
	if len(p.Args) == 0 {
		return n, true
	}
	if p.Args[0] == n {
		return p.CommandLine, true
	}
	if f.ok[slot] {
		return f.built[slot], true
	}
	a, _ := args(p)
	b := append(f.bufs[slot][:0], n...)
	if len(p.Args) > 1 {
		b = append(b, ' ')
		b = append(b, a...)
	}
	f.bufs[slot] = b
	f.built[slot], f.ok[slot] = view(b), true
	return f.built[slot], true
}

func (f *Fields) file() *event.File {
	d, _ := f.ev.Detail.(*event.File)
	return d
}

func (f *Fields) network() *event.Network {
	d, _ := f.ev.Detail.(*event.Network)
	return d
}

// path is the event's fd.name for a file or a module.
func (f *Fields) path() (string, bool) {
	switch d := f.ev.Detail.(type) {
	case *event.File:
		if f.canonical && d.Canonical != "" {
			return d.Canonical, true
		}
		return d.Path, d.Path != ""
	case *event.Module:
		return d.Path, d.Path != ""
	case *event.Link:
		// The file the call creates: the new hard link, or the symbolic link.
		return d.New, d.New != ""
	}
	return "", false
}

// ancestor returns the Nth process of the chain: 0 the process, 1 its parent, then
// the ancestors beyond it.
func (f *Fields) ancestor(idx int) (exe string, execID string, pid uint32, ok bool) {
	ev := f.ev
	switch {
	case idx == 0:
		return ev.Proc.Executable, ev.Proc.ExecID, ev.Proc.PID, ev.Proc.Executable != ""
	case idx == 1:
		if ev.Parent == nil {
			return "", "", 0, false
		}
		return ev.Parent.Executable, ev.Parent.ExecID, ev.Parent.PID, ev.Parent.Executable != ""
	case idx-2 < len(ev.Ancestors):
		a := ev.Ancestors[idx-2]
		return a.Executable, a.ExecID, 0, a.Executable != ""
	}
	return "", "", 0, false
}

// Str answers a string field.
func (f *Fields) Str(id rules.FieldID, idx int) (string, bool) {
	ev := f.ev
	p := ev.Proc
	switch id {
	case rules.FieldEvtType:
		return evtType(ev)
	case rules.FieldEvtDir:
		return "<", true
	case rules.FieldEvtArgFlags:
		if d := f.file(); d != nil && f.kind == rules.FileOpen {
			return f.build(builtFlags, func(b []byte) []byte { return event.AppendOpenFlags(b, d.OpenFlags) }), true
		}
		if d, ok := ev.Detail.(*event.Link); ok && f.kind == rules.FileLink {
			return f.build(builtFlags, func(b []byte) []byte { return appendLinkFlags(b, d.Args[2]) }), true
		}
		if d, ok := ev.Detail.(*event.Dup); ok && d.Nr != nrFcntl && d.Nr != nr32Fcntl && d.Nr != nr32Fcntl64 {
			if d.Flags&oCloexec != 0 {
				return "O_CLOEXEC", true
			}
			return "", true
		}
	case rules.FieldEvtRes:
		if _, ok := ev.Detail.(*event.Dup); ok {
			return "SUCCESS", true // reported at the exit of calls that succeeded
		}
		if d := f.file(); d != nil && f.kind == rules.FileOpen {
			if !d.Failed {
				return "SUCCESS", true
			}
			if n := event.ErrnoName(-d.Res); n != "" {
				return n, true
			}
			return "E" + strconv.Itoa(int(-d.Res)), true
		}
	case rules.FieldFdNameraw:
		// Captured only for the rules that ask for it (a loaded condition
		// naming fd.nameraw): missing otherwise, never a guess.
		if d := f.file(); d != nil && f.kind == rules.FileOpen && d.Raw != "" {
			return d.Raw, true
		}
		if d, ok := ev.Detail.(*event.Link); ok && f.kind == rules.FileLink {
			return f.build(builtFlags, func(b []byte) []byte { return appendLinkFlags(b, d.Args[2]) }), true
		}
		if d, ok := ev.Detail.(*event.Dup); ok && d.Nr != nrFcntl && d.Nr != nr32Fcntl && d.Nr != nr32Fcntl64 {
			if d.Flags&oCloexec != 0 {
				return "O_CLOEXEC", true
			}
			return "", true
		}
	case rules.FieldEvtArgMode:
		if d := f.file(); d != nil && f.kind == rules.FileChmod {
			return f.build(builtMode, func(b []byte) []byte {
				return strconv.AppendUint(append(b, '0'), uint64(d.Mode&0o7777), 8)
			}), true
		}
	case rules.FieldEvtArgRequest:
		if d, ok := ev.Detail.(*event.Ptrace); ok {
			return ptraceRequest(d.Request)
		}
	case rules.FieldEvtArgOldpath:
		if d, ok := ev.Detail.(*event.Link); ok && f.kind == rules.FileLink {
			return d.Old, true
		}
	case rules.FieldEvtArgNewpath:
		if d, ok := ev.Detail.(*event.Link); ok && f.kind == rules.FileLink {
			return d.New, true
		}
	case rules.FieldEvtArgTarget:
		if d, ok := ev.Detail.(*event.Link); ok && f.kind == rules.FileSymlink {
			return d.Old, true
		}
	case rules.FieldEvtArgLinkpath:
		if d, ok := ev.Detail.(*event.Link); ok && f.kind == rules.FileSymlink {
			return d.New, true
		}
	case rules.FieldEvtArgDomain:
		if d, ok := ev.Detail.(*event.Socket); ok {
			return event.SocketFamilyName(d.Family), true
		}
	case rules.FieldEvtArgType:
		if d, ok := ev.Detail.(*event.Socket); ok {
			return event.SocketTypeName(d.Type & sockTypeMask), true
		}
	case rules.FieldProcName:
		return f.procName(0)
	case rules.FieldProcExe:
		return exe(p)
	case rules.FieldProcExepath:
		return p.Executable, p.Executable != ""
	case rules.FieldProcCmdline:
		return f.cmdline(p, builtCmdline)
	case rules.FieldProcArgs:
		return args(p)
	case rules.FieldProcCwd:
		if p.Cwd == "" {
			return "", false
		}
		if strings.HasSuffix(p.Cwd, "/") {
			return p.Cwd, true
		}
		if !f.ok[builtCwd] {
			b := append(append(f.bufs[builtCwd][:0], p.Cwd...), '/')
			f.bufs[builtCwd] = b
			f.built[builtCwd], f.ok[builtCwd] = view(b), true
		}
		return f.built[builtCwd], true
	case rules.FieldProcPname:
		return f.procName(1)
	case rules.FieldProcPexe:
		return exe(ev.Parent)
	case rules.FieldProcPexepath:
		if ev.Parent == nil || ev.Parent.Executable == "" {
			return "", false
		}
		return ev.Parent.Executable, true
	case rules.FieldProcPcmdline:
		if ev.Parent == nil {
			return "", false
		}
		return f.cmdline(ev.Parent, builtPcmdline)
	case rules.FieldProcAname:
		switch {
		case idx == 0:
			return f.procName(0)
		case idx == 1:
			return f.procName(1)
		case idx-2 < len(ev.Ancestors):
			if a := ev.Ancestors[idx-2]; a.Name != "" {
				return a.Name, true
			}
		}
		exe, _, _, ok := f.ancestor(idx)
		if !ok {
			return "", false
		}
		return comm(exe), true
	case rules.FieldThreadCapEffective, rules.FieldThreadCapPermitted:
		if !p.ExecAttrs {
			return "", false
		}
		set, slot := p.CapEffective, builtCapEffective
		if id == rules.FieldThreadCapPermitted {
			set, slot = p.CapPermitted, builtCapPermitted
		}
		return f.build(slot, func(b []byte) []byte { return event.AppendCapNames(b, set) }), true
	case rules.FieldUserName:
		return p.UserName, p.UserName != ""
	case rules.FieldContainerID:
		if p.ContainerID == "" {
			return "host", true
		}
		return p.ContainerID, true
	case rules.FieldFdName:
		if path, ok := f.path(); ok {
			return path, true
		}
		return f.sockName()
	case rules.FieldFdDirectory:
		path, ok := f.path()
		if !ok || f.kind == rules.KernelModuleLoad {
			return "", false
		}
		i := strings.LastIndexByte(path, '/')
		switch {
		case i < 0:
			return "", false
		case i == 0:
			return "/", true
		}
		return path[:i], true
	case rules.FieldFdFilename:
		path, ok := f.path()
		if !ok || f.kind == rules.KernelModuleLoad {
			return "", false
		}
		return baseName(path), true
	case rules.FieldFdTypechar, rules.FieldFdType:
		return f.fdType(id == rules.FieldFdTypechar)
	case rules.FieldFdL4proto:
		if n, ok := f.ends(); ok {
			switch n.Transport {
			case 6:
				return "tcp", true
			case 17:
				return "udp", true
			case 1, 58:
				return "icmp", true
			}
			return "raw", true
		}
	}
	return "", false
}

func (f *Fields) fdType(char bool) (string, bool) {
	if f.file() != nil {
		if char {
			return "f", true
		}
		return "file", true
	}
	if d, ok := f.ev.Detail.(*event.Dup); ok && d.Family != 2 && d.Family != 10 {
		switch {
		case d.Family == 1 && char:
			return "u", true
		case d.Family == 1:
			return "unix", true
		case d.Family == 16 && char:
			return "n", true
		case d.Family == 16:
			return "netlink", true
		}
		return "", false
	}
	if n, ok := f.ends(); ok {
		v6 := n.Family == 10
		switch {
		case char && v6:
			return "6", true
		case char:
			return "4", true
		case v6:
			return "ipv6", true
		}
		return "ipv4", true
	}
	return "", false
}

// ends is the connection of a network event, or of the socket an fd.dup duplicated
// (its peer is the remote end, as for a connect).
func (f *Fields) ends() (event.Network, bool) {
	if n := f.network(); n != nil {
		return *n, true
	}
	if d, ok := f.ev.Detail.(*event.Dup); ok && (d.Family == 2 || d.Family == 10) {
		return event.Network{Direction: event.Outbound, Family: d.Family, Local: d.Local, Peer: d.Peer, Transport: d.Protocol}, true
	}
	return event.Network{}, false
}

// server and client are the two ends of a network event's connection.
func (f *Fields) server() (netip.AddrPort, bool) {
	n, ok := f.ends()
	if !ok {
		return netip.AddrPort{}, false
	}
	var ap netip.AddrPort
	switch n.Direction {
	case event.Outbound:
		ap = n.Peer
	default: // accept and listen: this end serves
		ap = n.Local
	}
	return ap, ap.Addr().IsValid() && !ap.Addr().IsUnspecified()
}

func (f *Fields) client() (netip.AddrPort, bool) {
	n, ok := f.ends()
	if !ok {
		return netip.AddrPort{}, false
	}
	var ap netip.AddrPort
	switch n.Direction {
	case event.Outbound:
		ap = n.Local
	case event.Inbound:
		ap = n.Peer
	}
	return ap, ap.Addr().IsValid() && !ap.Addr().IsUnspecified()
}

// sockName is a socket's fd.name: client:port->server:port, or the one end known.
func (f *Fields) sockName() (string, bool) {
	if _, ok := f.ends(); !ok {
		return "", false
	}
	if f.ok[builtSockName] {
		return f.built[builtSockName], true
	}
	c, cok := f.client()
	s, sok := f.server()
	if !cok && !sok {
		return "", false
	}
	b := f.bufs[builtSockName][:0]
	if cok {
		b = c.AppendTo(b)
		if sok {
			b = append(b, "->"...)
		}
	}
	if sok {
		b = s.AppendTo(b)
	}
	f.bufs[builtSockName] = b
	f.built[builtSockName], f.ok[builtSockName] = view(b), true
	return f.built[builtSockName], true
}

// build returns the string of a built field, building it once per event.
func (f *Fields) build(slot int, fill func([]byte) []byte) string {
	if !f.ok[slot] {
		f.bufs[slot] = fill(f.bufs[slot][:0])
		f.built[slot], f.ok[slot] = view(f.bufs[slot]), true
	}
	return f.built[slot]
}

// Num answers a number field.
func (f *Fields) Num(id rules.FieldID, idx int) (int64, bool) {
	ev := f.ev
	p := ev.Proc
	switch id {
	case rules.FieldEvtRawRes:
		if d, ok := ev.Detail.(*event.Dup); ok {
			return d.NewFD, true // the new descriptor: reported at the exit of calls that succeeded
		}
		// A failed open's negative errno, or the descriptor the syscall hook
		// saw (the security hooks run before there is one: missing there).
		if d := f.file(); d != nil && f.kind == rules.FileOpen && (d.Failed || d.Res > 0) {
			return int64(d.Res), true
		}
	case rules.FieldFdNum:
		if d, ok := ev.Detail.(*event.Dup); ok {
			return d.OldFD, true
		}
		// The descriptor an open returned (-1 when it failed), as the syscall
		// hook saw it; the security hooks run before there is one.
		if d := f.file(); d != nil && f.kind == rules.FileOpen {
			switch {
			case d.Failed:
				return -1, true
			case ev.Hook == event.HookSyscall:
				return int64(d.Res), true
			}
		}
	case rules.FieldEvtArgPid:
		if d, ok := ev.Detail.(*event.Ptrace); ok {
			return int64(d.TargetPID), true
		}
	case rules.FieldEvtArgFd:
		if d, ok := ev.Detail.(*event.Dup); ok {
			return d.OldFD, true
		}
	case rules.FieldEvtArgNewfd:
		if d, ok := ev.Detail.(*event.Dup); ok && (d.Nr == nrDup2 || d.Nr == nrDup3 || d.Nr == nr32Dup2 || d.Nr == nr32Dup3) {
			return d.NewFD, true
		}
	case rules.FieldEvtArgProto:
		if d, ok := ev.Detail.(*event.Socket); ok {
			return int64(d.Protocol), true
		}
	case rules.FieldProcPid:
		return int64(p.PID), true
	case rules.FieldProcPpid:
		return int64(p.PPID), true
	case rules.FieldProcDuration:
		if p.StartBoottime == 0 || ev.KTime < p.StartBoottime {
			return 0, false
		}
		return int64(ev.KTime - p.StartBoottime), true
	case rules.FieldProcApid:
		_, execID, pid, ok := f.ancestor(idx)
		if !ok {
			return 0, false
		}
		if pid != 0 {
			return int64(pid), true
		}
		// An ancestor is named by its exec id, "<time hex>-<pid>".
		if i := strings.LastIndexByte(execID, '-'); i >= 0 {
			if n, err := strconv.ParseUint(execID[i+1:], 10, 32); err == nil {
				return int64(n), true
			}
		}
		return 0, false
	case rules.FieldUserUID:
		if policyRecord(ev) {
			return int64(ev.Cred.EUID), true
		}
		return int64(p.EUID), true
	case rules.FieldGroupGID:
		return int64(p.EGID), true
	case rules.FieldProcTty:
		return int64(p.TTY), p.ExecAttrs
	case rules.FieldUserLoginUID:
		if !p.ExecAttrs {
			return 0, false
		}
		if p.LoginUID == event.NoLoginUID {
			return -1, true
		}
		return int64(p.LoginUID), true
	case rules.FieldProcExeIno:
		return int64(p.Exe.Ino), p.ExecAttrs && p.Exe.Ino != 0
	case rules.FieldFdSport:
		if s, ok := f.server(); ok {
			return int64(s.Port()), true
		}
	case rules.FieldFdCport:
		if c, ok := f.client(); ok {
			return int64(c.Port()), true
		}
	}
	return 0, false
}

// Bool answers a boolean field.
func (f *Fields) Bool(id rules.FieldID, _ int) (bool, bool) {
	p := f.ev.Proc
	switch id {
	case rules.FieldProcIsContainerExec:
		return p.ExecIntoContainer, true
	case rules.FieldContainerPrivileged:
		return p.Privileged, p.ExecAttrs
	case rules.FieldProcIsExeFromMemfd:
		return p.Exe.Flags&event.ExeMemfd != 0, p.ExecAttrs
	case rules.FieldProcIsExeUpperLayer:
		return p.Exe.Flags&event.ExeUpperLayer != 0, p.ExecAttrs
	case rules.FieldProcIsSuidExe:
		return p.Exe.Flags&event.ExeSetuid != 0, p.ExecAttrs
	case rules.FieldProcIsSgidExe:
		return p.Exe.Flags&event.ExeSetgid != 0, p.ExecAttrs
	}
	if _, ok := f.ev.Detail.(*event.Dup); ok && id == rules.FieldEvtFailed {
		return false, true
	}
	d := f.file()
	if d == nil || f.kind != rules.FileOpen {
		return false, false
	}
	switch id {
	case rules.FieldEvtIsOpenRead:
		return d.Access == event.AccessRead || d.Access == event.AccessReadWrite, true
	case rules.FieldEvtIsOpenWrite:
		return d.Access == event.AccessWrite || d.Access == event.AccessReadWrite, true
	case rules.FieldEvtIsOpenCreate:
		return d.OpenFlags&oCreat != 0, true
	case rules.FieldEvtFailed:
		return d.Failed, true
	}
	return false, false
}

// Addr answers an address field. fd.ip and fd.net list the ends that are known,
// client first.
func (f *Fields) Addr(id rules.FieldID, idx int) (netip.Addr, bool) {
	switch id {
	case rules.FieldFdSip, rules.FieldFdSnet:
		s, ok := f.server()
		return s.Addr(), ok
	case rules.FieldFdCip, rules.FieldFdCnet:
		c, ok := f.client()
		return c.Addr(), ok
	case rules.FieldFdIP, rules.FieldFdNet:
		c, cok := f.client()
		s, sok := f.server()
		switch {
		case idx == 0 && cok:
			return c.Addr(), true
		case idx == 0 && sok, idx == 1 && cok && sok:
			return s.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// policyRecord reports whether an event came from a policy sensor: its credentials
// are those the kernel read with it.
func policyRecord(ev *event.Event) bool {
	switch ev.Detail.(type) {
	case *event.Exec, event.Exit, event.Fork, nil:
		return false
	}
	return true
}

// ptraceRequest names a ptrace request as Falco renders evt.arg.request.
func ptraceRequest(r uint64) (string, bool) {
	switch r {
	case 0:
		return "PTRACE_TRACEME", true
	case 1:
		return "PTRACE_PEEKTEXT", true
	case 2:
		return "PTRACE_PEEKDATA", true
	case 3:
		return "PTRACE_PEEKUSR", true
	case 4:
		return "PTRACE_POKETEXT", true
	case 5:
		return "PTRACE_POKEDATA", true
	case 6:
		return "PTRACE_POKEUSR", true
	case 7:
		return "PTRACE_CONT", true
	case 8:
		return "PTRACE_KILL", true
	case 9:
		return "PTRACE_SINGLESTEP", true
	case 12:
		return "PTRACE_GETREGS", true
	case 13:
		return "PTRACE_SETREGS", true
	case 14:
		return "PTRACE_GETFPREGS", true
	case 15:
		return "PTRACE_SETFPREGS", true
	case 16:
		return "PTRACE_ATTACH", true
	case 17:
		return "PTRACE_DETACH", true
	case 24:
		return "PTRACE_SYSCALL", true
	case 0x4200:
		return "PTRACE_SETOPTIONS", true
	case 0x4204:
		return "PTRACE_GETREGSET", true
	case 0x4205:
		return "PTRACE_SETREGSET", true
	case 0x4206:
		return "PTRACE_SEIZE", true
	case 0x4207:
		return "PTRACE_INTERRUPT", true
	}
	return "", false
}
