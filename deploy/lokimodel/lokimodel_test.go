package lokimodel

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

func sample() plog.Logs {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr("service.namespace", "vigil")
	ra.PutStr("k8s.pod.name", "web-1")
	ra.PutStr("k8s.node.name", "node-a")
	ra.PutStr("container.id", "abc")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("vigil/ebpf")
	sl.Scope().Attributes().PutStr("scope.attr", "s")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetEventName("file.open")
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(100, 0)))
	lr.SetSeverityText("WARN")
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.Body().SetStr("denied file.open /etc/shadow")
	a := lr.Attributes()
	a.PutStr("security_rule.name", "shadow")
	a.PutBool("vigil.policy.applied", true)
	a.PutInt("process.pid", 42)
	a.PutEmptySlice("process.command_args").AppendEmpty().SetStr("cat")
	a.PutEmptyMap("vigil.m").PutStr("k.x", "v")
	return logs
}

func TestDefaultMapping(t *testing.T) {
	for _, tc := range []struct {
		version   Version
		eventName bool
	}{{Version{3, 7, 8}, false}, {Version{3, 8, 0}, true}, {Version{4, 0, 0}, true}} {
		es, err := Ingester{Version: tc.version}.Ingest(sample())
		require.NoError(t, err)
		require.Len(t, es, 1)
		e := es[0]
		assert.Equal(t, map[string]string{"service_namespace": "vigil", "service_name": UnknownService, "k8s_pod_name": "web-1"}, e.Labels, tc.version)
		want := map[string]string{
			"k8s_node_name": "node-a", "container_id": "abc", "scope_name": "vigil/ebpf", "scope_attr": "s",
			"severity_text": "WARN", "severity_number": "13", "security_rule_name": "shadow",
			"vigil_policy_applied": "true", "process_pid": "42", "process_command_args": `["cat"]`, "vigil_m_k_x": "v",
		}
		if tc.eventName {
			want["event_name"] = "file.open"
		}
		assert.Equal(t, want, e.Metadata, tc.version)
		assert.Equal(t, "denied file.open /etc/shadow", e.Line)
		assert.Equal(t, time.Unix(100, 0).UTC(), e.Time.UTC())
	}
	// service.name present: it is the label.
	logs := sample()
	logs.ResourceLogs().At(0).Resource().Attributes().PutStr("service.name", "vigil-host")
	es, err := Ingester{Version: Version{3, 8, 0}}.Ingest(logs)
	require.NoError(t, err)
	assert.Equal(t, "vigil-host", es[0].Labels["service_name"])
	// The input is not modified (no service.name added to it).
	_, ok := sample().ResourceLogs().At(0).Resource().Attributes().Get("service.name")
	assert.False(t, ok)
}

func TestLabelName(t *testing.T) {
	for in, want := range map[string]string{
		"k8s.pod.name": "k8s_pod_name", "a-b/c": "a_b_c", "1x": "key_1x", "_x": "key_x", "__x": "__x", "ok_1": "ok_1",
	} {
		assert.Equal(t, want, LabelName(in), in)
	}
}

func TestOTLPConfig(t *testing.T) {
	// Without ignore_defaults the default index_label rule comes first: listing a
	// default label as structured metadata does not demote it.
	cfg, err := ParseLimitsConfig([]byte(`
limits_config:
  otlp_config:
    resource_attributes:
      attributes_config:
        - action: index_label
          attributes: [k8s.node.name]
        - action: structured_metadata
          attributes: [k8s.pod.name]
        - action: drop
          regex: container\..*
    log_attributes:
      - action: drop
        attributes: [process.pid]
`))
	require.NoError(t, err)
	es, err := Ingester{Version: Version{3, 8, 0}, Config: cfg}.Ingest(sample())
	require.NoError(t, err)
	assert.Equal(t, "web-1", es[0].Labels["k8s_pod_name"], "still indexed")
	assert.Equal(t, "node-a", es[0].Labels["k8s_node_name"])
	assert.NotContains(t, es[0].Metadata, "container_id", "dropped")
	assert.NotContains(t, es[0].Metadata, "process_pid", "dropped")

	cfg, err = ParseLimitsConfig([]byte(`
limits_config:
  otlp_config:
    resource_attributes:
      ignore_defaults: true
      attributes_config:
        - action: index_label
          attributes: [service.namespace]
`))
	require.NoError(t, err)
	es, err = Ingester{Version: Version{3, 8, 0}, Config: cfg}.Ingest(sample())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"service_namespace": "vigil"}, es[0].Labels)
	assert.Equal(t, "web-1", es[0].Metadata["k8s_pod_name"])
	assert.Equal(t, UnknownService, es[0].Metadata["service_name"])

	for _, bad := range []string{
		"limits_config: {otlp_config: {log_attributes: [{action: index_label, attributes: [a]}]}}",
		"limits_config: {otlp_config: {scope_attributes: [{action: keep, attributes: [a]}]}}",
		"limits_config: {otlp_config: {log_attributes: [{action: drop}]}}",
		"limits_config: {otlp_config: {log_attributes: [{action: drop, attributes: [a], regex: b}]}}",
		"limits_config: {otlp_config: {resource_attributes: {ignore_default: true}}}",
		"limits_config: {}",
	} {
		_, err := ParseLimitsConfig([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func TestDuplicateNames(t *testing.T) {
	logs := sample()
	lr := logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	lr.Attributes().PutStr("event_name", "file.open")
	_, err := Ingester{Version: Version{3, 8, 0}}.Ingest(logs)
	require.NoError(t, err, "the same value twice is one value")
	lr.Attributes().PutStr("event_name", "other")
	_, err = Ingester{Version: Version{3, 8, 0}}.Ingest(logs)
	require.ErrorContains(t, err, `two values for label "event_name"`)
	lr.Attributes().PutStr("security_rule_name", "x")
	_, err = Ingester{Version: Version{3, 7, 0}}.Ingest(logs)
	require.ErrorContains(t, err, "security_rule_name")
}

func TestEval(t *testing.T) {
	at := time.Unix(10000, 0)
	mk := func(ago time.Duration, node, action string) Entry {
		return Entry{Time: at.Add(-ago), Labels: map[string]string{"service_namespace": "vigil", "node": node},
			Metadata: map[string]string{"action": action}}
	}
	es := []Entry{mk(time.Minute, "a", "deny"), mk(2*time.Minute, "a", "post"), mk(3*time.Minute, "b", "deny"),
		mk(20*time.Minute, "c", "deny"), mk(0, "a", "kill"), mk(-time.Minute, "a", "deny")}
	v := func(q string) map[string]float64 {
		r, err := Eval(q, es, at, time.Hour)
		require.NoError(t, err, q)
		out := map[string]float64{}
		for _, s := range r.Vector {
			out[key(s.Labels)] = s.Value
		}
		return out
	}
	assert.Equal(t, map[string]float64{"": 4}, v(`sum(count_over_time({service_namespace="vigil"} [5m]))`), "(at-5m, at]: not the future one")
	assert.Equal(t, map[string]float64{`node="a",`: 2, `node="b",`: 1}, v(`sum by (node) (count_over_time({service_namespace="vigil"} | action=~"deny|kill" [5m]))`))
	assert.Equal(t, map[string]float64{`node="a",`: 1}, v(`sum by (node) (count_over_time({service_namespace="vigil"} | action="post" [5m])) > 0`))
	assert.Equal(t, map[string]float64{`node="a",`: 2}, v(`sum by (node) (count_over_time({service_namespace="vigil"} | action!="post" [5m])) > 1`))
	assert.Equal(t, map[string]float64{"": 2}, v(`count(sum by (node) (count_over_time({service_namespace="vigil", node!~"c"} [1h])))`))
	assert.Equal(t, map[string]float64{`node="c",`: 1}, v(`sum by (node) (count_over_time({service_namespace="vigil"} [10m] offset 15m)) unless sum by (node) (count_over_time({service_namespace="vigil"} [15m]))`))
	assert.Equal(t, map[string]float64{`node="a",`: 3}, v(`sum by (node) (count_over_time({service_namespace="vigil"} [5m])) and sum by (node) (count_over_time({service_namespace="vigil"} | action="kill" [5m]))`))
	assert.Equal(t, map[string]float64{`service_namespace="vigil",`: 1}, v(`absent_over_time({service_namespace="vigil"} | action="none" [5m])`))
	assert.Empty(t, v(`absent_over_time({service_namespace="vigil"} [5m])`))
	assert.Equal(t, map[string]float64{`node="b",`: 1.0 / 300}, v(`sum by (node) (rate({service_namespace="vigil", node="b"} [5m]))`))
	assert.Equal(t, map[string]float64{`action="deny",node="b",service_namespace="vigil",`: 1}, v(`count_over_time({node="b"} [5m])`), "stream labels and structured metadata")
	r, err := Eval(`{service_namespace="vigil"} | action="deny"`, es, at, 10*time.Minute)
	require.NoError(t, err)
	assert.Len(t, r.Entries, 2)
}
