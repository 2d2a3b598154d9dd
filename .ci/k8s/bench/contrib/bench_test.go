// Package contrib measures contrib's k8s_attributes processor (v0.160.0, the release that
// resolves in this project's build environment) on the same fixture as Vigil's BenchmarkEnrich:
// 5,000 pods on one node in a real kube-apiserver, batches of 100 resources with one log
// record each, pods associated by k8s.pod.uid (and by container.id).
//
// It is its own Go module so that contrib's dependencies never enter Vigil's go.mod.
// contrib cannot be driven by a client-go fake clientset from outside its module (its client
// seam is an unexported package variable and the client constructor is in an internal
// package), so both processors are measured against the same real API server, which the
// driver (make -C .ci/k8s bench) starts and fills.
package contrib

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/k8sattributesprocessor"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
)

const (
	benchPods  = 5000
	benchBatch = 100
	benchNode  = "bench-node"
)

func benchPodUID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func benchContainerID(i int) string { return fmt.Sprintf("%064x", i+1) }

func BenchmarkContribK8sAttributes(b *testing.B) {
	kc := os.Getenv("VIGIL_BENCH_KUBECONFIG")
	if kc == "" {
		b.Skip("VIGIL_BENCH_KUBECONFIG must name the kubeconfig of an API server holding the fixture (make -C .ci/k8s bench)")
	}
	b.Setenv("KUBECONFIG", kc)
	for _, by := range []string{"pod_uid", "container_id"} {
		b.Run("by="+by, func(b *testing.B) {
			f := k8sattributesprocessor.NewFactory()
			cfg := f.CreateDefaultConfig()
			assoc := "k8s.pod.uid"
			if by == "container_id" {
				assoc = "container.id"
			}
			cm := confmap.NewFromStringMap(map[string]any{
				"auth_type":                 "kubeConfig",
				"filter":                    map[string]any{"node": benchNode},
				"pod_association":           []any{map[string]any{"sources": []any{map[string]any{"from": "resource_attribute", "name": assoc}}}},
				"extract":                   map[string]any{"metadata": []any{"k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid", "k8s.node.name", "k8s.deployment.name", "k8s.container.name", "container.image.name", "container.image.tag"}},
				"wait_for_metadata":         true,
				"wait_for_metadata_timeout": "2m",
			})
			if err := cm.Unmarshal(cfg); err != nil {
				b.Fatal(err)
			}

			before := heapInUse()
			p, err := f.CreateLogs(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = p.Shutdown(context.Background()) }()

			template := benchLogs(b, by)
			work := plog.NewLogs()
			// Wait until the last pod of the fixture is known and fully resolved.
			deadline := time.Now().Add(2 * time.Minute)
			for {
				template.CopyTo(work)
				if err := p.ConsumeLogs(context.Background(), work); err != nil {
					b.Fatal(err)
				}
				if _, ok := work.ResourceLogs().At(benchBatch - 1).Resource().Attributes().Get("k8s.deployment.name"); ok {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("contrib never enriched the fixture by %s", by)
				}
				time.Sleep(50 * time.Millisecond)
			}
			after := heapInUse()
			var heap uint64
			if after > before {
				heap = after - before
			}

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
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/record")
			b.ReportMetric(float64(heap)/(1<<20), "cache-heap-MB")
		})
	}
}

// benchLogs is the same batch as Vigil's benchLogs.
func benchLogs(b testing.TB, by string) plog.Logs {
	podUID := fixtureUIDs(b)
	ld := plog.NewLogs()
	for i := range benchBatch {
		pod := (i * 7919) % benchPods
		if i == benchBatch-1 {
			pod = benchPods - 1
		}
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
	return ld
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
