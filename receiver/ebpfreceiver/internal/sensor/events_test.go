//go:build linux

package sensor

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

func newEventsPolicy(helper string) string {
	return fmt.Sprintf(`name: newevents
selector:
  binaries: [%s]
rules:
  - {name: link, event: file.link}
  - {name: symlink, event: file.symlink}
  - {name: socket, event: network.socket}
  - {name: dup, event: fd.dup}
  - {name: ptrace, event: process.ptrace}
`, helper)
}

// typed decodes a policy record into its typed event.
func typed(t *testing.T, a *Alert) event.Event {
	t.Helper()
	var d Decoder
	var ev event.Event
	require.NoError(t, d.FromAlert(a, &ev))
	return ev
}

// The link, symlink, socket, dup and ptrace events of the selected helper are
// reported once each with what the calls passed, and their look-alikes are not:
// the same calls by an unselected binary, sockets of the everyday families, a
// socket duplicated onto a descriptor above 2, a pipe onto fd 0, fcntl(F_GETFL) returning 2, and
// the ptrace requests that only read (PEEKDATA, GETREGS) or let go (DETACH).
// In the ptrace case the target pid is the traced child's, and 0 for TRACEME.
// With the security hooks (kernel matrix) the attach comes from
// ptrace_access_check, TRACEME from ptrace_traceme, the sockets from
// socket_create, and the rest from the syscall hooks.
func newEventsScenario(t *testing.T, r *policyRig, lsm bool) {
	helper := testenv.CopyTestBinary(t, "")
	c := r.applyWith(t, r.caps(), lsm, newEventsPolicy(helper))
	// No privilege.change rule: nothing on syscall entry, which would cost every
	// syscall of every task a second program (bpf/dispatch.h); one program on exit.
	assert.NotContains(t, r.pol.links, "sys_enter_all", "a program on sys_enter without a privilege.change rule")
	assert.Contains(t, r.pol.links, "sys_exit")
	security := event.HookSyscall
	if lsm {
		security = map[string]event.Hook{"bpf_lsm": event.HookLSM, "fmod_ret": event.HookFmodRet}[r.pol.SecurityHooks()]
		require.True(t, c.Plan.SysLSM[policy.EventNetworkSocket])
		require.True(t, c.Plan.SysLSM[policy.EventProcessPtrace])
		require.True(t, c.Plan.sysOnTracepoints(policy.EventProcessPtrace), "the ptrace tracepoint stays for the writes")
		require.False(t, c.Plan.sysOnTracepoints(policy.EventNetworkSocket))
	}
	mine, other := t.TempDir(), t.TempDir()
	for _, act := range []string{"link:%s", "symlink:%s", "sockets", "dups", "ptrace-requests", "traceme"} {
		a, b := act, act
		if act == "link:%s" || act == "symlink:%s" {
			a, b = fmt.Sprintf(act, other), fmt.Sprintf(act, mine)
		}
		assert.Equal(t, "ok", testenv.RunHelper(t, os.Args[0], a), "unselected %s", a)
		assert.Equal(t, "ok", testenv.RunHelper(t, helper, b), b)
	}
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindSys })
	byRule := map[string][]event.Event{}
	for i := range got {
		ref, ok := c.Rules.Strongest(KindSys, got[i].Rules)
		require.True(t, ok)
		ev := typed(t, &got[i])
		assert.NotEqual(t, uint32(os.Getpid()), ev.Proc.PID, "the unselected test binary is never reported")
		byRule[ref.Rule] = append(byRule[ref.Rule], ev)
	}

	links := byRule["link"]
	require.Len(t, links, 2, "link and linkat")
	assert.Equal(t, &event.Link{Syscall: event.Syscall{Nr: 86, Args: [3]uint64{atFdcwd, atFdcwd, 0}},
		Old: filepath.Join(mine, "orig"), New: filepath.Join(mine, "hard")}, links[0].Detail)
	l2 := links[1].Detail.(*event.Link)
	assert.Equal(t, uint32(265), l2.Nr)
	assert.Equal(t, "orig", l2.Old, "as passed: relative to the directory descriptor")
	assert.Equal(t, "hard2", l2.New)
	assert.Equal(t, l2.Args[0], l2.Args[1], "both relative to the same directory descriptor")
	assert.Less(t, l2.Args[0], uint64(1024), "a descriptor, not AT_FDCWD")
	for _, ev := range links {
		assert.Equal(t, event.FileLink, ev.Name)
		assert.Equal(t, event.HookSyscall, ev.Hook)
	}

	syms := byRule["symlink"]
	require.Len(t, syms, 2, "symlink and symlinkat")
	assert.Equal(t, event.FileSymlink, syms[0].Name)
	assert.Equal(t, &event.Link{Syscall: event.Syscall{Nr: 88, Args: [3]uint64{0, atFdcwd, 0}},
		Old: "/etc/shadow", New: filepath.Join(mine, "sym")}, syms[0].Detail)
	s2 := syms[1].Detail.(*event.Link)
	assert.Equal(t, uint32(266), s2.Nr)
	assert.Equal(t, "/etc/hostname", s2.Old)
	assert.Equal(t, "sym2", s2.New)

	// Each path keeps 511 bytes: a longer target is cut and flagged, the link path intact.
	assert.Equal(t, "ok", testenv.RunHelper(t, helper, "symlink-long:"+mine))
	long := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindSys })
	require.Len(t, long, 1)
	ld := typed(t, &long[0]).Detail.(*event.Link)
	assert.Equal(t, "/"+strings.Repeat("t", 510), ld.Old)
	assert.Equal(t, filepath.Join(mine, "long"), ld.New)
	assert.True(t, ld.Truncated)

	socks := byRule["socket"]
	require.Len(t, socks, 2, "AF_PACKET and raw AF_INET only: not TCP, UDP, unix or netlink")
	for _, ev := range socks {
		assert.Equal(t, security, ev.Hook, "socket_create where the security hooks are loaded")
	}
	assert.Equal(t, &event.Socket{Syscall: event.Syscall{Nr: 41, Args: [3]uint64{17, 3, 0x300}}, Family: 17, Type: 3, Protocol: 0x300}, socks[0].Detail)
	raw := socks[1].Detail.(*event.Socket)
	assert.Equal(t, uint16(2), raw.Family)
	assert.Equal(t, uint32(3), raw.Type&0xf, "SOCK_RAW (with SOCK_CLOEXEC)")
	assert.Equal(t, uint16(1), raw.Protocol, "IPPROTO_ICMP")

	dups := byRule["dup"]
	require.Len(t, dups, 4, "dup2, dup3, fcntl(F_DUPFD) and dup of a socket onto fd 0; not onto a descriptor above 2, not a pipe, not F_GETFL")
	var nrs []uint32
	for _, ev := range dups {
		d := ev.Detail.(*event.Dup)
		nrs = append(nrs, d.Nr)
		assert.Equal(t, int64(0), d.NewFD)
		assert.Greater(t, d.OldFD, int64(2), "the socket's own descriptor")
		assert.Equal(t, uint16(2), d.Family)
		assert.Equal(t, uint16(1), d.SockType, "SOCK_STREAM")
		assert.Equal(t, uint8(6), d.Protocol)
		assert.Equal(t, netip.MustParseAddr("127.0.0.1"), d.Peer.Addr())
		assert.Equal(t, netip.MustParseAddr("127.0.0.1"), d.Local.Addr())
		assert.NotZero(t, d.Peer.Port())
		assert.NotZero(t, d.Local.Port())
		assert.NotEqual(t, d.Peer.Port(), d.Local.Port())
	}
	assert.Equal(t, []uint32{33, 292, 72, 32}, nrs, "dup2, dup3, fcntl, dup")
	assert.Zero(t, dups[0].Detail.(*event.Dup).Flags)
	assert.Equal(t, uint64(0o2000000), dups[1].Detail.(*event.Dup).Flags, "dup3's O_CLOEXEC")

	reqs := map[uint64]int{}
	hooks := map[uint64]event.Hook{}
	for _, ev := range byRule["ptrace"] {
		p := ev.Detail.(*event.Ptrace)
		reqs[p.Request]++
		if p.Request == 0 {
			assert.Zero(t, p.TargetPID, "TRACEME names no process: the argument as passed")
		} else {
			assert.NotZero(t, p.TargetPID)
		}
		hooks[p.Request] = ev.Hook
	}
	// Go's PtraceSetRegs is PTRACE_SETREGSET on amd64.
	assert.Equal(t, map[uint64]int{16: 1, 5: 1, 0x4205: 1, 0: 1}, reqs,
		"ATTACH, POKEDATA, SETREGSET, TRACEME; no PEEKDATA, GETREGS or DETACH")
	assert.Equal(t, map[uint64]event.Hook{16: security, 5: event.HookSyscall, 0x4205: event.HookSyscall, 0: security}, hooks,
		"attach and TRACEME from the security hooks where they are loaded, the writes from the tracepoint")
	assert.Len(t, got, 2+2+2+4+4, "nothing else")
}

// atFdcwd is AT_FDCWD as the record carries it (a sign-extended -100).
const atFdcwd = uint64(1<<64 - 100)

func TestNewEventsInKernel(t *testing.T) {
	newEventsScenario(t, newPolicyRig(t), false)
}

func TestNewEventsLSM(t *testing.T) { inSecurityBuilds(t, newEventsLSM) }

func newEventsLSM(t *testing.T, hooks Hooks) {
	testenv.RequireRoot(t)
	if os.Getenv("VIGIL_VM_KERNEL") == "" {
		t.Skip("BPF LSM is refused on this host: runs in the kernel matrix (make test-vm)")
	}
	newEventsScenario(t, newPolicyRigHooks(t, hooks), true)
}

// The new events through ia32 syscalls (int $0x80): link (9), linkat (303),
// symlink (83), symlinkat (304), socket (359) and socketcall(SYS_SOCKET) (102),
// dup2 (63), dup3 (330), fcntl64 (221), dup (41) and ptrace TRACEME (26), each
// reported with its ia32 number and FLAG_COMPAT; the look-alikes (a TCP socket,
// a dup onto a descriptor above 2, a pipe onto fd 0) and the unselected binary's are not.
func compatNewEvents(t *testing.T, r *policyRig, helper string) {
	requireIA32(t)
	c := r.apply(t, newEventsPolicy(helper))
	mine, other := t.TempDir(), t.TempDir()
	for _, act := range []string{"ia32-links:%s", "ia32-sockets", "ia32-dups", "ia32-traceme"} {
		a, b := act, act
		if act == "ia32-links:%s" {
			a, b = fmt.Sprintf(act, other), fmt.Sprintf(act, mine)
		}
		assert.Equal(t, "ok", testenv.RunHelper(t, os.Args[0], a), "unselected %s", a)
		assert.Equal(t, "ok", testenv.RunHelper(t, helper, b), b)
	}
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindSys })
	nrs := map[string][]uint32{}
	for i := range got {
		ref, ok := c.Rules.Strongest(KindSys, got[i].Rules)
		require.True(t, ok)
		ev := typed(t, &got[i])
		assert.True(t, ev.Compat, "%s: flagged as a 32-bit syscall", ref.Rule)
		assert.NotEqual(t, uint32(os.Getpid()), ev.Proc.PID)
		s, _ := event.SyscallOf(ev.Detail)
		nrs[ref.Rule] = append(nrs[ref.Rule], s.Nr)
		switch d := ev.Detail.(type) {
		case *event.Link:
			if ref.Rule == "symlink" {
				assert.Equal(t, "/etc/shadow", d.Old)
			} else {
				assert.Equal(t, filepath.Join(mine, "orig"), d.Old)
			}
			assert.Contains(t, d.New, mine)
		case *event.Dup:
			assert.Equal(t, int64(0), d.NewFD)
			assert.Equal(t, uint16(2), d.Family)
			assert.Equal(t, netip.MustParseAddr("127.0.0.1"), d.Peer.Addr())
		case *event.Socket:
			assert.Contains(t, []uint16{2, 17}, d.Family)
		}
	}
	assert.Equal(t, map[string][]uint32{"link": {9, 303}, "symlink": {83, 304}, "socket": {359, 102},
		"dup": {63, 330, 221, 41}, "ptrace": {26}}, nrs)
}
