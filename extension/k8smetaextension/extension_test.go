package k8smetaextension

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8smetadata "k8s.io/client-go/metadata"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/tools/cache"

	"github.com/vigilsec/vigil/extension/k8smetaextension/internal/metadata"
)

const (
	testNode = "node-a"
	cid1     = "1111111111111111111111111111111111111111111111111111111111111111"
	cid2     = "2222222222222222222222222222222222222222222222222222222222222222"
	cidOld   = "0000000000000000000000000000000000000000000000000000000000000000"
)

type fakeCluster struct {
	cs *k8sfake.Clientset
	mc *metadatafake.FakeMetadataClient
}

func newFakeCluster(t testing.TB) *fakeCluster {
	t.Helper()
	scheme := metadatafake.NewTestScheme()
	require.NoError(t, metav1.AddMetaToScheme(scheme))
	return &fakeCluster{cs: k8sfake.NewClientset(), mc: metadatafake.NewSimpleMetadataClient(scheme)}
}

func (f *fakeCluster) provider(_ *Config, nodeName string) (cache.ListerWatcher, k8smetadata.Interface, error) {
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

func (f *fakeCluster) addOwned(t testing.TB, apiVersion, kind, ns, name, ownerKind, ownerName string) {
	t.Helper()
	gvr := gvrReplicaSets
	if kind == KindJob {
		gvr = gvrJobs
	}
	obj := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name)},
	}
	if ownerKind != "" {
		obj.OwnerReferences = []metav1.OwnerReference{{Kind: ownerKind, Name: ownerName, Controller: ptr(true)}}
	}
	_, err := f.mc.Resource(gvr).Namespace(ns).(metadatafake.MetadataClient).CreateFake(obj, metav1.CreateOptions{})
	require.NoError(t, err)
}

func ptr[T any](v T) *T { return &v }

func testPod(ns, name, uid, node, ownerKind, ownerName string, ids ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID(uid),
			Labels:      map[string]string{"app": name},
			Annotations: map[string]string{"team": "sec"},
		},
		Spec: corev1.PodSpec{NodeName: node},
	}
	if ownerKind != "" {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: ownerKind, Name: ownerName, Controller: ptr(true)}}
	}
	for i, id := range ids {
		cname := name + "-c" + string(rune('0'+i))
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: cname, Image: "registry:5000/team/app:1.2"})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: cname, ContainerID: "containerd://" + id, Image: "registry:5000/team/app:1.2",
		})
	}
	return p
}

func startExt(t *testing.T, f *fakeCluster, set component.TelemetrySettings) *k8sMeta {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.NodeName = testNode
	ext, err := newExtension(cfg, set, f.provider)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })
	require.Eventually(t, ext.Synced, 5*time.Second, 5*time.Millisecond)
	return ext
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	cfg := f.CreateDefaultConfig().(*Config)
	assert.Equal(t, AuthTypeServiceAccount, cfg.AuthType)
	assert.Equal(t, "K8S_NODE_NAME", cfg.NodeNameEnv)
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Shutdown(context.Background()), "shutdown without start")
}

func TestLookupAndWorkloadResolution(t *testing.T) {
	f := newFakeCluster(t)
	f.addOwned(t, "apps/v1", KindReplicaSet, "shop", "web-5d8f", KindDeployment, "web")
	f.addOwned(t, "apps/v1", KindReplicaSet, "shop", "bare-rs", "", "")
	f.addOwned(t, "batch/v1", KindJob, "shop", "backup-29000", KindCronJob, "backup")
	f.addOwned(t, "batch/v1", KindJob, "shop", "migrate", "", "")

	pods := []*corev1.Pod{
		testPod("shop", "web-5d8f-abc", "uid-web", testNode, KindReplicaSet, "web-5d8f", cid1),
		testPod("shop", "bare", "uid-bare", testNode, KindReplicaSet, "bare-rs"),
		testPod("shop", "backup-29000-x", "uid-cron", testNode, KindJob, "backup-29000"),
		testPod("shop", "migrate-x", "uid-job", testNode, KindJob, "migrate"),
		testPod("shop", "agent-x", "uid-ds", testNode, KindDaemonSet, "agent"),
		testPod("shop", "db-0", "uid-sts", testNode, KindStatefulSet, "db"),
		testPod("shop", "lonely", "uid-none", testNode, "", ""),
		testPod("shop", "elsewhere", "uid-other-node", "node-b", "", "", cid2),
	}
	for _, p := range pods {
		_, err := f.cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	ext := startExt(t, f, componenttest.NewNopTelemetrySettings())

	want := map[string][2]string{
		"uid-web":  {KindDeployment, "web"},
		"uid-bare": {KindReplicaSet, "bare-rs"},
		"uid-cron": {KindCronJob, "backup"},
		"uid-job":  {KindJob, "migrate"},
		"uid-ds":   {KindDaemonSet, "agent"},
		"uid-sts":  {KindStatefulSet, "db"},
		"uid-none": {"", ""},
	}
	for uid, w := range want {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			p, ok := ext.LookupPod(uid)
			if !assert.True(c, ok, uid) {
				return
			}
			assert.Equal(c, w[0], p.WorkloadKind, uid)
			assert.Equal(c, w[1], p.WorkloadName, uid)
		}, 5*time.Second, 5*time.Millisecond)
	}

	for _, id := range []string{cid1, "containerd://" + cid1, "cri-o://" + cid1, "docker://" + cid1} {
		p, c, ok := ext.LookupContainer(id)
		require.True(t, ok, id)
		assert.Equal(t, "web-5d8f-abc", p.Name)
		assert.Equal(t, "shop", p.Namespace)
		assert.Equal(t, testNode, p.NodeName)
		assert.Equal(t, map[string]string{"app": "web-5d8f-abc"}, p.Labels)
		assert.Equal(t, ContainerInfo{ID: cid1, Name: "web-5d8f-abc-c0", ImageName: "registry:5000/team/app", ImageTag: "1.2", Runtime: "containerd"}, *c) // the pod status names it "containerd://"
	}

	_, _, ok := ext.LookupContainer(cid2)
	assert.False(t, ok, "a pod of another node is not cached")
	_, ok = ext.LookupPod("uid-other-node")
	assert.False(t, ok)
}

func TestOwnerArrivesAfterPod(t *testing.T) {
	f := newFakeCluster(t)
	_, err := f.cs.CoreV1().Pods("shop").Create(context.Background(),
		testPod("shop", "web-1", "uid-web", testNode, KindReplicaSet, "web-rs", cid1), metav1.CreateOptions{})
	require.NoError(t, err)
	ext := startExt(t, f, componenttest.NewNopTelemetrySettings())

	p, ok := ext.LookupPod("uid-web")
	require.True(t, ok)
	assert.Equal(t, KindReplicaSet, p.WorkloadKind)

	f.addOwned(t, "apps/v1", KindReplicaSet, "shop", "web-rs", KindDeployment, "web")
	require.Eventually(t, func() bool {
		p, _, ok := ext.LookupContainer(cid1)
		return ok && p.WorkloadKind == KindDeployment && p.WorkloadName == "web"
	}, 5*time.Second, 5*time.Millisecond)
}

func TestUpdateAndDeleteForget(t *testing.T) {
	f := newFakeCluster(t)
	ext := startExt(t, f, componenttest.NewNopTelemetrySettings())
	ctx := context.Background()

	pod := testPod("shop", "web-1", "uid-web", testNode, "", "", cid1)
	_, err := f.cs.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, _, ok := ext.LookupContainer(cid1); return ok }, 5*time.Second, 5*time.Millisecond)

	// The container restarts: a new id, the old one kept as the previous instance.
	pod.Status.ContainerStatuses[0].ContainerID = "containerd://" + cid2
	pod.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: "containerd://" + cid1}
	_, err = f.cs.CoreV1().Pods("shop").UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, _, ok := ext.LookupContainer(cid2); return ok }, 5*time.Second, 5*time.Millisecond)
	_, c, ok := ext.LookupContainer(cid1)
	require.True(t, ok, "previous instance still found")
	assert.Equal(t, "web-1-c0", c.Name)
	p, _ := ext.LookupPod("uid-web")
	require.Len(t, p.Containers, 1)
	assert.Equal(t, cid2, p.Containers[0].ID)

	require.NoError(t, f.cs.CoreV1().Pods("shop").Delete(ctx, "web-1", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool { _, ok := ext.LookupPod("uid-web"); return !ok }, 5*time.Second, 5*time.Millisecond)
	for _, id := range []string{cid1, cid2} {
		_, _, ok := ext.LookupContainer(id)
		assert.False(t, ok, id)
	}
	pods, containers := ext.sizes()
	assert.Zero(t, pods)
	assert.Zero(t, containers)
}

type subEvent struct {
	name    string
	deleted bool
}

func TestSubscribe(t *testing.T) {
	f := newFakeCluster(t)
	ctx := context.Background()
	_, err := f.cs.CoreV1().Pods("shop").Create(ctx, testPod("shop", "a", "uid-a", testNode, "", "", cid1), metav1.CreateOptions{})
	require.NoError(t, err)
	ext := startExt(t, f, componenttest.NewNopTelemetrySettings())

	var mu sync.Mutex
	var got []subEvent
	unsubscribe := ext.Subscribe(func(p *PodInfo, deleted bool) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, subEvent{p.Name, deleted})
	})
	events := func() []subEvent {
		mu.Lock()
		defer mu.Unlock()
		return append([]subEvent(nil), got...)
	}
	assert.Equal(t, []subEvent{{"a", false}}, events(), "known pods are replayed")

	_, err = f.cs.CoreV1().Pods("shop").Create(ctx, testPod("shop", "b", "uid-b", testNode, "", "", cid2), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, f.cs.CoreV1().Pods("shop").Delete(ctx, "a", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool { return len(events()) == 3 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []subEvent{{"a", false}, {"b", false}, {"a", true}}, events())

	unsubscribe()
	unsubscribe() // idempotent
	require.NoError(t, f.cs.CoreV1().Pods("shop").Delete(ctx, "b", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool { _, ok := ext.LookupPod("uid-b"); return !ok }, 5*time.Second, 5*time.Millisecond)
	assert.Len(t, events(), 3, "no events after unsubscribe")
}

func TestStartWithoutAPIServer(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.NodeName = testNode
	ext, err := newExtension(cfg, componenttest.NewNopTelemetrySettings(), func(*Config, string) (cache.ListerWatcher, k8smetadata.Interface, error) {
		return nil, nil, errors.New("no in-cluster configuration")
	})
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()), "runs without an API server")
	_, _, ok := ext.LookupContainer(cid1)
	assert.False(t, ok)
	assert.Equal(t, int64(1), ext.APIErrors())
	require.NoError(t, ext.Shutdown(context.Background()))
}

func TestNodeNameFromEnv(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	f := newFakeCluster(t)
	ext, err := newExtension(cfg, componenttest.NewNopTelemetrySettings(), f.provider)
	require.NoError(t, err)
	ext.getenv = func(string) string { return "" }
	require.EqualError(t, ext.Start(context.Background(), componenttest.NewNopHost()),
		"node_name is empty and environment variable K8S_NODE_NAME (node_name_env) is not set")
	require.NoError(t, ext.Shutdown(context.Background()))

	ext, err = newExtension(cfg, componenttest.NewNopTelemetrySettings(), f.provider)
	require.NoError(t, err)
	ext.getenv = func(k string) string {
		if k == "K8S_NODE_NAME" {
			return "node-from-env"
		}
		return ""
	}
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	assert.Equal(t, "node-from-env", ext.nodeName)
	require.NoError(t, ext.Shutdown(context.Background()))
}

func TestTelemetry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	f := newFakeCluster(t)
	_, err := f.cs.CoreV1().Pods("shop").Create(context.Background(), testPod("shop", "a", "uid-a", testNode, "", "", cid1, cid2), metav1.CreateOptions{})
	require.NoError(t, err)
	ext := startExt(t, f, tt.NewTelemetrySettings())
	require.Eventually(t, func() bool { _, ok := ext.LookupPod("uid-a"); return ok }, 5*time.Second, 5*time.Millisecond)
	_, _, _ = ext.LookupContainer(cid1)
	_, _, _ = ext.LookupContainer("containerd://unknown")

	gauge := func(name string) int64 {
		m, err := tt.GetMetric(name)
		require.NoError(t, err, name)
		return m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value
	}
	sum := func(name string) int64 {
		m, err := tt.GetMetric(name)
		require.NoError(t, err, name)
		return m.Data.(metricdata.Sum[int64]).DataPoints[0].Value
	}
	assert.Equal(t, int64(1), gauge("otelcol_k8s_meta_cache_pods"))
	assert.Equal(t, int64(2), gauge("otelcol_k8s_meta_cache_containers"))
	assert.GreaterOrEqual(t, sum("otelcol_k8s_meta_lookups"), int64(3))
	assert.Equal(t, int64(1), sum("otelcol_k8s_meta_lookup_misses"))
}

func TestParseImage(t *testing.T) {
	for _, tc := range []struct{ ref, name, tag string }{
		{"nginx", "nginx", "latest"},
		{"nginx:1.27", "nginx", "1.27"},
		{"registry:5000/team/app", "registry:5000/team/app", "latest"},
		{"registry:5000/team/app:v2", "registry:5000/team/app", "v2"},
		{"ghcr.io/a/b@sha256:abcd", "ghcr.io/a/b", ""},
		{"ghcr.io/a/b:1.0@sha256:abcd", "ghcr.io/a/b", "1.0"},
		{"", "", ""},
	} {
		n, tg := parseImage(tc.ref)
		assert.Equal(t, tc.name, n, tc.ref)
		assert.Equal(t, tc.tag, tg, tc.ref)
	}
}

func TestBareContainerID(t *testing.T) {
	for in, want := range map[string]string{
		"containerd://abc": "abc", "cri-o://abc": "abc", "docker://abc": "abc", "abc": "abc", "": "",
	} {
		assert.Equal(t, want, bareContainerID(in), in)
	}
}

var _ runtime.Object = (*metav1.PartialObjectMetadata)(nil)
