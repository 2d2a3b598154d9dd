package k8smetaextension // import "github.com/vigilsec/vigil/extension/k8smetaextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"k8s.io/client-go/kubernetes"
	k8smetadata "k8s.io/client-go/metadata"

	"github.com/vigilsec/vigil/extension/k8smetaextension/internal/metadata"
)

// ClientProvider builds the Kubernetes clients the informers use: a clientset for pods and a
// metadata client for ReplicaSets, Jobs and Namespaces.
type ClientProvider func(cfg *Config) (kubernetes.Interface, k8smetadata.Interface, error)

// NewFactory returns the factory of the k8s_meta extension.
func NewFactory() extension.Factory {
	return NewFactoryWithClientProvider(nil)
}

// NewFactoryWithClientProvider returns a factory whose extensions get their Kubernetes clients
// from provider instead of from auth_type; tests use it to hand in fake clientsets. A nil
// provider means the default: clients from auth_type.
func NewFactoryWithClientProvider(provider ClientProvider) extension.Factory {
	return extension.NewFactory(
		metadata.Type,
		createDefaultConfig,
		func(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
			return newExtension(cfg.(*Config), set.TelemetrySettings, provider)
		},
		metadata.ExtensionStability,
	)
}
