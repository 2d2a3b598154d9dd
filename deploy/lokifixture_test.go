package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// goldenDir holds the receiver's golden OTLP files: the real record builder's output.
var goldenDir = filepath.Join("..", "receiver", "ebpfreceiver", "internal", "otlplogs", "testdata")

// golden reads one golden file.
func golden(t *testing.T, name string) plog.Logs {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(goldenDir, name+".json"))
	require.NoError(t, err)
	var u plog.JSONUnmarshaler
	logs, err := u.UnmarshalLogs(raw)
	require.NoError(t, err, name)
	require.Positive(t, logs.LogRecordCount(), name)
	return logs
}

// goldenRecord is the first record of a golden file and the resource it came with.
func goldenRecord(t *testing.T, name string) (pcommon.Resource, plog.ScopeLogs, plog.LogRecord) {
	t.Helper()
	logs := golden(t, name)
	rl := logs.ResourceLogs().At(0)
	sl := rl.ScopeLogs().At(0)
	return rl.Resource(), sl, sl.LogRecords().At(0)
}

// pod is a container as k8s_enrich describes it.
type pod struct {
	node, namespace, name, deployment, container string
	containerID                                  string
}

// fixture builds OTLP logs the way a cluster of Vigil agents exports them: host resources
// as the receiver writes them with node_name set, container resources as the receiver
// writes them plus what the k8s_enrich processor adds; records copied from golden files.
type fixture struct {
	t    *testing.T
	logs plog.Logs
	res  map[string]plog.ScopeLogs
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, logs: plog.NewLogs(), res: map[string]plog.ScopeLogs{}}
}

// scope returns the scope of the host resource of node (hostPod nil) or of a pod.
func (f *fixture) scope(node string, p *pod, from pcommon.Resource, fromScope plog.ScopeLogs) plog.ScopeLogs {
	key := "host/" + node
	if p != nil {
		key = "pod/" + p.containerID
	}
	if sl, ok := f.res[key]; ok {
		return sl
	}
	rl := f.logs.ResourceLogs().AppendEmpty()
	a := rl.Resource().Attributes()
	if p == nil {
		// The receiver's host resource with node_name set: host.name, service.instance.id
		// and k8s.node.name are the node.
		_, isHost := from.Attributes().Get("service.name")
		require.True(f.t, isHost, "a host record's golden resource")
		from.Attributes().CopyTo(a)
		a.PutStr("host.name", node)
		a.PutStr("service.instance.id", node)
		a.PutStr("k8s.node.name", node)
	} else {
		// A container resource (copied from a golden container resource), enriched.
		_, isContainer := from.Attributes().Get("container.id")
		require.True(f.t, isContainer, "a container record's golden resource")
		from.Attributes().CopyTo(a)
		a.PutStr("host.name", p.node)
		a.PutStr("k8s.node.name", p.node)
		a.PutStr("container.id", p.containerID)
		a.PutStr("k8s.namespace.name", p.namespace)
		a.PutStr("k8s.pod.name", p.name)
		a.PutStr("k8s.deployment.name", p.deployment)
		a.PutStr("k8s.container.name", p.container)
		a.PutStr("container.image.name", "registry.example/"+p.container)
		a.PutEmptySlice("container.image.tags").AppendEmpty().SetStr("1.0")
	}
	sl := rl.ScopeLogs().AppendEmpty()
	fromScope.Scope().CopyTo(sl.Scope())
	f.res[key] = sl
	return sl
}

// containerResource is a golden container resource, for host records moved into a pod.
func (f *fixture) containerResource() (pcommon.Resource, plog.ScopeLogs) {
	res, sl, _ := goldenRecord(f.t, "file_open")
	return res, sl
}

// host adds n copies of a golden host record on node at time at.
func (f *fixture) host(node, name string, at time.Time, n int) {
	res, sl, lr := goldenRecord(f.t, name)
	dst := f.scope(node, nil, res, sl)
	for range n {
		r := dst.LogRecords().AppendEmpty()
		lr.CopyTo(r)
		setTime(r, at)
	}
}

// inPod adds n copies of a golden record (host or container) as if from a container of p.
func (f *fixture) inPod(p pod, name string, at time.Time, n int) {
	_, _, lr := goldenRecord(f.t, name)
	res, sl := f.containerResource()
	dst := f.scope(p.node, &p, res, sl)
	for range n {
		r := dst.LogRecords().AppendEmpty()
		lr.CopyTo(r)
		setTime(r, at)
	}
}

// foreign adds n records of another application in the same Loki tenant that look like
// Vigil's: the same semantic-convention attributes (security_rule.name, a deny action, an
// event_name) in a pod of a Vigil-watched namespace, but not service.namespace vigil.
func (f *fixture) foreign(at time.Time, n int) {
	_, sl, lr := goldenRecord(f.t, "file_open")
	rl := f.logs.ResourceLogs().AppendEmpty()
	a := rl.Resource().Attributes()
	a.PutStr("service.name", "waf")
	a.PutStr("host.name", "node-a")
	a.PutStr("k8s.namespace.name", "shop")
	a.PutStr("k8s.pod.name", "waf-0")
	a.PutStr("k8s.statefulset.name", "waf")
	dst := rl.ScopeLogs().AppendEmpty()
	sl.Scope().CopyTo(dst.Scope())
	dst.Scope().SetName("waf")
	for range n {
		r := dst.LogRecords().AppendEmpty()
		lr.CopyTo(r)
		setTime(r, at)
		r.Attributes().PutStr("security_rule.name", "shadow")
	}
}

func setTime(r plog.LogRecord, at time.Time) {
	r.SetTimestamp(pcommon.NewTimestampFromTime(at))
	r.SetObservedTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Millisecond)))
}

var (
	web = pod{node: "node-a", namespace: "shop", name: "web-7d4b9-x2k1p", deployment: "web", container: "nginx",
		containerID: strings.Repeat("a1", 32)}
	api = pod{node: "node-b", namespace: "payments", name: "api-5c8f7-qq9zt", deployment: "api", container: "api",
		containerID: strings.Repeat("b2", 32)}
)
