//go:build linux

package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The Helm chart's pipeline end to end on this machine: the chart rendered with the Helm SDK
// (OTLP/HTTP preset pointed at a VictoriaLogs on 127.0.0.1), its collector configuration and
// policies ConfigMap taken from the rendered objects, run by the ocb-built distribution with
// the real ebpf receiver and the default detection pack from rules/, a real exec that a pack
// rule detects, and the record queried back from VictoriaLogs with the resource attributes
// the chart promises: host.name and k8s.node.name the node (K8S_NODE_NAME, the downward API's
// spec.nodeName, set here by the test), service.name vigil-host, service.instance.id the node.
//
// What only works in a pod is replaced, and nothing else:
//   - the k8s_meta extension (in-cluster service account) and the k8s_enrich processor that
//     reads it are removed, and with them the receiver's k8s_metadata: there is no API server
//     (host processes get no Kubernetes attributes from them anyway);
//   - the persistent queue's directory (the hostPath mounted at /var/lib/vigil/queue) is a
//     test temporary directory;
//   - the policy paths (the image's /etc/vigil/rules and the policies ConfigMap mounted at
//     /etc/vigil/policies) are the repository's rules/ and a temporary directory holding the
//     rendered ConfigMap's files;
//   - the downward-API and container variables get test values: K8S_NODE_NAME a unique node
//     name, MY_POD_IP 127.0.0.1, HOST_PROC /proc (the pod mounts the host's /proc there),
//     GOMEMLIMIT the rendered memory limit.
func TestHelmPipelineToVictoriaLogs(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the ebpf receiver needs root")
		}
		t.Skip("the ebpf receiver needs root")
	}
	collectorBinary(t) // skipped (or failed in CI) before anything starts
	vl := startVictoriaLogs(t)
	healthPort, metricsPort := freeLoopbackPort(t), freeLoopbackPort(t)
	// The default pack skips descendants of the Go tool (vigil_build_tools), and this test
	// runs under `go test`: an inline policy file empties the list, the tuning the pack
	// documents for build machines. It reaches the receiver through the chart's ConfigMap.
	rel := mustRenderHelm(t, fmt.Sprintf(`
exporters: [otlp]
otlp:
  protocol: http
  endpoint: %s/insert/opentelemetry
ports: {health: %d, metrics: %d}
policies:
  inline:
    zz-build-machine.yaml: |
      - list: vigil_build_tools
        items: []
        override:
          items: replace
`, vl.base, healthPort, metricsPort))

	// The collector configuration as rendered, adapted (see above).
	var cfg map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(rel.raw), &cfg))
	section := func(name string) map[string]any { return cfg[name].(map[string]any) }
	service := section("service")
	pipeline := service["pipelines"].(map[string]any)["logs"].(map[string]any)
	require.Equal(t, []any{"memory_limiter", "k8s_enrich"}, pipeline["processors"], "the chart's processors")
	require.Equal(t, []any{"otlp_http/otlp"}, pipeline["exporters"])
	require.Equal(t, []any{"health_check", "k8s_meta", "file_storage/queue"}, service["extensions"])
	pipeline["processors"] = []any{"memory_limiter"}
	delete(section("processors"), "k8s_enrich")
	service["extensions"] = []any{"health_check", "file_storage/queue"}
	delete(section("extensions"), "k8s_meta")
	queue := section("extensions")["file_storage/queue"].(map[string]any)
	require.Equal(t, "/var/lib/vigil/queue", queue["directory"])
	queue["directory"] = t.TempDir()
	ebpf := section("receivers")["ebpf"].(map[string]any)
	require.Equal(t, []any{"/etc/vigil/rules", "/etc/vigil/policies"}, ebpf["policy_paths"])
	require.Equal(t, "k8s_meta", ebpf["k8s_metadata"])
	require.Equal(t, "${env:K8S_NODE_NAME}", ebpf["node_name"], "the node name comes from the downward API")
	delete(ebpf, "k8s_metadata")
	rules, err := filepath.Abs(filepath.Join("..", "rules"))
	require.NoError(t, err)
	policies := t.TempDir()
	cm := rel.cms["vigil-policies"]
	require.NotNil(t, cm, "the policies ConfigMap")
	require.Contains(t, cm.Data, "zz-build-machine.yaml")
	for name, data := range cm.Data {
		require.NoError(t, os.WriteFile(filepath.Join(policies, name), []byte(data), 0o600))
	}
	ebpf["policy_paths"] = []any{rules, policies}
	raw, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	cfgFile := filepath.Join(t.TempDir(), "collector.yaml")
	require.NoError(t, os.WriteFile(cfgFile, raw, 0o600))

	// The container's environment, each variable given its test value.
	c := rel.container(t)
	node := "vigil-e2e-" + randomHex(t, 4)
	values := map[string]string{
		"K8S_NODE_NAME": node,
		"MY_POD_IP":     "127.0.0.1",
		"HOST_PROC":     "/proc",
		"GOMEMLIMIT":    strconv.FormatInt(c.Resources.Limits.Memory().Value(), 10),
	}
	var env, names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
		v, ok := values[e.Name]
		require.True(t, ok, "the DaemonSet sets %s: give it a test value", e.Name)
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			assert.Equal(t, map[string]string{"K8S_NODE_NAME": "spec.nodeName", "MY_POD_IP": "status.podIP"}[e.Name],
				e.ValueFrom.FieldRef.FieldPath, "%s from the downward API", e.Name)
		}
		env = append(env, e.Name+"="+v)
	}
	sort.Strings(names)
	require.Equal(t, []string{"GOMEMLIMIT", "HOST_PROC", "K8S_NODE_NAME", "MY_POD_IP"}, names)
	assert.Equal(t, []corev1.VolumeMount{{Name: "queue", MountPath: "/var/lib/vigil/queue"}},
		slices.DeleteFunc(slices.Clone(c.VolumeMounts), func(m corev1.VolumeMount) bool { return m.Name != "queue" }),
		"the queue directory replaced above is the hostPath mount")

	out := startCollector(t, env, cfgFile)
	// Ready when the health check answers (the receiver has started its sensors by then).
	health := fmt.Sprintf("http://127.0.0.1:%d/", healthPort)
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(health)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		require.True(t, time.Now().Before(deadline), "the collector did not become healthy:\n%s", out.String())
		time.Sleep(200 * time.Millisecond)
	}

	// The trigger: a program run from /dev/shm ("Execution from /dev/shm", WARNING). The
	// look-alike: /bin/true run from /dev/shm as its working directory, with a unique
	// argument, which the rule does not select.
	exe := filepath.Join("/dev/shm", "vigil-e2e-"+randomHex(t, 6))
	trueBin, err := os.ReadFile("/bin/true")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(exe, trueBin, 0o700))
	t.Cleanup(func() { _ = os.Remove(exe) })
	token := "vigil-e2e-lookalike-" + randomHex(t, 6)
	runIn := func(dir string, argv ...string) {
		t.Helper()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = dir
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, "%v: %s", argv, b)
	}
	const rule = "Execution from /dev/shm"
	// Their exec records (each run also gives a process.exit record, with no rule).
	triggerQ := fmt.Sprintf(`_time:15m event_name:=process.exec process.executable.path:=%q`, exe)
	lookalikeQ := fmt.Sprintf(`_time:15m event_name:=process.exec process.command_line:=%q`, "/bin/true "+token)
	var hits, looks []map[string]string
	deadline = time.Now().Add(60 * time.Second)
	for {
		runIn("/", exe)
		runIn("/dev/shm", "/bin/true", token)
		time.Sleep(time.Second)
		hits, looks = vl.query(0, triggerQ), vl.query(0, lookalikeQ)
		if len(hits) > 0 && len(looks) > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline),
			"no record in VictoriaLogs after 60 s (trigger %d, look-alike %d)\ncollector:\n%s", len(hits), len(looks), out.String())
	}
	// Whatever was still in flight arrives too.
	time.Sleep(2 * time.Second)
	hits, looks = vl.query(0, triggerQ), vl.query(0, lookalikeQ)

	for _, r := range hits {
		assert.Equal(t, rule, r["security_rule.name"], "the trigger's exec matched the pack's rule, and no other: %v", r)
		assert.Equal(t, "process.exec", r["event_name"])
		assert.Equal(t, "monitor", r["vigil.policy.mode"], "the default pack reports only")
		assert.Equal(t, "false", r["vigil.policy.applied"])
		// The resource attributes the chart promises for a host process.
		assert.Equal(t, node, r["host.name"], "host.name is the node's name")
		assert.Equal(t, node, r["k8s.node.name"], "k8s.node.name from K8S_NODE_NAME")
		assert.Equal(t, "vigil-host", r["service.name"])
		assert.Equal(t, node, r["service.instance.id"])
		assert.Equal(t, "vigil", r["service.namespace"])
	}
	for _, r := range looks {
		assert.Empty(t, r["security_rule.name"], "the look-alike fired no rule: %v", r)
		assert.Equal(t, "process.exec", r["event_name"])
		assert.Equal(t, node, r["k8s.node.name"])
	}
	// And no record of this collector names a rule the trigger did not fire for the trigger's
	// programs (any other process of this machine may match the pack: those are not ours).
	rows := vl.query(0, fmt.Sprintf(`_time:15m k8s.node.name:=%q security_rule.name:* (process.executable.path:=%q or process.command_line:~%q) | stats by (security_rule.name) count() n`,
		node, exe, token))
	require.Len(t, rows, 1, "%v", rows)
	assert.Equal(t, rule, rows[0]["security_rule.name"])
	t.Logf("trigger records %d, look-alike records %d, node %s", len(hits), len(looks), node)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
