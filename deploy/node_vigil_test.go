//go:build linux

package deploy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/vigilsec/vigil/deploy/internal/k8snodetest"
)

// otlpSink is an OTLP/HTTP logs receiver on 127.0.0.1 that keeps every record.
type otlpSink struct {
	mu   sync.Mutex
	logs []plog.Logs
	srv  *http.Server
	addr string
}

func newOTLPSink(t *testing.T) *otlpSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &otlpSink{addr: l.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/logs", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// An ExportLogsServiceRequest has LogsData's wire form (field 1: resource logs).
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.logs = append(s.logs, ld)
		s.mu.Unlock()
		// An empty ExportLogsServiceResponse: zero bytes.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// rec is one exported record with its resource.
type rec struct {
	res   map[string]any
	attrs map[string]any
	name  string
}

func (s *otlpSink) records() []rec {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []rec
	for _, ld := range s.logs {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			res := rl.Resource().Attributes().AsRaw()
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					out = append(out, rec{res: res, attrs: lrs.At(k).Attributes().AsRaw(), name: lrs.At(k).EventName()})
				}
			}
		}
	}
	return out
}

func (s *otlpSink) reset() {
	s.mu.Lock()
	s.logs = nil
	s.mu.Unlock()
}

const testNamespace = "vigil-it"

// testPolicy is pod-scoped: writes below /tmp/vigil-it/ by processes of the test
// namespace's pods. The same writes by a host process must not match.
const testPolicy = `name: vigil-it-writes
mode: monitor
selector:
  namespaces: [` + testNamespace + `]
rules:
  - name: it-write
    event: file.open
    paths: [/tmp/vigil-it/]
    access: [write]
`

// testCollectorConfig is the test's pipeline (not the shipped one): OTLP to the test's
// loopback receiver, health on a loopback port, the API through a mounted kubeconfig.
func testCollectorConfig(sinkAddr string, healthPort int) string {
	return fmt.Sprintf(`receivers:
  ebpf:
    policy_paths: [/etc/vigil/policies]
    k8s_metadata: k8s_meta
    node_name: ${env:K8S_NODE_NAME}
processors:
  k8s_enrich:
    extension: k8s_meta
    wait_for_metadata: 5s
    max_pending: 10000
  batch:
    timeout: 200ms
exporters:
  otlp_http/test:
    endpoint: http://%s
    compression: none
extensions:
  health_check:
    endpoint: 127.0.0.1:%d
  k8s_meta:
    auth_type: kubeConfig
    kubeconfig_path: /etc/vigil/kube/kubeconfig
    node_name_env: K8S_NODE_NAME
service:
  extensions: [health_check, k8s_meta]
  pipelines:
    logs:
      receivers: [ebpf]
      processors: [k8s_enrich, batch]
      exporters: [otlp_http/test]
  telemetry:
    metrics:
      level: none
`, sinkAddr, healthPort)
}

// forTestNode adapts rendered manifests to this machine, and nothing more: the pod on the
// host network (no pod traffic may leave the machine; probes then on loopback), the
// locally imported image, SYS_RESOURCE dropped when the VM cannot grant it (a chart
// value; kustomize users patch it), the test's pipeline and policy, and a kubeconfig
// instead of the in-cluster service account (there is no service network to reach the
// API server through). The NetworkPolicy is left out: nothing enforces it here.
func forTestNode(t *testing.T, objs []runtime.Object, collector, kubeconfig string, healthPort int) string {
	t.Helper()
	var docs []string
	for _, o := range objs {
		switch v := o.(type) {
		case *appsv1.DaemonSet:
			spec := &v.Spec.Template.Spec
			spec.HostNetwork = true
			spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "it-kube", VolumeSource: corev1.VolumeSource{
				ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "vigil-it-kube"}}}})
			for i := range spec.Containers {
				c := &spec.Containers[i]
				c.ImagePullPolicy = corev1.PullNever
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "it-kube", MountPath: "/etc/vigil/kube", ReadOnly: true})
				for j := range c.Ports {
					if c.Ports[j].Name == "health" {
						c.Ports[j].ContainerPort = int32(healthPort)
					}
				}
				for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
					if p != nil && p.HTTPGet != nil {
						p.HTTPGet.Host = "127.0.0.1"
						p.HTTPGet.Port = intstr.FromInt32(int32(healthPort))
					}
				}
				if sc := c.SecurityContext; sc != nil && sc.Capabilities != nil {
					var add []corev1.Capability
					for _, cp := range sc.Capabilities.Add {
						if cp != "SYS_RESOURCE" {
							add = append(add, cp)
						}
					}
					sc.Capabilities.Add = add
				}
			}
		case *corev1.ConfigMap:
			if _, ok := v.Data["collector.yaml"]; ok {
				v.Data["collector.yaml"] = collector
			} else if strings.HasPrefix(v.Name, "vigil-policies") || strings.HasSuffix(v.Name, "-policies") {
				v.Data = map[string]string{"vigil-it.yaml": testPolicy}
			}
		}
		if _, isNP := o.(*networkingv1.NetworkPolicy); isNP {
			continue
		}
		b, err := yaml.Marshal(o)
		require.NoError(t, err)
		docs = append(docs, string(b))
	}
	kube, err := yaml.Marshal(&corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "vigil-it-kube", Namespace: "vigil"},
		Data:       map[string]string{"kubeconfig": kubeconfig},
	})
	require.NoError(t, err)
	return strings.Join(append(docs, string(kube)), "\n---\n")
}

// workloads starts the pods whose records the test checks: a regular pod and a static pod
// in the test namespace, each writing below /tmp/vigil-it/ every 200 ms.
func workloads(t *testing.T, n *k8snodetest.Node, cs kubernetes.Interface) (regular, static *corev1.Pod) {
	t.Helper()
	ctx := context.Background()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	loop := func(file string) []string {
		return []string{"/bin/sh", "-c", "mkdir -p /tmp/vigil-it; while :; do echo x > /tmp/vigil-it/" + file + "; sleep 0.2; done"}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "writer", Namespace: testNamespace, Labels: map[string]string{"app": "writer"}},
		Spec: corev1.PodSpec{NodeName: k8snodetest.NodeName, HostNetwork: true, TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{Name: "w", Image: k8snodetest.BusyboxImage, ImagePullPolicy: corev1.PullNever, Command: loop("real")}}},
	}
	_, err = cs.CoreV1().Pods(testNamespace).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	staticManifest := `apiVersion: v1
kind: Pod
metadata:
  name: static-writer
  namespace: ` + testNamespace + `
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 0
  containers:
  - name: s
    image: ` + k8snodetest.BusyboxImage + `
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "mkdir -p /tmp/vigil-it; while :; do echo x > /tmp/vigil-it/static; sleep 0.2; done"]
`
	require.NoError(t, os.WriteFile(filepath.Join(n.StaticPodDir, "static-writer.yaml"), []byte(staticManifest), 0o600))
	mirrorName := "static-writer-" + k8snodetest.NodeName
	waitUntil(t, n, 60*time.Second, "the workload pods Ready with container ids", func(ctx context.Context) bool {
		var ok bool
		if regular, ok = readyPod(ctx, cs, "writer"); !ok {
			return false
		}
		static, ok = readyPod(ctx, cs, mirrorName)
		return ok
	})
	return regular, static
}

func readyPod(ctx context.Context, cs kubernetes.Interface, name string) (*corev1.Pod, bool) {
	p, err := cs.CoreV1().Pods(testNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil || !podReady(p) || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].ContainerID == "" {
		return nil, false
	}
	return p, true
}

func containerIDOf(p *corev1.Pod) string {
	id := p.Status.ContainerStatuses[0].ContainerID
	return id[strings.Index(id, "://")+3:]
}

// install applies rendered manifests and waits for the DaemonSet's pod to be Ready.
func install(t *testing.T, n *k8snodetest.Node, cs kubernetes.Interface, manifests string) {
	t.Helper()
	start := time.Now()
	// The chart leaves the namespace to `helm install --create-namespace` by default.
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "vigil"}}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	out, err := n.Kubectl([]byte(manifests), "apply", "-f", "-")
	require.NoError(t, err, out)
	waitUntil(t, n, 120*time.Second, "the vigil DaemonSet's pod Ready", func(ctx context.Context) bool {
		ds, err := cs.AppsV1().DaemonSets("vigil").Get(ctx, "vigil", metav1.GetOptions{})
		return err == nil && ds.Status.DesiredNumberScheduled == 1 && ds.Status.NumberReady == 1
	})
	t.Logf("DaemonSet pod Ready %s after apply", time.Since(start).Round(time.Millisecond))
}

// uninstall deletes the vigil namespace and the cluster-wide RBAC objects, and waits until
// the namespace is gone.
func uninstall(t *testing.T, n *k8snodetest.Node, cs kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	for _, err := range []error{
		cs.RbacV1().ClusterRoleBindings().Delete(ctx, "vigil", metav1.DeleteOptions{}),
		cs.RbacV1().ClusterRoles().Delete(ctx, "vigil", metav1.DeleteOptions{}),
	} {
		if !apierrors.IsNotFound(err) {
			require.NoError(t, err)
		}
	}
	require.NoError(t, cs.CoreV1().Namespaces().Delete(ctx, "vigil", metav1.DeleteOptions{}))
	waitUntil(t, n, 120*time.Second, "namespace vigil deleted", func(ctx context.Context) bool {
		_, err := cs.CoreV1().Namespaces().Get(ctx, "vigil", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

// cgroupID is the cgroup2 id (inode) of a kubelet cgroupfs container cgroup.
func cgroupID(t *testing.T, pod *corev1.Pod, uid string) int64 {
	t.Helper()
	qos := strings.ToLower(string(pod.Status.QOSClass))
	dir := filepath.Join("/sys/fs/cgroup/unified/kubepods", qos, "pod"+uid, containerIDOf(pod))
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(dir, &st), "the container's cgroup")
	return int64(st.Ino)
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// checkRecords waits for, and checks, what the installed Vigil exported.
func checkRecords(t *testing.T, n *k8snodetest.Node, sink *otlpSink, regular, static *corev1.Pod) {
	t.Helper()
	regID, staticID := containerIDOf(regular), containerIDOf(static)
	staticHash := static.Annotations["kubernetes.io/config.mirror"]
	require.Len(t, staticHash, 32, "the mirror pod names the static pod's kubelet UID")

	// A host process's writes to the same directory: outside the policy's namespace.
	require.NoError(t, os.MkdirAll("/tmp/vigil-it", 0o755))
	t.Cleanup(func() { _ = os.RemoveAll("/tmp/vigil-it") })
	hostStop := make(chan struct{})
	var hostWG sync.WaitGroup
	hostWG.Add(1)
	go func() {
		defer hostWG.Done()
		for i := 0; i < 600; i++ {
			select {
			case <-hostStop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			_ = exec.Command("/bin/sh", "-c", "echo x > /tmp/vigil-it/host").Run()
		}
	}()
	defer func() { close(hostStop); hostWG.Wait() }()

	// Exec records of the workload's new processes come every 200 ms (sleep).
	var regExec, staticExec, regWrite, staticWrite *rec
	defer func() {
		if t.Failed() {
			t.Logf("found: regular pod exec %v, static pod exec %v, regular pod write %v, static pod write %v",
				regExec != nil, staticExec != nil, regWrite != nil, staticWrite != nil)
		}
	}()
	waitUntil(t, n, 90*time.Second, "enriched exec and policy records of both pods", func(context.Context) bool {
		regExec, staticExec, regWrite, staticWrite = nil, nil, nil, nil
		rs := sink.records()
		for i := range rs {
			r := &rs[i]
			cid := str(r.res, "container.id")
			switch {
			case r.name == "process.exec" && cid == regID && str(r.res, "k8s.pod.name") != "":
				regExec = r
			case r.name == "process.exec" && cid == staticID && str(r.res, "k8s.pod.name") != "":
				staticExec = r
			case r.name == "file.open" && cid == regID:
				regWrite = r
			case r.name == "file.open" && cid == staticID:
				staticWrite = r
			}
		}
		return regExec != nil && staticExec != nil && regWrite != nil && staticWrite != nil
	})
	// (b) enrichment of a real pod.
	assert.Equal(t, "writer", str(regExec.res, "k8s.pod.name"))
	assert.Equal(t, testNamespace, str(regExec.res, "k8s.namespace.name"))
	assert.Equal(t, string(regular.UID), str(regExec.res, "k8s.pod.uid"))
	assert.Equal(t, "w", str(regExec.res, "k8s.container.name"))
	// (d) kubelet cgroupfs layout: the runtime is containerd (from the CRI), not "kubernetes".
	assert.Equal(t, "containerd", str(regExec.res, "container.runtime.name"))
	// Static pod: the mirror's API UID (with dashes), not the kubelet's hash.
	assert.Equal(t, static.Name, str(staticExec.res, "k8s.pod.name"))
	assert.Equal(t, string(static.UID), str(staticExec.res, "k8s.pod.uid"))
	assert.NotEqual(t, staticHash, str(staticExec.res, "k8s.pod.uid"))
	assert.Equal(t, "containerd", str(staticExec.res, "container.runtime.name"))
	// (c) the pod-scoped policy caught both pods' writes.
	for _, w := range []*rec{regWrite, staticWrite} {
		assert.Equal(t, "it-write", str(w.attrs, "security_rule.name"))
		assert.True(t, strings.HasPrefix(str(w.attrs, "file.path"), "/tmp/vigil-it/"), w.attrs)
	}
	assert.Equal(t, string(static.UID), str(staticWrite.res, "k8s.pod.uid"))

	// Let the host writer run alongside for a while, then check what must not happen.
	time.Sleep(3 * time.Second)
	regCG, staticCG := cgroupID(t, regular, string(regular.UID)), cgroupID(t, static, staticHash)
	var hostHits, hostResourceFromPods, kubernetesRuntime, staticWrites, regWrites int
	for _, r := range sink.records() {
		if r.name == "file.open" && str(r.attrs, "file.path") == "/tmp/vigil-it/host" {
			hostHits++
		}
		if r.name == "file.open" && str(r.res, "container.id") == staticID {
			staticWrites++
		}
		if r.name == "file.open" && str(r.res, "container.id") == regID {
			regWrites++
		}
		if rt := str(r.res, "container.runtime.name"); rt == "kubernetes" {
			kubernetesRuntime++
		}
		// (e) a record from a container's cgroup never sits on the host resource.
		if cg, _ := r.attrs["vigil.cgroup.id"].(int64); (cg == regCG || cg == staticCG) && str(r.res, "container.id") == "" {
			hostResourceFromPods++
		}
	}
	assert.Zero(t, hostHits, "the host process is outside the pod-scoped policy")
	assert.Zero(t, kubernetesRuntime)
	assert.Zero(t, hostResourceFromPods, "records of the pods' cgroups landed on the host resource")
	t.Logf("writes caught: regular pod %d, static pod %d; host writes caught %d", regWrites, staticWrites, hostHits)
}

// TestRealNodeVigil installs Vigil on a real node from the kustomize base and from the Helm
// chart, as a DaemonSet running the image `make image` built, and checks the records it
// exports for a regular and a static pod.
func TestRealNodeVigil(t *testing.T) {
	n, cs := realNode(t)
	regular, static := workloads(t, n, cs)
	sink := newOTLPSink(t)
	healthPort := freeLoopbackPort(t)
	collector := testCollectorConfig(sink.addr, healthPort)

	t.Run("kustomize", func(t *testing.T) {
		sink.reset()
		install(t, n, cs, forTestNode(t, render(t), collector, n.KubeconfigText(), healthPort))
		checkRecords(t, n, sink, regular, static)
		uninstall(t, n, cs)
	})
	t.Run("helm", func(t *testing.T) {
		sink.reset()
		rel := mustRenderHelm(t, "image:\n  pullPolicy: Never\ncapabilities:\n  sysResource: false\n")
		install(t, n, cs, forTestNode(t, rel.objs, collector, n.KubeconfigText(), healthPort))
		checkRecords(t, n, sink, regular, static)
		uninstall(t, n, cs)
	})
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
