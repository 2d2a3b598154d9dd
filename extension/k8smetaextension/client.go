package k8smetaextension // import "github.com/vigilsec/vigil/extension/k8smetaextension"

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	k8smetadata "k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// podScheme holds only the core/v1 types (and the meta/v1 types registered with them): all
// the pod client decodes. client-go's global scheme (k8s.io/client-go/kubernetes/scheme)
// would register every API group at process start.
var (
	podScheme = func() *runtime.Scheme {
		s := runtime.NewScheme()
		if err := corev1.AddToScheme(s); err != nil {
			panic(err) // static registration: cannot fail
		}
		return s
	}()
	podCodecs = serializer.NewCodecFactory(podScheme)
)

// defaultClients builds clients from auth_type. Every request goes through a RoundTripper
// that counts failures: client-go's reflectors retry refused watches internally without
// reporting them, so counting at the transport is the only complete error count.
func (m *k8sMeta) defaultClients(cfg *Config, nodeName string) (cache.ListerWatcher, k8smetadata.Interface, error) {
	var (
		rc  *rest.Config
		err error
	)
	switch cfg.AuthType {
	case AuthTypeKubeConfig:
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if cfg.KubeConfigPath != "" {
			rules.ExplicitPath = cfg.KubeConfigPath
		}
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	default:
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("loading Kubernetes client configuration (auth_type %s): %w", cfg.AuthType, err)
	}
	rc.UserAgent = "vigil-k8s-meta"
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{next: rt, m: m} })

	// One HTTP client (one transport, one connection pool) for both clients, as a clientset
	// shares its transport between its groups.
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("creating Kubernetes HTTP client: %w", err)
	}
	podClient, err := newPodRESTClient(rc, hc)
	if err != nil {
		return nil, nil, fmt.Errorf("creating Kubernetes core/v1 client: %w", err)
	}
	mc, err := k8smetadata.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, nil, fmt.Errorf("creating Kubernetes metadata client: %w", err)
	}
	return podListWatch(podClient, nodeName), mc, nil
}

// newPodRESTClient returns a REST client for the core/v1 API group (/api/v1) that decodes
// with podScheme.
func newPodRESTClient(rc *rest.Config, hc *http.Client) (*rest.RESTClient, error) {
	c := rest.CopyConfig(rc)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.APIPath = "/api"
	c.NegotiatedSerializer = podCodecs.WithoutConversion()
	return rest.RESTClientForConfigAndClient(c, hc)
}

// podListWatch lists and watches the pods of node nodeName in all namespaces.
func podListWatch(c cache.Getter, nodeName string) cache.ListerWatcher {
	return cache.NewListWatchFromClient(c, "pods", metav1.NamespaceAll,
		fields.OneTermEqualSelector("spec.nodeName", nodeName))
}

// metadataListWatch lists and watches the metadata of one resource in all namespaces, as
// client-go's metadatainformer does (that package is not used: it imports
// k8s.io/client-go/informers, and with it every typed client).
func metadataListWatch(mc k8smetadata.Interface, gvr schema.GroupVersionResource) cache.ListerWatcher {
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return mc.Resource(gvr).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return mc.Resource(gvr).Watch(ctx, o)
		},
	}, mc)
}
