//go:build linux

package sensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"path"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
)

// DecodeErrorKind says why a record could not be decoded. Its string is the
// reason label of the receiver's events_dropped counter.
type DecodeErrorKind string

// Decode error kinds.
const (
	// ErrShortRecord: the record is shorter than its fixed head.
	ErrShortRecord DecodeErrorKind = "short_record"
	// ErrTruncatedRecord: the head is there but the strings that must follow are not.
	ErrTruncatedRecord DecodeErrorKind = "truncated_record"
	// ErrUnknownOp: no decoder for the record's opcode.
	ErrUnknownOp DecodeErrorKind = "unknown_op"
	// ErrUnknownEvent: a policy record whose rule kind and event id have no decoder.
	ErrUnknownEvent DecodeErrorKind = "unknown_event"
)

// DecodeError is a record that could not be decoded.
type DecodeError struct {
	Kind DecodeErrorKind
	Op   Op
	Msg  string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("decoding record (op %d): %s: %s", e.Op, e.Kind, e.Msg)
}

// KindOf returns the kind of a decode error ("" for any other error).
func KindOf(err error) DecodeErrorKind {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Kind
	}
	return ""
}

func decodeErr(kind DecodeErrorKind, op Op, format string, args ...any) error {
	return &DecodeError{Kind: kind, Op: op, Msg: fmt.Sprintf(format, args...)}
}

// Decoder turns ring buffer records into typed events: one function per record
// op, and for policy records one per (rule kind, event id). It reuses its
// scratch records, so it is not safe for concurrent use; one read loop owns it.
type Decoder struct {
	proc  ProcEvent
	alert Alert
	// scratch is the process the record describes. Decode points ev.Proc at it:
	// valid until the next Decode, so the process tracker replaces it with a
	// cache entry (or a copy) before the event leaves the read loop.
	scratch event.Process
}

// opDecoders is the decode table for the record opcodes of the ring buffer
// (enum vigil_op). Task iterator records (OpIter) are read by Process.Snapshot
// and turned into events by FromProc, never from the ring buffer.
var opDecoders = map[Op]func(d *Decoder, b []byte, ev *event.Event) error{
	OpExec:  (*Decoder).decodeExec,
	OpExit:  (*Decoder).decodeExit,
	OpFork:  (*Decoder).decodeFork,
	OpAlert: (*Decoder).decodeAlert,
}

// alertKey selects the decoder of a policy record.
type alertKey struct {
	kind  int
	event uint8
}

// alertDecoders is the decode table of policy records, by rule kind and event id
// (enum rule_kind, enum vigil_event). Each fills the event's name and detail.
var alertDecoders = map[alertKey]func(a *Alert, ev *event.Event){
	{KindFile, uint8(processVigilEventEV_FILE_OPEN)}:       fileDecoder(event.FileOpen),
	{KindFile, uint8(processVigilEventEV_FILE_WRITE)}:      fileDecoder(event.FileWrite),
	{KindFile, uint8(processVigilEventEV_FILE_UNLINK)}:     fileDecoder(event.FileUnlink),
	{KindFile, uint8(processVigilEventEV_FILE_RENAME)}:     fileDecoder(event.FileRename),
	{KindFile, uint8(processVigilEventEV_FILE_CHMOD)}:      fileDecoder(event.FileChmod),
	{KindNet, uint8(processVigilEventEV_NET_CONNECT)}:      netDecoder(event.NetworkConnect, event.Outbound),
	{KindNet, uint8(processVigilEventEV_NET_ACCEPT)}:       netDecoder(event.NetworkAccept, event.Inbound),
	{KindNet, uint8(processVigilEventEV_NET_LISTEN)}:       netDecoder(event.NetworkListen, event.Listening),
	{KindExec, uint8(processVigilEventEV_PROCESS_EXEC)}:    decodeExecAttempt,
	{KindSys, uint8(processVigilEventEV_PRIVILEGE_CHANGE)}: decodePrivilege,
	{KindSys, uint8(processVigilEventEV_NAMESPACE_CHANGE)}: decodeNamespace,
	{KindSys, uint8(processVigilEventEV_MODULE_LOAD)}:      decodeModule,
	{KindSys, uint8(processVigilEventEV_BPF_LOAD)}:         decodeBPF,
	{KindSys, uint8(processVigilEventEV_PTRACE)}:           decodePtrace,
	{KindSys, uint8(processVigilEventEV_FILE_LINK)}:        linkDecoder(event.FileLink),
	{KindSys, uint8(processVigilEventEV_FILE_SYMLINK)}:     linkDecoder(event.FileSymlink),
	{KindSys, uint8(processVigilEventEV_NET_SOCKET)}:       decodeSocket,
	{KindSys, uint8(processVigilEventEV_FD_DUP)}:           decodeDup,
}

// Decode decodes one record into ev (overwriting it). On error ev is undefined
// and the error is a *DecodeError.
func (d *Decoder) Decode(b []byte, ev *event.Event) error {
	if len(b) == 0 {
		return decodeErr(ErrShortRecord, 0, "empty record")
	}
	fn, ok := opDecoders[Op(b[0])]
	if !ok {
		return decodeErr(ErrUnknownOp, Op(b[0]), "%d bytes", len(b))
	}
	return fn(d, b, ev)
}

func (d *Decoder) decodeProc(b []byte) error {
	if len(b) < offHead {
		return decodeErr(ErrShortRecord, Op(b[0]), "process record of %d bytes, head is %d", len(b), offHead)
	}
	if len(b) > offHead && len(b) < offArgs {
		return decodeErr(ErrTruncatedRecord, Op(b[0]), "process record of %d bytes, strings end at %d", len(b), offArgs)
	}
	if err := DecodeProc(b, &d.proc); err != nil {
		return decodeErr(ErrShortRecord, Op(b[0]), "%v", err)
	}
	return nil
}

// processOf fills the scratch process from a process record.
func (d *Decoder) processOf(pe *ProcEvent) *event.Process {
	d.scratch = event.Process{
		PID: pe.TGID, PPID: pe.PPID, Executable: pe.Path, Args: pe.Args, Cwd: pe.Cwd,
		UID: pe.UID, GID: pe.GID, EUID: pe.EUID, EGID: pe.EGID,
		StartBoottime: pe.StartBoottime, CgroupID: pe.CgroupID,
		ArgsTruncated: pe.Flags&FlagTruncArgs != 0,
	}
	if pe.Op == OpExec || pe.Op == OpIter {
		p := &d.scratch
		p.TTY, p.LoginUID, p.Name = pe.TTY, pe.LoginUID, pe.Comm
		p.CapEffective, p.CapPermitted, p.CapBounding, p.ExecAttrs = pe.CapEffective, pe.CapPermitted, pe.CapBounding, true
		p.Exe = event.ExeInfo{Flags: event.ExeFlags(pe.ExeFlags), Dev: pe.ExeDev, Ino: pe.ExeIno}
	}
	return &d.scratch
}

func (d *Decoder) decodeExec(b []byte, ev *event.Event) error {
	if err := d.decodeProc(b); err != nil {
		return err
	}
	d.FromProc(&d.proc, ev)
	return nil
}

// FromProc turns a decoded exec or task iterator record into an event (the
// iterator's records are read by Process.Snapshot, not from the ring buffer).
func (d *Decoder) FromProc(pe *ProcEvent, ev *event.Event) {
	name := event.ProcessExec
	if pe.Op == OpIter {
		name = "" // a process running at start-up: cached, not emitted
	}
	*ev = event.Event{
		Name: name, KTime: pe.KTime, Proc: d.processOf(pe),
		Detail: &event.Exec{
			CgroupPath: pe.CgroupParent + "/" + pe.CgroupName, ParentStartBoottime: pe.ParentStartBoottime,
			Kthread: pe.Flags&FlagKthread != 0, NoMM: pe.Flags&FlagNoMM != 0,
		},
	}
	if pe.Match.Rules != 0 {
		ev.Kernel = event.Verdict{Kind: KindExec, Rules: pe.Match.Rules, Applied: pe.Match.Applied}
	}
}

func (d *Decoder) decodeExit(b []byte, ev *event.Event) error {
	if err := d.decodeProc(b); err != nil {
		return err
	}
	pe := &d.proc
	*ev = event.Event{Name: event.ProcessExit, KTime: pe.KTime, Proc: d.processOf(pe), Detail: event.Exit{Status: pe.ExitCode}}
	return nil
}

func (d *Decoder) decodeFork(b []byte, ev *event.Event) error {
	if err := d.decodeProc(b); err != nil {
		return err
	}
	pe := &d.proc
	*ev = event.Event{Name: event.ProcessFork, KTime: pe.KTime, Proc: d.processOf(pe), Detail: event.Fork{}}
	return nil
}

func (d *Decoder) decodeAlert(b []byte, ev *event.Event) error {
	a := &d.alert
	if err := decodeAlert(b, a, a.Path); err != nil {
		return decodeErr(ErrShortRecord, OpAlert, "%v", err)
	}
	return d.FromAlert(a, ev)
}

// FromAlert turns a decoded policy record into an event, through the decoder
// of its rule kind and event id.
func (d *Decoder) FromAlert(a *Alert, ev *event.Event) error {
	fn, ok := alertDecoders[alertKey{a.Kind, a.Event}]
	if !ok {
		return decodeErr(ErrUnknownEvent, OpAlert, "rule kind %d, event %d", a.Kind, a.Event)
	}
	d.scratch = event.Process{
		PID: a.TGID, PPID: a.PPID, UID: a.UID, EUID: a.EUID, GID: a.GID,
		StartBoottime: a.StartBoottime, CgroupID: a.CgroupID,
	}
	*ev = event.Event{
		KTime: a.KTime, Proc: &d.scratch,
		Kernel:  event.Verdict{Kind: a.Kind, Rules: a.Rules, Applied: a.Applied},
		Cred:    event.Cred{UID: a.UID, EUID: a.EUID, GID: a.GID},
		Hook:    hookOf(a),
		Compat:  a.Flags&FlagCompat != 0,
		IOUring: a.Flags&FlagIOUring != 0,
	}
	fn(a, ev)
	return nil
}

// hookOf names the hook of a policy record: the security hooks set a flag; the
// file and syscall-kind events otherwise come from syscall tracepoints, the
// network and exec ones from their own (cgroup, exec) hooks.
func hookOf(a *Alert) event.Hook {
	switch {
	case a.Flags&FlagLSM != 0:
		return event.HookLSM
	case a.Flags&FlagFmodRet != 0:
		return event.HookFmodRet
	case a.Kind == KindFile || a.Kind == KindSys:
		return event.HookSyscall
	}
	return event.HookNone
}

// fileDecoder decodes a file event. Access holds the open flags (file.open,
// file.write), the mode (file.chmod) or which name of a rename the path is.
func fileDecoder(name string) func(a *Alert, ev *event.Event) {
	return func(a *Alert, ev *event.Event) {
		f := &event.File{Path: a.Path, Truncated: a.Flags&FlagTruncPath != 0, Dev: a.Dev, Ino: a.Ino,
			IDMatch: a.Flags&FlagIDMatch != 0, Raw: a.Raw,
			SubtreeMount: a.Flags&FlagSubtreeMount != 0, Canonical: a.Canonical}
		switch name {
		case event.FileOpen, event.FileWrite:
			f.OpenFlags = a.Access
			f.Access = openAccess(a.Access)
			if a.Flags&FlagOpenFailed != 0 {
				// No file: the path is the caller's. An absolute one is
				// cleaned here; a relative one is joined to the working
				// directory once the process is known.
				f.Failed, f.Res, f.Path = true, a.Res, ""
				if path.IsAbs(a.Raw) {
					f.Path = path.Clean(a.Raw)
				}
			}
		case event.FileChmod:
			f.Mode = a.Access & 0o7777
		case event.FileRename:
			if a.Access == 1 {
				f.Side = event.RenameTo
			}
		}
		ev.Name, ev.Detail = name, f
	}
}

func openAccess(flags uint32) event.FileAccess {
	switch flags & 3 {
	case 1:
		return event.AccessWrite
	case 2:
		return event.AccessReadWrite
	}
	return event.AccessRead
}

// netDecoder decodes a network event: the record's address is the peer's
// (connect, accept) or the local one (listen).
func netDecoder(name string, dir event.Direction) func(a *Alert, ev *event.Event) {
	return func(a *Alert, ev *event.Event) {
		n := &event.Network{Direction: dir, Family: a.Family, Transport: a.Protocol}
		if dir == event.Listening {
			n.Local = a.Peer
		} else {
			n.Peer = a.Peer
		}
		ev.Name, ev.Detail = name, n
	}
}

// decodeExecAttempt: an exec reported (or refused) by the security hook, before
// the new image replaced the caller.
func decodeExecAttempt(a *Alert, ev *event.Event) {
	ev.Name = event.ProcessExec
	ev.Detail = &event.ExecAttempt{Path: a.Path, Truncated: a.Flags&FlagTruncPath != 0}
}

func syscallOf(a *Alert) event.Syscall {
	return event.Syscall{Nr: a.Access, Args: [3]uint64{a.Args[0], a.Args[1], a.Args[2]}}
}

// decodePrivilege: Args are the new ids (set*id: uid or gid, effective, saved;
// capset: effective, inheritable, permitted).
func decodePrivilege(a *Alert, ev *event.Event) {
	s := syscallOf(a)
	ev.Name = event.PrivilegeChange
	ev.Detail = &event.Privilege{Syscall: s, New: s.Args, Old: ev.Cred}
}

// decodeNamespace: Args[0] are the clone/unshare flags (setns: the fd, then the
// namespace type in Args[1]).
func decodeNamespace(a *Alert, ev *event.Event) {
	s := syscallOf(a)
	flags := s.Args[0]
	if s.Nr == nrSetns {
		flags = s.Args[1]
	}
	ev.Name = event.NamespaceChange
	ev.Detail = &event.Namespace{Syscall: s, Flags: flags}
}

// decodeModule: the module's file, when the hook saw one.
func decodeModule(a *Alert, ev *event.Event) {
	ev.Name = event.KernelModuleLoad
	ev.Detail = &event.Module{Syscall: syscallOf(a), Path: a.Path, Truncated: a.Flags&FlagTruncPath != 0}
}

// decodeBPF: Args[0] is the bpf(2) command; the security hooks also read the
// program type into Args[1].
func decodeBPF(a *Alert, ev *event.Event) {
	s := syscallOf(a)
	b := &event.BPF{Syscall: s, Cmd: s.Args[0]}
	if a.Flags&(FlagLSM|FlagFmodRet) != 0 {
		b.ProgType, b.ProgTypeKnown = s.Args[1], true
	}
	ev.Name, ev.Detail = event.BPFLoad, b
}

// decodePtrace: Args[0] is the request, Args[1] the target's pid.
func decodePtrace(a *Alert, ev *event.Event) {
	s := syscallOf(a)
	ev.Name = event.ProcessPtrace
	ev.Detail = &event.Ptrace{Syscall: s, Request: s.Args[0], TargetPID: s.Args[1]}
}

// linkDecoder decodes file.link and file.symlink: the two paths as passed (Path
// and Path2), the directory descriptors in Args[0] (link: the old path's) and
// Args[1] (the new path's), linkat's flags in Args[2].
func linkDecoder(name string) func(a *Alert, ev *event.Event) {
	return func(a *Alert, ev *event.Event) {
		ev.Name = name
		ev.Detail = &event.Link{Syscall: syscallOf(a), Old: a.Path, New: a.Path2, Truncated: a.Flags&FlagTruncPath != 0}
	}
}

// decodeSocket: Args are socket(2)'s family, type and protocol.
func decodeSocket(a *Alert, ev *event.Event) {
	s := syscallOf(a)
	ev.Name = event.NetworkSocket
	ev.Detail = &event.Socket{Syscall: s, Family: uint16(s.Args[0]), Type: uint32(s.Args[1]), Protocol: uint16(s.Args[2])}
}

// decodeDup: Args are the old and the new descriptor and dup3's flags (or
// fcntl's command); Args[3] holds the socket's type, local port (<< 16) and
// IPv4 local address (<< 32, network order); the peer is the record's address.
func decodeDup(a *Alert, ev *event.Event) {
	s := syscallOf(a)
	d := &event.Dup{Syscall: s, OldFD: int64(int32(s.Args[0])), NewFD: int64(int32(s.Args[1])), Flags: s.Args[2],
		Family: a.Family, SockType: uint16(a.Args[3]), Protocol: a.Protocol, Peer: a.Peer}
	lport := uint16(a.Args[3] >> 16)
	switch a.Family {
	case 2:
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(a.Args[3]>>32))
		d.Local = netip.AddrPortFrom(netip.AddrFrom4(b), lport)
	case 10:
		d.Local = netip.AddrPortFrom(netip.IPv6Unspecified(), lport)
	}
	ev.Name, ev.Detail = event.FdDup, d
}

// nrSetns is setns(2)'s number on x86-64, the only architecture built.
const nrSetns = 308
