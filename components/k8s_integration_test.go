//go:build linux

package components

// Kubernetes end to end, in process: a real kube-apiserver + etcd on 127.0.0.1
// (VIGIL_KUBE_APISERVER / VIGIL_ETCD; skipped without them, failing when CI=true),
// the k8s_meta extension, the ebpf receiver with a namespace-scoped policy, the
// k8s_enrich processor, and real cgroup2 cgroups shaped like containerd's standing
// in for the pods' containers (no kubelet or container runtime runs here).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap/zaptest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vigilsec/vigil/extension/k8smetaextension"
	"github.com/vigilsec/vigil/extension/k8smetaextension/kubeapiservertest"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/processor/k8senrichprocessor"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver"
)

const itNode = "vigil-e2e-node"

type extHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h extHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// podCgroup creates /vigil-it.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<cid>.scope
// and returns an fd on it for CLONE_INTO_CGROUP.
func podCgroup(t *testing.T, uid, cid string) int {
	t.Helper()
	root := testenv.Cgroup2Root(t)
	pod := filepath.Join(root, "vigil-it.slice", "kubepods-besteffort-pod"+strings.ReplaceAll(uid, "-", "_")+".slice")
	dir := filepath.Join(pod, "cri-containerd-"+cid+".scope")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Cleanup(func() {
		_ = os.Remove(dir)
		_ = os.Remove(pod)
		_ = os.Remove(filepath.Dir(pod))
	})
	fd, err := syscall.Open(dir, syscall.O_DIRECTORY|syscall.O_RDONLY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Close(fd) })
	return fd
}

// catIn runs cat on a file inside a cgroup and returns its pid.
func catIn(t *testing.T, cgroupFD int, file string) int {
	t.Helper()
	cmd := exec.Command("/bin/cat", file)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgroupFD}
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

type found struct {
	res plog.ResourceLogs
	rec plog.LogRecord
}

func fileOpens(sink *consumertest.LogsSink, pid int) []found {
	var out []found
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			lrs := rl.ScopeLogs().At(0).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				if v, ok := lr.Attributes().Get("process.pid"); ok && v.Int() == int64(pid) && lr.EventName() == "file.open" {
					out = append(out, found{rl, lr})
				}
			}
		}
	}
	return out
}

func TestIntegrationPodScopedPolicyAndEnrichment(t *testing.T) {
	apiserverBin, etcdBin := kubeapiservertest.Binaries(t)
	testenv.RequireRoot(t)
	srv := kubeapiservertest.Start(t, apiserverBin, etcdBin)
	cs := srv.Clientset()
	ctx := context.Background()

	for _, ns := range []string{"vigil-prod", "vigil-dev"} {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	tr := true
	labels := map[string]string{"app": "web"}
	rs, err := cs.AppsV1().ReplicaSets("vigil-prod").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f7", Labels: labels, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "11111111-2222-4333-8444-555555555555", Controller: &tr}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	mkPod := func(ns, name, cid string, owner []metav1.OwnerReference) *corev1.Pod {
		t.Helper()
		pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owner},
			Spec:       corev1.PodSpec{NodeName: itNode, Containers: []corev1.Container{{Name: "web", Image: "registry.local/shop/web:2.3.1"}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		pod.Status.Phase = corev1.PodRunning
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", Image: "registry.local/shop/web:2.3.1",
			ContainerID: "containerd://" + cid, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
		pod, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		require.NoError(t, err)
		return pod
	}
	cidProd, cidDev := strings.Repeat("a1b2", 16), strings.Repeat("c3d4", 16)
	prod := mkPod("vigil-prod", "web-5d8f7-q9z2k", cidProd, []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &tr}})
	dev := mkPod("vigil-dev", "scratch", cidDev, nil)
	prodFD := podCgroup(t, string(prod.UID), cidProd)
	devFD := podCgroup(t, string(dev.UID), cidDev)

	// The extension, configured as a user would, through a kubeconfig.
	metaID := component.MustNewID("k8s_meta")
	mf := k8smetaextension.NewFactory()
	mcfg := mf.CreateDefaultConfig().(*k8smetaextension.Config)
	mcfg.AuthType = k8smetaextension.AuthTypeKubeConfig
	mcfg.KubeConfigPath = srv.Kubeconfig
	mcfg.NodeName = itNode
	ext, err := mf.Create(ctx, extensiontest.NewNopSettings(mf.Type()), mcfg)
	require.NoError(t, err)
	host := extHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{metaID: ext}}
	require.NoError(t, ext.Start(ctx, host))
	t.Cleanup(func() { assert.NoError(t, ext.Shutdown(ctx)) })
	meta := ext.(k8smetaextension.Metadata)
	require.Eventually(t, func() bool { _, _, ok := meta.LookupContainer(cidProd); return ok }, 15*time.Second, 20*time.Millisecond)

	// Pipeline: ebpf receiver -> k8s_enrich -> sink.
	sink := new(consumertest.LogsSink)
	pf := k8senrichprocessor.NewFactory()
	pcfg := pf.CreateDefaultConfig()
	proc, err := pf.CreateLogs(ctx, processortest.NewNopSettings(pf.Type()), pcfg, sink)
	require.NoError(t, err)
	require.NoError(t, proc.Start(ctx, host))
	t.Cleanup(func() { assert.NoError(t, proc.Shutdown(ctx)) })

	dir := t.TempDir()
	watched := filepath.Join(dir, "data")
	require.NoError(t, os.Mkdir(watched, 0o755))
	secret := filepath.Join(watched, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("s"), 0o644))
	pdir := filepath.Join(dir, "policies")
	require.NoError(t, os.Mkdir(pdir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(pdir, "prod.yaml"), []byte(fmt.Sprintf(`name: prod-data
selector:
  namespaces: [vigil-prod]
rules:
  - name: data-read
    event: file.open
    paths: [%s/]
    severity: warn
`, watched)), 0o644))
	rf := ebpfreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig().(*ebpfreceiver.Config)
	rcfg.PolicyPaths = []string{pdir}
	rcfg.K8sMetadata = &metaID
	rset := receivertest.NewNopSettings(rf.Type())
	rset.Logger = zaptest.NewLogger(t)
	rcv, err := rf.CreateLogs(ctx, rset, rcfg, proc)
	require.NoError(t, err)
	require.NoError(t, rcv.Start(ctx, host))
	t.Cleanup(func() { assert.NoError(t, rcv.Shutdown(ctx)) })

	// The policy selects the prod pod's process, enriched with its pod, and not the dev one.
	var prodPid, devPid int
	t.Cleanup(func() {
		if t.Failed() {
			n := 0
			for _, ld := range sink.AllLogs() {
				n += ld.LogRecordCount()
			}
			t.Logf("sink has %d records", n)
			for _, ld := range sink.AllLogs() {
				for i := 0; i < ld.ResourceLogs().Len(); i++ {
					lrs := ld.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
					for k := 0; k < lrs.Len(); k++ {
						if lrs.At(k).EventName() != "process.exec" && lrs.At(k).EventName() != "process.exit" {
							t.Logf("%s %v", lrs.At(k).EventName(), lrs.At(k).Attributes().AsRaw())
						}
					}
				}
			}
		}
	})
	// The pod's cgroups reach the kernel set shortly after start: retry with a new
	// process until one is reported (each gets 5s: batching and enrichment are async).
	reported := false
	for deadline := time.Now().Add(30 * time.Second); !reported && time.Now().Before(deadline); {
		prodPid = catIn(t, prodFD, secret)
		reported = assert.Eventually(&testing.T{}, func() bool { return len(fileOpens(sink, prodPid)) == 1 }, 5*time.Second, 50*time.Millisecond)
	}
	require.True(t, reported, "a process of a vigil-prod pod opening the file is reported")
	devPid = catIn(t, devFD, secret)
	probe := catIn(t, prodFD, secret) // reported: proves the pipeline flushed what dev produced
	require.Eventually(t, func() bool { return len(fileOpens(sink, probe)) == 1 }, 10*time.Second, 50*time.Millisecond)
	f := fileOpens(sink, prodPid)[0]
	res := f.res.Resource().Attributes().AsRaw()
	assert.Equal(t, cidProd, res["container.id"])
	assert.Equal(t, "vigil-prod", res["k8s.namespace.name"])
	assert.Equal(t, "web-5d8f7-q9z2k", res["k8s.pod.name"])
	assert.Equal(t, string(prod.UID), res["k8s.pod.uid"])
	assert.Equal(t, "web", res["k8s.deployment.name"])
	assert.Equal(t, "web", res["k8s.container.name"])
	assert.Equal(t, itNode, res["k8s.node.name"])
	lr := f.rec.Attributes().AsRaw()
	assert.Equal(t, "prod-data", lr["security_rule.ruleset.name"])
	assert.Equal(t, secret, lr["file.path"])
	assert.Empty(t, fileOpens(sink, devPid), "the vigil-dev pod is not selected, in the kernel")

	// Deleting the pod: the cache forgets it and the kernel set drops its cgroups.
	zero := int64(0)
	require.NoError(t, cs.CoreV1().Pods("vigil-prod").Delete(ctx, prod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}))
	require.Eventually(t, func() bool { _, ok := meta.LookupPod(string(prod.UID)); return !ok }, 15*time.Second, 20*time.Millisecond)
	time.Sleep(2 * time.Second) // pod change applied to the kernel maps
	after := catIn(t, prodFD, secret)
	time.Sleep(3 * time.Second) // longer than batching plus the processor's hold
	assert.Empty(t, fileOpens(sink, after), "a deleted pod is no longer selected")
}
