package deploy

// The Helm chart (helm/vigil) rendered offline with the Helm SDK's engine (no cluster), as
// `helm template` does, with its defaults and with the value sets users are told to use.
// Every object is decoded strictly into its typed Kubernetes API struct; the collector
// configuration is parsed and checked against the distribution's manifest.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

const chartDir = "helm/vigil"

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	require.NoError(t, err, "loading %s", chartDir)
	return c
}

// renderHelm renders the chart as release "vigil" in namespace "vigil" with the given
// values (YAML, merged over values.yaml) and returns the manifests by template file.
func renderHelm(t *testing.T, values string) (map[string]string, error) {
	t.Helper()
	c := loadChart(t)
	vals, err := chartutil.ReadValues([]byte(values))
	require.NoError(t, err, "test values:\n%s", values)
	top, err := chartutil.ToRenderValues(c, vals.AsMap(),
		chartutil.ReleaseOptions{Name: "vigil", Namespace: "vigil", Revision: 1, IsInstall: true},
		chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err // values.schema.json refused the values
	}
	return engine.Render(c, top)
}

// helmRelease is one rendered release: its typed objects and the collector configuration.
type helmRelease struct {
	objs   []runtime.Object
	ds     *appsv1.DaemonSet
	cms    map[string]*corev1.ConfigMap
	config collectorConfig
	raw    string // collector.yaml as rendered
}

type collectorConfig struct {
	Receivers  map[string]map[string]any `json:"receivers"`
	Processors map[string]map[string]any `json:"processors"`
	Exporters  map[string]map[string]any `json:"exporters"`
	Extensions map[string]map[string]any `json:"extensions"`
	Service    struct {
		Extensions []string `json:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `json:"receivers"`
			Processors []string `json:"processors"`
			Exporters  []string `json:"exporters"`
		} `json:"pipelines"`
		Telemetry telemetryConfig `json:"telemetry"`
	} `json:"service"`
}

func mustRenderHelm(t *testing.T, values string) helmRelease {
	t.Helper()
	files, err := renderHelm(t, values)
	require.NoError(t, err, "rendering the chart with:\n%s", values)

	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	var rel helmRelease
	rel.cms = map[string]*corev1.ConfigMap{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if path.Ext(name) != ".yaml" {
			continue // NOTES.txt
		}
		reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(files[name])))
		for {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, name)
			if isEmptyYAML(doc) {
				continue
			}
			obj, _, err := strict.Decode(doc, nil, nil)
			require.NoError(t, err, "decoding %s:\n%s", name, doc)
			rel.objs = append(rel.objs, obj)
			switch o := obj.(type) {
			case *appsv1.DaemonSet:
				require.Nil(t, rel.ds, "one DaemonSet")
				rel.ds = o
			case *corev1.ConfigMap:
				rel.cms[o.Name] = o
			}
		}
	}
	require.NotNil(t, rel.ds, "the chart renders a DaemonSet")
	cm := rel.cms["vigil-collector"]
	require.NotNil(t, cm, "collector ConfigMap vigil-collector")
	rel.raw = cm.Data["collector.yaml"]
	require.NoError(t, yaml.UnmarshalStrict([]byte(rel.raw), &rel.config), "collector.yaml:\n%s", rel.raw)
	return rel
}

// isEmptyYAML: only comments and blank lines (a template whose condition is false).
func isEmptyYAML(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

func (r helmRelease) container(t *testing.T) corev1.Container {
	t.Helper()
	require.Len(t, r.ds.Spec.Template.Spec.Containers, 1)
	return r.ds.Spec.Template.Spec.Containers[0]
}

func (r helmRelease) volume(t *testing.T, name string) corev1.Volume {
	t.Helper()
	for _, v := range r.ds.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	require.Failf(t, "no volume", "volume %q", name)
	return corev1.Volume{}
}

func addedCaps(c corev1.Container) []string {
	var out []string
	for _, capa := range c.SecurityContext.Capabilities.Add {
		out = append(out, string(capa))
	}
	sort.Strings(out)
	return out
}

// renderFails renders with values that must be refused and returns the error text.
func renderFails(t *testing.T, values string) string {
	t.Helper()
	_, err := renderHelm(t, values)
	require.Error(t, err, "rendering must fail with:\n%s", values)
	return err.Error()
}

func TestHelmDefaultsRenderTypedObjects(t *testing.T) {
	rel := mustRenderHelm(t, "")
	kinds := map[string]int{}
	for _, o := range rel.objs {
		kinds[kindOf(o)]++
	}
	assert.Equal(t, map[string]int{
		"ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "ConfigMap": 2,
		"DaemonSet": 1, "NetworkPolicy": 1,
	}, kinds, "no Namespace unless namespace.create")

	for _, o := range rel.objs {
		if cr, ok := o.(*rbacv1.ClusterRole); ok {
			for _, r := range cr.Rules {
				for _, v := range r.Verbs {
					assert.Contains(t, []string{"get", "list", "watch"}, v, "RBAC is read-only")
				}
			}
		}
		if crb, ok := o.(*rbacv1.ClusterRoleBinding); ok {
			require.Len(t, crb.Subjects, 1)
			assert.Equal(t, rbacv1.Subject{Kind: "ServiceAccount", Name: "vigil", Namespace: "vigil"}, crb.Subjects[0])
			assert.Equal(t, "vigil", crb.RoleRef.Name)
		}
		if np, ok := o.(*networkingv1.NetworkPolicy); ok {
			assert.Equal(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, np.Spec.PolicyTypes)
			assert.Empty(t, np.Spec.Ingress, "no ingress by default")
			assert.Equal(t, rel.ds.Spec.Selector.MatchLabels, np.Spec.PodSelector.MatchLabels)
		}
	}

	ds := rel.ds
	assert.Equal(t, "vigil", ds.Namespace)
	assert.Equal(t, ds.Spec.Selector.MatchLabels, subset(ds.Spec.Template.Labels, ds.Spec.Selector.MatchLabels))
	spec := ds.Spec.Template.Spec
	assert.True(t, spec.HostPID)
	assert.Equal(t, "vigil", spec.ServiceAccountName)
	assert.Equal(t, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, spec.Tolerations,
		"tolerate every taint: every node is covered")
	assert.Empty(t, spec.NodeSelector)
	assert.Empty(t, spec.PriorityClassName)

	c := rel.container(t)
	c0 := loadChart(t)
	assert.Equal(t, "ghcr.io/vigilsec/otelcol-vigil:"+c0.Metadata.AppVersion, c.Image, "tag defaults to appVersion")
	assert.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy)
	assert.Equal(t, []string{"--config=/etc/vigil/config/collector.yaml"}, c.Args)
	sc := c.SecurityContext
	require.NotNil(t, sc.Privileged)
	assert.False(t, *sc.Privileged)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Equal(t, []string{"BPF", "DAC_READ_SEARCH", "NET_ADMIN", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE"}, addedCaps(c))
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
	assert.Equal(t, "192Mi", c.Resources.Requests.Memory().String())
	assert.Equal(t, "512Mi", c.Resources.Limits.Memory().String())

	// Host paths: the sensors' read-only ones, and the queue (the one writable host path).
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	mounted := map[string]string{}
	for _, m := range c.VolumeMounts {
		if p, ok := hostPaths[m.Name]; ok {
			mounted[p] = m.MountPath
			assert.Equal(t, m.Name != "queue", m.ReadOnly, "only the queue's host path is writable (%s)", m.Name)
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

	// Every ConfigMap the DaemonSet mounts is rendered.
	for _, v := range spec.Volumes {
		if v.ConfigMap != nil {
			assert.Contains(t, rel.cms, v.ConfigMap.Name)
		}
	}
}

func kindOf(o runtime.Object) string {
	gvks, _, err := scheme.Scheme.ObjectKinds(o)
	if err != nil || len(gvks) == 0 {
		return "unknown"
	}
	return gvks[0].Kind
}

func subset(m, keys map[string]string) map[string]string {
	out := map[string]string{}
	for k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// The chart's defaults and the kustomize base deploy the same agent.
func TestHelmMatchesKustomizeBase(t *testing.T) {
	rel := mustRenderHelm(t, "")
	kobjs := render(t)
	kds := find[*appsv1.DaemonSet](kobjs)
	require.Len(t, kds, 1)
	kspec, hspec := kds[0].Spec.Template.Spec, rel.ds.Spec.Template.Spec
	kc, hc := kspec.Containers[0], rel.container(t)

	assert.Equal(t, kc.Image, hc.Image, "the image the chart and the kustomize base name")
	assert.Equal(t, kspec.HostPID, hspec.HostPID)
	assert.Equal(t, kspec.Tolerations, hspec.Tolerations)
	assert.Equal(t, addedCaps(kc), addedCaps(hc))
	assert.Equal(t, kc.SecurityContext.Capabilities.Drop, hc.SecurityContext.Capabilities.Drop)
	assert.Equal(t, kc.Resources, hc.Resources)
	assert.Equal(t, kc.Args, hc.Args)
	mounts := func(c corev1.Container) map[string]string {
		out := map[string]string{}
		for _, m := range c.VolumeMounts {
			out[m.Name] = m.MountPath
		}
		return out
	}
	assert.Equal(t, mounts(kc), mounts(hc))

	kroles, hroles := find[*rbacv1.ClusterRole](kobjs), find[*rbacv1.ClusterRole](rel.objs)
	require.Len(t, kroles, 1)
	require.Len(t, hroles, 1)
	assert.Equal(t, kroles[0].Rules, hroles[0].Rules, "same read-only RBAC")

	// Same pipeline shape: receiver, memory_limiter, enrichment.
	var kcfg collectorConfig
	for _, cm := range find[*corev1.ConfigMap](kobjs) {
		if strings.HasPrefix(cm.Name, "vigil-collector-") {
			require.NoError(t, yaml.Unmarshal([]byte(cm.Data["collector.yaml"]), &kcfg))
		}
	}
	kl, hl := kcfg.Service.Pipelines["logs"], rel.config.Service.Pipelines["logs"]
	assert.Equal(t, kl.Receivers, hl.Receivers)
	assert.Equal(t, kl.Processors, hl.Processors)
	assert.Equal(t, kcfg.Receivers["ebpf"], rel.config.Receivers["ebpf"])
	assert.Equal(t, kcfg.Processors, rel.config.Processors)
	assert.Equal(t, kcfg.Extensions["k8s_meta"], rel.config.Extensions["k8s_meta"])
	// Same Loki destination: the gateway on port 80 and the tenant header.
	for _, k := range []string{"endpoint", "headers"} {
		assert.Equal(t, kcfg.Exporters["otlp_http/loki"][k], rel.config.Exporters["otlp_http/loki"][k], "otlp_http/loki %s", k)
	}
	assert.Equal(t, kl.Exporters, hl.Exporters)

	// The chart ships the kustomize base's example policies, byte for byte.
	files, err := filepath.Glob(filepath.Join("kustomize", "base", "policies", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	pol := rel.cms["vigil-policies"]
	require.NotNil(t, pol)
	require.Len(t, pol.Data, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.Equal(t, strings.TrimRight(string(raw), "\n"), strings.TrimRight(pol.Data[filepath.Base(f)], "\n"), f)
	}
}

var hashSuffix = regexp.MustCompile(`-[bcdfghjklmnpqrstvwxz2456789]{10}$`)

func TestHelmPoliciesMountedAsDirectoryAndUpdatedInPlace(t *testing.T) {
	rel := mustRenderHelm(t, "")
	pol := rel.cms["vigil-policies"]
	require.NotNil(t, pol, "policies ConfigMap named vigil-policies")
	assert.False(t, hashSuffix.MatchString(pol.Name), "no hash suffix: %s", pol.Name)
	assert.Nil(t, pol.Immutable)

	v := rel.volume(t, "policies")
	require.NotNil(t, v.ConfigMap)
	assert.Equal(t, "vigil-policies", v.ConfigMap.Name)
	assert.Empty(t, v.ConfigMap.Items, "every key is a file of the directory")
	c := rel.container(t)
	var mounts []corev1.VolumeMount
	for _, m := range c.VolumeMounts {
		if m.Name == "policies" {
			mounts = append(mounts, m)
		}
	}
	require.Len(t, mounts, 1)
	assert.Empty(t, mounts[0].SubPath, "a subPath mount is never updated by the kubelet")
	assert.Empty(t, mounts[0].SubPathExpr)
	assert.Equal(t, []any{"/etc/vigil/rules", mounts[0].MountPath}, rel.config.Receivers["ebpf"]["policy_paths"],
		"the receiver loads the image's default pack, then watches the mounted directory")
	noPack := mustRenderHelm(t, "rules:\n  defaultPack: false\n")
	assert.Equal(t, []any{mounts[0].MountPath}, noPack.config.Receivers["ebpf"]["policy_paths"], "pack off")

	// Editing policies must not change the pod template (no restart); editing the
	// collector configuration must (the collector reads it only at start).
	inline := mustRenderHelm(t, `
policies:
  inline:
    extra.yaml: {name: extra, mode: monitor, rules: [{event: file.open, paths: [/etc/passwd]}]}
`)
	assert.Equal(t, rel.ds.Spec.Template, inline.ds.Spec.Template, "a policy edit leaves the pods alone")
	assert.NotEqual(t, rel.cms["vigil-policies"].Data, inline.cms["vigil-policies"].Data)
	other := mustRenderHelm(t, "clusterName: prod-eu-1\n")
	assert.NotEqual(t, rel.ds.Spec.Template.Annotations["checksum/config"], other.ds.Spec.Template.Annotations["checksum/config"])
	assert.Equal(t, rel.ds.Spec.Template.Annotations["checksum/config"], inline.ds.Spec.Template.Annotations["checksum/config"])
}

func TestHelmPoliciesInline(t *testing.T) {
	rel := mustRenderHelm(t, `
policies:
  defaults: false
  inline:
    no-curl.yaml:
      name: no-curl
      mode: enforce
      rules:
        - event: process.exec
          paths: [/usr/bin/curl]
          action: deny
    raw.yml: |
      # kept verbatim, comments included
      name: raw
      rules:
        - event: file.open
          paths: [/etc/shadow]
`)
	pol := rel.cms["vigil-policies"]
	require.NotNil(t, pol)
	assert.Equal(t, []string{"no-curl.yaml", "raw.yml"}, slices.Sorted(maps.Keys(pol.Data)), "defaults: false drops the examples")
	var p struct {
		Name  string `json:"name"`
		Mode  string `json:"mode"`
		Rules []struct {
			Event  string   `json:"event"`
			Paths  []string `json:"paths"`
			Action string   `json:"action"`
		} `json:"rules"`
	}
	require.NoError(t, yaml.UnmarshalStrict([]byte(pol.Data["no-curl.yaml"]), &p))
	assert.Equal(t, "no-curl", p.Name)
	assert.Equal(t, "enforce", p.Mode)
	require.Len(t, p.Rules, 1)
	assert.Equal(t, []string{"/usr/bin/curl"}, p.Rules[0].Paths)
	assert.Equal(t, "deny", p.Rules[0].Action)
	assert.Contains(t, pol.Data["raw.yml"], "# kept verbatim, comments included\nname: raw\n")

	// Defaults plus inline: both sets, inline wins on the same file name.
	both := mustRenderHelm(t, "policies:\n  inline:\n    sensitive-files.yaml: {name: mine}\n")
	assert.Equal(t, []string{"container-escape.yaml", "sensitive-files.yaml"}, slices.Sorted(maps.Keys(both.cms["vigil-policies"].Data)))
	assert.Equal(t, "name: mine", strings.TrimSpace(both.cms["vigil-policies"].Data["sensitive-files.yaml"]))

	// An existing ConfigMap: the chart creates none and mounts that one, as a directory.
	ext := mustRenderHelm(t, "policies:\n  existingConfigMap: team-policies\n")
	assert.NotContains(t, ext.cms, "vigil-policies")
	assert.NotContains(t, ext.cms, "team-policies")
	v := ext.volume(t, "policies")
	assert.Equal(t, "team-policies", v.ConfigMap.Name)

	// A key the receiver would ignore, or a policy without a name, is refused.
	msg := renderFails(t, "policies:\n  inline:\n    notes.txt: {name: x}\n")
	assert.Contains(t, msg, `policies.inline: key "notes.txt" must be a file name ending in .yaml or .yml`)
	msg = renderFails(t, "policies:\n  inline:\n    a.yaml: {rules: []}\n")
	assert.Contains(t, msg, "policies.inline.a.yaml: the policy has no name")
}

// components returns every component id the configuration defines, by kind.
func (c collectorConfig) defined() map[string][]string {
	return map[string][]string{
		"receivers":  slices.Sorted(maps.Keys(c.Receivers)),
		"processors": slices.Sorted(maps.Keys(c.Processors)),
		"exporters":  slices.Sorted(maps.Keys(c.Exporters)),
		"extensions": slices.Sorted(maps.Keys(c.Extensions)),
	}
}

// checkCollectorConfig: the pipelines and service name exactly the components defined,
// and no listener binds every interface.
func checkCollectorConfig(t *testing.T, rel helmRelease) {
	t.Helper()
	cfg := rel.config
	require.Contains(t, cfg.Service.Pipelines, "logs")
	used := map[string]map[string]bool{"receivers": {}, "processors": {}, "exporters": {}, "extensions": {}}
	for name, p := range cfg.Service.Pipelines {
		require.NotEmpty(t, p.Receivers, name)
		require.NotEmpty(t, p.Exporters, name)
		for _, id := range p.Receivers {
			assert.Contains(t, cfg.Receivers, id, "pipeline %s: receiver %s is defined", name, id)
			used["receivers"][id] = true
		}
		for _, id := range p.Processors {
			assert.Contains(t, cfg.Processors, id, "pipeline %s: processor %s is defined", name, id)
			used["processors"][id] = true
		}
		for _, id := range p.Exporters {
			assert.Contains(t, cfg.Exporters, id, "pipeline %s: exporter %s is defined", name, id)
			used["exporters"][id] = true
		}
		assert.Equal(t, len(p.Processors), len(slices.Compact(slices.Clone(p.Processors))), "no processor twice")
	}
	for _, id := range cfg.Service.Extensions {
		assert.Contains(t, cfg.Extensions, id, "service extension %s is defined", id)
		used["extensions"][id] = true
	}
	for kind, ids := range cfg.defined() {
		for _, id := range ids {
			assert.True(t, used[kind][id], "%s %s is defined but not used", kind, id)
		}
	}
	// Sending queues name a storage extension that exists and is started.
	for id, e := range cfg.Exporters {
		if q, ok := e["sending_queue"].(map[string]any); ok && q["storage"] != nil {
			assert.Contains(t, cfg.Service.Extensions, q["storage"], "exporter %s's queue storage", id)
		}
	}
	for _, bad := range []string{"0.0.0.0", "[::]", "localhost"} {
		assert.NotContains(t, rel.raw, bad, "no endpoint binds %s", bad)
	}
	assert.Equal(t, "${env:MY_POD_IP}:13133", cfg.Extensions["health_check"]["endpoint"])
	require.Len(t, cfg.Service.Telemetry.Metrics.Readers, 1)
	prom := cfg.Service.Telemetry.Metrics.Readers[0].Pull.Exporter.Prometheus
	assert.Equal(t, "${env:MY_POD_IP}", prom.Host)
	assert.Equal(t, 8888, prom.Port)

	c := rel.container(t)
	var podIP *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "MY_POD_IP" {
			podIP = &c.Env[i]
		}
	}
	require.NotNil(t, podIP, "MY_POD_IP from the downward API")
	require.NotNil(t, podIP.ValueFrom)
	assert.Equal(t, "status.podIP", podIP.ValueFrom.FieldRef.FieldPath)
	for _, p := range c.Ports {
		assert.Zero(t, p.HostPort, "no host port")
	}
}

// valueSets are the configurations the chart's README documents, each rendered and checked.
var valueSets = map[string]string{
	"defaults": "",
	"loki-tenant": `
loki: {tenant: team-a, namespace: loki}
clusterName: prod-eu-1
`,
	"otlp": `
exporters: [otlp]
otlp: {endpoint: "otel-gateway.observability:4317", headers: {x-token: abc}, tls: {insecure: true}}
`,
	"loki-and-otlp-http": `
exporters: [loki, otlp]
otlp: {protocol: http, endpoint: "https://otlp.example.com"}
`,
	"queue-disabled": "queue: {enabled: false}\n",
	"policies-inline": `
policies: {defaults: false, inline: {a.yaml: {name: a, rules: [{event: file.open, paths: [/etc/shadow]}]}}}
`,
	"extras": `
extraProcessors:
  - name: filter/noisy
    config: {logs: {log_record: ['attributes["process.executable.name"] == "sleep"']}}
  - name: transform/event_name
    config: {log_statements: [{context: log, statements: ['set(attributes["event.name"], event_name)']}]}
extraExtensions:
  - name: bearertokenauth/cloud
    config: {token: "${env:CLOUD_TOKEN}"}
extraExporters:
  - name: otlp_http/cloud
    config: {endpoint: "https://otlp.example.net/otlp", auth: {authenticator: bearertokenauth/cloud}}
`,
}

func TestHelmCollectorConfigs(t *testing.T) {
	for name, values := range valueSets {
		t.Run(name, func(t *testing.T) {
			checkCollectorConfig(t, mustRenderHelm(t, values))
		})
	}
}

// distributionModules maps each component type the chart may render to the Go package
// that provides it; the test checks that package is in builder-config.yaml.
var distributionModules = map[string]string{
	"ebpf":            "github.com/vigilsec/vigil/receiver/ebpfreceiver",
	"memory_limiter":  "go.opentelemetry.io/collector/processor/memorylimiterprocessor",
	"batch":           "go.opentelemetry.io/collector/processor/batchprocessor",
	"k8s_enrich":      "github.com/vigilsec/vigil/processor/k8senrichprocessor",
	"attributes":      "github.com/open-telemetry/opentelemetry-collector-contrib/processor/attributesprocessor",
	"filter":          "github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor",
	"redaction":       "github.com/open-telemetry/opentelemetry-collector-contrib/processor/redactionprocessor",
	"resource":        "github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor",
	"transform":       "github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor",
	"otlp_grpc":       "go.opentelemetry.io/collector/exporter/otlpexporter",
	"otlp_http":       "go.opentelemetry.io/collector/exporter/otlphttpexporter",
	"file":            "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter",
	"debug":           "go.opentelemetry.io/collector/exporter/debugexporter",
	"health_check":    "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension",
	"k8s_meta":        "github.com/vigilsec/vigil/extension/k8smetaextension",
	"file_storage":    "github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage",
	"bearertokenauth": "github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension",
	"oauth2client":    "github.com/open-telemetry/opentelemetry-collector-contrib/extension/oauth2clientauthextension",
}

// Every component the chart can render (its defaults, every value set, and the extra types
// its templates accept) is built into the distribution: no config the agent cannot load.
func TestHelmComponentsInDistribution(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "builder-config.yaml"))
	require.NoError(t, err)
	var manifest map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &manifest))
	built := map[string]bool{}
	for _, kind := range []string{"receivers", "processors", "exporters", "extensions"} {
		entries, _ := manifest[kind].([]any)
		for _, e := range entries {
			m := e.(map[string]any)
			pkg, _ := m["import"].(string)
			if pkg == "" {
				pkg = strings.Fields(m["gomod"].(string))[0]
			}
			built[pkg] = true
		}
	}

	// The types the templates accept in extra* values.
	tpl, err := os.ReadFile(filepath.Join(chartDir, "templates", "_helpers.tpl"))
	require.NoError(t, err)
	block := regexp.MustCompile(`(?s)define "vigil.knownTypes" -}}\n(.*?)\n\{\{- end`).FindSubmatch(tpl)
	require.NotNil(t, block, "vigil.knownTypes in _helpers.tpl")
	var known map[string][]string
	require.NoError(t, yaml.UnmarshalStrict(block[1], &known))
	types := map[string]bool{}
	for _, ts := range known {
		for _, ty := range ts {
			types[ty] = true
		}
	}
	for _, values := range valueSets {
		for _, ids := range mustRenderHelm(t, values).config.defined() {
			for _, id := range ids {
				types[strings.SplitN(id, "/", 2)[0]] = true
			}
		}
	}
	for _, ty := range slices.Sorted(maps.Keys(types)) {
		pkg, ok := distributionModules[ty]
		if assert.True(t, ok, "component type %q has no known module", ty) {
			assert.True(t, built[pkg], "component type %q (%s) is not in builder-config.yaml", ty, pkg)
		}
	}
}

func TestHelmLokiPreset(t *testing.T) {
	loki := func(rel helmRelease) map[string]any {
		t.Helper()
		assert.Equal(t, []string{"otlp_http/loki"}, rel.config.Service.Pipelines["logs"].Exporters)
		e := rel.config.Exporters["otlp_http/loki"]
		require.NotNil(t, e)
		return e
	}
	def := loki(mustRenderHelm(t, ""))
	assert.Equal(t, "http://loki-gateway.monitoring:80/otlp", def["endpoint"], "the grafana/loki chart's gateway, port 80")
	assert.Equal(t, map[string]any{"X-Scope-OrgID": "vigil"}, def["headers"])
	assert.NotContains(t, def, "tls")

	e := loki(mustRenderHelm(t, "loki: {tenant: team-a, namespace: loki, headers: {Authorization: Basic abc}}\n"))
	assert.Equal(t, "http://loki-gateway.loki:80/otlp", e["endpoint"])
	assert.Equal(t, map[string]any{"X-Scope-OrgID": "team-a", "Authorization": "Basic abc"}, e["headers"])

	none := loki(mustRenderHelm(t, "loki: {tenant: \"\"}\n"))
	assert.NotContains(t, none, "headers", "no tenant: no X-Scope-OrgID")

	full := loki(mustRenderHelm(t, "loki: {endpoint: \"https://logs.example.com/otlp\", tls: {insecureSkipVerify: true}}\n"))
	assert.Equal(t, "https://logs.example.com/otlp", full["endpoint"])
	assert.Equal(t, map[string]any{"insecure_skip_verify": true}, full["tls"])
}

func TestHelmOTLPPreset(t *testing.T) {
	rel := mustRenderHelm(t, valueSets["otlp"])
	assert.Equal(t, []string{"otlp_grpc/otlp"}, rel.config.Service.Pipelines["logs"].Exporters)
	e := rel.config.Exporters["otlp_grpc/otlp"]
	assert.Equal(t, "otel-gateway.observability:4317", e["endpoint"])
	assert.Equal(t, map[string]any{"x-token": "abc"}, e["headers"])
	assert.Equal(t, map[string]any{"insecure": true}, e["tls"])
	assert.NotContains(t, rel.config.Exporters, "otlp_http/loki")

	both := mustRenderHelm(t, valueSets["loki-and-otlp-http"])
	assert.Equal(t, []string{"otlp_http/loki", "otlp_http/otlp"}, both.config.Service.Pipelines["logs"].Exporters)
	assert.Equal(t, "https://otlp.example.com", both.config.Exporters["otlp_http/otlp"]["endpoint"])
	assert.NotContains(t, both.config.Exporters["otlp_http/otlp"], "tls", "TLS unless told otherwise")

	assert.Contains(t, renderFails(t, "exporters: [otlp]\n"), "otlp.endpoint is required with the otlp exporter preset")
	assert.Contains(t, renderFails(t, "exporters: [otlp]\notlp: {endpoint: x:1, protocol: udp}\n"), `otlp.protocol: "udp" is not grpc or http`)
}

func TestHelmPersistentQueue(t *testing.T) {
	for _, name := range []string{"defaults", "loki-and-otlp-http"} {
		rel := mustRenderHelm(t, valueSets[name])
		fs := rel.config.Extensions["file_storage/queue"]
		require.NotNil(t, fs, name)
		assert.Equal(t, "/var/lib/vigil/queue", fs["directory"])
		assert.Contains(t, rel.config.Service.Extensions, "file_storage/queue")
		for id, e := range rel.config.Exporters {
			q := e["sending_queue"].(map[string]any)
			assert.Equal(t, true, q["enabled"], id)
			assert.Equal(t, "file_storage/queue", q["storage"], "%s: the queue is on disk", id)
			assert.EqualValues(t, 100000, q["queue_size"], id)
			r := e["retry_on_failure"].(map[string]any)
			assert.Equal(t, "0s", r["max_elapsed_time"], "%s: retries never give up", id)
		}
		v := rel.volume(t, "queue")
		require.NotNil(t, v.HostPath, "the queue is on the node's disk, not in the pod")
		assert.Equal(t, "/var/lib/vigil/queue", v.HostPath.Path)
		assert.Equal(t, corev1.HostPathDirectoryOrCreate, *v.HostPath.Type)
		var m *corev1.VolumeMount
		for i, vm := range rel.container(t).VolumeMounts {
			if vm.Name == "queue" {
				m = &rel.container(t).VolumeMounts[i]
			}
		}
		require.NotNil(t, m)
		assert.Equal(t, fs["directory"], m.MountPath, "file_storage's directory is the mounted host path")
		assert.False(t, m.ReadOnly)
	}

	moved := mustRenderHelm(t, "queue: {hostPath: /data/vigil, size: 5000, maxElapsedTime: 2h}\n")
	assert.Equal(t, "/data/vigil", moved.volume(t, "queue").HostPath.Path)
	q := moved.config.Exporters["otlp_http/loki"]["sending_queue"].(map[string]any)
	assert.EqualValues(t, 5000, q["queue_size"])
	assert.Equal(t, "2h", moved.config.Exporters["otlp_http/loki"]["retry_on_failure"].(map[string]any)["max_elapsed_time"])

	off := mustRenderHelm(t, valueSets["queue-disabled"])
	assert.NotContains(t, off.config.Extensions, "file_storage/queue")
	assert.NotContains(t, off.config.Service.Extensions, "file_storage/queue")
	q = off.config.Exporters["otlp_http/loki"]["sending_queue"].(map[string]any)
	assert.Equal(t, true, q["enabled"], "still queued, in memory")
	assert.NotContains(t, q, "storage")
	for _, v := range off.ds.Spec.Template.Spec.Volumes {
		assert.NotEqual(t, "queue", v.Name)
	}

	assert.Contains(t, renderFails(t, "queue: {hostPath: relative/dir}\n"), `queue.hostPath: must be an absolute path, got "relative/dir"`)
	assert.Contains(t, renderFails(t, "queue: {size: 0}\n"), "queue.size: must be > 0")
}

func TestHelmNodeSettings(t *testing.T) {
	rel := mustRenderHelm(t, `
capabilities: {sysResource: false, netAdmin: false}
tolerations: [{key: dedicated, operator: Equal, value: security, effect: NoSchedule}]
nodeSelector: {kubernetes.io/os: linux}
priorityClassName: system-node-critical
extraEnv: [{name: GOGC, value: "50"}]
resources: {requests: {cpu: 50m, memory: 128Mi}, limits: {cpu: null, memory: 1Gi}}
image: {repository: registry.example.com/vigil, tag: "0.2.0", pullPolicy: Always}
hostPID: false
podLabels: {team: security, tier: "1"}
`)
	assert.Equal(t, "security", rel.ds.Spec.Template.Labels["team"])
	assert.Equal(t, "1", rel.ds.Spec.Template.Labels["tier"])
	c := rel.container(t)
	assert.Equal(t, []string{"BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_PTRACE"}, addedCaps(c),
		"SYS_RESOURCE and NET_ADMIN are optional")
	spec := rel.ds.Spec.Template.Spec
	assert.Equal(t, []corev1.Toleration{{Key: "dedicated", Operator: "Equal", Value: "security", Effect: "NoSchedule"}}, spec.Tolerations)
	assert.Equal(t, map[string]string{"kubernetes.io/os": "linux"}, spec.NodeSelector)
	assert.Equal(t, "system-node-critical", spec.PriorityClassName)
	assert.False(t, spec.HostPID)
	assert.Equal(t, "registry.example.com/vigil:0.2.0", c.Image)
	assert.Equal(t, corev1.PullAlways, c.ImagePullPolicy)
	assert.Equal(t, "1Gi", c.Resources.Limits.Memory().String())
	assert.True(t, c.Resources.Limits.Cpu().IsZero())
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name)
	}
	assert.Equal(t, []string{"K8S_NODE_NAME", "MY_POD_IP", "HOST_PROC", "GOMEMLIMIT", "GOGC"}, env)

	pinned := mustRenderHelm(t, "image: {digest: \"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}\n")
	assert.Equal(t, "ghcr.io/vigilsec/otelcol-vigil@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", pinned.container(t).Image)

	ns := mustRenderHelm(t, "namespace: {create: true, name: security}\n")
	nss := find[*corev1.Namespace](ns.objs)
	require.Len(t, nss, 1)
	assert.Equal(t, "security", nss[0].Name)
	assert.Equal(t, "privileged", nss[0].Labels["pod-security.kubernetes.io/enforce"])
	assert.Equal(t, "security", ns.ds.Namespace)

	assert.Contains(t, renderFails(t, "capabilities: {extra: [SYS_ADMIN]}\n"), "capabilities.extra: SYS_ADMIN is not needed")
	assert.Contains(t, renderFails(t, "capabilities: {extra: [CAP_SYSLOG]}\n"), `write "CAP_SYSLOG" without the CAP_ prefix`)
	withExtra := mustRenderHelm(t, "capabilities: {extra: [SYSLOG]}\n")
	assert.Contains(t, addedCaps(withExtra.container(t)), "SYSLOG")
}

func TestHelmClusterName(t *testing.T) {
	def := mustRenderHelm(t, "")
	for id := range def.config.Processors {
		assert.False(t, strings.HasPrefix(id, "resource"), "no resource processor without clusterName: %s", id)
	}
	rel := mustRenderHelm(t, "clusterName: prod-eu-1\n")
	r := rel.config.Processors["resource/cluster"]
	require.NotNil(t, r)
	assert.Equal(t, []any{map[string]any{"key": "k8s.cluster.name", "value": "prod-eu-1", "action": "upsert"}}, r["attributes"])
	procs := rel.config.Service.Pipelines["logs"].Processors
	assert.Equal(t, []string{"memory_limiter", "k8s_enrich", "resource/cluster"}, procs)

	ext := mustRenderHelm(t, valueSets["extras"])
	assert.Equal(t, []string{"memory_limiter", "k8s_enrich", "filter/noisy", "transform/event_name"},
		ext.config.Service.Pipelines["logs"].Processors, "extra processors after enrichment")
	assert.Equal(t, []string{"otlp_http/loki", "otlp_http/cloud"}, ext.config.Service.Pipelines["logs"].Exporters)
	assert.Contains(t, ext.config.Service.Extensions, "bearertokenauth/cloud")
}

func TestHelmBadValuesFail(t *testing.T) {
	for values, want := range map[string]string{
		"exporters: [splunk]\n":                       `exporters: unknown exporter preset "splunk" (presets: loki, otlp)`,
		"exporters: [kafka]\n":                        "the kafka preset is not available: the contrib kafka exporter is not in the Vigil distribution",
		"exporters: loki\n":                           "at '/exporters': got string, want array",
		"exporters: []\n":                             "exporters: no exporter",
		"extraProcessors: [{name: k8s_attributes}]\n": `extraProcessors[0]: "k8s_attributes": component type "k8s_attributes" is not in the Vigil distribution`,
		"extraExporters: [{name: kafka/siem}]\n":      `extraExporters[0]: "kafka/siem": component type "kafka" is not in the Vigil distribution`,
		"extraExporters: [{config: {}}]\n":            "at '/extraExporters/0': missing property 'name'",
		// values.schema.json: misspelled keys and wrong types, which Helm would otherwise ignore.
		"tolerationz: []\n":                                       "additional properties 'tolerationz' not allowed",
		"queue: {enabeld: false}\n":                               "at '/queue': additional properties 'enabeld' not allowed",
		"queue: {enabled: \"no\"}\n":                              "at '/queue/enabled': got string, want boolean",
		"capabilities: {sysResource: \"false\"}\n":                "at '/capabilities/sysResource': got string, want boolean",
		"loki: {port: 0}\n":                                       "at '/loki/port'",
		"image: {pullPolicy: Sometimes}\n":                        "at '/image/pullPolicy'",
		"extraExporters: [{name: otlp_http/loki}]\n":              `extraExporters: "otlp_http/loki" is already defined by a preset`,
		"extraProcessors: [{name: k8s_enrich}]\n":                 `extraProcessors: "k8s_enrich" is already defined by the chart`,
		"extraProcessors: [{name: filter/a}, {name: filter/a}]\n": `extraProcessors[1]: "filter/a" is listed twice`,
		"extraExtensions: [{name: basicauth}]\n":                  `component type "basicauth" is not in the Vigil distribution`,
		"podLabels: {app.kubernetes.io/name: x}\n":                `podLabels: "app.kubernetes.io/name" is set by the chart`,
		"serviceAccount: {create: false}\n":                       "serviceAccount.name is required when serviceAccount.create is false",
	} {
		msg := renderFails(t, values)
		assert.Contains(t, msg, want, "values %q", values)
	}
	// The failure names the offending template: the message reaches `helm install` as is.
	assert.Regexp(t, `execution error at \(vigil/templates/[a-z-]+\.yaml`, renderFails(t, "exporters: [splunk]\n"))
	// And exporting nowhere but an extra exporter is fine.
	rel := mustRenderHelm(t, "exporters: []\nextraExporters: [{name: debug, config: {verbosity: basic}}]\n")
	assert.Equal(t, []string{"debug"}, rel.config.Service.Pipelines["logs"].Exporters)
}

// One version everywhere: the chart's appVersion is the distribution's version (the image
// tag `make image` writes), the kustomize base's image tag, and the Makefile's image name is
// the chart's image repository.
func TestHelmVersionsInStep(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "builder-config.yaml"))
	require.NoError(t, err)
	var manifest struct {
		Dist struct {
			Version string `json:"version"`
		} `json:"dist"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &manifest))
	require.NotEmpty(t, manifest.Dist.Version)
	c := loadChart(t)
	assert.Equal(t, manifest.Dist.Version, c.Metadata.AppVersion, "Chart.yaml appVersion is builder-config.yaml's dist.version")

	kds := find[*appsv1.DaemonSet](render(t))
	require.Len(t, kds, 1)
	assert.Equal(t, "ghcr.io/vigilsec/otelcol-vigil:"+manifest.Dist.Version, kds[0].Spec.Template.Spec.Containers[0].Image)

	mk, err := os.ReadFile(filepath.Join("..", "Makefile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^IMAGE_REPO \?= (\S+)$`).FindSubmatch(mk)
	require.NotNil(t, m, "IMAGE_REPO in the Makefile")
	assert.Equal(t, c.Values["image"].(map[string]any)["repository"], string(m[1]))
}

// Every values example in the chart's README renders and passes the same checks.
func TestHelmReadmeExamples(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(raw, -1)
	require.GreaterOrEqual(t, len(blocks), 2)
	for i, b := range blocks {
		rel := mustRenderHelm(t, string(b[1]))
		checkCollectorConfig(t, rel)
		assert.NotEmpty(t, rel.config.Service.Pipelines["logs"].Exporters, "example %d", i)
	}
}

// The rendered configurations load in the real distribution: `otelcol-vigil validate` builds
// every component from its factory and runs its Validate (an unknown type or key fails).
// Needs the ocb-built binary (VIGIL_COLLECTOR_BIN, set by `make test`); CI must have it.
func TestHelmConfigsValidateWithCollector(t *testing.T) {
	bin := os.Getenv("VIGIL_COLLECTOR_BIN")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("VIGIL_COLLECTOR_BIN is not set (make build; make test sets it)")
		}
		t.Skip("VIGIL_COLLECTOR_BIN not set: the rendered configs are not loaded by the collector")
	}
	dir := t.TempDir()
	for _, name := range slices.Sorted(maps.Keys(valueSets)) {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name+".yaml")
			require.NoError(t, os.WriteFile(file, []byte(mustRenderHelm(t, valueSets[name]).raw), 0o600))
			cmd := exec.Command(bin, "validate", "--config="+file)
			cmd.Env = append(os.Environ(), "MY_POD_IP=127.0.0.1", "K8S_NODE_NAME=node-a", "CLOUD_TOKEN=t")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s validate:\n%s", bin, out)
		})
	}
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	require.NoError(t, err)
	for i, b := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1) {
		file := filepath.Join(dir, fmt.Sprintf("readme-%d.yaml", i))
		require.NoError(t, os.WriteFile(file, []byte(mustRenderHelm(t, string(b[1])).raw), 0o600))
		cmd := exec.Command(bin, "validate", "--config="+file)
		cmd.Env = append(os.Environ(), "MY_POD_IP=127.0.0.1", "K8S_NODE_NAME=node-a", "GRAFANA_CLOUD_BASIC=dTpw")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "README example %d:\n%s", i, out)
	}
	// And the check can fail: a component the distribution lacks is refused.
	bad := filepath.Join(dir, "bad.yaml")
	cfg := strings.Replace(mustRenderHelm(t, "").raw, "otlp_http/loki", "kafka/loki", -1)
	require.NoError(t, os.WriteFile(bad, []byte(cfg), 0o600))
	out, err := exec.Command(bin, "validate", "--config="+bad).CombinedOutput()
	require.Error(t, err, "kafka is not in the distribution:\n%s", out)
	assert.Contains(t, string(out), "kafka")
}

// `helm lint` (the SDK's linter: Chart.yaml, values, every template rendered and parsed as
// Kubernetes YAML) reports nothing above INFO, with the defaults and a non-default set.
func TestHelmLint(t *testing.T) {
	for _, name := range []string{"defaults", "otlp", "extras"} {
		vals, err := chartutil.ReadValues([]byte(valueSets[name]))
		require.NoError(t, err)
		linter := lint.All(chartDir, vals.AsMap(), "vigil", false)
		for _, m := range linter.Messages {
			assert.LessOrEqual(t, m.Severity, support.InfoSev, "%s: %s", name, m)
		}
	}
	// The linter does catch a broken value (an object name Kubernetes refuses).
	vals, err := chartutil.ReadValues([]byte("fullnameOverride: Bad_Name\n"))
	require.NoError(t, err)
	bad := lint.All(chartDir, vals.AsMap(), "vigil", false)
	assert.GreaterOrEqual(t, bad.HighestSeverity, support.WarningSev)
	assert.Contains(t, fmt.Sprint(bad.Messages), "Bad_Name")
}
