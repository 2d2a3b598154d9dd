//go:build linux

package sensor

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
)

// These tests build records with the bpf2go-generated types, as the kernel
// writes them, and need no kernel.

func putStr(dst []int8, s string) uint16 {
	for i := range len(s) {
		dst[i] = int8(s[i])
	}
	return uint16(len(s))
}

func recordBytes(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, binary.Write(&buf, binary.NativeEndian, v))
	return buf.Bytes()
}

// procRecord is an exec record carrying only the used argument bytes, as the
// process sensor sends it.
func procRecord(t *testing.T, op Op, r *rawProc, args ...string) []byte {
	t.Helper()
	r.Hdr.Op = uint8(op)
	var joined []byte
	for _, a := range args {
		joined = append(joined, a...)
		joined = append(joined, 0)
	}
	for i, c := range joined {
		r.Args[i] = int8(c)
	}
	r.ArgsLen = uint16(len(joined))
	return recordBytes(t, r)[:offArgs+len(joined)]
}

func decodeOK(t *testing.T, b []byte) event.Event {
	t.Helper()
	var d Decoder
	var ev event.Event
	require.NoError(t, d.Decode(b, &ev))
	return ev
}

func TestDecodeExec(t *testing.T) {
	r := &rawProc{Pid: 41, Tgid: 40, Ppid: 1, Uid: 1000, Gid: 1001, Euid: 0, Egid: 2,
		CgroupId: 77, StartBoottime: 5000, ParentStartBoottime: 100,
		Rules: 0b100, Matched: 1, Applied: 1,
		CapEffective: 1 << 21, CapPermitted: 1<<21 | 1<<13, CapBset: 1<<41 - 1, ExeIno: 99, ExeDev: 8<<20 | 1,
		ExeFlags: uint32(processVigilExeFlagsEXE_MEMFD), Tty: 34817, Loginuid: 1000}
	r.Hdr.Ktime = 5000
	r.Hdr.Flags = FlagTruncArgs
	r.PathLen = putStr(r.Path[:], "/usr/bin/curl")
	r.CwdLen = putStr(r.Cwd[:], "/tmp")
	putStr(r.CgroupName[:], "cri-containerd-abc.scope")
	putStr(r.CgroupParent[:], "kubepods-pod1.slice")
	ev := decodeOK(t, procRecord(t, OpExec, r, "curl", "-s", "http://x"))

	assert.Equal(t, event.ProcessExec, ev.Name)
	assert.Equal(t, uint64(5000), ev.KTime)
	assert.Equal(t, event.Process{PID: 40, PPID: 1, Executable: "/usr/bin/curl", Args: []string{"curl", "-s", "http://x"},
		Cwd: "/tmp", UID: 1000, GID: 1001, EUID: 0, EGID: 2, StartBoottime: 5000, CgroupID: 77, ArgsTruncated: true,
		ExecAttrs: true, TTY: 34817, LoginUID: 1000, CapEffective: 1 << 21, CapPermitted: 1<<21 | 1<<13, CapBounding: 1<<41 - 1,
		Exe: event.ExeInfo{Flags: event.ExeMemfd, Dev: 8<<20 | 1, Ino: 99}}, *ev.Proc)
	assert.Equal(t, &event.Exec{CgroupPath: "kubepods-pod1.slice/cri-containerd-abc.scope", ParentStartBoottime: 100}, ev.Detail)
	assert.Equal(t, event.Verdict{Kind: KindExec, Rules: 0b100, Applied: true}, ev.Kernel)
	assert.Nil(t, ev.Match, "the decoder does not resolve rules")
}

func TestDecodeExecWithoutMatchHasNoVerdict(t *testing.T) {
	r := &rawProc{Tgid: 9, Rules: 0b1} // rules without the matched flag are not a match
	ev := decodeOK(t, procRecord(t, OpExec, r))
	assert.Equal(t, event.Verdict{}, ev.Kernel)
	assert.Nil(t, ev.Proc.Args)
}

func TestDecodeIteratorRecordIsNotEmitted(t *testing.T) {
	r := &rawProc{Tgid: 2, StartBoottime: 7}
	r.Hdr.Flags = FlagKthread | FlagNoMM
	var pe ProcEvent
	require.NoError(t, DecodeProc(procRecord(t, OpIter, r), &pe))
	var d Decoder
	var ev event.Event
	d.FromProc(&pe, &ev)
	assert.Empty(t, ev.Name)
	assert.Equal(t, uint64(7), ev.Proc.StartBoottime)
	assert.Equal(t, &event.Exec{CgroupPath: "/", Kthread: true, NoMM: true}, ev.Detail)
}

func TestDecodeExitAndFork(t *testing.T) {
	r := &rawProc{Tgid: 12, Ppid: 3, CgroupId: 8, StartBoottime: 70, ExitCode: 0x8b}
	r.Hdr.Op = uint8(OpExit)
	r.Hdr.Ktime = 90
	b := recordBytes(t, r)[:offHead] // exit and fork records stop before the cgroup names
	ev := decodeOK(t, b)
	assert.Equal(t, event.ProcessExit, ev.Name)
	exit, ok := ev.Detail.(event.Exit)
	require.True(t, ok, "%T", ev.Detail)
	assert.Equal(t, 11, exit.Signal())
	assert.True(t, exit.CoreDumped())
	assert.Equal(t, uint32(12), ev.Proc.PID)
	assert.Equal(t, uint64(70), ev.Proc.StartBoottime)
	assert.Empty(t, ev.Proc.Executable)

	r.Hdr.Op = uint8(OpFork)
	r.ExitCode = 0
	ev = decodeOK(t, recordBytes(t, r)[:offHead])
	assert.Equal(t, event.ProcessFork, ev.Name)
	assert.Equal(t, event.Fork{}, ev.Detail)
	assert.Equal(t, uint32(3), ev.Proc.PPID)
}

func TestExitStatus(t *testing.T) {
	e := event.Exit{Status: 3 << 8}
	assert.Equal(t, 3, e.Code())
	assert.Equal(t, 0, e.Signal())
	assert.False(t, e.CoreDumped())
}

func alertRecord(t *testing.T, kind int, ev uint8, mutate func(*rawAlert)) []byte {
	t.Helper()
	a := &rawAlert{Pid: 51, Tgid: 50, Ppid: 1, Uid: 1000, Euid: 0, Gid: 1000, CgroupId: 9, StartBoottime: 33,
		Rules: 0b10, Kind: uint8(kind), Event: ev, Applied: 1}
	a.Hdr.Op = uint8(OpAlert)
	a.Hdr.Ktime = 444
	if mutate != nil {
		mutate(a)
	}
	return recordBytes(t, a)[:offAlertPath+int(a.PathLen)]
}

func TestDecodeAlertCommonFields(t *testing.T) {
	ev := decodeOK(t, alertRecord(t, KindFile, uint8(processVigilEventEV_FILE_UNLINK), func(a *rawAlert) {
		a.PathLen = putStr(a.Path[:], "/etc/shadow")
	}))
	assert.Equal(t, event.FileUnlink, ev.Name)
	assert.Equal(t, uint64(444), ev.KTime)
	assert.Equal(t, event.Verdict{Kind: KindFile, Rules: 0b10, Applied: true}, ev.Kernel)
	assert.Equal(t, event.Cred{UID: 1000, EUID: 0, GID: 1000}, ev.Cred)
	assert.Equal(t, event.HookSyscall, ev.Hook)
	assert.Equal(t, event.Process{PID: 50, PPID: 1, UID: 1000, EUID: 0, GID: 1000, StartBoottime: 33, CgroupID: 9}, *ev.Proc)
	assert.Equal(t, &event.File{Path: "/etc/shadow"}, ev.Detail)
}

func TestDecodeFileAccessEncodings(t *testing.T) {
	cases := []struct {
		name   string
		ev     processVigilEvent
		access uint32
		flags  uint32
		want   event.File
	}{
		{"open write-only", processVigilEventEV_FILE_OPEN, 0o1101, 0, event.File{OpenFlags: 0o1101, Access: event.AccessWrite}},
		{"open read-write", processVigilEventEV_FILE_OPEN, 2, FlagLSM, event.File{OpenFlags: 2, Access: event.AccessReadWrite}},
		{"open read", processVigilEventEV_FILE_OPEN, 0, 0, event.File{Access: event.AccessRead}},
		{"write", processVigilEventEV_FILE_WRITE, 0o2001, FlagFmodRet, event.File{OpenFlags: 0o2001, Access: event.AccessWrite}},
		{"chmod keeps the permission bits", processVigilEventEV_FILE_CHMOD, 0o104755, FlagLSM, event.File{Mode: 0o4755}},
		{"rename old name", processVigilEventEV_FILE_RENAME, 0, FlagLSM, event.File{Side: event.RenameFrom}},
		{"rename new name", processVigilEventEV_FILE_RENAME, 1, FlagLSM, event.File{Side: event.RenameTo}},
		{"truncated path", processVigilEventEV_FILE_UNLINK, 7, FlagLSM | FlagTruncPath, event.File{Truncated: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := decodeOK(t, alertRecord(t, KindFile, uint8(c.ev), func(a *rawAlert) {
				a.Access, a.Hdr.Flags = c.access, c.flags
				a.PathLen = putStr(a.Path[:], "/f")
			}))
			c.want.Path = "/f"
			assert.Equal(t, &c.want, ev.Detail)
		})
	}
}

func TestDecodeHooks(t *testing.T) {
	for _, c := range []struct {
		kind  int
		ev    processVigilEvent
		flags uint32
		want  event.Hook
	}{
		{KindFile, processVigilEventEV_FILE_OPEN, 0, event.HookSyscall},
		{KindSys, processVigilEventEV_PTRACE, 0, event.HookSyscall},
		{KindSys, processVigilEventEV_PTRACE, FlagLSM, event.HookLSM},
		{KindFile, processVigilEventEV_FILE_OPEN, FlagFmodRet, event.HookFmodRet},
		{KindNet, processVigilEventEV_NET_CONNECT, 0, event.HookNone},
		{KindExec, processVigilEventEV_PROCESS_EXEC, 0, event.HookNone},
		{KindExec, processVigilEventEV_PROCESS_EXEC, FlagLSM, event.HookLSM},
	} {
		ev := decodeOK(t, alertRecord(t, c.kind, uint8(c.ev), func(a *rawAlert) { a.Hdr.Flags = c.flags }))
		assert.Equal(t, c.want, ev.Hook, "kind %d event %d flags %#x", c.kind, c.ev, c.flags)
	}
}

func TestDecodeNetwork(t *testing.T) {
	ev := decodeOK(t, alertRecord(t, KindNet, uint8(processVigilEventEV_NET_CONNECT), func(a *rawAlert) {
		a.Family, a.Dport, a.Protocol = 2, 80, 6
		copy(a.Daddr[:], []byte{169, 254, 169, 254})
	}))
	assert.Equal(t, event.NetworkConnect, ev.Name)
	assert.Equal(t, &event.Network{Direction: event.Outbound, Family: 2, Transport: 6,
		Peer: netip.MustParseAddrPort("169.254.169.254:80")}, ev.Detail)

	ev = decodeOK(t, alertRecord(t, KindNet, uint8(processVigilEventEV_NET_LISTEN), func(a *rawAlert) {
		a.Family, a.Dport, a.Protocol = 10, 8443, 6
		a.Daddr = netip.MustParseAddr("::1").As16()
	}))
	n := ev.Detail.(*event.Network)
	assert.Equal(t, event.Listening, n.Direction)
	assert.Equal(t, netip.MustParseAddrPort("[::1]:8443"), n.Local)
	assert.False(t, n.Peer.IsValid(), "listen has no peer")
	assert.Equal(t, n.Local, n.Addr())

	ev = decodeOK(t, alertRecord(t, KindNet, uint8(processVigilEventEV_NET_ACCEPT), func(a *rawAlert) {
		a.Family, a.Dport, a.Protocol = 2, 5000, 17
		copy(a.Daddr[:], []byte{127, 0, 0, 1})
	}))
	n = ev.Detail.(*event.Network)
	assert.Equal(t, event.Inbound, n.Direction)
	assert.Equal(t, netip.MustParseAddrPort("127.0.0.1:5000"), n.Addr())
	assert.Equal(t, uint8(17), n.Transport)
}

func TestDecodeExecAttempt(t *testing.T) {
	ev := decodeOK(t, alertRecord(t, KindExec, uint8(processVigilEventEV_PROCESS_EXEC), func(a *rawAlert) {
		a.Hdr.Flags = FlagLSM
		a.PathLen = putStr(a.Path[:], "/tmp/x/evil")
	}))
	assert.Equal(t, event.ProcessExec, ev.Name)
	assert.Equal(t, &event.ExecAttempt{Path: "/tmp/x/evil"}, ev.Detail)
}

func TestDecodeSyscallKinds(t *testing.T) {
	sys := func(ev processVigilEvent, nr uint32, flags uint32, args [3]uint64, path string) event.Event {
		return decodeOK(t, alertRecord(t, KindSys, uint8(ev), func(a *rawAlert) {
			a.Access, a.Hdr.Flags = nr, flags
			copy(a.Args[:], args[:])
			a.Args[3] = 99 // never reported
			if path != "" {
				a.PathLen = putStr(a.Path[:], path)
			}
		}))
	}
	ev := sys(processVigilEventEV_PRIVILEGE_CHANGE, 105, 0, [3]uint64{0, 0, 0}, "")
	assert.Equal(t, event.PrivilegeChange, ev.Name)
	assert.Equal(t, &event.Privilege{Syscall: event.Syscall{Nr: 105}, Old: event.Cred{UID: 1000, EUID: 0, GID: 1000}}, ev.Detail)

	ev = sys(processVigilEventEV_NAMESPACE_CHANGE, 272, 0, [3]uint64{0x20000000}, "") // unshare(CLONE_NEWUTS... )
	assert.Equal(t, &event.Namespace{Syscall: event.Syscall{Nr: 272, Args: [3]uint64{0x20000000}}, Flags: 0x20000000}, ev.Detail)
	ev = sys(processVigilEventEV_NAMESPACE_CHANGE, nrSetns, 0, [3]uint64{3, 0x40000000}, "") // setns(fd 3, CLONE_NEWNET)
	assert.Equal(t, uint64(0x40000000), ev.Detail.(*event.Namespace).Flags, "setns: the type is its second argument")

	ev = sys(processVigilEventEV_MODULE_LOAD, 313, FlagLSM, [3]uint64{}, "/lib/modules/x.ko")
	assert.Equal(t, event.KernelModuleLoad, ev.Name)
	assert.Equal(t, &event.Module{Syscall: event.Syscall{Nr: 313}, Path: "/lib/modules/x.ko"}, ev.Detail)

	ev = sys(processVigilEventEV_BPF_LOAD, 321, 0, [3]uint64{5, 0, 0}, "")
	assert.Equal(t, &event.BPF{Syscall: event.Syscall{Nr: 321, Args: [3]uint64{5}}, Cmd: 5}, ev.Detail,
		"the syscall hook does not read the program type")
	ev = sys(processVigilEventEV_BPF_LOAD, 321, FlagFmodRet, [3]uint64{5, 2, 40}, "")
	assert.Equal(t, &event.BPF{Syscall: event.Syscall{Nr: 321, Args: [3]uint64{5, 2, 40}}, Cmd: 5, ProgType: 2, ProgTypeKnown: true}, ev.Detail)

	ev = sys(processVigilEventEV_PTRACE, 101, FlagLSM, [3]uint64{16, 4242, 0}, "")
	assert.Equal(t, event.ProcessPtrace, ev.Name)
	assert.Equal(t, &event.Ptrace{Syscall: event.Syscall{Nr: 101, Args: [3]uint64{16, 4242}}, Request: 16, TargetPID: 4242}, ev.Detail)
	s, ok := event.SyscallOf(ev.Detail)
	assert.True(t, ok)
	assert.Equal(t, uint32(101), s.Nr)
	_, ok = event.SyscallOf(&event.File{})
	assert.False(t, ok)
}

func TestDecodeErrors(t *testing.T) {
	var d Decoder
	var ev event.Event
	head := recordBytes(t, &rawProc{Hdr: processEventHeader{Op: uint8(OpExec)}})
	alert := alertRecord(t, KindFile, uint8(processVigilEventEV_FILE_OPEN), nil)
	cases := []struct {
		name string
		b    []byte
		want DecodeErrorKind
	}{
		{"empty", nil, ErrShortRecord},
		{"unknown op", []byte{99, 0, 0, 0}, ErrUnknownOp},
		{"op 0", make([]byte, 64), ErrUnknownOp},
		{"an iterator record in the ring buffer", procRecord(t, OpIter, &rawProc{}), ErrUnknownOp},
		{"process head cut", head[:offHead-1], ErrShortRecord},
		{"exec without its strings", head[:offHead+8], ErrTruncatedRecord},
		{"alert head cut", alert[:offAlertPath-1], ErrShortRecord},
		{"alert of an unknown event", alertRecord(t, KindFile, 200, nil), ErrUnknownEvent},
		{"alert whose event is not of its rule kind", alertRecord(t, KindNet, uint8(processVigilEventEV_FILE_OPEN), nil), ErrUnknownEvent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := d.Decode(c.b, &ev)
			require.Error(t, err)
			assert.Equal(t, c.want, KindOf(err), "%v", err)
		})
	}
	assert.Equal(t, DecodeErrorKind(""), KindOf(assert.AnError))
}

// Every event the sensors implement has a decoder: a record of each decodes.
func TestEveryKernelEventHasADecoder(t *testing.T) {
	for pe := range eventIDs {
		id, kind, ok := kernelEvent(pe)
		require.True(t, ok, pe)
		ev := decodeOK(t, alertRecord(t, kind, id, nil))
		assert.Equal(t, string(pe), ev.Name)
		assert.NotNil(t, ev.Detail, pe)
	}
	assert.Len(t, alertDecoders, len(eventIDs), "a decoder for an event no sensor implements")
}

// The decoder reuses its scratch process: the event's Proc is valid until the next Decode.
func TestDecoderReusesScratch(t *testing.T) {
	var d Decoder
	var a, b event.Event
	require.NoError(t, d.Decode(alertRecord(t, KindFile, uint8(processVigilEventEV_FILE_OPEN), nil), &a))
	require.NoError(t, d.Decode(alertRecord(t, KindFile, uint8(processVigilEventEV_FILE_OPEN), func(r *rawAlert) { r.Tgid = 7 }), &b))
	assert.Same(t, a.Proc, b.Proc)
	assert.Equal(t, uint32(7), a.Proc.PID)
}

// file.link and file.symlink carry two paths, one per half of the path buffer;
// network.socket its arguments; fd.dup the socket behind the new descriptor.
func TestDecodeLinkSocketDup(t *testing.T) {
	half := len(rawAlert{}.Path) / 2
	twoPaths := func(ev processVigilEvent, nr uint32, first, second string, flags uint32) event.Event {
		return decodeOK(t, alertRecord(t, KindSys, uint8(ev), func(a *rawAlert) {
			a.Access, a.Hdr.Flags = nr, flags
			a.Args = [4]uint64{1<<64 - 100, 5, 0x400, 0}
			putStr(a.Path[:], first)
			a.PathLen = uint16(half) + putStr(a.Path[half:], second)
		}))
	}
	ev := twoPaths(processVigilEventEV_FILE_LINK, 265, "/etc/shadow", "x/hard", 0)
	assert.Equal(t, event.FileLink, ev.Name)
	assert.Equal(t, &event.Link{Syscall: event.Syscall{Nr: 265, Args: [3]uint64{1<<64 - 100, 5, 0x400}}, Old: "/etc/shadow", New: "x/hard"}, ev.Detail)
	ev = twoPaths(processVigilEventEV_FILE_SYMLINK, 88, "/etc/shadow", "/tmp/l", FlagTruncPath)
	assert.Equal(t, event.FileSymlink, ev.Name)
	assert.Equal(t, &event.Link{Syscall: event.Syscall{Nr: 88, Args: [3]uint64{1<<64 - 100, 5, 0x400}}, Old: "/etc/shadow", New: "/tmp/l", Truncated: true}, ev.Detail)
	ev = twoPaths(processVigilEventEV_FILE_SYMLINK, 88, "", "/tmp/l", 0)
	assert.Equal(t, "", ev.Detail.(*event.Link).Old, "an unreadable first path")
	// Only the second half is the second path: a first path of any length does not leak into it.
	ev = twoPaths(processVigilEventEV_FILE_LINK, 86, strings.Repeat("a", half-1), "b", 0)
	assert.Equal(t, "b", ev.Detail.(*event.Link).New)
	assert.Len(t, ev.Detail.(*event.Link).Old, half-1)

	ev = decodeOK(t, alertRecord(t, KindSys, uint8(processVigilEventEV_NET_SOCKET), func(a *rawAlert) {
		a.Access, a.Args, a.Family, a.Protocol = 41, [4]uint64{17, 0x80003, 0x300}, 17, 0
	}))
	assert.Equal(t, event.NetworkSocket, ev.Name)
	assert.Equal(t, &event.Socket{Syscall: event.Syscall{Nr: 41, Args: [3]uint64{17, 0x80003, 0x300}}, Family: 17, Type: 0x80003, Protocol: 0x300}, ev.Detail)

	ev = decodeOK(t, alertRecord(t, KindSys, uint8(processVigilEventEV_FD_DUP), func(a *rawAlert) {
		a.Access, a.Family, a.Protocol, a.Dport = 33, 2, 6, 4444
		copy(a.Daddr[:], []byte{10, 0, 0, 7})
		a.Args = [4]uint64{9, 0, 0, 1 | 40000<<16 | uint64(binary.LittleEndian.Uint32([]byte{127, 0, 0, 1}))<<32}
	}))
	assert.Equal(t, event.FdDup, ev.Name)
	assert.Equal(t, &event.Dup{Syscall: event.Syscall{Nr: 33, Args: [3]uint64{9, 0, 0}}, OldFD: 9, NewFD: 0, Family: 2, SockType: 1, Protocol: 6,
		Local: netip.MustParseAddrPort("127.0.0.1:40000"), Peer: netip.MustParseAddrPort("10.0.0.7:4444")}, ev.Detail)
	ev = decodeOK(t, alertRecord(t, KindSys, uint8(processVigilEventEV_FD_DUP), func(a *rawAlert) {
		a.Access, a.Family, a.Protocol, a.Dport, a.Hdr.Flags = 63, 10, 6, 22, FlagCompat
		a.Daddr[15] = 1
		a.Args = [4]uint64{4, 2, 0, 1 | 50000<<16}
	}))
	d := ev.Detail.(*event.Dup)
	assert.True(t, ev.Compat)
	assert.Equal(t, netip.MustParseAddrPort("[::1]:22"), d.Peer)
	assert.Equal(t, uint16(50000), d.Local.Port(), "IPv6: the local port, not its address")
	assert.Equal(t, int64(2), d.NewFD)
}

// A file record through a subtree mount carries its canonical path after the raw
// buffer, read only with the flag; a record cut before it has none.
func TestDecodeCanonicalPath(t *testing.T) {
	rec := func(flags uint32, canon string) []byte {
		a := &rawAlert{Kind: uint8(KindFile), Event: uint8(processVigilEventEV_FILE_OPEN)}
		a.Hdr.Op, a.Hdr.Flags = uint8(OpAlert), flags
		a.PathLen = putStr(a.Path[:], "/tmp/x/shadow")
		a.CanonLen = putStr(a.Canon[:], canon)
		return recordBytes(t, a)[:offAlertCan+int(a.CanonLen)+1]
	}
	f := decodeOK(t, rec(FlagSubtreeMount, "/etc/shadow")).Detail.(*event.File)
	assert.Equal(t, "/tmp/x/shadow", f.Path)
	assert.True(t, f.SubtreeMount)
	assert.Equal(t, "/etc/shadow", f.Canonical)
	f = decodeOK(t, rec(FlagSubtreeMount, "")).Detail.(*event.File)
	assert.True(t, f.SubtreeMount)
	assert.Empty(t, f.Canonical, "unresolved")
	f = decodeOK(t, rec(0, "/etc/shadow")).Detail.(*event.File)
	assert.False(t, f.SubtreeMount)
	assert.Empty(t, f.Canonical, "a stale canonical length without the flag is ignored")
	b := rec(FlagSubtreeMount, "/etc/shadow")
	f = decodeOK(t, b[:offAlertCan]).Detail.(*event.File)
	assert.Empty(t, f.Canonical, "a record cut before the canonical path")
}
