package k8smetaextension

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

	"github.com/vigilsec/vigil/extension/k8smetaextension/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{
			id:   component.NewID(metadata.Type),
			want: createDefaultConfig().(*Config),
		},
		{
			id: component.NewIDWithName(metadata.Type, "custom"),
			want: &Config{
				AuthType:       AuthTypeKubeConfig,
				KubeConfigPath: "/etc/vigil/kubeconfig",
				NodeName:       "node-a",
				NodeNameEnv:    "MY_NODE",
				ResyncPeriod:   5 * time.Minute,
			},
		},
		{
			id:      component.NewIDWithName(metadata.Type, "invalid_auth_type"),
			wantErr: `auth_type must be "serviceAccount" or "kubeConfig", got "token"`,
		},
		{
			id:      component.NewIDWithName(metadata.Type, "invalid_kubeconfig_path"),
			wantErr: "kubeconfig_path is only used when auth_type is kubeConfig",
		},
		{
			id:      component.NewIDWithName(metadata.Type, "invalid_node_name"),
			wantErr: "node_name or node_name_env must be set",
		},
		{
			id:      component.NewIDWithName(metadata.Type, "invalid_resync_period"),
			wantErr: "resync_period must not be negative",
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
