// Package deploy holds Vigil's Kubernetes manifests, Grafana dashboard and Loki rules. This
// test renders the kustomize base offline and decodes every object into its typed Kubernetes
// API struct (strictly: unknown fields fail), then checks the security-relevant settings.
//
// It is a separate Go module (deploy/go.mod) so that kustomize's dependencies stay out of the
// collector's go.mod. Run: cd deploy && go test ./...
package deploy

import (
	"bufio"
	"bytes"
	stdjson "encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

func render(t *testing.T) []runtime.Object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("kustomize", "base"))
	require.NoError(t, err, "kustomize build")
	out, err := rm.AsYaml()
	require.NoError(t, err)

	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	var objs []runtime.Object
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if strings.TrimSpace(string(doc)) == "" {
			continue
		}
		obj, gvk, err := strict.Decode(doc, nil, nil)
		require.NoError(t, err, "decoding rendered object:\n%s", doc)
		require.NotNil(t, gvk)
		objs = append(objs, obj)
	}
	return objs
}

func find[T runtime.Object](objs []runtime.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestKustomizeRendersTypedObjects(t *testing.T) {
	objs := render(t)
	require.Len(t, find[*corev1.Namespace](objs), 1)
	require.Len(t, find[*corev1.ServiceAccount](objs), 1)
	require.Len(t, find[*rbacv1.ClusterRoleBinding](objs), 1)
	require.Len(t, find[*corev1.ConfigMap](objs), 2)

	roles := find[*rbacv1.ClusterRole](objs)
	require.Len(t, roles, 1)
	granted := map[string]bool{}
	for _, r := range roles[0].Rules {
		for _, v := range r.Verbs {
			assert.Contains(t, []string{"get", "list", "watch"}, v, "RBAC is read-only")
		}
		for _, res := range r.Resources {
			granted[res] = true
		}
	}
	for _, res := range []string{"pods", "namespaces", "replicasets", "jobs"} {
		assert.True(t, granted[res], res)
	}

	dss := find[*appsv1.DaemonSet](objs)
	require.Len(t, dss, 1)
	ds := dss[0]
	assert.Equal(t, "vigil", ds.Namespace)
	spec := ds.Spec.Template.Spec
	assert.True(t, spec.HostPID)
	assert.Equal(t, "vigil", spec.ServiceAccountName)
	require.Len(t, spec.Containers, 1)
	c := spec.Containers[0]
	assert.Equal(t, "ghcr.io/vigilsec/otelcol-vigil:0.1.0", c.Image)

	sc := c.SecurityContext
	require.NotNil(t, sc)
	require.NotNil(t, sc.Privileged)
	assert.False(t, *sc.Privileged, "no privileged: true")
	var added []string
	for _, capa := range sc.Capabilities.Add {
		added = append(added, string(capa))
	}
	for _, want := range []string{"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"} {
		assert.Contains(t, added, want)
	}
	assert.NotContains(t, added, "SYS_ADMIN")
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)

	assert.False(t, c.Resources.Requests.Cpu().IsZero())
	assert.False(t, c.Resources.Limits.Memory().IsZero())

	var nodeEnv *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "K8S_NODE_NAME" {
			nodeEnv = &c.Env[i]
		}
	}
	require.NotNil(t, nodeEnv)
	require.NotNil(t, nodeEnv.ValueFrom)
	assert.Equal(t, "spec.nodeName", nodeEnv.ValueFrom.FieldRef.FieldPath)

	// Every host path but the queue's is mounted read-only, and the expected ones are there.
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	mounted := map[string]string{}
	for _, m := range c.VolumeMounts {
		if _, ok := hostPaths[m.Name]; ok {
			assert.Equal(t, m.Name != "queue", m.ReadOnly, "only the queue's host path is writable (%s)", m.Name)
			mounted[hostPaths[m.Name]] = m.MountPath
		}
	}
	assert.Equal(t, map[string]string{
		"/sys/kernel/btf":      "/sys/kernel/btf",
		"/sys/fs/cgroup":       "/sys/fs/cgroup",
		"/proc":                "/host/proc",
		"/sys/fs/bpf":          "/sys/fs/bpf",
		"/sys/kernel/tracing":  "/sys/kernel/tracing",
		"/var/lib/vigil/queue": "/var/lib/vigil/queue",
	}, mounted)

	// The ConfigMaps the DaemonSet mounts exist (kustomize's hash suffixes line up).
	cms := map[string]*corev1.ConfigMap{}
	for _, cm := range find[*corev1.ConfigMap](objs) {
		cms[cm.Name] = cm
	}
	// Policies are edited in place (live reload): no hash suffix, no subPath.
	assert.Contains(t, cms, "vigil-policies")
	for _, c := range spec.Containers {
		for _, m := range c.VolumeMounts {
			if m.Name == "policies" {
				assert.Empty(t, m.SubPath, "a subPath mount never sees ConfigMap updates")
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			assert.Contains(t, cms, v.ConfigMap.Name)
		}
	}
}

func TestCollectorConfig(t *testing.T) {
	var collector string
	for _, cm := range find[*corev1.ConfigMap](render(t)) {
		if strings.HasPrefix(cm.Name, "vigil-collector-") {
			collector = cm.Data["collector.yaml"]
		}
	}
	require.NotEmpty(t, collector)
	var cfg struct {
		Processors map[string]map[string]any `json:"processors"`
		Exporters  map[string]map[string]any `json:"exporters"`
		Extensions map[string]map[string]any `json:"extensions"`
		Service    struct {
			Extensions []string `json:"extensions"`
			Pipelines  map[string]struct {
				Receivers, Processors, Exporters []string
			} `json:"pipelines"`
		} `json:"service"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(collector), &cfg))
	assert.Contains(t, cfg.Processors, "k8s_enrich")
	assert.Contains(t, cfg.Extensions, "k8s_meta")
	assert.Contains(t, cfg.Service.Extensions, "k8s_meta")
	// The grafana/loki chart's gateway (port 80) with a tenant: its gateway refuses pushes
	// without X-Scope-OrgID. The Helm chart's defaults send the same (TestHelmMatchesKustomizeBase).
	assert.Equal(t, "http://loki-gateway.monitoring:80/otlp", cfg.Exporters["otlp_http/loki"]["endpoint"])
	assert.Equal(t, map[string]any{"X-Scope-OrgID": "vigil"}, cfg.Exporters["otlp_http/loki"]["headers"])
	logs := cfg.Service.Pipelines["logs"]
	assert.Equal(t, []string{"ebpf"}, logs.Receivers)
	assert.Contains(t, logs.Processors, "k8s_enrich")
	assert.NotContains(t, logs.Processors, "batch",
		"no batch processor: its asynchronous send would hide a full queue's refusal from the receiver")
	assert.Equal(t, []string{"otlp_http/loki"}, logs.Exporters)
	// Loss-free export: the queue is on disk in a started file_storage, retries never give up.
	q := cfg.Exporters["otlp_http/loki"]["sending_queue"].(map[string]any)
	assert.Equal(t, "file_storage/queue", q["storage"])
	assert.Contains(t, cfg.Service.Extensions, "file_storage/queue")
	assert.Equal(t, "/var/lib/vigil/queue", cfg.Extensions["file_storage/queue"]["directory"])
	retry := cfg.Exporters["otlp_http/loki"]["retry_on_failure"].(map[string]any)
	assert.EqualValues(t, 0, retry["max_elapsed_time"])
	assert.Equal(t, "memory_limiter", logs.Processors[0], "a memory_limiter refusal reaches the receiver")
}

func TestDashboardJSON(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("grafana", "vigil-dashboard.json"))
	require.NoError(t, err)
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, stdjson.Unmarshal(raw, &dash))
	assert.Equal(t, "vigil-security", dash.UID)
	var exprs strings.Builder
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, p.Title)
			exprs.WriteString(tg.Expr + "\n")
		}
	}
	for _, want := range []string{"event_name", "security_rule_name", "k8s_namespace_name"} {
		assert.Contains(t, exprs.String(), want)
	}
}

func TestLokiRules(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("loki", "rules.yaml"))
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Name     string `json:"name"`
			Interval string `json:"interval"`
			Rules    []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	require.NoError(t, yaml.UnmarshalStrict(raw, &rules))
	require.NotEmpty(t, rules.Groups)
	for _, g := range rules.Groups {
		require.NotEmpty(t, g.Rules)
		for _, r := range g.Rules {
			assert.NotEmpty(t, r.Alert)
			assert.NotEmpty(t, r.Expr, r.Alert)
			assert.NotEmpty(t, r.Labels["severity"], r.Alert)
			assert.Equal(t, strings.Count(r.Expr, "("), strings.Count(r.Expr, ")"), "balanced parentheses in %s", r.Alert)
		}
	}
}

func TestPoliciesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("kustomize", "base", "policies", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var p map[string]any
		require.NoError(t, yaml.Unmarshal(raw, &p), f)
		assert.NotEmpty(t, p["name"], f)
	}
}

// renderedCollector returns the collector.yaml of the rendered ConfigMap.
func renderedCollector(t *testing.T, objs []runtime.Object) string {
	t.Helper()
	for _, cm := range find[*corev1.ConfigMap](objs) {
		if strings.HasPrefix(cm.Name, "vigil-collector-") {
			return cm.Data["collector.yaml"]
		}
	}
	t.Fatal("no vigil-collector ConfigMap rendered")
	return ""
}

// telemetryConfig is a collector configuration's service::telemetry: the pull readers
// (Prometheus endpoints) of its self-metrics.
type telemetryConfig struct {
	Metrics struct {
		Readers []struct {
			Pull struct {
				Exporter struct {
					Prometheus struct {
						Host string `json:"host"`
						Port int    `json:"port"`
					} `json:"prometheus"`
				} `json:"exporter"`
			} `json:"pull"`
		} `json:"readers"`
	} `json:"metrics"`
}

// listenConfig is the part of a collector configuration that opens listening sockets.
type listenConfig struct {
	Extensions map[string]map[string]any `json:"extensions"`
	Service    struct {
		Telemetry telemetryConfig `json:"telemetry"`
	} `json:"service"`
}

// No shipped configuration listens on every interface: health and self-metrics name
// the rule names and counts, and any pod (or host) could read them.
func TestNoWildcardBinding(t *testing.T) {
	wildcard := func(name, text string) {
		for _, w := range []string{"0.0.0.0", "[::]:", "\"::\""} {
			assert.NotContains(t, text, w, "%s listens on every interface", name)
		}
		var cfg listenConfig
		require.NoError(t, yaml.Unmarshal([]byte(text), &cfg), name)
		if hc, ok := cfg.Extensions["health_check"]; ok {
			ep, _ := hc["endpoint"].(string)
			host := ep[:max(0, strings.LastIndexByte(ep, ':'))]
			assert.NotEmpty(t, host, "%s: health_check.endpoint %q has no host: it would bind every interface", name, ep)
		}
		for _, r := range cfg.Service.Telemetry.Metrics.Readers {
			if p := r.Pull.Exporter.Prometheus; p.Port != 0 {
				assert.NotEmpty(t, p.Host, "%s: the prometheus reader has no host: it would bind every interface", name)
			}
		}
	}
	var files []string
	for _, root := range []string{"config", "kustomize"} {
		require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
				return err
			}
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			if strings.Contains(path, "policies") || !strings.Contains(string(raw), "extensions:") {
				assert.NotContains(t, string(raw), "0.0.0.0:", path)
				return nil
			}
			files = append(files, path)
			wildcard(path, string(raw))
			return nil
		}))
	}
	// Every collector configuration with extensions is checked: the local one,
	// the kustomize base's and the example pipelines that run extensions.
	assert.Contains(t, files, filepath.Join("config", "local.yaml"))
	assert.Contains(t, files, filepath.Join("kustomize", "base", "collector.yaml"))
	assert.Contains(t, files, filepath.Join("config", "examples", "persistent-queue.yaml"))

	objs := render(t)
	collector := renderedCollector(t, objs)
	wildcard("rendered collector.yaml", collector)
	var cfg listenConfig
	require.NoError(t, yaml.Unmarshal([]byte(collector), &cfg))
	assert.Equal(t, "${env:MY_POD_IP}:13133", cfg.Extensions["health_check"]["endpoint"])
	require.Len(t, cfg.Service.Telemetry.Metrics.Readers, 1)
	assert.Equal(t, "${env:MY_POD_IP}", cfg.Service.Telemetry.Metrics.Readers[0].Pull.Exporter.Prometheus.Host)

	// MY_POD_IP comes from the downward API; without it the endpoint would be ":13133".
	ds := find[*appsv1.DaemonSet](objs)[0]
	c := ds.Spec.Template.Spec.Containers[0]
	var podIP *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "MY_POD_IP" {
			podIP = &c.Env[i]
		}
	}
	require.NotNil(t, podIP, "MY_POD_IP env")
	require.NotNil(t, podIP.ValueFrom)
	require.NotNil(t, podIP.ValueFrom.FieldRef)
	assert.Equal(t, "status.podIP", podIP.ValueFrom.FieldRef.FieldPath)
	assert.False(t, ds.Spec.Template.Spec.HostNetwork, "the pod IP is the node's address with hostNetwork")
	// The probes reach the health port on the pod's address (no host override).
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		require.NotNil(t, p)
		require.NotNil(t, p.HTTPGet)
		assert.Empty(t, p.HTTPGet.Host)
		assert.Equal(t, "health", p.HTTPGet.Port.String())
	}
}

// The NetworkPolicy isolates the Vigil pods for ingress and admits nothing (the node
// is always admitted by Kubernetes, which keeps the kubelet probes working).
func TestNetworkPolicyDeniesIngress(t *testing.T) {
	objs := render(t)
	nps := find[*networkingv1.NetworkPolicy](objs)
	require.Len(t, nps, 1)
	np := nps[0]
	assert.Equal(t, "vigil", np.Namespace)
	assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.Spec.PolicyTypes)
	assert.Empty(t, np.Spec.Ingress, "no ingress source is allowed")

	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	require.NoError(t, err)
	assert.False(t, sel.Empty(), "the policy selects the Vigil pods, not the whole namespace")
	ds := find[*appsv1.DaemonSet](objs)[0]
	assert.True(t, sel.Matches(labels.Set(ds.Spec.Template.Labels)), "the policy selects the DaemonSet's pods")
	assert.False(t, sel.Matches(labels.Set{"app.kubernetes.io/name": "other"}))
}

// The local configuration's events file is private: the file exporter creates files
// 0644 and has no option for it, so its directory is created 0700.
func TestLocalFileOutputPrivate(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("config", "local.yaml"))
	require.NoError(t, err)
	var cfg struct {
		Exporters map[string]map[string]any `json:"exporters"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	var n int
	for name, e := range cfg.Exporters {
		if name != "file" && !strings.HasPrefix(name, "file/") {
			continue
		}
		n++
		assert.Equal(t, true, e["create_directory"], name)
		assert.Equal(t, "0700", e["directory_permissions"], name)
		path, _ := e["path"].(string)
		assert.NotEqual(t, ".", filepath.Dir(path), "%s writes into a directory of its own", name)
	}
	assert.Equal(t, 2, n, "the events file and the metrics file")
}
