//go:build linux

package sensor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
// sensor's dispatchers (sys.bpf.c) decide for it (sys_enter_all; fd.dup on sys_exit_all),
// as the catalog documents them: the x86_64 names, their ia32 twins included.
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
