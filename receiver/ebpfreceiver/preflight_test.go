//go:build linux

package ebpfreceiver

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
)

// Missing BTF and missing privileges give one sentence, not a verifier dump.
func TestStartExplainsWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	noCaps := filepath.Join(dir, "status")
	require.NoError(t, os.WriteFile(noCaps, []byte("Name:\tx\nCapEff:\t0000000000000000\n"), 0o600))
	tests := []struct {
		name, btf, status, want string
	}{
		{"no BTF", filepath.Join(dir, "missing"), "/proc/self/status", "kernel BTF is missing"},
		{"no privileges", "/sys/kernel/btf/vmlinux", noCaps, "missing privileges to load eBPF sensors: run as root or grant CAP_BPF and CAP_PERFMON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.btf == "/sys/kernel/btf/vmlinux" {
				if _, err := os.Stat(tt.btf); err != nil {
					t.Skip("host has no BTF")
				}
			}
			cfg := createDefaultConfig().(*Config)
			cfg.btfPath, cfg.procStatus = tt.btf, tt.status
			r, err := newLogsReceiver(receivertest.NewNopSettings(metadata.Type), cfg, new(consumertest.LogsSink))
			require.NoError(t, err)
			err = r.Start(context.Background(), componenttest.NewNopHost())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NoError(t, r.Shutdown(context.Background()), "shutdown after a failed start")
		})
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	r, err := newLogsReceiver(receivertest.NewNopSettings(metadata.Type), createDefaultConfig().(*Config), new(consumertest.LogsSink))
	require.NoError(t, err)
	assert.NoError(t, r.Shutdown(context.Background()))
}
