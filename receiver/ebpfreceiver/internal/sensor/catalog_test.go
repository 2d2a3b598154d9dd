//go:build linux

package sensor

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/catalog"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// Every policy event of the catalog has a kernel event id and rule kind, and
// the sensors attach the syscall tracepoints the catalog lists for it.
func TestSensorsImplementTheCatalog(t *testing.T) {
	calls := sysSyscalls()
	for _, row := range catalog.PolicyEvents() {
		ev := policy.Event(row.Name)
		_, kind, ok := kernelEvent(ev)
		require.True(t, ok, "%s has no kernel event id", row.Name)
		assert.Equal(t, kernelKinds[row.Kind], kind, row.Name)
		if row.Kind != catalog.KindSyscall {
			continue
		}
		var want []string
		for _, h := range append(row.HooksOf(catalog.HookSyscallEnter), row.HooksOf(catalog.HookSyscallExit)...) {
			want = append(want, h.Name)
		}
		assert.Equal(t, want, calls[ev], "%s: syscalls", row.Name)
	}
	assert.Len(t, eventIDs, len(catalog.PolicyEvents()), "no kernel event outside the catalog")
}

// sysSyscalls lists, per syscall-kind event, the syscalls the syscall
// sensor (sys.bpf.c) decides for it (privilege.change on sys_enter_all, the
// others on sys_exit_all), as the catalog documents them: the x86_64 names,
// their ia32 twins included.
func sysSyscalls() map[policy.Event][]string {
	return map[policy.Event][]string{
		policy.EventPrivilegeChange:  {"setuid", "setreuid", "setresuid", "setfsuid", "setgid", "setregid", "setresgid", "setfsgid", "capset"},
		policy.EventNamespaceChange:  {"setns", "unshare", "clone", "clone3"},
		policy.EventKernelModuleLoad: {"init_module", "finit_module"},
		policy.EventBPFLoad:          {"bpf"},
		policy.EventProcessPtrace:    {"ptrace"},
		policy.EventFileLink:         {"link", "linkat"},
		policy.EventFileSymlink:      {"symlink", "symlinkat"},
		policy.EventNetworkSocket:    {"socket"},
		policy.EventFdDup:            {"dup", "dup2", "dup3", "fcntl"},
	}
}

// The syscall sensor's exit handler is placed at the x86_64 slot of every
// syscall the catalog documents on syscall exit for a syscall-kind event, and
// at no other x86_64 slot (a syscall missing from the slots is never decided:
// its rules would silently never fire).
func TestSysExitSlotsMatchTheCatalog(t *testing.T) {
	nr := map[string]uint32{"setns": unix.SYS_SETNS, "unshare": unix.SYS_UNSHARE, "clone": unix.SYS_CLONE,
		"clone3": unix.SYS_CLONE3, "init_module": unix.SYS_INIT_MODULE, "finit_module": unix.SYS_FINIT_MODULE,
		"bpf": unix.SYS_BPF, "ptrace": unix.SYS_PTRACE, "link": unix.SYS_LINK, "linkat": unix.SYS_LINKAT,
		"symlink": unix.SYS_SYMLINK, "symlinkat": unix.SYS_SYMLINKAT, "socket": unix.SYS_SOCKET,
		"dup": unix.SYS_DUP, "dup2": unix.SYS_DUP2, "dup3": unix.SYS_DUP3, "fcntl": unix.SYS_FCNTL}
	var want []uint32
	for _, row := range catalog.PolicyEvents() {
		if row.Kind != catalog.KindSyscall {
			continue
		}
		if row.Name != string(policy.EventPrivilegeChange) {
			assert.Empty(t, row.HooksOf(catalog.HookSyscallEnter), "%s: only privilege.change is decided on syscall entry", row.Name)
		}
		for _, h := range row.HooksOf(catalog.HookSyscallExit) {
			n, ok := nr[h.Name]
			require.True(t, ok, "%s: no number for %s in this test", row.Name, h.Name)
			want = append(want, n)
		}
	}
	var got []uint32
	for _, s := range sysExitSlots {
		if s < dispatchNR {
			got = append(got, s)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	assert.Equal(t, want, got)
}
