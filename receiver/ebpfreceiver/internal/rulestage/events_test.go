package rulestage

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
)

func sysEv(name string, d event.Detail) *event.Event {
	ev := execEv()
	ev.Name, ev.Detail, ev.Hook = name, d, event.HookSyscall
	return ev
}

// The fields of file.link, file.symlink, network.socket, fd.dup and the ptrace
// requests, as the Falco rules over them ask: each condition holds on its event
// and not on the look-alike.
func TestFieldsOfNewEvents(t *testing.T) {
	link := sysEv(event.FileLink, &event.Link{Syscall: event.Syscall{Nr: nrLinkat, Args: [3]uint64{1<<64 - 100, 1<<64 - 100, 0x400}},
		Old: "/etc/shadow", New: "/var/tmp/x/link"})
	ownLink := sysEv(event.FileLink, &event.Link{Syscall: event.Syscall{Nr: nrLink}, Old: "/var/tmp/x/own", New: "/var/tmp/x/link"})
	sym := sysEv(event.FileSymlink, &event.Link{Syscall: event.Syscall{Nr: nrSymlink}, Old: "/etc/shadow", New: "/tmp/l"})
	sym32 := sysEv(event.FileSymlink, &event.Link{Syscall: event.Syscall{Nr: nr32Symlinkat}, Old: "/etc/hostname", New: "l"})
	sym32.Compat = true
	pkt := sysEv(event.NetworkSocket, &event.Socket{Syscall: event.Syscall{Nr: nrSocket}, Family: 17, Type: 3 | 0x80000, Protocol: 0x300})
	raw := sysEv(event.NetworkSocket, &event.Socket{Syscall: event.Syscall{Nr: nrSocket}, Family: 2, Type: 3, Protocol: 1})
	dupSock := sysEv(event.FdDup, &event.Dup{Syscall: event.Syscall{Nr: nrDup2}, OldFD: 7, NewFD: 1, Family: 2, SockType: 1, Protocol: 6,
		Local: netip.MustParseAddrPort("127.0.0.1:40000"), Peer: netip.MustParseAddrPort("127.0.0.1:4444")})
	dupUnix := sysEv(event.FdDup, &event.Dup{Syscall: event.Syscall{Nr: nrDup3}, OldFD: 7, NewFD: 0, Family: 1, Flags: oCloexec})
	dupFcntl := sysEv(event.FdDup, &event.Dup{Syscall: event.Syscall{Nr: nrFcntl}, OldFD: 7, NewFD: 2, Family: 10, Protocol: 6,
		Peer: netip.MustParseAddrPort("[::1]:4444"), Local: netip.AddrPortFrom(netip.IPv6Unspecified(), 1)})
	traceme := sysEv(event.ProcessPtrace, &event.Ptrace{Syscall: event.Syscall{Nr: 101}, Request: 0})
	peek := sysEv(event.ProcessPtrace, &event.Ptrace{Syscall: event.Syscall{Nr: 101, Args: [3]uint64{2, 9}}, Request: 2, TargetPID: 9})
	poke := sysEv(event.ProcessPtrace, &event.Ptrace{Syscall: event.Syscall{Nr: 101, Args: [3]uint64{5, 9}}, Request: 5, TargetPID: 9})

	cases := []struct {
		cond      string
		hold, not []*event.Event
	}{
		{"evt.type in (link, linkat) and evt.arg.oldpath in (/etc/shadow)", []*event.Event{link}, []*event.Event{ownLink, sym}},
		{"evt.type = linkat and evt.arg.newpath = /var/tmp/x/link and fd.name = /var/tmp/x/link and evt.arg.flags = AT_SYMLINK_FOLLOW", []*event.Event{link}, []*event.Event{ownLink}},
		{"evt.type = link and fd.directory = /var/tmp/x and fd.filename = link", []*event.Event{ownLink}, []*event.Event{link}},
		{"evt.type in (symlink, symlinkat) and evt.arg.target in (/etc/shadow, /etc) and evt.arg.linkpath = /tmp/l", []*event.Event{sym}, []*event.Event{sym32, link}},
		{"evt.type = symlinkat and evt.arg.target = /etc/hostname and evt.arg.linkpath = l", []*event.Event{sym32}, []*event.Event{sym}},
		{"evt.type = socket and evt.arg.domain contains AF_PACKET and evt.arg.type = SOCK_RAW and evt.arg.proto = 768", []*event.Event{pkt}, []*event.Event{raw}},
		{"evt.type = socket and evt.arg.domain = AF_INET and evt.arg.type = SOCK_RAW", []*event.Event{raw}, []*event.Event{pkt}},
		{"evt.type in (dup, dup2, dup3) and evt.rawres in (0, 1, 2) and fd.type in (ipv4, ipv6)", []*event.Event{dupSock}, []*event.Event{dupUnix, dupFcntl}},
		{"fd.type = ipv6 and fd.typechar = 6 and fd.sip = ::1 and fd.sport = 4444 and not fd.cip exists", []*event.Event{dupFcntl}, []*event.Event{dupSock}},
		{"fd.num = 7 and evt.arg.fd = 7 and evt.arg.newfd = 1 and evt.res = SUCCESS and evt.failed = false and fd.l4proto = tcp" +
			" and fd.name = 127.0.0.1:40000->127.0.0.1:4444 and fd.cport = 40000", []*event.Event{dupSock}, []*event.Event{dupUnix}},
		{"fd.type = unix and fd.typechar = u and evt.arg.flags = O_CLOEXEC and evt.arg.newfd = 0", []*event.Event{dupUnix}, []*event.Event{dupSock}},
		{"evt.type = ptrace and evt.arg.request = PTRACE_TRACEME and evt.arg.pid = 0", []*event.Event{traceme}, []*event.Event{peek, poke}},
		{"evt.type = ptrace and evt.arg.request in (PTRACE_POKETEXT, PTRACE_POKEDATA, PTRACE_POKEUSR)", []*event.Event{poke}, []*event.Event{peek, traceme}},
	}
	// fcntl(F_DUPFD) is an fd.dup whose evt.type is fcntl, as Falco names it; fcntl
	// is not in the evt.type table (its other commands are not sensed), so a
	// condition cannot name it, and evt.type in (dup, dup2, dup3) does not match it.
	var f Fields
	for ev, want := range map[*event.Event]string{dupFcntl: "fcntl", dupSock: "dup2", dupUnix: "dup3", link: "linkat", sym32: "symlinkat", pkt: "socket"} {
		f.Reset(ev)
		got, ok := f.Str(rules.FieldEvtType, 0)
		assert.True(t, ok)
		assert.Equal(t, want, got)
	}
	f.Reset(traceme)
	name, ok := f.Str(rules.FieldEvtType, 0)
	assert.True(t, ok, "a syscall-kind event names its syscall")
	assert.Equal(t, "ptrace", name)
	var st Stage
	for _, c := range cases {
		set := load(t, rule("r", c.cond))
		for _, ev := range c.hold {
			assert.Equal(t, []string{"r"}, names(st.Match(set, ev, nil)), "%s on %s %+v", c.cond, ev.Name, ev.Detail)
		}
		for _, ev := range c.not {
			assert.Empty(t, names(st.Match(set, ev, nil)), "%s on %s %+v", c.cond, ev.Name, ev.Detail)
		}
	}
}
