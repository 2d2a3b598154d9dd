// Command benchcompare measures Vigil's k8s_enrich processor and contrib's k8s_attributes
// processor side by side, on the same 5,000 pods held by a real kube-apiserver (started here
// with etcd on 127.0.0.1) and the same log records, and prints a table of the results.
//
//	VIGIL_KUBE_APISERVER=... VIGIL_ETCD=/usr/bin/etcd go run ./processor/k8senrichprocessor/internal/benchcompare
//
// or make -C .ci/k8s bench, which builds and caches kube-apiserver first. Run it from the
// repository root.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vigilsec/vigil/extension/k8smetaextension/kubeapiservertest"
)

// The fixture, identical to the benchmarks' constants.
const (
	pods      = 5000
	deploys   = 50
	batch     = 100
	node      = "bench-node"
	namespace = "bench"
	workers   = 16
)

// driverT adapts the test harness to a program.
type driverT struct {
	dir      string
	cleanups []func()
}

func (*driverT) Helper() {}
func (d *driverT) Fatalf(format string, args ...any) {
	d.cleanup()
	fmt.Fprintf(os.Stderr, "benchcompare: "+format+"\n", args...)
	os.Exit(1)
}
func (d *driverT) Cleanup(f func()) { d.cleanups = append(d.cleanups, f) }
func (d *driverT) TempDir() string  { return d.dir }
func (d *driverT) cleanup() {
	for i := len(d.cleanups) - 1; i >= 0; i-- {
		d.cleanups[i]()
	}
	d.cleanups = nil
	_ = os.RemoveAll(d.dir)
}

func main() {
	benchtime := flag.String("benchtime", "2s", "go test -benchtime for each benchmark")
	count := flag.Int("count", 1, "go test -count")
	flag.Parse()
	if err := run(*benchtime, *count); err != nil {
		fmt.Fprintln(os.Stderr, "benchcompare:", err)
		os.Exit(1)
	}
}

func run(benchtime string, count int) error {
	apiserver, etcd := os.Getenv(kubeapiservertest.EnvKubeAPIServer), os.Getenv(kubeapiservertest.EnvEtcd)
	if apiserver == "" || etcd == "" {
		return fmt.Errorf("%s and %s must name the kube-apiserver and etcd binaries", kubeapiservertest.EnvKubeAPIServer, kubeapiservertest.EnvEtcd)
	}
	dir, err := os.MkdirTemp("", "vigil-benchcompare-")
	if err != nil {
		return err
	}
	t := &driverT{dir: dir}
	defer t.cleanup()

	fmt.Fprintln(os.Stderr, "starting etcd and kube-apiserver ...")
	srv := kubeapiservertest.Start(t, apiserver, etcd)
	rc := srv.RESTConfig()
	rc.QPS, rc.Burst = 2000, 2000
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	start := time.Now()
	uids, err := populate(context.Background(), cs)
	if err != nil {
		return fmt.Errorf("creating the fixture: %w", err)
	}
	fmt.Fprintf(os.Stderr, "created %d pods in %s\n", len(uids), time.Since(start).Round(time.Second))
	fixture := filepath.Join(dir, "fixture.json")
	raw, _ := json.Marshal(uids)
	if err := os.WriteFile(fixture, raw, 0o600); err != nil {
		return err
	}

	env := append(os.Environ(), "VIGIL_BENCH_KUBECONFIG="+srv.Kubeconfig, "VIGIL_BENCH_FIXTURE="+fixture)
	args := []string{"test", "-run", "^$", "-benchmem", "-benchtime", benchtime, "-count", strconv.Itoa(count)}
	fmt.Fprintln(os.Stderr, "benchmarking k8s_enrich ...")
	ours, err := goBench(".", env, append(args, "-bench", "^BenchmarkEnrich$", "./processor/k8senrichprocessor/"))
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "benchmarking contrib k8s_attributes v0.160.0 ...")
	theirs, err := goBench(filepath.Join(".ci", "k8s", "bench", "contrib"), env, append(args, "-bench", "^BenchmarkContribK8sAttributes$", "./..."))
	if err != nil {
		return err
	}
	printTable(ours, theirs)
	return nil
}

// populate creates 50 Deployment-owned ReplicaSets and 5,000 running pods on the bench node,
// and returns the pod UIDs in fixture order.
func populate(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	tr := true
	rsUIDs := make([]metav1.OwnerReference, deploys)
	for d := range deploys {
		labels := map[string]string{"app": fmt.Sprintf("web-%02d", d)}
		rs, err := cs.AppsV1().ReplicaSets(namespace).Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("web-%02d-7f9c6d", d), Labels: labels,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "apps/v1", Kind: "Deployment", Name: fmt.Sprintf("web-%02d", d),
					UID: "00000000-0000-4000-a000-000000000000", Controller: &tr,
				}},
			},
			Spec: appsv1.ReplicaSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.local:5000/shop/web:2.3.1"}}},
				},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		rsUIDs[d] = metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &tr}
	}

	uids := make([]string, pods)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				uid, err := createPod(ctx, cs, i, rsUIDs[i%deploys])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				uids[i] = uid
				mu.Unlock()
			}
		}()
	}
	for i := range pods {
		next <- i
	}
	close(next)
	wg.Wait()
	return uids, firstErr
}

func createPod(ctx context.Context, cs kubernetes.Interface, i int, owner metav1.OwnerReference) (string, error) {
	d := i % deploys
	pod, err := cs.CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            fmt.Sprintf("web-%02d-%05d", d, i),
			Labels:          map[string]string{"app": fmt.Sprintf("web-%02d", d), "pod-template-hash": "7f9c6d"},
			Annotations:     map[string]string{"vigil.dev/owner": "bench"},
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "web", Image: "registry.local:5000/shop/web:2.3.1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "web", Image: "registry.local:5000/shop/web:2.3.1",
		ContainerID: "containerd://" + fmt.Sprintf("%064x", i+1), Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
	}}
	if _, err := cs.CoreV1().Pods(namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		return "", err
	}
	return string(pod.UID), nil
}

type result struct {
	name                                         string
	nsPerRecord, bytesPerOp, allocsPerOp, heapMB float64
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

func goBench(dir string, env, args []string) ([]result, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), dir, err, out.String())
	}
	var res []result
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		r := result{name: m[1]}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/record":
				r.nsPerRecord = v
			case "B/op":
				r.bytesPerOp = v
			case "allocs/op":
				r.allocsPerOp = v
			case "cache-heap-MB":
				r.heapMB = v
			}
		}
		res = append(res, r)
	}
	if len(res) == 0 {
		return nil, errors.New("no benchmark results in output:\n" + out.String())
	}
	return res, nil
}

func printTable(ours, theirs []result) {
	fmt.Printf("5,000 pods on the node, batches of %d resources x 1 log record, real kube-apiserver\n\n", batch)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "processor\tassociation\tns/record\tB/record\tallocs/record\tcache heap MB\t")
	byKey := map[string]result{}
	for _, r := range ours {
		byKey["vigil "+suffix(r.name)] = r
		fmt.Fprintf(w, "k8s_enrich\t%s\t%.0f\t%.0f\t%.1f\t%.1f\t\n", suffix(r.name), r.nsPerRecord, r.bytesPerOp/batch, r.allocsPerOp/batch, r.heapMB)
	}
	for _, r := range theirs {
		byKey["contrib "+suffix(r.name)] = r
		fmt.Fprintf(w, "k8s_attributes v0.160.0\t%s\t%.0f\t%.0f\t%.1f\t%.1f\t\n", suffix(r.name), r.nsPerRecord, r.bytesPerOp/batch, r.allocsPerOp/batch, r.heapMB)
	}
	_ = w.Flush()
	fmt.Println()
	for _, by := range []string{"by=pod_uid", "by=container_id"} {
		o, ok1 := byKey["vigil "+by]
		c, ok2 := byKey["contrib "+by]
		if !ok1 || !ok2 || o.nsPerRecord == 0 || o.heapMB == 0 {
			continue
		}
		fmt.Printf("%s: contrib/vigil time per record %.2fx, cache heap %.2fx\n", by, c.nsPerRecord/o.nsPerRecord, c.heapMB/o.heapMB)
	}
}

func suffix(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}
