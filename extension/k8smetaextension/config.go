package k8smetaextension // import "github.com/vigilsec/vigil/extension/k8smetaextension"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
)

// AuthType says how the extension authenticates to the Kubernetes API server.
type AuthType string

const (
	// AuthTypeServiceAccount uses the pod's service account (in-cluster configuration).
	AuthTypeServiceAccount AuthType = "serviceAccount"
	// AuthTypeKubeConfig uses a kubeconfig file (development, out-of-cluster runs).
	AuthTypeKubeConfig AuthType = "kubeConfig"
)

const (
	defaultAuthType     = AuthTypeServiceAccount
	defaultNodeNameEnv  = "K8S_NODE_NAME"
	defaultResyncPeriod = 0 * time.Second
)

// Config configures the k8s_meta extension.
type Config struct {
	// AuthType is "serviceAccount" (in-cluster, the default) or "kubeConfig".
	AuthType AuthType `mapstructure:"auth_type"`
	// KubeConfigPath is the kubeconfig file used when auth_type is kubeConfig. Empty means the
	// default loading rules ($KUBECONFIG, then ~/.kube/config).
	KubeConfigPath string `mapstructure:"kubeconfig_path"`
	// NodeName restricts the pod cache to the pods scheduled on this node. When empty, the
	// value of the environment variable named by NodeNameEnv is used.
	NodeName string `mapstructure:"node_name"`
	// NodeNameEnv names the environment variable holding the node name, normally set from the
	// downward API (spec.nodeName). Default K8S_NODE_NAME.
	NodeNameEnv string `mapstructure:"node_name_env"`
	// ResyncPeriod is the informers' resync period; 0 (the default) disables periodic resyncs,
	// which are not needed for correctness with watch-based informers.
	ResyncPeriod time.Duration `mapstructure:"resync_period"`
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		AuthType:     defaultAuthType,
		NodeNameEnv:  defaultNodeNameEnv,
		ResyncPeriod: defaultResyncPeriod,
	}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	switch cfg.AuthType {
	case AuthTypeServiceAccount:
		if cfg.KubeConfigPath != "" {
			return errors.New("kubeconfig_path is only used when auth_type is kubeConfig")
		}
	case AuthTypeKubeConfig:
	default:
		return fmt.Errorf("auth_type must be %q or %q, got %q", AuthTypeServiceAccount, AuthTypeKubeConfig, cfg.AuthType)
	}
	if cfg.NodeName == "" && cfg.NodeNameEnv == "" {
		return errors.New("node_name or node_name_env must be set")
	}
	if cfg.ResyncPeriod < 0 {
		return errors.New("resync_period must not be negative")
	}
	return nil
}
