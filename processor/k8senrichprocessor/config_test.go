package k8senrichprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/vigilsec/vigil/extension/k8smetaextension"
	"github.com/vigilsec/vigil/processor/k8senrichprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	noWait := createDefaultConfig().(*Config)
	noWait.WaitForMetadata = 0

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: createDefaultConfig().(*Config)},
		{
			id: component.NewIDWithName(metadata.Type, "custom"),
			want: &Config{
				Extension:       component.MustNewIDWithName("k8s_meta", "node"),
				PodLabels:       []string{"app.kubernetes.io/name", "team"},
				PodAnnotations:  []string{"vigil.dev/owner"},
				WaitForMetadata: 500 * time.Millisecond,
				MaxPending:      100,
			},
		},
		{id: component.NewIDWithName(metadata.Type, "no_wait"), want: noWait},
		{
			id:      component.NewIDWithName(metadata.Type, "invalid_wait_for_metadata"),
			wantErr: "wait_for_metadata must be between 0s and 1m0s, got 2m0s",
		},
		{
			id:      component.NewIDWithName(metadata.Type, "invalid_negative_wait"),
			wantErr: "wait_for_metadata must be between 0s and 1m0s, got -1s",
		},
		{
			id:      component.NewIDWithName(metadata.Type, "invalid_max_pending"),
			wantErr: "max_pending must be between 1 and 1000000, got 0",
		},
		{
			id:      component.NewIDWithName(metadata.Type, "invalid_pod_labels"),
			wantErr: "pod_labels must not contain an empty key",
		},
		{
			id:      component.NewIDWithName(metadata.Type, "invalid_pod_annotations"),
			wantErr: "pod_annotations must not contain an empty key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.wantErr != "" {
				require.EqualError(t, confmap.Validate(cfg), tt.wantErr)
				return
			}
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}

// The shipped DaemonSet pipeline must configure this processor and the k8s_meta extension
// with keys and values they accept.
func TestDeployPipelineConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("..", "..", "deploy", "kustomize", "base", "collector.yaml"))
	require.NoError(t, err)

	sub, err := cm.Sub("processors::k8s_enrich")
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))

	sub, err = cm.Sub("extensions::k8s_meta")
	require.NoError(t, err)
	mf := k8smetaextension.NewFactory()
	mcfg := mf.CreateDefaultConfig()
	require.NoError(t, sub.Unmarshal(mcfg))
	require.NoError(t, confmap.Validate(mcfg))
}
