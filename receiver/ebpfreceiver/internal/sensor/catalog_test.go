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
