package k8smetaextension // import "github.com/vigilsec/vigil/extension/k8smetaextension"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	k8smetadata "k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"

	"github.com/vigilsec/vigil/extension/k8smetaextension/internal/metadata"
)

// ClientProvider builds what the informers read from: a ListerWatcher of the *corev1.Pod
// objects on node nodeName (the pods of other nodes, if it returns any, are ignored), and a
// metadata client for ReplicaSets, Jobs and Namespaces.
//
// The extension deliberately does not use client-go's typed clientset
// (k8s.io/client-go/kubernetes) or its informers package: linking them registers every API
// group into client-go's global scheme at process start, which costs the distribution about
// 16 MB of idle memory. Tests may still wrap a fake clientset into a cache.ListWatch.
type ClientProvider func(cfg *Config, nodeName string) (pods cache.ListerWatcher, meta k8smetadata.Interface, err error)

// NewFactory returns the factory of the k8s_meta extension.
func NewFactory() extension.Factory {
	return NewFactoryWithClientProvider(nil)
}

// NewFactoryWithClientProvider returns a factory whose extensions get their Kubernetes clients
// from provider instead of from auth_type; tests use it to hand in fake clients. A nil
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
