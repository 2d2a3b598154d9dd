package k8senrichprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8smetadata "k8s.io/client-go/metadata"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/vigilsec/vigil/extension/k8smetaextension"
	"github.com/vigilsec/vigil/processor/k8senrichprocessor/internal/metadata"
)

const (
	testNode = "node-a"
	cidWeb   = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	cidCron  = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"
	cidLate  = "1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a"
	cidNever = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
)

var metaID = component.MustNewID("k8s_meta")

type testHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h testHost) GetExtensions() map[component.ID]component.Component { return h.exts }

type fakeCluster struct {
	cs *k8sfake.Clientset
	mc *metadatafake.FakeMetadataClient
}

func newFakeCluster(t testing.TB) *fakeCluster {
	scheme := metadatafake.NewTestScheme()
	require.NoError(t, metav1.AddMetaToScheme(scheme))
	return &fakeCluster{cs: k8sfake.NewClientset(), mc: metadatafake.NewSimpleMetadataClient(scheme)}
}

func (f *fakeCluster) provider(_ *k8smetaextension.Config, nodeName string) (cache.ListerWatcher, k8smetadata.Interface, error) {
	return fakePodListWatch(f.cs, nodeName), f.mc, nil
}

// fakePodListWatch lists and watches the pods of a (fake) clientset as the extension's own
// REST client does; the fake clientset ignores the field selector.
func fakePodListWatch(cs kubernetes.Interface, nodeName string) cache.ListerWatcher {
	sel := fields.OneTermEqualSelector("spec.nodeName", nodeName).String()
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return cs.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, o)
		},
	}, cs)
}

func (f *fakeCluster) addOwned(t testing.TB, gvr schema.GroupVersionResource, kind, ns, name, ownerKind, ownerName string) {
	obj := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: gvr.GroupVersion().String(), Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(name)},
	}
	tr := true
	obj.OwnerReferences = []metav1.OwnerReference{{Kind: ownerKind, Name: ownerName, Controller: &tr}}
	_, err := f.mc.Resource(gvr).Namespace(ns).(metadatafake.MetadataClient).CreateFake(obj, metav1.CreateOptions{})
	require.NoError(t, err)
}

func (f *fakeCluster) addPod(t testing.TB, ns, name, uid, ownerKind, ownerName, cid string) {
	tr := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID(uid),
			Labels:          map[string]string{"app": name, "team": "payments"},
			Annotations:     map[string]string{"vigil.dev/owner": "alice"},
			OwnerReferences: []metav1.OwnerReference{{Kind: ownerKind, Name: ownerName, Controller: &tr}},
		},
		Spec: corev1.PodSpec{
			NodeName:   testNode,
			Containers: []corev1.Container{{Name: "main", Image: "ghcr.io/acme/" + name + ":v1.4"}},
		},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "main", ContainerID: "containerd://" + cid}}},
	}
	_, err := f.cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	require.NoError(t, err)
}

var (
	gvrRS  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	gvrJob = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

// startMeta starts a k8s_meta extension on the fake cluster.
func startMeta(t testing.TB, f *fakeCluster) (extension.Extension, component.Host) {
	fac := k8smetaextension.NewFactoryWithClientProvider(f.provider)
	cfg := fac.CreateDefaultConfig().(*k8smetaextension.Config)
	cfg.NodeName = testNode
	ext, err := fac.Create(context.Background(), extensiontest.NewNopSettings(fac.Type()), cfg)
	require.NoError(t, err)
	host := testHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{metaID: ext}}
	require.NoError(t, ext.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	return ext, host
}

func startLogs(t testing.TB, host component.Host, cfg *Config, tel component.TelemetrySettings) (processor.Logs, *consumertest.LogsSink) {
	sink := new(consumertest.LogsSink)
	set := processortest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel
	p, err := NewFactory().CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), host))
	return p, sink
}

func logsWith(resAttrs ...map[string]string) plog.Logs {
	ld := plog.NewLogs()
	for _, attrs := range resAttrs {
		rl := ld.ResourceLogs().AppendEmpty()
		for k, v := range attrs {
			rl.Resource().Attributes().PutStr(k, v)
		}
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetEventName("process.exec")
	}
	return ld
}

func resources(sink *consumertest.LogsSink) []map[string]any {
	var out []map[string]any
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			out = append(out, ld.ResourceLogs().At(i).Resource().Attributes().AsRaw())
		}
	}
	return out
}

func waitForPod(t testing.TB, ext extension.Extension, uid string) {
	require.Eventually(t, func() bool {
		_, ok := ext.(k8smetaextension.Metadata).LookupPod(uid)
		return ok
	}, 5*time.Second, 5*time.Millisecond, uid)
}

func counter(t *testing.T, tt *componenttest.Telemetry, name string) int64 {
	m, err := tt.GetMetric(name)
	if err != nil {
		return 0
	}
	var sum int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		sum += dp.Value
	}
	return sum
}

func newTel(t *testing.T) *componenttest.Telemetry {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	return tt
}

func TestEnrichKnownContainerAndWorkloads(t *testing.T) {
	f := newFakeCluster(t)
	f.addOwned(t, gvrRS, "ReplicaSet", "shop", "web-5d8f", "Deployment", "web")
	f.addOwned(t, gvrJob, "Job", "ops", "backup-29000", "CronJob", "backup")
	f.addPod(t, "shop", "web-5d8f-x", "uid-web", "ReplicaSet", "web-5d8f", cidWeb)
	f.addPod(t, "ops", "backup-29000-y", "uid-cron", "Job", "backup-29000", cidCron)
	ext, host := startMeta(t, f)
	waitForPod(t, ext, "uid-web")
	waitForPod(t, ext, "uid-cron")
	require.Eventually(t, func() bool {
		p, _ := ext.(k8smetaextension.Metadata).LookupPod("uid-cron")
		q, _ := ext.(k8smetaextension.Metadata).LookupPod("uid-web")
		return p.WorkloadKind == "CronJob" && q.WorkloadKind == "Deployment"
	}, 5*time.Second, 5*time.Millisecond)

	tt := newTel(t)
	cfg := createDefaultConfig().(*Config)
	cfg.PodLabels = []string{"team", "absent"}
	cfg.PodAnnotations = []string{"vigil.dev/owner"}
	p, sink := startLogs(t, host, cfg, tt.NewTelemetrySettings())

	require.NoError(t, p.ConsumeLogs(context.Background(), logsWith(
		map[string]string{"container.id": cidWeb, "host.name": "n1"},
		map[string]string{"container.id": "containerd://" + cidCron},
		map[string]string{"host.name": "n1"}, // a host process: untouched
	)))
	require.NoError(t, p.Shutdown(context.Background()))

	got := resources(sink)
	require.Len(t, got, 3)
	assert.Equal(t, map[string]any{
		"container.id":                       cidWeb,
		"host.name":                          "n1",
		"k8s.namespace.name":                 "shop",
		"k8s.pod.name":                       "web-5d8f-x",
		"k8s.pod.uid":                        "uid-web",
		"k8s.node.name":                      testNode,
		"k8s.deployment.name":                "web",
		"k8s.container.name":                 "main",
		"container.image.name":               "ghcr.io/acme/web-5d8f-x",
		"container.image.tags":               []any{"v1.4"},
		"container.runtime.name":             "containerd", // the pod status's container id scheme
		"k8s.pod.label.team":                 "payments",
		"k8s.pod.annotation.vigil.dev/owner": "alice",
	}, got[0])
	assert.Equal(t, "backup", got[1]["k8s.cronjob.name"])
	assert.Equal(t, "ops", got[1]["k8s.namespace.name"])
	assert.Equal(t, map[string]any{"host.name": "n1"}, got[2])
	assert.Equal(t, int64(2), counter(t, tt, "otelcol_k8s_enrich_resources_enriched"))
	assert.Equal(t, int64(0), counter(t, tt, "otelcol_k8s_enrich_misses"))
}

func TestNeverOverwrite(t *testing.T) {
	f := newFakeCluster(t)
	f.addPod(t, "shop", "web-1", "uid-web", "DaemonSet", "agent", cidWeb)
	ext, host := startMeta(t, f)
	waitForPod(t, ext, "uid-web")
	p, sink := startLogs(t, host, createDefaultConfig().(*Config), componenttest.NewNopTelemetrySettings())
	require.NoError(t, p.ConsumeLogs(context.Background(), logsWith(map[string]string{
		"container.id": cidWeb, "k8s.namespace.name": "set-upstream", "k8s.daemonset.name": "kept",
	})))
	require.NoError(t, p.Shutdown(context.Background()))
	got := resources(sink)
	require.Len(t, got, 1)
	assert.Equal(t, "set-upstream", got[0]["k8s.namespace.name"])
	assert.Equal(t, "kept", got[0]["k8s.daemonset.name"])
	assert.Equal(t, "web-1", got[0]["k8s.pod.name"])
}

func TestEnrichByPodUID(t *testing.T) {
	f := newFakeCluster(t)
	f.addPod(t, "shop", "db-0", "uid-db", "StatefulSet", "db", cidWeb)
	ext, host := startMeta(t, f)
	waitForPod(t, ext, "uid-db")
	p, sink := startLogs(t, host, createDefaultConfig().(*Config), componenttest.NewNopTelemetrySettings())
	require.NoError(t, p.ConsumeLogs(context.Background(), logsWith(map[string]string{"k8s.pod.uid": "uid-db"})))
	require.NoError(t, p.Shutdown(context.Background()))
	got := resources(sink)
	require.Len(t, got, 1)
	assert.Equal(t, map[string]any{
		"k8s.pod.uid": "uid-db", "k8s.pod.name": "db-0", "k8s.namespace.name": "shop",
		"k8s.node.name": testNode, "k8s.statefulset.name": "db",
	}, got[0])
}

// A static pod's records carry the kubelet's UID of it (its cgroups are named after the
// 32-hex hash of the manifest): they are enriched from the mirror pod, whose API UID
// replaces the hash, and the runtime comes from the status's container id. A runtime the
// receiver already named is kept; a 32-hex UID no mirror claims is left alone.
func TestEnrichStaticPod(t *testing.T) {
	const hash = "9a4c7e1f2b3d4c5e6f708192a3b4c5d6"
	const mirrorUID = "0f0e0d0c-0b0a-4908-8706-050403020100"
	f := newFakeCluster(t)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "kube-system", Name: "static-web-" + testNode, UID: mirrorUID,
			Annotations: map[string]string{
				"kubernetes.io/config.mirror": hash, "kubernetes.io/config.hash": hash, "kubernetes.io/config.source": "file",
			},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Node", Name: testNode}},
		},
		Spec: corev1.PodSpec{NodeName: testNode, Containers: []corev1.Container{{Name: "web", Image: "local/web:1"}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
			{Name: "web", ContainerID: "cri-o://" + cidWeb},
		}},
	}
	_, err := f.cs.CoreV1().Pods("kube-system").Create(context.Background(), p, metav1.CreateOptions{})
	require.NoError(t, err)
	ext, host := startMeta(t, f)
	waitForPod(t, ext, mirrorUID)
	byHash, ok := ext.(k8smetaextension.Metadata).LookupPod(hash)
	require.True(t, ok, "the mirror pod is found by the static pod's kubelet UID")
	assert.Equal(t, mirrorUID, byHash.UID)
	assert.Equal(t, hash, byHash.StaticUID)

	proc, sink := startLogs(t, host, createDefaultConfig().(*Config), componenttest.NewNopTelemetrySettings())
	require.NoError(t, proc.ConsumeLogs(context.Background(), logsWith(
		map[string]string{"k8s.pod.uid": hash},                                     // pod cgroup only
		map[string]string{"container.id": cidWeb, "k8s.pod.uid": hash},             // the container
		map[string]string{"container.id": cidWeb, "container.runtime.name": "own"}, // receiver's runtime kept
		map[string]string{"k8s.pod.uid": "ffffffffffffffffffffffffffffffff"},       // no mirror claims it
	)))
	require.NoError(t, proc.Shutdown(context.Background()))
	got := resources(sink)
	require.Len(t, got, 4)
	assert.Equal(t, map[string]any{
		"k8s.pod.uid": mirrorUID, "k8s.pod.name": "static-web-" + testNode, "k8s.namespace.name": "kube-system",
		"k8s.node.name": testNode,
	}, got[0])
	assert.Equal(t, mirrorUID, got[1]["k8s.pod.uid"], "the API's UID, with dashes")
	assert.Equal(t, "cri-o", got[1]["container.runtime.name"])
	assert.Equal(t, "web", got[1]["k8s.container.name"])
	assert.Equal(t, "own", got[2]["container.runtime.name"])
	assert.Equal(t, mirrorUID, got[2]["k8s.pod.uid"])
	assert.Equal(t, map[string]any{"k8s.pod.uid": "ffffffffffffffffffffffffffffffff"}, got[3])

	// Deleting the mirror forgets the hash too.
	require.NoError(t, f.cs.CoreV1().Pods("kube-system").Delete(context.Background(), p.Name, metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		_, ok := ext.(k8smetaextension.Metadata).LookupPod(hash)
		return !ok
	}, 5*time.Second, 5*time.Millisecond)
}

func TestHeldThenEnriched(t *testing.T) {
	f := newFakeCluster(t)
	_, host := startMeta(t, f)
	tt := newTel(t)
	cfg := createDefaultConfig().(*Config)
	cfg.WaitForMetadata = 30 * time.Second
	p, sink := startLogs(t, host, cfg, tt.NewTelemetrySettings())
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

	start := time.Now()
	require.NoError(t, p.ConsumeLogs(context.Background(), logsWith(
		map[string]string{"container.id": cidLate},
		map[string]string{"host.name": "n1"},
	)))
	assert.Less(t, time.Since(start), time.Second, "ConsumeLogs must not block")
	got := resources(sink)
	require.Len(t, got, 1, "only the resource not waiting for metadata passes at once")
	assert.Equal(t, map[string]any{"host.name": "n1"}, got[0])
	assert.Equal(t, int64(1), counter(t, tt, "otelcol_k8s_enrich_held"))

	// The pod appears (the informer catches up with the kernel): the held resource is
	// released enriched, long before its deadline.
	f.addPod(t, "shop", "late-1", "uid-late", "ReplicaSet", "late-rs", cidLate)
	require.Eventually(t, func() bool { return len(resources(sink)) == 2 }, 5*time.Second, 5*time.Millisecond)
	got = resources(sink)
	assert.Equal(t, "late-1", got[1]["k8s.pod.name"])
	assert.Equal(t, "late-rs", got[1]["k8s.replicaset.name"])
	assert.Equal(t, int64(1), counter(t, tt, "otelcol_k8s_enrich_resources_enriched"))
	assert.Equal(t, int64(0), counter(t, tt, "otelcol_k8s_enrich_misses"))
}

func TestHeldThenMiss(t *testing.T) {
	f := newFakeCluster(t)
	_, host := startMeta(t, f)
	tt := newTel(t)
	cfg := createDefaultConfig().(*Config)
	cfg.WaitForMetadata = 100 * time.Millisecond
	p, sink := startLogs(t, host, cfg, tt.NewTelemetrySettings())
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

	require.NoError(t, p.ConsumeLogs(context.Background(), logsWith(map[string]string{"container.id": cidNever})))
	assert.Empty(t, resources(sink))
	require.Eventually(t, func() bool { return len(resources(sink)) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, map[string]any{"container.id": cidNever}, resources(sink)[0], "sent unenriched, never dropped")
	assert.Equal(t, int64(1), counter(t, tt, "otelcol_k8s_enrich_misses"))

	// The same unknown container again: it just expired, so it is not held a second time.
	require.NoError(t, p.ConsumeLogs(context.Background(), logsWith(map[string]string{"container.id": cidNever})))
	assert.Len(t, resources(sink), 2)
	assert.Equal(t, int64(2), counter(t, tt, "otelcol_k8s_enrich_misses"))
	assert.Equal(t, int64(1), counter(t, tt, "otelcol_k8s_enrich_held"))
}

func TestQueueFull(t *testing.T) {
	f := newFakeCluster(t)
	_, host := startMeta(t, f)
	tt := newTel(t)
	cfg := createDefaultConfig().(*Config)
	cfg.WaitForMetadata = time.Minute
	cfg.MaxPending = 1
	p, sink := startLogs(t, host, cfg, tt.NewTelemetrySettings())

	require.NoError(t, p.ConsumeLogs(context.Background(), logsWith(
		map[string]string{"container.id": "c1"},
		map[string]string{"container.id": "c2"},
		map[string]string{"container.id": "c3"},
	)))
	assert.Len(t, resources(sink), 2, "queue full: sent on unenriched at once")
	assert.Equal(t, int64(1), counter(t, tt, "otelcol_k8s_enrich_held"))
	assert.Equal(t, int64(2), counter(t, tt, "otelcol_k8s_enrich_queue_full"))
	assert.Equal(t, int64(2), counter(t, tt, "otelcol_k8s_enrich_misses"))

	// Shutdown releases what is still held: nothing is dropped.
	require.NoError(t, p.Shutdown(context.Background()))
	got := resources(sink)
	require.Len(t, got, 3)
	assert.Equal(t, "c1", got[2]["container.id"])
	assert.Equal(t, int64(3), counter(t, tt, "otelcol_k8s_enrich_misses"))
}

func TestNoWait(t *testing.T) {
	f := newFakeCluster(t)
	_, host := startMeta(t, f)
	cfg := createDefaultConfig().(*Config)
	cfg.WaitForMetadata = 0
	p, sink := startLogs(t, host, cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, p.ConsumeLogs(context.Background(), logsWith(map[string]string{"container.id": cidNever})))
	assert.Len(t, resources(sink), 1)
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestDeletedPodNotEnriched(t *testing.T) {
	f := newFakeCluster(t)
	f.addPod(t, "shop", "web-1", "uid-web", "DaemonSet", "agent", cidWeb)
	ext, host := startMeta(t, f)
	waitForPod(t, ext, "uid-web")
	require.NoError(t, f.cs.CoreV1().Pods("shop").Delete(context.Background(), "web-1", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		_, ok := ext.(k8smetaextension.Metadata).LookupPod("uid-web")
		return !ok
	}, 5*time.Second, 5*time.Millisecond)

	cfg := createDefaultConfig().(*Config)
	cfg.WaitForMetadata = 0
	p, sink := startLogs(t, host, cfg, componenttest.NewNopTelemetrySettings())
	require.NoError(t, p.ConsumeLogs(context.Background(), logsWith(map[string]string{"container.id": cidWeb})))
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, []map[string]any{{"container.id": cidWeb}}, resources(sink))
}

func TestMetrics(t *testing.T) {
	f := newFakeCluster(t)
	f.addPod(t, "shop", "web-1", "uid-web", "DaemonSet", "agent", cidWeb)
	ext, host := startMeta(t, f)
	waitForPod(t, ext, "uid-web")

	sink := new(consumertest.MetricsSink)
	p, err := NewFactory().CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), host))
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("container.id", cidWeb)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("vigil.events")
	m.SetEmptySum().DataPoints().AppendEmpty().SetIntValue(3)
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	require.NoError(t, p.Shutdown(context.Background()))
	require.Len(t, sink.AllMetrics(), 1)
	attrs := sink.AllMetrics()[0].ResourceMetrics().At(0).Resource().Attributes()
	v, ok := attrs.Get("k8s.daemonset.name")
	require.True(t, ok)
	assert.Equal(t, "agent", v.Str())
}

func TestStartWithoutExtension(t *testing.T) {
	p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.EqualError(t, p.Start(context.Background(), componenttest.NewNopHost()),
		`extension "k8s_meta" not found: add the k8s_meta extension to the service's extensions`)
	require.NoError(t, p.Shutdown(context.Background()))

	nop, err := extensiontest.NewNopFactory().Create(context.Background(), extensiontest.NewNopSettings(component.MustNewType("nop")), nil)
	require.NoError(t, err)
	host := testHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{metaID: nop}}
	p, err = NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.EqualError(t, p.Start(context.Background(), host), `extension "k8s_meta" is not a k8s_meta extension`)
	require.NoError(t, p.Shutdown(context.Background()))
}
