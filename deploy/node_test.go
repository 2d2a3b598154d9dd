//go:build linux

package deploy

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vigilsec/vigil/deploy/internal/k8snodetest"
)

// EnvImageTar names the image archive `make image` writes (out/otelcol-vigil-image.tar).
const EnvImageTar = "VIGIL_IMAGE_TAR"

// realNode starts the single-node cluster with the test images imported and the kubelet
// Ready; everything is removed when the test ends.
func realNode(t *testing.T) (*k8snodetest.Node, kubernetes.Interface) {
	t.Helper()
	bin := k8snodetest.LookupBinaries(t)
	imageTar := os.Getenv(EnvImageTar)
	if imageTar == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s must name the image archive `make image` writes (out/otelcol-vigil-image.tar), and CI=true forbids skipping", EnvImageTar)
		}
		t.Skipf("%s is unset: run `make image` and point it at out/otelcol-vigil-image.tar", EnvImageTar)
	}
	start := time.Now()
	n, err := k8snodetest.Start(t, bin)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, n.Close(), "tearing the node down") })

	testImages := filepath.Join(n.Dir, "test-images.tar")
	require.NoError(t, k8snodetest.WriteImages(testImages))
	require.NoError(t, n.ImportImage(testImages))
	require.NoError(t, n.ImportImage(imageTar))
	require.NoError(t, n.StartKubelet())

	cs, err := kubernetes.NewForConfig(&rest.Config{Host: n.URL, BearerToken: n.Token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	require.NoError(t, err)
	waitUntil(t, n, 90*time.Second, "node Ready", func(ctx context.Context) bool {
		node, err := cs.CoreV1().Nodes().Get(ctx, k8snodetest.NodeName, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	})
	t.Logf("node Ready %s after start", time.Since(start).Round(time.Millisecond))
	return n, cs
}

// waitUntil polls cond every 200 ms until it holds, failing the test after timeout (with
// the kubelet's log) or as soon as a node component exits.
func waitUntil(t *testing.T, n *k8snodetest.Node, timeout time.Duration, what string, cond func(ctx context.Context) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ok := cond(ctx)
		cancel()
		if ok {
			return
		}
		if name := n.Exited(); name != "" {
			t.Fatalf("waiting for %s: %s exited:\n%s", what, name, n.Log(name))
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after %s; kubelet log:\n%s", what, timeout, n.Log("kubelet"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRealNodeSmoke(t *testing.T) {
	n, cs := realNode(t)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: k8snodetest.NodeName, HostNetwork: true,
			Containers: []corev1.Container{{Name: "c", Image: k8snodetest.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sh", "-c", "sleep 3600"}}},
		},
	}
	_, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	waitUntil(t, n, 60*time.Second, "pod Ready", func(ctx context.Context) bool {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "smoke", metav1.GetOptions{})
		return err == nil && podReady(p)
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
