package deploy

import (
	"bufio"
	"bytes"
	stdjson "encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigilsec/vigil/internal/testkit/victorialogs"
)

// The alert rules' intent, run for real: the fixture records go to VictoriaLogs (Apache-2.0)
// over OTLP/HTTP on 127.0.0.1, and each alert's LogsQL equivalent finds its trigger and not
// its look-alike. (Loki itself cannot be used: AGPL.) VictoriaLogs keeps OTLP attribute names
// as they are (dots included) and stores the LogRecord event_name as the field event_name.

type victoriaLogs struct {
	t    *testing.T
	base string
}

// startVictoriaLogs runs VictoriaLogs on a free loopback port with its data in a temporary
// directory, and stops it when the test ends.
func startVictoriaLogs(t *testing.T) *victoriaLogs {
	return &victoriaLogs{t: t, base: victorialogs.Run(t).URL()}
}

// push sends logs as an OTLP/HTTP protobuf export request to the tenant (AccountID).
// plog's ProtoMarshaler writes LogsData, which is the ExportLogsServiceRequest on the wire.
func (vl *victoriaLogs) push(tenant int, logs plog.Logs) {
	body, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
	require.NoError(vl.t, err)
	req, err := http.NewRequest(http.MethodPost, vl.base+"/insert/opentelemetry/v1/logs", bytes.NewReader(body))
	require.NoError(vl.t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("AccountID", strconv.Itoa(tenant))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(vl.t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	require.Equal(vl.t, http.StatusOK, resp.StatusCode, "%s", msg)
}

// query runs a LogsQL query in the tenant and returns its rows.
func (vl *victoriaLogs) query(tenant int, q string) []map[string]string {
	req, err := http.NewRequest(http.MethodPost, vl.base+"/select/logsql/query",
		strings.NewReader(url.Values{"query": {q}}.Encode()))
	require.NoError(vl.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("AccountID", strconv.Itoa(tenant))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(vl.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(vl.t, err)
	require.Equal(vl.t, http.StatusOK, resp.StatusCode, "%s: %s", q, raw)
	var rows []map[string]string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var row map[string]string
		require.NoError(vl.t, stdjson.Unmarshal(sc.Bytes(), &row), "%s", sc.Bytes())
		rows = append(rows, row)
	}
	require.NoError(vl.t, sc.Err())
	return rows
}

// waitCount waits until the tenant holds n records (ingestion is visible after a flush).
func (vl *victoriaLogs) waitCount(tenant, n int) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows := vl.query(tenant, `_time:3h | stats count() n`)
		got := 0
		if len(rows) == 1 {
			got, _ = strconv.Atoi(rows[0]["n"])
		}
		if got == n {
			return
		}
		require.True(vl.t, time.Now().Before(deadline), "tenant %d: %d of %d records visible", tenant, got, n)
		time.Sleep(200 * time.Millisecond)
	}
}

// groups renders stats rows as "field=value,...: count" over the named fields.
func groups(rows []map[string]string, count string, names ...string) map[string]float64 {
	out := map[string]float64{}
	for _, r := range rows {
		var parts []string
		for _, n := range names {
			if v := r[n]; v != "" {
				parts = append(parts, n+"="+v)
			}
		}
		v, _ := strconv.ParseFloat(r[count], 64)
		out[strings.Join(parts, ",")] = v
	}
	return out
}

// The LogsQL equivalents of the alert rules in loki/rules.yaml (same selection, same
// grouping, same threshold; VigilEventStormByRule's 50/s over 5 minutes is 15000 hits).
const vigilLogs = `service.namespace:=vigil`

var logsQLAlerts = map[string]string{
	"VigilPolicyDenied": `_time:5m ` + vigilLogs + ` vigil.policy.applied:=true vigil.policy.action:in(deny,kill)
		| stats by (k8s.namespace.name, k8s.pod.name, k8s.node.name, security_rule.name, vigil.policy.action) count() hits`,
	"VigilPolicyWouldDeny": `_time:5m ` + vigilLogs + ` -vigil.policy.applied:=true vigil.policy.action:in(deny,kill)
		| stats by (k8s.node.name, security_rule.name, vigil.policy.action, vigil.policy.mode) count() hits`,
	"VigilContainerEscapeAttempt": `_time:5m ` + vigilLogs + ` container.id:* event_name:in(namespace.change, kernel.module_load, bpf.load)
		| stats by (k8s.namespace.name, k8s.pod.name, event_name) count() hits`,
	"VigilSensitiveFileAccess": `_time:5m ` + vigilLogs + ` event_name:=file.open security_rule.name:in(shadow, ssh-keys)
		| stats by (k8s.namespace.name, k8s.pod.name, k8s.node.name, security_rule.name) count() hits`,
	"VigilEventStormByRule": `_time:5m ` + vigilLogs + ` security_rule.name:*
		| stats by (security_rule.name) count() hits | filter hits:>15000`,
	"VigilNodeSilent": `_time:75m ` + vigilLogs + ` service.name:=vigil-host event_name:=process.exec
		| stats by (service.instance.id) count() if (_time:15m) recent, count() hits | filter recent:=0`,
}

func TestAlertIntentsOnVictoriaLogs(t *testing.T) {
	require.Len(t, logsQLAlerts, len(alertQueries(t)), "one LogsQL equivalent per alert rule")
	for name := range alertQueries(t) {
		require.Contains(t, logsQLAlerts, name)
	}
	vl := startVictoriaLogs(t)
	now := time.Now()

	// Tenant 1: the mixed cluster, every record a minute old (as in the Loki model tests).
	mixed := mixedClusterAt(t, now.Add(-time.Minute))
	vl.push(1, mixed)
	// Tenant 2: a storm of one rule, a busy rule under the threshold.
	storm := newFixture(t)
	storm.host("node-a", "file_write", now.Add(-2*time.Minute), 16000)
	storm.host("node-b", "file_chmod", now.Add(-2*time.Minute), 14000)
	vl.push(2, storm.logs)
	// Tenant 3: node-a went silent 40 minutes ago, node-b and node-c still report.
	silent := newFixture(t)
	silent.host("node-a", "process_exec_long", now.Add(-40*time.Minute), 5)
	silent.host("node-b", "process_exec_long", now.Add(-40*time.Minute), 5)
	silent.host("node-b", "process_exec_long", now.Add(-2*time.Minute), 5)
	silent.host("node-c", "process_exec_long", now.Add(-14*time.Minute), 1)
	silent.inPod(web, "process_exec", now.Add(-time.Minute), 3)
	silent.host("node-d", "process_fork", now.Add(-40*time.Minute), 5)
	vl.push(3, silent.logs)
	vl.waitCount(1, mixed.LogRecordCount())
	vl.waitCount(2, storm.logs.LogRecordCount())
	vl.waitCount(3, silent.logs.LogRecordCount())

	run := func(tenant int, alert string, names ...string) map[string]float64 {
		t.Helper()
		return groups(vl.query(tenant, logsQLAlerts[alert]), "hits", names...)
	}
	assert.Equal(t, map[string]float64{
		"k8s.node.name=node-a,security_rule.name=r2,vigil.policy.action=kill":                                                      1,
		"k8s.node.name=node-a,security_rule.name=r1,vigil.policy.action=deny":                                                      1,
		"k8s.namespace.name=shop,k8s.pod.name=web-7d4b9-x2k1p,k8s.node.name=node-a,security_rule.name=r1,vigil.policy.action=deny": 2,
	}, run(1, "VigilPolicyDenied", "k8s.namespace.name", "k8s.pod.name", "k8s.node.name", "security_rule.name", "vigil.policy.action"))
	assert.Equal(t, map[string]float64{
		"k8s.node.name=node-a,security_rule.name=r3,vigil.policy.action=deny,vigil.policy.mode=monitor": 2,
		"k8s.node.name=node-a,security_rule.name=r4,vigil.policy.action=kill,vigil.policy.mode=enforce": 1,
	}, run(1, "VigilPolicyWouldDeny", "k8s.node.name", "security_rule.name", "vigil.policy.action", "vigil.policy.mode"))
	assert.Equal(t, map[string]float64{
		"k8s.namespace.name=shop,k8s.pod.name=web-7d4b9-x2k1p,event_name=namespace.change":   1,
		"k8s.namespace.name=shop,k8s.pod.name=web-7d4b9-x2k1p,event_name=kernel.module_load": 1,
		"k8s.namespace.name=payments,k8s.pod.name=api-5c8f7-qq9zt,event_name=bpf.load":       1,
	}, run(1, "VigilContainerEscapeAttempt", "k8s.namespace.name", "k8s.pod.name", "event_name"))
	assert.Equal(t, map[string]float64{
		"k8s.namespace.name=payments,k8s.pod.name=api-5c8f7-qq9zt,k8s.node.name=node-b,security_rule.name=shadow": 1,
	}, run(1, "VigilSensitiveFileAccess", "k8s.namespace.name", "k8s.pod.name", "k8s.node.name", "security_rule.name"))
	assert.Empty(t, run(1, "VigilEventStormByRule"))
	assert.Empty(t, run(1, "VigilNodeSilent"))

	assert.Equal(t, map[string]float64{"security_rule.name=r5": 16000}, run(2, "VigilEventStormByRule", "security_rule.name"))
	assert.Empty(t, run(2, "VigilNodeSilent"))
	assert.Empty(t, run(2, "VigilPolicyDenied"))

	assert.Equal(t, map[string]float64{"service.instance.id=node-a": 5}, run(3, "VigilNodeSilent", "service.instance.id"))
	assert.Empty(t, run(3, "VigilContainerEscapeAttempt"))

	// The tenants are apart: nothing of tenant 1 in tenant 4.
	assert.Empty(t, vl.query(4, `_time:3h *`))
	// The same records as the Loki model sees them: every record stored once, with its
	// event_name (VictoriaLogs, like Loki 3.8, keeps the field).
	rows := vl.query(1, `_time:3h event_name:* | stats count() n`)
	require.Len(t, rows, 1)
	assert.Equal(t, strconv.Itoa(mixed.LogRecordCount()), rows[0]["n"])
}
