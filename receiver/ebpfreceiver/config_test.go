package ebpfreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: createDefaultConfig().(*Config)},
		{id: component.NewIDWithName(metadata.Type, "custom"), want: &Config{
			RingBufferSize: 16 << 20, QueueSize: 1000, BatchSize: 100, FlushInterval: time.Second, PollInterval: 50 * time.Millisecond,
			ArgsMaxBytes: 1024, EmitForks: true,
			ProcessCache: ProcessCacheConfig{MaxProcesses: 1000, MaxExited: 10, AncestorDepth: 5},
			Redaction:    RedactionConfig{Enabled: false, ExtraPatterns: []string{`session=(\w+)`}},
			Metrics:      MetricsConfig{Interval: 5 * time.Second},
		}},
		{id: component.NewIDWithName(metadata.Type, "invalid_metrics_interval"), wantErr: "metrics.interval must be between 1s and 10m0s, got 500ms"},
		{id: component.NewIDWithName(metadata.Type, "invalid_huge_metrics_interval"), wantErr: "metrics.interval must be between 1s and 10m0s, got 1h0m0s"},
		{id: component.NewIDWithName(metadata.Type, "invalid_ring"), wantErr: "ring_buffer_size must be a power of two number of 4096-byte pages, got 12288"},
		{id: component.NewIDWithName(metadata.Type, "invalid_queue"), wantErr: "queue_size must be between 1 and 1048576 (each queued event is held in memory), got 0"},
		{id: component.NewIDWithName(metadata.Type, "invalid_huge_queue"), wantErr: "queue_size must be between 1 and 1048576 (each queued event is held in memory), got 1000000000"},
		{id: component.NewIDWithName(metadata.Type, "invalid_huge_batch"), wantErr: "batch_size must be between 1 and 65536, got 1000000000"},
		{id: component.NewIDWithName(metadata.Type, "invalid_huge_ring"), wantErr: "ring_buffer_size must be at most 268435456 (256 MiB of locked kernel memory), got 1099511627776"},
		{id: component.NewIDWithName(metadata.Type, "invalid_huge_cache"), wantErr: "process_cache.max_processes must be between 1 and 4194304 (the kernel's pid limit), got 100000000\nprocess_cache.max_exited must be between 0 and 1048576, got 100000000"},
		{id: component.NewIDWithName(metadata.Type, "invalid_flush"), wantErr: "flush_interval must be between 0 and 1m0s, got 1h0m0s"},
		{id: component.NewIDWithName(metadata.Type, "invalid_args"), wantErr: "args_max_bytes must be between 1 and 4096"},
		{id: component.NewIDWithName(metadata.Type, "invalid_depth"), wantErr: "process_cache.ancestor_depth must be between 0 and 32"},
		{id: component.NewIDWithName(metadata.Type, "invalid_pattern"), wantErr: "redaction.extra_patterns[0]: error parsing regexp: missing closing ): `(`"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}
