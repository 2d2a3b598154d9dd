package k8senrichprocessor

// Integration test against a real kube-apiserver and etcd on 127.0.0.1.
//
// Gated by environment, not by a build tag, so that CI cannot silently leave it out:
// VIGIL_KUBE_APISERVER and VIGIL_ETCD name the binaries; without them the test is skipped,
// unless CI=true, where it fails. .ci/k8s/integration.sh builds kube-apiserver (cached) and
// runs it.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vigilsec/vigil/extension/k8smetaextension"
	"github.com/vigilsec/vigil/extension/k8smetaextension/kubeapiservertest"
)

const itNode = "vigil-it-node"

func TestIntegrationRealAPIServer(t *testing.T) {
	apiserverBin, etcdBin := kubeapiservertest.Binaries(t)
	srv := kubeapiservertest.Start(t, apiserverBin, etcdBin)
	cs := srv.Clientset()
	ctx := context.Background()
	const ns = "vigil-it"
	cid := strings.Repeat("ab12", 16)
	cidLater := strings.Repeat("cd34", 16)

	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": "payments"}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// A Deployment's ReplicaSet (no controller-manager runs, so the test creates it).
	tr := true
	labels := map[string]string{"app": "web"}
	rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-7f9c6d", Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "Deployment", Name: "web",
				UID: "0f6b9a5c-0000-4000-8000-000000000001", Controller: &tr,
			}},
		},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	createPod := func(name, containerID string) {
		t.Helper()
		pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &tr,
				}},
			},
			Spec: corev1.PodSpec{
				NodeName:   itNode,
				Containers: []corev1.Container{{Name: "web", Image: "registry.local:5000/shop/web:2.3.1"}},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		// What kubelet would report once the container runs.
		pod.Status.Phase = corev1.PodRunning
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "web", Image: "registry.local:5000/shop/web:2.3.1", ImageID: "registry.local:5000/shop/web@sha256:" + strings.Repeat("0", 64),
			ContainerID: "containerd://" + containerID, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		}}
		_, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	createPod("web-7f9c6d-x2x4z", cid)
	// A pod of another node must not enter this node's cache.
	_, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"},
		Spec:       corev1.PodSpec{NodeName: "other-node", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	// The extension, configured as a user would, through a kubeconfig.
	metaTel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, metaTel.Shutdown(ctx)) }()
	mf := k8smetaextension.NewFactory()
	mcfg := mf.CreateDefaultConfig().(*k8smetaextension.Config)
	mcfg.AuthType = k8smetaextension.AuthTypeKubeConfig
	mcfg.KubeConfigPath = srv.Kubeconfig
	mcfg.NodeName = itNode
	mset := extensiontest.NewNopSettings(mf.Type())
	mset.TelemetrySettings = metaTel.NewTelemetrySettings()
	ext, err := mf.Create(ctx, mset, mcfg)
	require.NoError(t, err)
	host := testHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{metaID: ext}}
	require.NoError(t, ext.Start(ctx, host))
	defer func() { require.NoError(t, ext.Shutdown(ctx)) }()
	meta := ext.(k8smetaextension.Metadata)

	procTel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, procTel.Shutdown(ctx)) }()
	cfg := createDefaultConfig().(*Config)
	cfg.WaitForMetadata = 5 * time.Second
	cfg.PodLabels = []string{"app"}
	p, sink := startLogs(t, host, cfg, procTel.NewTelemetrySettings())
	defer func() { require.NoError(t, p.Shutdown(ctx)) }()

	// Sent right away: if the informers have not caught up yet, the record is held and
	// released enriched once they have (the start-up race).
	require.NoError(t, p.ConsumeLogs(ctx, logsWith(map[string]string{"container.id": cid})))
	require.Eventually(t, func() bool { return len(resources(sink)) == 1 }, 15*time.Second, 10*time.Millisecond)
	assert.Equal(t, map[string]any{
		"container.id":           cid,
		"k8s.namespace.name":     ns,
		"k8s.pod.name":           "web-7f9c6d-x2x4z",
		"k8s.pod.uid":            podUID(t, meta, cid),
		"k8s.node.name":          itNode,
		"k8s.deployment.name":    "web",
		"k8s.container.name":     "web",
		"container.runtime.name": "containerd", // from the status's containerd:// id
		"container.image.name":   "registry.local:5000/shop/web",
		"container.image.tags":   []any{"2.3.1"},
		"k8s.pod.label.app":      "web",
	}, resources(sink)[0])
	assert.Equal(t, int64(1), metaSum(t, metaTel, "otelcol_k8s_meta_cache_pods", true), "only this node's pod is cached")

	// Delete the pod (grace period 0: no kubelet will confirm termination): the cache forgets.
	zero := int64(0)
	require.NoError(t, cs.CoreV1().Pods(ns).Delete(ctx, "web-7f9c6d-x2x4z", metav1.DeleteOptions{GracePeriodSeconds: &zero}))
	require.Eventually(t, func() bool { _, _, ok := meta.LookupContainer(cid); return !ok }, 15*time.Second, 10*time.Millisecond)

	// API server outage: records keep flowing, unenriched, misses and API errors counted.
	srv.StopAPIServer()
	apiErrorsBefore := metaSum(t, metaTel, "otelcol_k8s_meta_api_errors", false)
	missesBefore := counter(t, procTel, "otelcol_k8s_enrich_misses")
	start := time.Now()
	require.NoError(t, p.ConsumeLogs(ctx, logsWith(map[string]string{"container.id": cidLater})))
	assert.Less(t, time.Since(start), time.Second, "the pipeline is not blocked by the outage")
	require.Eventually(t, func() bool { return len(resources(sink)) == 2 }, 15*time.Second, 10*time.Millisecond)
	assert.Equal(t, map[string]any{"container.id": cidLater}, resources(sink)[1])
	assert.Equal(t, missesBefore+1, counter(t, procTel, "otelcol_k8s_enrich_misses"))
	require.Eventually(t, func() bool {
		return metaSum(t, metaTel, "otelcol_k8s_meta_api_errors", false) > apiErrorsBefore
	}, 30*time.Second, 50*time.Millisecond, "list/watch errors are counted while the API server is down")

	// Recovery: the API server comes back, the informers re-sync, new pods are enriched.
	srv.StartAPIServer()
	createPod("web-7f9c6d-later", cidLater)
	require.Eventually(t, func() bool { _, _, ok := meta.LookupContainer(cidLater); return ok }, 60*time.Second, 50*time.Millisecond)
	require.NoError(t, p.ConsumeLogs(ctx, logsWith(map[string]string{"container.id": cidLater})))
	require.Eventually(t, func() bool { return len(resources(sink)) == 3 }, 15*time.Second, 10*time.Millisecond)
	assert.Equal(t, "web-7f9c6d-later", resources(sink)[2]["k8s.pod.name"])
	assert.Equal(t, "web", resources(sink)[2]["k8s.deployment.name"])
}

func podUID(t *testing.T, meta k8smetaextension.Metadata, cid string) string {
	p, _, ok := meta.LookupContainer(cid)
	require.True(t, ok)
	return p.UID
}

// metaSum reads an int64 gauge (gauge=true) or sum of the extension's telemetry.
func metaSum(t *testing.T, tt *componenttest.Telemetry, name string, gauge bool) int64 {
	m, err := tt.GetMetric(name)
	if err != nil {
		return 0
	}
	if gauge {
		return m.Data.(metricdata.Gauge[int64]).DataPoints[0].Value
	}
	var sum int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		sum += dp.Value
	}
	return sum
}
