//go:build linux

package sensor

import (
	"bytes"
	"fmt"
	"net/netip"
	"unsafe"
)

type rawAlert = processVigilAlert

var (
	offAlertPath = int(unsafe.Offsetof(rawAlert{}.Path))
	lenAlertPath = len(rawAlert{}.Path)
	offAlertRaw  = int(unsafe.Offsetof(rawAlert{}.Raw))
	lenAlertRaw  = len(rawAlert{}.Raw)
	offAlertCan  = int(unsafe.Offsetof(rawAlert{}.Canon))
	lenAlertCan  = len(rawAlert{}.Canon)
)

// Alert is a decoded policy match from the file, network or syscall sensors.
type Alert struct {
	Flags           uint32
	KTime           uint64
	PID, TGID, PPID uint32
	UID, EUID, GID  uint32
	CgroupID        uint64
	StartBoottime   uint64
	Rules           uint64 // matched rule slots within Kind
	Kind            int
	Event           uint8
	Action          uint8
	Applied         bool
	Access          uint32 // file.open: open flags; syscall events: syscall number
	Args            [4]uint64
	Family          uint16         // network events: AF_INET or AF_INET6
	Peer            netip.AddrPort // network events
	Protocol        uint8
	Path            string
	// Path2 is the second path of file.link and file.symlink, which carry
	// two: the first in the first half of the path buffer, this one in the other.
	Path2 string
	// File events: the file's identity (0 for a failed open).
	Ino uint64
	Dev uint32
	// file.open: the syscall's result (a descriptor, or a negative errno with
	// FlagOpenFailed), and the path as the caller passed it when a rule asks
	// (raw_path, failed_opens).
	Res int32
	Raw string
	// Canonical: with FlagSubtreeMount, the file's path in the host's mount
	// namespace ("" when it could not be resolved).
	Canonical string
}

// Op returns the opcode of a ring buffer record.
func RecordOp(b []byte) Op {
	if len(b) == 0 {
		return 0
	}
	return Op(b[0])
}

// DecodeAlert decodes an alert record.
func DecodeAlert(b []byte, a *Alert) error { return decodeAlert(b, a, "") }

// decodeAlert decodes an alert record; a path equal to prev is prev (a storm
// on one file converts its path once, not once per record).
func decodeAlert(b []byte, a *Alert, prev string) error {
	if len(b) < offAlertPath {
		return fmt.Errorf("alert record too short: %d bytes", len(b))
	}
	var h rawAlert
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), offAlertPath), b[:offAlertPath])
	*a = Alert{
		Flags: h.Hdr.Flags, KTime: h.Hdr.Ktime, PID: h.Pid, TGID: h.Tgid, PPID: h.Ppid,
		UID: h.Uid, EUID: h.Euid, GID: h.Gid, CgroupID: h.CgroupId, StartBoottime: h.StartBoottime,
		Rules: h.Rules, Kind: int(h.Kind), Event: h.Event, Action: h.Action, Applied: h.Applied != 0,
		Access: h.Access, Args: h.Args, Protocol: h.Protocol, Family: h.Family,
		Ino: h.Ino, Dev: h.Dev, Res: h.Res,
	}
	switch h.Family {
	case 2:
		a.Peer = netip.AddrPortFrom(netip.AddrFrom4([4]byte(h.Daddr[:4])), h.Dport)
	case 10:
		a.Peer = netip.AddrPortFrom(netip.AddrFrom16(h.Daddr), h.Dport)
	}
	n := min(int(h.PathLen), lenAlertPath, len(b)-offAlertPath)
	if n > 0 {
		p := b[offAlertPath : offAlertPath+n]
		if i := bytes.IndexByte(p, 0); i >= 0 {
			p = p[:i]
		}
		if string(p) == prev { // compared without a conversion
			a.Path = prev
		} else {
			a.Path = string(p)
		}
	}
	if twoPaths(a) && n > lenAlertPath/2 {
		a.Path2 = cstr(b[offAlertPath+lenAlertPath/2 : offAlertPath+n])
	}
	if r := min(int(h.RawLen), lenAlertRaw, len(b)-offAlertRaw); r > 0 {
		a.Raw = cstr(b[offAlertRaw : offAlertRaw+r])
	}
	if c := min(int(h.CanonLen), lenAlertCan, len(b)-offAlertCan); c > 0 && a.Flags&FlagSubtreeMount != 0 {
		a.Canonical = cstr(b[offAlertCan : offAlertCan+c])
	}
	return nil
}

// twoPaths reports whether a record's path buffer holds two paths.
func twoPaths(a *Alert) bool {
	return a.Kind == KindSys && (a.Event == uint8(processVigilEventEV_FILE_LINK) || a.Event == uint8(processVigilEventEV_FILE_SYMLINK))
}

// ExecMatch is the policy part of an exec record.
type ExecMatch struct {
	Rules   uint64
	Action  uint8
	Applied bool
}
