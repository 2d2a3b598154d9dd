//go:build linux

package sensor

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testenv"
)

// 32-bit syscalls (int $0x80 from a 64-bit process: the helper's ia32-*
// actions) enter the kernel through the compat entry, with ia32 syscall
// numbers. The per-syscall tracepoints never see them, and the raw syscall
// tracepoints see their numbers, which mean other syscalls in the x86_64 table.

func requireIA32(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("ia32 syscalls exist on x86-64 only")
	}
}

// compatFileScenario: an ia32 open and openat of a watched file are reported
// (the open kills the helper, as its rule says), the same by an unselected
// binary are not, and an open of another file is not reported.
func compatFileScenario(t *testing.T, r *policyRig, helper string) {
	requireIA32(t)
	dir := t.TempDir()
	watched := filepath.Join(dir, "watched")
	other := filepath.Join(dir, "other")
	for _, p := range []string{watched, other} {
		require.NoError(t, os.WriteFile(p, []byte("s"), 0o600))
	}
	lsm := r.pol.HasLSM()
	r.applyWith(t, r.caps(), lsm, fmt.Sprintf(`name: ia32-open
mode: enforce
selector:
  binaries: [%s]
rules:
  - name: kill-open
    event: file.open
    paths: [%s]
    action: kill
`, helper, watched))
	// The unselected binary opens the watched file with 32-bit syscalls unharmed.
	assert.Equal(t, "ok", testenv.RunHelper(t, os.Args[0], "ia32-open:"+watched))
	assert.Equal(t, "ok", testenv.RunHelper(t, helper, "ia32-open:"+other), "another file")
	assert.Equal(t, "killed: killed", testenv.RunHelper(t, helper, "ia32-open:"+watched), "ia32 open (5)")
	assert.Equal(t, "killed: killed", testenv.RunHelper(t, helper, "ia32-openat:"+watched), "ia32 openat (295)")
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindFile })
	require.Len(t, got, 2, "the two opens of the watched file by the helper, nothing else")
	for _, a := range got {
		assert.Equal(t, watched, a.Path)
		assert.Equal(t, actKill, a.Action)
		assert.True(t, a.Applied, "killed")
		assert.NotEqual(t, uint32(os.Getpid()), a.TGID)
		if !lsm {
			assert.Equal(t, FlagCompat, a.Flags&FlagCompat, "flagged as a 32-bit syscall")
		}
	}
}

// TestEvasionsInKernel runs the evasion scenarios of the syscall hooks on one
// set of loaded sensors (each load is slow in the emulated kernel matrix) and
// one helper copy; each scenario applies its own policy.
func TestEvasionsInKernel(t *testing.T) {
	r := newPolicyRig(t)
	helper := testenv.CopyTestBinary(t, "")
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *policyRig, string)
	}{
		{"ia32-file-open", compatFileScenario},
		{"ia32-no-forged-write", compatNoForgedWrite},
		{"ia32-sys-events", compatSysEvents},
		{"ia32-setid-on-exit", compatSetidOnExit},
		{"ia32-listen-accept", compatListenAccept},
		{"ia32-new-events", compatNewEvents},
		{"io_uring-openat", ioUringOpenat},
		{"io_uring-accept", ioUringAccept},
		{"mapped-ipv6-connect", connectDenyMappedIPv6},
		{"unconnected-udp-sendto", sendtoDenyUnconnectedUDP},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, r, helper) })
	}
}

// An ia32 getpid (20) is not an x86_64 writev (20): with a descriptor of the
// watched file open for writing in rdi (where a 64-bit writev has its fd),
// three of them give no file.write record. An ia32 write (4, descriptor in
// ebx) to the watched file gives exactly one, flagged as 32-bit.
func compatNoForgedWrite(t *testing.T, r *policyRig, helper string) {
	requireIA32(t)
	watched := filepath.Join(t.TempDir(), "watched")
	require.NoError(t, os.WriteFile(watched, nil, 0o600))
	r.apply(t, fmt.Sprintf(`name: ia32-write
selector:
  binaries: [%s]
rules:
  - name: w
    event: file.write
    paths: [%s]
`, helper, watched))
	assert.Equal(t, "ok", testenv.RunHelper(t, helper, "ia32-getpid-fd:"+watched))
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindFile })
	assert.Empty(t, got, "no file.write from a 32-bit getpid")

	assert.Equal(t, "ok", testenv.RunHelper(t, helper, "ia32-write:"+watched))
	got = r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindFile })
	require.Len(t, got, 1, "the ia32 write")
	assert.Equal(t, watched, got[0].Path)
	assert.Equal(t, uint8(processVigilEventEV_FILE_WRITE), got[0].Event)
	assert.Equal(t, FlagCompat, got[0].Flags&FlagCompat)
	b, err := os.ReadFile(watched)
	require.NoError(t, err)
	assert.Equal(t, "x", string(b), "the write happened once")
}

// The syscall-kind events through ia32 syscalls: setresuid32 (208) and the
// 16-bit setuid (23, asking for 0x10000, which the kernel cuts to uid 0) that
// raise the euid to 0, unshare (310) of a namespace and ptrace (26) attach are
// reported with their ia32 numbers and FLAG_COMPAT; the unselected binary's
// are not.
func compatSysEvents(t *testing.T, r *policyRig, helper string) {
	requireIA32(t)
	c := r.apply(t, sysPolicy(helper, "post", "monitor"))
	for _, act := range []string{"ia32-setresuid-raise", "ia32-setuid16-raise", "ia32-unshare", "ia32-ptrace"} {
		assert.Equal(t, "ok", testenv.RunHelper(t, os.Args[0], act), "unselected %s", act)
		assert.Equal(t, "ok", testenv.RunHelper(t, helper, act), act)
	}
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindSys })
	byRule := map[string][]uint32{}
	for _, a := range got {
		ref, ok := c.Rules.Strongest(KindSys, a.Rules)
		require.True(t, ok)
		byRule[ref.Rule] = append(byRule[ref.Rule], a.Access)
		assert.Equal(t, FlagCompat, a.Flags&FlagCompat, "%s: flagged as a 32-bit syscall", ref.Rule)
		assert.NotEqual(t, uint32(os.Getpid()), a.TGID)
		switch a.Access {
		case 208: // setresuid32(-1, 0, -1)
			assert.Equal(t, [3]uint64{0xffffffff, 0, 0xffffffff}, [3]uint64(a.Args[:3]))
		case 23: // setuid16(0x10000): uid 0 in 16 bits
			assert.Equal(t, uint64(0), a.Args[0])
		}
	}
	assert.ElementsMatch(t, []uint32{208, 23}, byRule["priv"], "setresuid32 and setuid16, not the lowerings")
	assert.Equal(t, []uint32{310}, byRule["ns"], "unshare")
	assert.Equal(t, []uint32{26}, byRule["ptrace"], "ptrace attach")
	assert.Len(t, got, 4)
}

// The ia32 set*id calls are decided on syscall exit (the per-syscall
// tracepoints that carry the x86_64 ones never see them), after the call:
//   - a call that failed changed nothing: decided on the current effective id,
//     exactly as on entry (uid 65534's refused setuid32(0) is reported);
//   - setfsuid32 never changes the effective id: root's setfsuid32(0) is not
//     reported (the look-alike);
//   - a setuid32 that succeeded may have replaced the effective id it started
//     from: every id 0 asked for counts (fail closed), so root's own
//     setuid32(0) is reported too, as documented (docs/kernel-visibility.md).
//
// Where BPF LSM or fmod_ret carries privilege.change, the security hooks
// decide on the committed credentials instead: not this scenario's hooks.
func compatSetidOnExit(t *testing.T, r *policyRig, helper string) {
	requireIA32(t)
	c := r.apply(t, sysPolicy(helper, "post", "monitor"))
	assertSetidTracepoints(t, r)
	for _, act := range []string{"ia32-setuid-denied", "ia32-setfsuid-root", "ia32-setuid-root"} {
		assert.Equal(t, "ok", testenv.RunHelper(t, os.Args[0], act), "unselected %s", act)
		assert.Equal(t, "ok", testenv.RunHelper(t, helper, act), act)
	}
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindSys })
	var calls []uint32
	var uids []uint32
	for _, a := range got {
		ref, ok := c.Rules.Strongest(KindSys, a.Rules)
		require.True(t, ok)
		require.Equal(t, "priv", ref.Rule)
		assert.Equal(t, FlagCompat, a.Flags&FlagCompat)
		assert.Equal(t, uint64(0), a.Args[0], "setuid32(0)")
		assert.NotEqual(t, uint32(os.Getpid()), a.TGID)
		calls = append(calls, a.Access)
		uids = append(uids, a.UID)
	}
	assert.Equal(t, []uint32{213, 213}, calls, "the refused and root's own setuid32(0), not setfsuid32 (215)")
	assert.ElementsMatch(t, []uint32{65534, 0}, uids, "the refused call as uid 65534, root's after its call")
}

// ia32 listen and accept, direct (363, 364) and through socketcall (102), are
// reported for the selected helper with the local and peer addresses.
func compatListenAccept(t *testing.T, r *policyRig, helper string) {
	requireIA32(t)
	r.apply(t, fmt.Sprintf(`name: sockets
selector:
  binaries: [%s]
rules:
  - name: listen
    event: network.listen
    cidrs: [127.0.0.0/8]
  - name: accept
    event: network.accept
    cidrs: [127.0.0.0/8]
`, helper))
	assert.Equal(t, "ok", testenv.RunHelper(t, os.Args[0], "ia32-listen-accept"), "unselected")
	assert.Equal(t, "ok", testenv.RunHelper(t, helper, "ia32-listen-accept"))
	assert.Equal(t, "ok", testenv.RunHelper(t, helper, "ia32-socketcall-listen-accept"))
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindNet })
	events := map[uint8]int{}
	for _, a := range got {
		events[a.Event]++
		assert.Equal(t, FlagCompat, a.Flags&FlagCompat)
		assert.True(t, a.Peer.Addr().IsLoopback(), "%v", a.Peer)
		assert.NotEqual(t, uint32(os.Getpid()), a.TGID)
	}
	assert.Equal(t, 2, events[uint8(processVigilEventEV_NET_LISTEN)], "listen and socketcall(SYS_LISTEN)")
	assert.Equal(t, 2, events[uint8(processVigilEventEV_NET_ACCEPT)], "accept4 and socketcall(SYS_ACCEPT)")
	assert.Len(t, got, 4)
}
