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
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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

	// Every host path is mounted read-only, and the expected ones are there.
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	mounted := map[string]string{}
	for _, m := range c.VolumeMounts {
		if _, ok := hostPaths[m.Name]; ok {
			assert.True(t, m.ReadOnly, "host mount %s must be read-only", m.Name)
			mounted[hostPaths[m.Name]] = m.MountPath
		}
	}
	assert.Equal(t, map[string]string{
		"/sys/kernel/btf":     "/sys/kernel/btf",
		"/sys/fs/cgroup":      "/sys/fs/cgroup",
		"/proc":               "/host/proc",
		"/sys/fs/bpf":         "/sys/fs/bpf",
		"/sys/kernel/tracing": "/sys/kernel/tracing",
	}, mounted)

	// The ConfigMaps the DaemonSet mounts exist (kustomize's hash suffixes line up).
	cms := map[string]*corev1.ConfigMap{}
	for _, cm := range find[*corev1.ConfigMap](objs) {
		cms[cm.Name] = cm
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
	assert.Equal(t, "http://loki-gateway.monitoring:3100/otlp", cfg.Exporters["otlp_http/loki"]["endpoint"])
	logs := cfg.Service.Pipelines["logs"]
	assert.Equal(t, []string{"ebpf"}, logs.Receivers)
	assert.Contains(t, logs.Processors, "k8s_enrich")
	assert.Less(t, slices.Index(logs.Processors, "k8s_enrich"), slices.Index(logs.Processors, "batch"),
		"enrich before batching: the processor holds single resources, not batches")
	assert.Equal(t, []string{"otlp_http/loki"}, logs.Exporters)
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
