package rulestage

import (
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
)

// Syscall numbers of the events whose evt.type is told from the record (x86-64,
// and the ia32 table for 32-bit calls).
const (
	nrLink      = 86
	nrSymlink   = 88
	nrLinkat    = 265
	nrSymlinkat = 266
	nrSocket    = 41
	nrDup       = 32
	nrDup2      = 33
	nrDup3      = 292
	nrFcntl     = 72

	nr32Link       = 9
	nr32Symlink    = 83
	nr32Linkat     = 303
	nr32Symlinkat  = 304
	nr32Socket     = 359
	nr32Socketcall = 102
	nr32Dup        = 41
	nr32Dup2       = 63
	nr32Dup3       = 330
	nr32Fcntl      = 55
	nr32Fcntl64    = 221
)

// oCloexec is O_CLOEXEC (dup3's only flag).
const oCloexec = 0o2000000

// sockTypeMask keeps the socket type of socket(2)'s type argument (without
// SOCK_NONBLOCK and SOCK_CLOEXEC).
const sockTypeMask = 0xf

// syscallName is evt.type for the events that carry their syscall: file.link,
// file.symlink, network.socket and fd.dup. For the other kinds it is not known
// here, and a condition's evt.type then matches every name of the event's kind.
func syscallName(ev *event.Event) (string, bool) {
	s, ok := event.SyscallOf(ev.Detail)
	if !ok {
		return "", false
	}
	switch ev.Detail.(type) {
	case *event.Link, *event.Socket, *event.Dup:
	default:
		return "", false
	}
	var names map[uint32]string
	if ev.Compat {
		names = map[uint32]string{nr32Link: "link", nr32Symlink: "symlink", nr32Linkat: "linkat", nr32Symlinkat: "symlinkat",
			nr32Socket: "socket", nr32Socketcall: "socket", nr32Dup: "dup", nr32Dup2: "dup2", nr32Dup3: "dup3",
			nr32Fcntl: "fcntl", nr32Fcntl64: "fcntl"}
	} else {
		names = map[uint32]string{nrLink: "link", nrSymlink: "symlink", nrLinkat: "linkat", nrSymlinkat: "symlinkat",
			nrSocket: "socket", nrDup: "dup", nrDup2: "dup2", nrDup3: "dup3", nrFcntl: "fcntl"}
	}
	n, ok := names[s.Nr]
	return n, ok
}

// appendLinkFlags renders linkat's flags: AT_SYMLINK_FOLLOW|AT_EMPTY_PATH.
func appendLinkFlags(b []byte, fl uint64) []byte {
	start := len(b)
	for _, f := range [...]struct {
		bit  uint64
		name string
	}{{0x400, "AT_SYMLINK_FOLLOW"}, {0x1000, "AT_EMPTY_PATH"}} {
		if fl&f.bit != 0 {
			if len(b) > start {
				b = append(b, '|')
			}
			b = append(b, f.name...)
		}
	}
	return b
}
