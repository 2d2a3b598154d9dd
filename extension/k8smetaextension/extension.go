package k8smetaextension // import "github.com/vigilsec/vigil/extension/k8smetaextension"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"github.com/vigilsec/vigil/extension/k8smetaextension/internal/metadata"
)

var (
	gvrReplicaSets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	gvrJobs        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	gvrNamespaces  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// healthyAfter is how long the informers must run without an API error before the
// extension reports itself healthy again after an error.
const (
	healthyAfter        = 30 * time.Second
	healthCheckInterval = 2 * time.Second
)

// ownersSyncTimeout bounds how long the pod informer waits for the ReplicaSet and Job
// informers before starting anyway.
const ownersSyncTimeout = 10 * time.Second

type k8sMeta struct {
	*podCache

	cfg        *Config
	set        component.TelemetrySettings
	newClients ClientProvider
	getenv     func(string) string

	telemetry *metadata.TelemetryBuilder
	nodeName  string

	cancel        context.CancelFunc
	wg            sync.WaitGroup
	informers     []namedInformer // pods first, then replicasets, jobs, namespaces
	synced        atomic.Bool
	lastAPIError  atomic.Int64 // unix nanoseconds of the last API error, 0 if none
	lastAPIErr    atomic.Pointer[error]
	apiErrorCount atomic.Int64
}

var (
	_ Metadata            = (*k8sMeta)(nil)
	_ component.Component = (*k8sMeta)(nil)
)

func newExtension(cfg *Config, set component.TelemetrySettings, clients ClientProvider) (*k8sMeta, error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, fmt.Errorf("creating k8s_meta telemetry: %w", err)
	}
	m := &k8sMeta{
		podCache:   newPodCache(),
		cfg:        cfg,
		set:        set,
		newClients: clients,
		getenv:     os.Getenv,
		telemetry:  tb,
	}
	if m.newClients == nil {
		m.newClients = m.defaultClients
	}
	return m, nil
}

// namedInformer is one of the extension's informers and the resource it watches.
type namedInformer struct {
	resource string
	inf      cache.SharedIndexInformer
}

// countingTransport counts failed API requests (transport errors, 5xx, 401, 403).
type countingTransport struct {
	next http.RoundTripper
	m    *k8sMeta
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	switch {
	case err != nil:
		t.m.countAPIError(req.Context(), resourceOf(req.URL.Path), err)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		t.m.countAPIError(req.Context(), resourceOf(req.URL.Path), fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status))
	}
	return resp, err
}

// resourceOf names the resource of an API path, from a small fixed set (a metric attribute).
func resourceOf(path string) string {
	switch path[strings.LastIndexByte(path, '/')+1:] {
	case "pods":
		return "pods"
	case "replicasets":
		return "replicasets"
	case "jobs":
		return "jobs"
	case "namespaces":
		return "namespaces"
	}
	return "other"
}

// Start starts the informers and returns without waiting for them to sync: telemetry flows
// unenriched until they do, and also while the API server cannot be reached.
func (m *k8sMeta) Start(_ context.Context, host component.Host) error {
	m.nodeName = m.cfg.NodeName
	if m.nodeName == "" {
		m.nodeName = m.getenv(m.cfg.NodeNameEnv)
	}
	if m.nodeName == "" {
		return fmt.Errorf("node_name is empty and environment variable %s (node_name_env) is not set", m.cfg.NodeNameEnv)
	}
	if err := m.registerTelemetry(); err != nil {
		return fmt.Errorf("registering k8s_meta telemetry: %w", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel

	podLW, mc, err := m.newClients(m.cfg, m.nodeName)
	if err == nil && (podLW == nil || mc == nil) {
		err = errors.New("client provider returned no pod ListerWatcher or no metadata client")
	}
	if err != nil {
		// Without a client nothing will ever be enriched, but the pipeline keeps running.
		m.countAPIError(ctx, "client", err)
		m.set.Logger.Error("Kubernetes metadata unavailable; telemetry will not be enriched", zap.Error(err))
		componentstatus.ReportStatus(host, componentstatus.NewPermanentErrorEvent(err))
		return nil
	}

	// Plain shared informers instead of client-go's informer factories: the typed factory
	// (k8s.io/client-go/informers) and metadatainformer, which imports it, link in and
	// register every API group (see ClientProvider).
	podInf := cache.NewSharedIndexInformerWithOptions(podLW, &corev1.Pod{},
		cache.SharedIndexInformerOptions{ResyncPeriod: m.cfg.ResyncPeriod, ObjectDescription: "pods"})
	newMetaInformer := func(gvr schema.GroupVersionResource) cache.SharedIndexInformer {
		return cache.NewSharedIndexInformerWithOptions(metadataListWatch(mc, gvr), &metav1.PartialObjectMetadata{},
			cache.SharedIndexInformerOptions{ResyncPeriod: m.cfg.ResyncPeriod, ObjectDescription: gvr.Resource})
	}
	rsInf := newMetaInformer(gvrReplicaSets)
	jobInf := newMetaInformer(gvrJobs)
	nsInf := newMetaInformer(gvrNamespaces)
	m.informers = []namedInformer{
		{"pods", podInf}, {"replicasets", rsInf}, {"jobs", jobInf}, {"namespaces", nsInf},
	}
	for _, ni := range m.informers {
		transform := cache.TransformFunc(slimMetadata)
		if ni.resource == "pods" {
			transform = toPodRecord
		}
		if err := ni.inf.SetTransform(transform); err != nil {
			return fmt.Errorf("setting %s transform: %w", ni.resource, err)
		}
		res := ni.resource
		// Errors are counted by the transport; this keeps klog quiet and feeds the status.
		if err := ni.inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			err = fmt.Errorf("listing/watching %s: %w", res, err)
			m.lastAPIErr.Store(&err)
			m.lastAPIError.Store(time.Now().UnixNano())
		}); err != nil {
			return fmt.Errorf("setting %s watch error handler: %w", res, err)
		}
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{podInf, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { m.onPod(obj, false) },
			UpdateFunc: func(_, obj any) { m.onPod(obj, false) },
			DeleteFunc: func(obj any) { m.onPod(obj, true) },
		}},
		{rsInf, ownerHandler(m.podCache, KindReplicaSet)},
		{jobInf, ownerHandler(m.podCache, KindJob)},
		{nsInf, cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { m.onNamespace(obj, false) },
			UpdateFunc: func(_, obj any) { m.onNamespace(obj, false) },
			DeleteFunc: func(obj any) { m.onNamespace(obj, true) },
		}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return fmt.Errorf("adding informer event handler: %w", err)
		}
	}

	componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusStarting))
	// Owners first, so that a pod's workload is resolved when the pod is first published
	// (otherwise early telemetry would name the ReplicaSet instead of the Deployment). The
	// wait is bounded and in the background: Start never blocks on the API server.
	for _, ni := range m.informers[1:] {
		m.run(ctx, ni.inf)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		waitCtx, cancelWait := context.WithTimeout(ctx, ownersSyncTimeout)
		cache.WaitForCacheSync(waitCtx.Done(), rsInf.HasSynced, jobInf.HasSynced)
		cancelWait()
		if ctx.Err() != nil {
			return
		}
		m.run(ctx, podInf)
		m.watchHealth(ctx, host)
	}()
	return nil
}

// watchHealth reports StatusOK once the caches have synced, and again after an error once
// the informers have run for healthyAfter without a new one.
func (m *k8sMeta) watchHealth(ctx context.Context, host component.Host) {
	synced := make([]bool, len(m.informers))
	for i, ni := range m.informers {
		synced[i] = cache.WaitForCacheSync(ctx.Done(), ni.inf.HasSynced)
	}
	if ctx.Err() != nil {
		return
	}
	for i, ni := range m.informers {
		if !synced[i] {
			m.set.Logger.Warn("informer did not sync", zap.String("resource", ni.resource))
		}
	}
	m.synced.Store(true)
	pods, containers := m.sizes()
	m.set.Logger.Info("Kubernetes metadata cache synced",
		zap.String("node", m.nodeName), zap.Int("pods", pods), zap.Int("containers", containers))
	componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK))

	healthy := true
	t := time.NewTicker(healthCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			last := m.lastAPIError.Load()
			recent := last != 0 && time.Since(time.Unix(0, last)) < healthyAfter
			switch {
			case recent && healthy:
				healthy = false
				err := errors.New("kubernetes API error")
				if p := m.lastAPIErr.Load(); p != nil {
					err = *p
				}
				componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(err))
			case !recent && !healthy:
				healthy = true
				componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK))
			}
		}
	}
}

// run runs an informer until ctx is done, in a goroutine that Shutdown waits for.
func (m *k8sMeta) run(ctx context.Context, inf cache.SharedIndexInformer) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		inf.RunWithContext(ctx)
	}()
}

// Synced reports whether the informers have completed their initial list.
func (m *k8sMeta) Synced() bool { return m.synced.Load() }

// APIErrors returns the number of API errors seen so far.
func (m *k8sMeta) APIErrors() int64 { return m.apiErrorCount.Load() }

func (m *k8sMeta) countAPIError(ctx context.Context, resource string, err error) {
	m.apiErrorCount.Add(1)
	m.lastAPIErr.Store(&err)
	m.lastAPIError.Store(time.Now().UnixNano())
	m.telemetry.K8sMetaAPIErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("resource", resource)))
}

func (m *k8sMeta) registerTelemetry() error {
	return errors.Join(
		m.telemetry.RegisterK8sMetaCachePodsCallback(func(_ context.Context, o metric.Int64Observer) error {
			p, _ := m.sizes()
			o.Observe(int64(p))
			return nil
		}),
		m.telemetry.RegisterK8sMetaCacheContainersCallback(func(_ context.Context, o metric.Int64Observer) error {
			_, c := m.sizes()
			o.Observe(int64(c))
			return nil
		}),
		m.telemetry.RegisterK8sMetaLookupsCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(m.lookups.Load())
			return nil
		}),
		m.telemetry.RegisterK8sMetaLookupMissesCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(m.misses.Load())
			return nil
		}),
	)
}

// Shutdown stops the informers and waits for their goroutines. Safe without Start.
func (m *k8sMeta) Shutdown(context.Context) error {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait() // the informers' goroutines too
	m.telemetry.Shutdown()
	return nil
}

func (m *k8sMeta) onPod(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	if pod, ok := obj.(*corev1.Pod); ok { // not transformed (should not happen)
		rec, _ := toPodRecord(pod)
		obj = rec
	}
	rec, ok := obj.(*podRecord)
	if !ok {
		return
	}
	// The field selector already restricts pods to this node; checking again keeps the cache
	// node-local with clients that ignore field selectors.
	if deleted || rec.NodeName != m.nodeName {
		m.deletePod(string(rec.UID))
		return
	}
	m.upsertPod(rec)
}

func (m *k8sMeta) onNamespace(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	o, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	m.setNamespace(o.GetName(), o.GetLabels(), deleted)
}

func ownerHandler(c *podCache, kind string) cache.ResourceEventHandler {
	on := func(obj any, deleted bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj, deleted = d.Obj, true
		}
		o, ok := obj.(metav1.Object)
		if !ok {
			return
		}
		c.setOwner(kind, objectKey{o.GetNamespace(), o.GetName()}, controllerOf(o.GetOwnerReferences()), deleted)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { on(obj, false) },
		UpdateFunc: func(_, obj any) { on(obj, false) },
		DeleteFunc: func(obj any) { on(obj, true) },
	}
}

// slimMetadata drops managed fields, labels and annotations of ReplicaSets and Jobs: only
// their owner references are read. Namespaces keep their labels (namespace selectors).
func slimMetadata(obj any) (any, error) {
	pm, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	slim := &metav1.PartialObjectMetadata{
		TypeMeta: pm.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:            pm.Name,
			Namespace:       pm.Namespace,
			UID:             pm.UID,
			ResourceVersion: pm.ResourceVersion,
			OwnerReferences: pm.OwnerReferences,
		},
	}
	if pm.Namespace == "" { // cluster-scoped: a Namespace
		slim.Labels = pm.Labels
	}
	return slim, nil
}
