package k8senrichprocessor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vigilsec/vigil/extension/k8smetaextension"
	"github.com/vigilsec/vigil/processor/k8senrichprocessor/internal/metadata"
)

// Benchmark fixture shared with the contrib comparison (.ci/k8s/bench/contrib): 5,000 pods on
// one node, 50 Deployments of 100 pods, batches of 100 resources with one log record each.
const (
	benchPods       = 5000
	benchDeploys    = 50
	benchBatch      = 100
	benchNode       = "bench-node"
	benchNamespace  = "bench"
	envBenchKubecfg = "VIGIL_BENCH_KUBECONFIG"
)

// BenchPodUID and BenchContainerID name the fixture's pods; the benchmark driver creates the
// same pods in a real API server.
func benchPodUID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func benchContainerID(i int) string { return fmt.Sprintf("%064x", i+1) }

// BenchmarkEnrich measures the k8s_enrich processor with 5,000 pods in the k8s_meta cache:
// ns per record, allocations, and the heap the cache adds (cache-heap-MB).
//
// By default the pods come from a client-go fake clientset. With VIGIL_BENCH_KUBECONFIG set
// (by the comparison driver, make -C .ci/k8s bench) they come from a real kube-apiserver that
// already holds the fixture, which is how contrib's k8s_attributes is measured side by side.
func BenchmarkEnrich(b *testing.B) {
	for _, by := range []string{"pod_uid", "container_id"} {
		b.Run("by="+by, func(b *testing.B) {
			ext, host, heap := benchMeta(b)
			defer func() { require.NoError(b, ext.Shutdown(context.Background())) }()

			cfg := createDefaultConfig().(*Config)
			p, err := NewFactory().CreateLogs(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			require.NoError(b, err)
			require.NoError(b, p.Start(context.Background(), host))
			defer func() { require.NoError(b, p.Shutdown(context.Background())) }()

			template := benchLogs(b, by)
			work := plog.NewLogs()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				template.CopyTo(work)
				b.StartTimer()
				if err := p.ConsumeLogs(context.Background(), work); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// Every record was enriched.
			template.CopyTo(work)
			require.NoError(b, p.ConsumeLogs(context.Background(), work))
			v, ok := work.ResourceLogs().At(benchBatch - 1).Resource().Attributes().Get("k8s.deployment.name")
			require.True(b, ok)
			require.NotEmpty(b, v.Str())

			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/record")
			b.ReportMetric(float64(heap)/(1<<20), "cache-heap-MB")
		})
	}
}

func benchLogs(b testing.TB, by string) plog.Logs {
	podUID := fixtureUIDs(b)
	ld := plog.NewLogs()
	for i := range benchBatch {
		pod := (i * 7919) % benchPods // spread over the cache
		rl := ld.ResourceLogs().AppendEmpty()
		attrs := rl.Resource().Attributes()
		attrs.PutStr("host.name", benchNode)
		if by == "pod_uid" {
			attrs.PutStr("k8s.pod.uid", podUID(pod))
		} else {
			attrs.PutStr("container.id", benchContainerID(pod))
		}
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetEventName("process.exec")
		lr.Body().SetStr("process /usr/bin/curl started")
		lr.Attributes().PutInt("process.pid", int64(1000+i))
		lr.Attributes().PutStr("process.executable.path", "/usr/bin/curl")
	}
	// The last resource names the last pod, the one the driver checks for enrichment.
	last := ld.ResourceLogs().At(benchBatch - 1).Resource().Attributes()
	if by == "pod_uid" {
		last.PutStr("k8s.pod.uid", podUID(benchPods-1))
	} else {
		last.PutStr("container.id", benchContainerID(benchPods-1))
	}
	return ld
}

// BenchPod is the fixture pod i (also created by the comparison driver in a real API server).
func benchPod(i int) *corev1.Pod {
	tr := true
	dep := i % benchDeploys
	name := fmt.Sprintf("web-%02d-%05d", dep, i)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: benchNamespace, Name: name, UID: types.UID(benchPodUID(i)),
			Labels:      map[string]string{"app": fmt.Sprintf("web-%02d", dep), "pod-template-hash": "7f9c6d"},
			Annotations: map[string]string{"vigil.dev/owner": "bench"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("web-%02d-7f9c6d", dep),
				UID: types.UID(fmt.Sprintf("00000000-0000-4000-9000-%012d", dep)), Controller: &tr,
			}},
		},
		Spec: corev1.PodSpec{
			NodeName:   benchNode,
			Containers: []corev1.Container{{Name: "web", Image: "registry.local:5000/shop/web:2.3.1"}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "web", Image: "registry.local:5000/shop/web:2.3.1",
				ContainerID: "containerd://" + benchContainerID(i), Ready: true,
			}},
		},
	}
}

// benchMeta starts a k8s_meta extension holding the fixture and returns the heap it added.
func benchMeta(b *testing.B) (extension.Extension, component.Host, uint64) {
	var (
		fac     extension.Factory
		cfgEdit func(*k8smetaextension.Config)
	)
	if kc := os.Getenv(envBenchKubecfg); kc != "" {
		fac = k8smetaextension.NewFactory()
		cfgEdit = func(c *k8smetaextension.Config) {
			c.AuthType = k8smetaextension.AuthTypeKubeConfig
			c.KubeConfigPath = kc
		}
	} else {
		f := newFakeCluster(b)
		for dep := range benchDeploys {
			f.addOwned(b, gvrRS, "ReplicaSet", benchNamespace, fmt.Sprintf("web-%02d-7f9c6d", dep), "Deployment", fmt.Sprintf("web-%02d", dep))
		}
		for i := range benchPods {
			_, err := f.cs.CoreV1().Pods(benchNamespace).Create(context.Background(), benchPod(i), metav1.CreateOptions{})
			require.NoError(b, err)
		}
		fac = k8smetaextension.NewFactoryWithClientProvider(f.provider)
		cfgEdit = func(*k8smetaextension.Config) {}
	}
	cfg := fac.CreateDefaultConfig().(*k8smetaextension.Config)
	cfg.NodeName = benchNode
	cfgEdit(cfg)

	before := heapInUse()
	ext, err := fac.Create(context.Background(), extensiontest.NewNopSettings(fac.Type()), cfg)
	require.NoError(b, err)
	host := testHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{metaID: ext}}
	require.NoError(b, ext.Start(context.Background(), host))
	meta := ext.(k8smetaextension.Metadata)
	lastUID := fixtureUIDs(b)(benchPods - 1)
	require.Eventually(b, func() bool {
		p, ok := meta.LookupPod(lastUID)
		return ok && p.WorkloadKind == "Deployment"
	}, 2*time.Minute, 10*time.Millisecond)
	after := heapInUse()
	var heap uint64
	if after > before {
		heap = after - before
	}
	return ext, host, heap
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// fixtureUIDs returns the pod UID of fixture pod i: the UIDs the API server assigned, from the
// file VIGIL_BENCH_FIXTURE written by the driver, or the generated ones of the fake clientset.
func fixtureUIDs(b testing.TB) func(int) string {
	path := os.Getenv("VIGIL_BENCH_FIXTURE")
	if path == "" {
		return benchPodUID
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var uids []string
	if err := json.Unmarshal(raw, &uids); err != nil {
		b.Fatal(err)
	}
	if len(uids) != benchPods {
		b.Fatalf("fixture has %d pods, want %d", len(uids), benchPods)
	}
	return func(i int) string { return uids[i] }
}
