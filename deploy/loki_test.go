package deploy

import (
	stdjson "encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"sigs.k8s.io/yaml"

	"github.com/vigilsec/vigil/deploy/lokimodel"
)

// The dashboard's panels and the alert rules, checked against what Loki would store for
// real exported records (lokimodel: Loki's documented OTLP mapping and LogQL semantics).

// panelQueries returns the dashboard's queries by panel title.
func panelQueries(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("grafana", "vigil-dashboard.json"))
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, stdjson.Unmarshal(raw, &dash))
	out := map[string]string{}
	for _, p := range dash.Panels {
		require.Len(t, p.Targets, 1, p.Title)
		require.NotContains(t, out, p.Title, "panel titles are unique")
		out[p.Title] = p.Targets[0].Expr
	}
	return out
}

// alertQueries returns the alert rules' expressions by alert name.
func alertQueries(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("loki", "rules.yaml"))
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
				Expr  string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	out := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	return out
}

// grafana substitutes the dashboard's variables as Grafana would for an instant query
// over the dashboard's range.
func grafana(expr, rangeDur, namespace, rule string) string {
	return strings.NewReplacer("$__range", rangeDur, "$__auto", rangeDur,
		"$namespace", namespace, "$rule", rule).Replace(expr)
}

// Every shipped query is in the subset the model evaluates: a query it cannot parse
// fails here, and the model has to be extended before the query ships.
func TestLokiQueriesParse(t *testing.T) {
	for title, expr := range panelQueries(t) {
		_, err := lokimodel.Parse(grafana(expr, "1h", ".*", ".+"))
		assert.NoError(t, err, "panel %q", title)
		assert.Contains(t, expr, `{service_namespace="vigil"`, "panel %q selects Vigil's streams only", title)
		assert.NotContains(t, expr, `=~".+"}`, "panel %q", title)
	}
	alerts := alertQueries(t)
	require.Len(t, alerts, 6)
	for name, expr := range alerts {
		_, err := lokimodel.Parse(expr)
		assert.NoError(t, err, "alert %s", name)
		assert.Contains(t, expr, `{service_namespace="vigil"`, "alert %s selects Vigil's streams only", name)
	}
	// The parser is not permissive: what it does not know is an error.
	for _, bad := range []string{
		`sum(count_over_time({service_namespace="vigil"} |= "deny" [5m]))`,
		`sum(count_over_time({service_namespace="vigil"} | json [5m]))`,
		`max(count_over_time({service_namespace="vigil"} [5m]))`,
		`count_over_time({k8s_namespace_name=~".*"} [5m])`,
		`sum(count_over_time({service_namespace="vigil"} [5m])) < 3`,
		`sum(count_over_time({service_namespace="vigil"} [5m])) or vector(0)`,
		`sum(bytes_over_time({service_namespace="vigil"} [5m]))`,
	} {
		_, err := lokimodel.Parse(bad)
		assert.Error(t, err, bad)
	}
}

var evalAt = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// withRule re-labels a record as the given policy rule matched it (the shipped
// sensitive-files policy: monitor mode, post action).
func withRule(logs plog.Logs, containerID, event, rule, policy string) {
	for i := 0; i < logs.ResourceLogs().Len(); i++ {
		rl := logs.ResourceLogs().At(i)
		if v, _ := rl.Resource().Attributes().Get("service.namespace"); v.Str() != "vigil" {
			continue
		}
		if v, _ := rl.Resource().Attributes().Get("container.id"); containerID != "" && v.Str() != containerID {
			continue
		}
		if _, ok := rl.Resource().Attributes().Get("container.id"); containerID == "" && ok {
			continue
		}
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				a := lrs.At(k).Attributes()
				if lrs.At(k).EventName() != event {
					continue
				}
				a.PutStr("security_rule.name", rule)
				a.PutStr("security_rule.ruleset.name", policy)
				a.PutStr("vigil.policy.action", "post")
				a.PutStr("vigil.policy.mode", "monitor")
				a.PutBool("vigil.policy.applied", false)
			}
		}
	}
}

// mixedCluster: two nodes, a pod on each, every kind of record in the last minute.
func mixedCluster(t *testing.T) plog.Logs { return mixedClusterAt(t, evalAt.Add(-time.Minute)) }

// mixedClusterAt is mixedCluster with every record at at.
func mixedClusterAt(t *testing.T, at time.Time) plog.Logs {
	f := newFixture(t)
	// node-a, host processes.
	f.host("node-a", "process_exec_long", at, 3)
	f.host("node-a", "process_fork", at, 2)
	f.host("node-a", "process_exec_match", at, 1) // r2: kill, enforce, applied
	f.host("node-a", "exec_attempt", at, 1)       // r3: deny, monitor, not applied
	f.host("node-a", "network_listen", at, 1)     // r4: kill, enforce, NOT applied
	f.host("node-a", "file_unlink", at, 1)        // r3: deny, monitor, not applied
	f.host("node-a", "bpf_load", at, 1)           // r1: deny, enforce, applied (host)
	// node-b, host processes.
	f.host("node-b", "process_exec_long", at, 2)
	f.host("node-b", "file_write", at, 1) // relabelled below: shadow, but a write
	// web on node-a.
	f.inPod(web, "process_exec", at, 2)
	f.inPod(web, "file_open", at, 1)          // r1: deny, enforce, applied
	f.inPod(web, "namespace_change", at, 1)   // r7: count (applied, not a deny)
	f.inPod(web, "kernel_module_load", at, 1) // r1: deny, enforce, applied
	// api on node-b.
	f.inPod(api, "process_exec", at, 1)
	f.inPod(api, "file_open", at, 1)        // relabelled below: shadow open
	f.inPod(api, "bpf_load_syscall", at, 1) // r5: post, monitor
	// Another application in the tenant, in web's namespace, with Vigil-like records.
	f.foreign(at, 4)
	withRule(f.logs, api.containerID, "file.open", "shadow", "sensitive-files")
	withRule(f.logs, "", "file.write", "shadow", "sensitive-files")
	return f.logs
}

// copyEventName is the Loki 3.7 example's transform (set(log.attributes["event_name"],
// log.event_name)); components.TestLoki37EventNameTransform runs the real processor on
// the example file and checks it does exactly this.
func copyEventName(logs plog.Logs) plog.Logs {
	out := plog.NewLogs()
	logs.CopyTo(out)
	for i := 0; i < out.ResourceLogs().Len(); i++ {
		sls := out.ResourceLogs().At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if n := lrs.At(k).EventName(); n != "" {
					lrs.At(k).Attributes().PutStr("event_name", n)
				}
			}
		}
	}
	return out
}

// vector renders a result as "label=value,...: count" lines over the named labels.
func vector(r lokimodel.Result, names ...string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range r.Vector {
		var parts []string
		for _, n := range names {
			if v := s.Labels[n]; v != "" {
				parts = append(parts, n+"="+v)
			}
		}
		out[strings.Join(parts, ",")] = s.Value
	}
	return out
}

func eval(t *testing.T, expr string, entries []lokimodel.Entry, at time.Time) lokimodel.Result {
	t.Helper()
	r, err := lokimodel.Eval(expr, entries, at, time.Hour)
	require.NoError(t, err, expr)
	return r
}

type lokiSetup struct {
	name      string
	ingester  lokimodel.Ingester
	transform bool
	// eventName: the setup stores event_name (3.8, or 3.7 with the transform).
	eventName bool
}

func lokiSetups(t *testing.T) []lokiSetup {
	raw, err := os.ReadFile(filepath.Join("loki", "otlp-config.yaml"))
	require.NoError(t, err)
	cfg, err := lokimodel.ParseLimitsConfig(raw)
	require.NoError(t, err)
	v37, v38 := lokimodel.Version{Major: 3, Minor: 7, Patch: 8}, lokimodel.Version{Major: 3, Minor: 8, Patch: 0}
	return []lokiSetup{
		{"3.8.0", lokimodel.Ingester{Version: v38}, false, true},
		{"3.8.0+otlp-config", lokimodel.Ingester{Version: v38, Config: cfg}, false, true},
		{"3.8.0+transform", lokimodel.Ingester{Version: v38}, true, true},
		{"3.7.8", lokimodel.Ingester{Version: v37}, false, false},
		{"3.7.8+transform", lokimodel.Ingester{Version: v37}, true, true},
		{"3.7.8+transform+otlp-config", lokimodel.Ingester{Version: v37, Config: cfg}, true, true},
	}
}

func ingest(t *testing.T, s lokiSetup, logs plog.Logs) []lokimodel.Entry {
	t.Helper()
	if s.transform {
		logs = copyEventName(logs)
	}
	entries, err := s.ingester.Ingest(logs)
	require.NoError(t, err, s.name)
	require.Len(t, entries, logs.LogRecordCount())
	return entries
}

// Each panel shows what its title says, on every supported Loki setup; on 3.7 without
// the transform the event_name panels are empty (the problem the transform solves).
func TestDashboardPanelsSelect(t *testing.T) {
	panels := panelQueries(t)
	mixed := mixedCluster(t)
	for _, s := range lokiSetups(t) {
		t.Run(s.name, func(t *testing.T) {
			entries := ingest(t, s, mixed)
			q := func(title, namespace, rule string) lokimodel.Result {
				t.Helper()
				expr, ok := panels[title]
				require.True(t, ok, "panel %q", title)
				return eval(t, grafana(expr, "1h", namespace, rule), entries, evalAt)
			}
			total := func(title, namespace string) float64 {
				t.Helper()
				v := vector(q(title, namespace, ".+"))
				require.LessOrEqual(t, len(v), 1, title)
				return v[""]
			}
			// Every policy match (11), no plain process event.
			assert.Equal(t, 11.0, total("Security events (range)", ".*"))
			assert.Equal(t, 3.0, total("Security events (range)", "shop"), "the namespace variable scopes it")
			// Applied enforcement only: r2 kill and r1 bpf deny on node-a's host, r1 file and
			// module denies in web. Not the monitor-mode denies (exec_attempt, unlink), not the
			// enforce-mode kill that was not applied (listen), not the count action.
			assert.Equal(t, 4.0, total("Denied / killed (enforced, range)", ".*"))
			assert.Equal(t, 3.0, total("Would deny / kill (not applied)", ".*"))
			if !s.eventName {
				assert.Empty(t, q("Namespaces with events", ".*", ".+").Vector, "3.7 drops event_name: empty")
				assert.Empty(t, q("Process executions (range)", ".*", ".+").Vector)
				assert.Empty(t, q("Events by event_name", ".*", ".+").Vector)
			} else {
				// Pods' namespaces, not the host (no namespace).
				assert.Equal(t, 2.0, total("Namespaces with events", ".*"))
				assert.Equal(t, 1.0, total("Namespaces with events", "payments"))
				// Executions seen by the process sensor (host 3+2, web 2, api 1), not the
				// policy matches on exec (exec_match, exec_attempt).
				assert.Equal(t, 8.0, total("Process executions (range)", ".*"))
				assert.Equal(t, 2.0, total("Process executions (range)", "shop"))
				assert.Equal(t, map[string]float64{
					"event_name=process.exec": 10, "event_name=process.fork": 2, "event_name=network.listen": 1,
					"event_name=file.unlink": 1, "event_name=bpf.load": 2, "event_name=file.write": 1,
					"event_name=file.open": 2, "event_name=namespace.change": 1, "event_name=kernel.module_load": 1,
				}, vector(q("Events by event_name", ".*", ".+"), "event_name"))
			}
			assert.Equal(t, map[string]float64{
				"security_rule_name=r1": 3, "security_rule_name=r2": 1, "security_rule_name=r3": 2,
				"security_rule_name=r4": 1, "security_rule_name=r5": 1, "security_rule_name=r7": 1,
				"security_rule_name=shadow": 2,
			}, vector(q("Policy matches by security_rule.name", ".*", ".+"), "security_rule_name"))
			assert.Equal(t, map[string]float64{"k8s_namespace_name=shop": 3, "k8s_namespace_name=payments": 2},
				vector(q("Security events by k8s.namespace.name", ".*", ".+"), "k8s_namespace_name"))
			assert.Equal(t, map[string]float64{
				"k8s_namespace_name=shop,k8s_deployment_name=web":     3,
				"k8s_namespace_name=payments,k8s_deployment_name=api": 2,
			}, vector(q("Security events by workload", ".*", ".+"), "k8s_namespace_name", "k8s_deployment_name", "k8s_daemonset_name", "k8s_statefulset_name"))
			assert.Len(t, q("Security events", ".*", ".+").Entries, 11)
			shadow := q("Security events", ".*", "shadow").Entries
			require.Len(t, shadow, 2)
			for _, e := range shadow {
				assert.Equal(t, "shadow", e.Metadata["security_rule_name"])
			}
			assert.Len(t, q("Security events", "payments", ".+").Entries, 2)
		})
	}
}

func alertsFiring(t *testing.T, expr string, entries []lokimodel.Entry, at time.Time, names ...string) map[string]float64 {
	t.Helper()
	return vector(eval(t, expr, entries, at), names...)
}

// Each alert fires on its trigger, with the labels its annotations use, and not on the
// look-alike records next to it.
func TestAlertRulesSelect(t *testing.T) {
	alerts := alertQueries(t)
	mixed := mixedCluster(t)
	for _, s := range lokiSetups(t) {
		t.Run(s.name, func(t *testing.T) {
			entries := ingest(t, s, mixed)
			fire := func(alert string, names ...string) map[string]float64 {
				t.Helper()
				return alertsFiring(t, alerts[alert], entries, evalAt, names...)
			}
			assert.Equal(t, map[string]float64{
				"k8s_node_name=node-a,security_rule_name=r2,vigil_policy_action=kill":                                                      1,
				"k8s_node_name=node-a,security_rule_name=r1,vigil_policy_action=deny":                                                      1,
				"k8s_namespace_name=shop,k8s_pod_name=web-7d4b9-x2k1p,k8s_node_name=node-a,security_rule_name=r1,vigil_policy_action=deny": 2,
			}, fire("VigilPolicyDenied", "k8s_namespace_name", "k8s_pod_name", "k8s_node_name", "security_rule_name", "vigil_policy_action"),
				"applied denies and kills only: no monitor-mode deny, no unapplied kill, no count")
			assert.Equal(t, map[string]float64{
				"k8s_node_name=node-a,security_rule_name=r3,vigil_policy_action=deny,vigil_policy_mode=monitor": 2,
				"k8s_node_name=node-a,security_rule_name=r4,vigil_policy_action=kill,vigil_policy_mode=enforce": 1,
			}, fire("VigilPolicyWouldDeny", "k8s_node_name", "security_rule_name", "vigil_policy_action", "vigil_policy_mode"))
			if !s.eventName {
				assert.Empty(t, fire("VigilContainerEscapeAttempt"), "3.7 without the transform: never fires")
				assert.Empty(t, fire("VigilSensitiveFileAccess"), "3.7 without the transform: never fires")
			} else {
				assert.Equal(t, map[string]float64{
					"k8s_namespace_name=shop,k8s_pod_name=web-7d4b9-x2k1p,event_name=namespace.change":   1,
					"k8s_namespace_name=shop,k8s_pod_name=web-7d4b9-x2k1p,event_name=kernel.module_load": 1,
					"k8s_namespace_name=payments,k8s_pod_name=api-5c8f7-qq9zt,event_name=bpf.load":       1,
				}, fire("VigilContainerEscapeAttempt", "k8s_namespace_name", "k8s_pod_name", "event_name"),
					"containers only: node-a's host bpf.load is not an escape attempt")
				assert.Equal(t, map[string]float64{
					"k8s_namespace_name=payments,k8s_pod_name=api-5c8f7-qq9zt,k8s_node_name=node-b,security_rule_name=shadow": 1,
				}, fire("VigilSensitiveFileAccess", "k8s_namespace_name", "k8s_pod_name", "k8s_node_name", "security_rule_name"),
					"the shadow open only: not node-b's write under the same rule, not web's open under r1")
			}
			assert.Empty(t, fire("VigilEventStormByRule"), "11 matches in 5 minutes are no storm")
			assert.Empty(t, fire("VigilNodeSilent"), "every node reported in the last 15 minutes")
		})
	}
}

// A storm of one rule fires for that rule; a busy rule below 50/s does not.
func TestAlertEventStorm(t *testing.T) {
	f := newFixture(t)
	f.host("node-a", "file_write", evalAt.Add(-2*time.Minute), 16000)  // r5: 53.3/s over 5m
	f.host("node-b", "file_chmod", evalAt.Add(-2*time.Minute), 14000)  // r6: 46.7/s
	f.host("node-a", "file_write", evalAt.Add(-10*time.Minute), 20000) // outside the 5m range
	for _, s := range lokiSetups(t) {
		entries := ingest(t, s, f.logs)
		assert.Equal(t, map[string]float64{"security_rule_name=r5": 16000.0 / 300},
			alertsFiring(t, alertQueries(t)["VigilEventStormByRule"], entries, evalAt, "security_rule_name"), s.name)
	}
}

// VigilNodeSilent fires for the one node that stopped reporting, not for the others,
// and not for a node whose containers still report but whose host stream is not Vigil's.
func TestAlertNodeSilentPerNode(t *testing.T) {
	f := newFixture(t)
	f.host("node-a", "process_exec_long", evalAt.Add(-40*time.Minute), 5) // then silent
	f.host("node-b", "process_exec_long", evalAt.Add(-40*time.Minute), 5)
	f.host("node-b", "process_exec_long", evalAt.Add(-2*time.Minute), 5)
	f.host("node-c", "process_exec_long", evalAt.Add(-20*time.Minute), 1)
	f.host("node-c", "process_exec_long", evalAt.Add(-14*time.Minute), 1) // inside the last 15m
	f.inPod(web, "process_exec", evalAt.Add(-time.Minute), 3)             // node-a's pods: not node-a's agent
	f.host("node-d", "process_fork", evalAt.Add(-40*time.Minute), 5)      // forks only: no exec baseline
	expr := alertQueries(t)["VigilNodeSilent"]
	for _, s := range lokiSetups(t) {
		entries := ingest(t, s, f.logs)
		got := alertsFiring(t, expr, entries, evalAt, "service_instance_id")
		if !s.eventName {
			assert.Empty(t, got, "%s: without event_name the alert can never fire", s.name)
			continue
		}
		assert.Equal(t, map[string]float64{"service_instance_id=node-a": 5}, got, s.name)
		// 30 minutes earlier node-a had just reported: nothing fires.
		assert.Empty(t, alertsFiring(t, expr, entries, evalAt.Add(-30*time.Minute), "service_instance_id"), s.name)
		// Long after everything stopped, the baseline is gone too: resolved.
		assert.Empty(t, alertsFiring(t, expr, entries, evalAt.Add(2*time.Hour), "service_instance_id"), s.name)
	}
}

// The otlp_config snippet: the node is an index label, the pod is not (structured
// metadata), and the default labels the queries use stay labels.
func TestLokiOTLPConfigSnippet(t *testing.T) {
	setups := lokiSetups(t)
	logs := mixedCluster(t)
	var withCfg, def []lokimodel.Entry
	for _, s := range setups {
		switch s.name {
		case "3.8.0+otlp-config":
			withCfg = ingest(t, s, logs)
		case "3.8.0":
			def = ingest(t, s, logs)
		}
	}
	require.NotEmpty(t, withCfg)
	pods, foreign := 0, 0
	for i, e := range withCfg {
		if e.Labels["service_name"] == "waf" {
			foreign++
			continue
		}
		assert.Equal(t, "vigil", e.Labels["service_namespace"])
		assert.NotEmpty(t, e.Labels["k8s_node_name"], "node indexed")
		assert.NotContains(t, e.Labels, "k8s_pod_name", "pod not indexed")
		assert.NotContains(t, e.Labels, "host_name")
		assert.NotContains(t, e.Labels, "container_id")
		if e.Metadata["container_id"] != "" {
			pods++
			assert.NotEmpty(t, e.Metadata["k8s_pod_name"], "pod name kept as structured metadata")
			assert.NotEmpty(t, e.Labels["k8s_namespace_name"])
			assert.NotEmpty(t, e.Labels["k8s_deployment_name"])
		}
		// The default mapping: pod indexed, node not.
		assert.NotContains(t, def[i].Labels, "k8s_node_name")
		assert.Equal(t, e.Metadata["k8s_pod_name"], def[i].Labels["k8s_pod_name"])
		assert.Equal(t, e.Labels["k8s_node_name"], def[i].Metadata["k8s_node_name"])
	}
	assert.Positive(t, pods)
	assert.Positive(t, foreign)
	streams := func(es []lokimodel.Entry) []string {
		set := map[string]bool{}
		for _, e := range es {
			if e.Labels["service_namespace"] != "vigil" {
				continue
			}
			set[fmt.Sprint(e.Labels)] = true
		}
		var out []string
		for k := range set {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	// Two hosts and two pods: four streams either way (a pod's stream is now keyed by
	// its node, namespace and workload).
	assert.Len(t, streams(withCfg), 4)
	assert.Len(t, streams(def), 4)
}

// The queries shipped before this fix, on the same records: the defects the fixed queries
// above do not have (kept here so the difference stays demonstrated).
func TestPreviousQueriesWereWrong(t *testing.T) {
	const (
		oldDenied = `sum(count_over_time({service_name=~".+"} | vigil_policy_action=~"deny|kill" [1h]))`
		oldEvents = `sum(count_over_time({service_name=~".+"} | security_rule_name=~".+" [1h]))`
		oldSilent = `absent_over_time({service_name=~".+"} | event_name="process.exec" [15m])`
	)
	v38 := lokimodel.Ingester{Version: lokimodel.Version{Major: 3, Minor: 8, Patch: 0}}
	entries, err := v38.Ingest(mixedCluster(t))
	require.NoError(t, err)
	// 4 applied + 3 not applied + the other application's 4 records.
	assert.Equal(t, map[string]float64{"": 11}, vector(eval(t, oldDenied, entries, evalAt)))
	assert.Equal(t, map[string]float64{"": 15}, vector(eval(t, oldEvents, entries, evalAt)), "the other application's records counted")

	// One node silent, the other reporting: the old rule cannot see it.
	f := newFixture(t)
	f.host("node-a", "process_exec_long", evalAt.Add(-40*time.Minute), 5)
	f.host("node-b", "process_exec_long", evalAt.Add(-2*time.Minute), 5)
	entries, err = v38.Ingest(f.logs)
	require.NoError(t, err)
	assert.Empty(t, eval(t, oldSilent, entries, evalAt).Vector, "node-a's silence is invisible")
	// On 3.7 (no event_name) the old rule always fires, whatever the nodes do.
	entries, err = lokimodel.Ingester{Version: lokimodel.Version{Major: 3, Minor: 7, Patch: 8}}.Ingest(f.logs)
	require.NoError(t, err)
	assert.Len(t, eval(t, oldSilent, entries, evalAt).Vector, 1)
}
