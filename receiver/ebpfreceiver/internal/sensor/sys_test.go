//go:build linux

package sensor

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// modulesLoadable says whether this kernel can load modules at all (this host
// is built without CONFIG_MODULES: no module syscalls, nothing to report).
func modulesLoadable() bool {
	_, err := os.Stat("/proc/modules")
	return err == nil
}

func sysPolicy(helper, action, mode string) string {
	return fmt.Sprintf(`name: sys
mode: %s
selector:
  binaries: [%s]
rules:
  - {name: priv, event: privilege.change, action: %[3]s}
  - {name: ns, event: namespace.change}
  - {name: mod, event: kernel.module_load, action: %[3]s}
  - {name: bpf, event: bpf.load, action: %[3]s}
  - {name: ptrace, event: process.ptrace, action: %[3]s}
  - {name: socket, event: network.socket, action: %[3]s}
`, mode, helper, action)
}

// The syscall-kind sensors report what the selected helper does, exactly once
// each, and nothing for the same operations by an unselected binary or for a
// setuid that gains no privilege. lsm runs the same on the BPF LSM hooks
// (kernel matrix), where namespace.change stays on its tracepoints.
func sysScenario(t *testing.T, r *policyRig) {
	helper := testenv.CopyTestBinary(t, "")
	lsm := r.pol.HasLSM() // BPF LSM, or its fmod_ret build
	c := r.applyWith(t, r.caps(), lsm, sysPolicy(helper, "post", "monitor"))
	if lsm {
		require.True(t, c.Plan.SysLSM[policy.EventPrivilegeChange])
		require.False(t, c.Plan.SysLSM[policy.EventNamespaceChange])
	} else {
		assertSetidTracepoints(t, r)
	}
	actions := []string{"setuid-lower", "setuid-raise", "setgid-raise", "unshare", "clone-newuts", "ptrace", "bpf"}
	if modulesLoadable() {
		actions = append(actions, "module-file", "module-mem")
	} else {
		t.Log("this kernel cannot load modules (no CONFIG_MODULES): module loads are tested in the kernel matrix")
	}
	pids := map[uint32]bool{}
	for _, act := range actions {
		// The unselected binary first: none of its operations may be reported.
		testenv.RunHelper(t, os.Args[0], act)
		out := testenv.RunHelper(t, helper, act)
		if act == "module-file" || act == "module-mem" {
			assert.Equal(t, strconv.Itoa(int(0x8)), out, "%s: not a module (ENOEXEC)", act)
		} else {
			assert.Equal(t, "ok", out, act)
		}
	}
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindSys })
	byRule := map[string][]Alert{}
	for _, a := range got {
		ref, ok := c.Rules.Strongest(KindSys, a.Rules)
		require.True(t, ok)
		byRule[ref.Rule] = append(byRule[ref.Rule], a)
		pids[a.TGID] = true
		want := r.hookFlag()
		if ref.Rule == "ns" {
			want = 0 // namespace.change stays on its tracepoints
		}
		assert.Equal(t, want, a.Flags&(FlagLSM|FlagFmodRet), "%s: reported by the expected hook", ref.Rule)
	}
	require.Len(t, byRule["priv"], 2, "two raises (setresuid euid, setresgid egid 65534 -> 0), no report for the lowering")
	var nrs []uint32
	for _, a := range byRule["priv"] {
		assert.Equal(t, uint64(0), a.Args[1], "euid or egid 0")
		nrs = append(nrs, a.Access)
	}
	assert.ElementsMatch(t, []uint32{117, 119}, nrs, "setresuid and setresgid")
	require.Len(t, byRule["ns"], 2, "unshare and clone with CLONE_NEWUTS")
	require.Len(t, byRule["ptrace"], 1)
	assert.NotZero(t, byRule["ptrace"][0].Args[1], "target pid")
	require.Len(t, byRule["bpf"], 1)
	if modulesLoadable() {
		require.Len(t, byRule["mod"], 2, "finit_module and init_module")
		if lsm {
			paths := []string{byRule["mod"][0].Path, byRule["mod"][1].Path}
			assert.Contains(t, paths, "", "init_module has no file")
			assert.Regexp(t, `^/tmp/vigil-not-a-module-`, paths[0]+paths[1], "finit_module reports the file")
		}
	}
	assert.Len(t, got, len(byRule["priv"])+len(byRule["ns"])+len(byRule["ptrace"])+len(byRule["bpf"])+len(byRule["mod"]))
	assert.NotContains(t, pids, uint32(os.Getpid()))
}

func TestSysEventsInKernel(t *testing.T) {
	sysScenario(t, newPolicyRig(t))
}

// assertSetidTracepoints: privilege.change is on the nine x86_64 set*id and
// capset syscalls' own tracepoints, and nothing is on the raw sys_enter one.
func assertSetidTracepoints(t *testing.T, r *policyRig) {
	t.Helper()
	names := setidSyscalls()
	require.Len(t, names, 9, "the catalog's set*id and capset syscalls")
	for _, name := range names {
		assert.Contains(t, r.pol.links, setidLink(name), "privilege.change is decided on entry of %s, on its own tracepoint", name)
	}
	assert.NotContains(t, r.pol.links, "sys_enter_all", "nothing on the raw sys_enter tracepoint, which every syscall pays for")
}

// Where the set*id syscalls' own tracepoints cannot attach (a host without
// tracefs; here one attach is made to fail, after others succeeded, since this
// host has tracefs), privilege.change falls back to the raw sys_enter
// tracepoint: the tracepoints attached so far are detached, the fallback says
// why, and both ABIs are decided on entry, exactly. The x86_64 raise is
// reported, root's own ia32 setuid32(0) is not (decided on entry, on the
// effective id it starts from, unlike on exit), uid 65534's refused one is.
func TestPrivilegeFallbackInKernel(t *testing.T) {
	r := newPolicyRig(t)
	helper := testenv.CopyTestBinary(t, "")
	refuse := errors.New("refused by the test")
	r.pol.tracepoint = func(group, name string, prog *ebpf.Program, opts *link.TracepointOptions) (link.Link, error) {
		if name == "sys_enter_setresgid" {
			return nil, refuse
		}
		return link.Tracepoint(group, name, prog, opts)
	}
	c := r.apply(t, sysPolicy(helper, "post", "monitor"))
	assert.Contains(t, r.pol.links, "sys_enter_all", "the raw sys_enter tracepoint instead")
	for _, name := range setidSyscalls() {
		assert.NotContains(t, r.pol.links, setidLink(name), "%s: detached again", name)
	}
	require.ErrorIs(t, r.pol.PrivilegeFallback(), refuse)
	acts := []string{"setuid-raise"}
	if runtime.GOARCH == "amd64" {
		acts = append(acts, "ia32-setuid-root", "ia32-setuid-denied")
	}
	for _, act := range acts {
		assert.Equal(t, "ok", testenv.RunHelper(t, helper, act), act)
	}
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindSys })
	var calls []uint32
	for _, a := range got {
		ref, ok := c.Rules.Strongest(KindSys, a.Rules)
		require.True(t, ok)
		require.Equal(t, "priv", ref.Rule)
		calls = append(calls, a.Access)
	}
	want := []uint32{117} // setresuid(-1, 0, -1) after the drop
	if runtime.GOARCH == "amd64" {
		want = append(want, 213) // the refused setuid32(0); root's own is not reported
	}
	assert.ElementsMatch(t, want, calls)
}

func TestSysEventsLSM(t *testing.T) { inSecurityBuilds(t, sysEventsLSM) }

func sysEventsLSM(t *testing.T, hooks Hooks) {
	testenv.RequireRoot(t)
	if os.Getenv("VIGIL_VM_KERNEL") == "" {
		t.Skip("BPF LSM is refused on this host: runs in the kernel matrix (make test-vm)")
	}
	sysScenario(t, newPolicyRigHooks(t, hooks))
}

// deny on the BPF LSM hooks: the selected helper's privilege raise, ptrace
// attach and TRACEME, BPF program load, module loads and AF_PACKET socket fail
// with EPERM while attached (and
// are reported as applied), and work again once the hooks are detached.
func TestSysDenyLSM(t *testing.T) { inSecurityBuilds(t, sysDenyLSM) }

func sysDenyLSM(t *testing.T, hooks Hooks) {
	testenv.RequireRoot(t)
	if os.Getenv("VIGIL_VM_KERNEL") == "" {
		t.Skip("BPF LSM is refused on this host: runs in the kernel matrix (make test-vm)")
	}
	r := newPolicyRigHooks(t, hooks)
	helper := testenv.CopyTestBinary(t, "")
	p, err := policy.ParseBytes("deny.yaml", []byte(sysPolicy(helper, "deny", "enforce")))
	require.NoError(t, err)
	require.NoError(t, p.CheckCapabilities(policy.Capabilities{LSM: true, CgroupSockAddr: true, SendSignal: true}))
	require.NoError(t, p.CheckImplemented(true))
	c := r.applyWith(t, policy.Capabilities{LSM: true, CgroupSockAddr: true, SendSignal: true}, false, sysPolicy(helper, "deny", "enforce"))
	require.True(t, c.Plan.NeedsLSM)

	eperm := strconv.Itoa(int(0x1))
	// traceme: ptrace_traceme; sockets: socket_create refuses the first, AF_PACKET;
	// the TCP, UDP, unix and netlink sockets no rule names are not refused.
	denied := map[string]string{"setuid-raise": eperm, "ptrace": eperm, "bpf": eperm,
		"module-file": eperm, "module-mem": eperm, "setuid-lower": "ok", "traceme": eperm, "sockets": eperm,
		"sockets-everyday": "ok"}
	for act, want := range denied {
		assert.Equal(t, want, testenv.RunHelper(t, helper, act), "%s while attached", act)
		assert.Equal(t, "ok", testenv.RunHelper(t, os.Args[0], "setuid-raise"), "the unselected binary is not refused")
	}
	assert.Equal(t, "ok", testenv.RunHelper(t, os.Args[0], "sockets"), "the unselected binary's AF_PACKET socket is not refused")
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Kind == KindSys })
	require.Len(t, got, 7)
	for _, a := range got {
		assert.True(t, a.Applied)
		assert.Equal(t, actDeny, a.Action)
	}

	require.NoError(t, r.pol.Close())
	after := map[string]string{"setuid-raise": "ok", "ptrace": "ok", "bpf": "ok", "module-file": "8", "module-mem": "8",
		"traceme": "ok", "sockets": "ok"}
	for act, want := range after {
		assert.Equal(t, want, testenv.RunHelper(t, helper, act), "%s after detach", act)
	}
}
