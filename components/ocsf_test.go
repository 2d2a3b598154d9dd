package components

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"sigs.k8s.io/yaml"
)

// OCSF 1.x attribute names, written from the OCSF schema (events/base_event.json, the
// system and network categories, the host profile, and the objects below). Each class
// lists the top-level attributes it may carry; each object the attributes it may carry.
// The mapping may use fewer, never others.
var (
	ocsfBase = []string{"activity_id", "activity_name", "category_name", "category_uid", "class_name",
		"class_uid", "count", "duration", "end_time", "enrichments", "message", "metadata", "observables",
		"raw_data", "severity", "severity_id", "start_time", "status", "status_code", "status_detail",
		"status_id", "time", "timezone_offset", "type_name", "type_uid", "unmapped",
		// the host profile (system classes include it; network classes take it as a profile)
		"actor", "device"}
	ocsfClasses = map[int64][]string{
		1007: {"actor", "actual_permissions", "exit_code", "injection_type", "injection_type_id", "launch_type",
			"launch_type_id", "module", "process", "requested_permissions"},
		1001: {"access_mask", "actor", "component", "connection_uid", "create_mask", "file", "file_diff", "file_result"},
		4001: {"app_name", "connection_info", "dst_endpoint", "src_endpoint", "traffic", "proxy", "tls",
			"initiator", "is_src_dst_assignment_known", "url", "observation_point", "observation_point_id"},
	}
	ocsfCategory = map[int64]int64{1007: 1, 1001: 1, 4001: 4}
	// Object attributes, by the path of the object in an event.
	ocsfObjects = map[string][]string{
		"metadata":         {"correlation_uid", "event_code", "labels", "log_name", "log_provider", "logged_time", "original_time", "processed_time", "product", "profiles", "sequence", "tenant_uid", "uid", "version"},
		"metadata.product": {"cpe_name", "feature", "lang", "name", "path", "uid", "url_string", "vendor_name", "version"},
		"device":           {"hostname", "ip", "name", "os", "type", "type_id", "uid"},
		"actor":            {"app_name", "app_uid", "authorizations", "idp", "invoked_by", "process", "session", "user"},
		"process":          {"cmd_line", "created_time", "file", "lineage", "name", "parent_process", "pid", "session", "tid", "uid", "user", "working_directory", "xattributes", "terminated_time"},
		"process.file":     {"name", "path", "type_id", "hashes", "size", "uid"},
		"process.user":     {"name", "uid", "type_id", "groups"},
		"file":             {"name", "path", "type_id", "hashes", "size", "uid", "parent_folder", "owner"},
		"endpoint":         {"hostname", "ip", "name", "port", "svc_name", "type", "type_id", "uid"},
		"connection_info":  {"boundary", "boundary_id", "direction", "direction_id", "protocol_name", "protocol_num", "protocol_ver", "protocol_ver_id", "uid"},
	}
)

// ocsfObject names the schema object an event path stands for.
func ocsfObject(path string) string {
	parts := strings.Split(path, ".")
	last := parts[len(parts)-1]
	switch {
	case path == "metadata" || path == "metadata.product" || path == "device" || path == "connection_info" || path == "file":
		return path
	case last == "actor":
		return "actor"
	case last == "process" || last == "parent_process":
		return "process"
	case last == "src_endpoint" || last == "dst_endpoint":
		return "endpoint"
	case last == "file":
		return "process.file"
	case last == "user":
		return "process.user"
	}
	return ""
}

// checkOCSFNames walks an OCSF event body and reports every name not in the tables.
func checkOCSFNames(t *testing.T, class int64, body map[string]any, where string) {
	t.Helper()
	for k, v := range body {
		assert.True(t, slices.Contains(ocsfBase, k) || slices.Contains(ocsfClasses[class], k),
			"%s: %q is not an attribute of OCSF class %d", where, k, class)
		if m, ok := v.(map[string]any); ok {
			checkOCSFObject(t, k, m, where)
		}
	}
}

func checkOCSFObject(t *testing.T, path string, m map[string]any, where string) {
	t.Helper()
	obj := ocsfObject(path)
	require.NotEmpty(t, obj, "%s: %s is not a known OCSF object", where, path)
	for k, v := range m {
		assert.True(t, slices.Contains(ocsfObjects[obj], k), "%s: %s.%s is not an attribute of the OCSF %s object", where, path, k, obj)
		if sub, ok := v.(map[string]any); ok {
			checkOCSFObject(t, path+"."+k, sub, where)
		}
	}
}

// ocsfWant is what each mapped Vigil event must become.
var ocsfWant = map[string][2]int64{ // event -> class_uid, activity_id
	"process.exec": {1007, 1}, "process.exit": {1007, 2}, "process.ptrace": {1007, 4}, "privilege.change": {1007, 5},
	"file.open": {1001, 14}, "file.write": {1001, 3}, "file.unlink": {1001, 4}, "file.rename": {1001, 5}, "file.chmod": {1001, 7},
	"network.connect": {4001, 1}, "network.accept": {4001, 1}, "network.listen": {4001, 7},
}

// loadOCSFProcessor builds the shipped transform/ocsf processor with the real factory.
func loadOCSFProcessor(t *testing.T, sink *consumertest.LogsSink) func(plog.Logs) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "ocsf", "transform.yaml"))
	require.NoError(t, err)
	var doc map[string]map[string]map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	section, ok := doc["processors"]["transform/ocsf"]
	require.True(t, ok, "deploy/ocsf/transform.yaml defines processors.transform/ocsf")
	// The shipped file ignores a statement error (the record flows on); here every
	// statement must work on every golden record, so errors fail the test.
	assert.Equal(t, "ignore", section["error_mode"])
	section["error_mode"] = "propagate"
	f := transformprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(section).Unmarshal(cfg))
	require.NoError(t, cfg.(interface{ Validate() error }).Validate())
	set := processortest.NewNopSettings(f.Type())
	p, err := f.CreateLogs(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componentHost{}))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return func(ld plog.Logs) { require.NoError(t, p.ConsumeLogs(context.Background(), ld)) }
}

type componentHost struct{}

func (componentHost) GetExtensions() map[component.ID]component.Component { return nil }

// The shipped OCSF mapping, run through the real transform processor on the receiver's
// golden OTLP records: every mapped event gets its class, activity, type, severity, time
// and product, every field name is an OCSF one, values come from the record, and records
// without an OCSF class are left exactly as they were.
func TestOCSFTransformOnGoldenRecords(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "receiver", "ebpfreceiver", "internal", "otlplogs", "testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	sink := new(consumertest.LogsSink)
	run := loadOCSFProcessor(t, sink)
	seen := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		in, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(data)
		require.NoError(t, err, f)
		before := plog.NewLogs()
		in.CopyTo(before)
		sink.Reset()
		run(in)
		require.Len(t, sink.AllLogs(), 1)
		out := sink.AllLogs()[0]
		for i := 0; i < out.ResourceLogs().Len(); i++ {
			rl := out.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					orig := before.ResourceLogs().At(i).ScopeLogs().At(j).LogRecords().At(k)
					where := filepath.Base(f) + " " + lr.EventName()
					want, mapped := ocsfWant[lr.EventName()]
					if !mapped {
						assert.Equal(t, orig.Body().AsRaw(), lr.Body().AsRaw(), "%s: not an OCSF class, untouched", where)
						continue
					}
					seen[lr.EventName()]++
					if seen[lr.EventName()] == 1 && testing.Verbose() {
						js, _ := json.Marshal(lr.Body().AsRaw())
						t.Logf("%s -> %s", where, js)
					}
					require.Equal(t, pcommon.ValueTypeMap, lr.Body().Type(), where)
					body := lr.Body().Map().AsRaw()
					checkOCSFEvent(t, where, want, body, orig, rl.Resource())
				}
			}
		}
	}
	var missing []string
	for ev := range ocsfWant {
		if seen[ev] == 0 {
			missing = append(missing, ev)
		}
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "every mapped event is exercised by a golden record")
}

func checkOCSFEvent(t *testing.T, where string, want [2]int64, body map[string]any, orig plog.LogRecord, res pcommon.Resource) {
	t.Helper()
	class, activity := want[0], want[1]
	checkOCSFNames(t, class, body, where)
	assert.EqualValues(t, class, body["class_uid"], where)
	assert.EqualValues(t, ocsfCategory[class], body["category_uid"], where)
	assert.EqualValues(t, activity, body["activity_id"], where)
	assert.EqualValues(t, class*100+activity, body["type_uid"], where)
	sev := int64(1)
	switch n := orig.SeverityNumber(); {
	case n >= 21:
		sev = 5
	case n >= 17:
		sev = 4
	case n >= 13:
		sev = 3
	}
	assert.EqualValues(t, sev, body["severity_id"], "%s: severity %d", where, orig.SeverityNumber())
	assert.EqualValues(t, int64(orig.Timestamp())/1e6, body["time"], "%s: epoch milliseconds", where)
	assert.Equal(t, orig.Body().Str(), body["message"], where)
	md := body["metadata"].(map[string]any)
	assert.Equal(t, orig.EventName(), md["event_code"], where)
	assert.Equal(t, "1.3.0", md["version"], where)
	assert.Equal(t, map[string]any{"name": "Vigil", "vendor_name": "Vigil"}, md["product"], where)
	if h, ok := res.Attributes().Get("host.name"); ok {
		assert.Equal(t, h.Str(), body["device"].(map[string]any)["hostname"], where)
	}
	attr := func(k string) any {
		v, ok := orig.Attributes().Get(k)
		if !ok {
			return nil
		}
		return v.AsRaw()
	}
	// The process the record is about.
	var proc map[string]any
	_, attempt := orig.Attributes().Get("vigil.exec.path")
	switch {
	case class == 1007 && !attempt:
		proc = body["process"].(map[string]any)
		if pp := attr("process.parent_pid"); pp != nil {
			assert.EqualValues(t, pp, body["actor"].(map[string]any)["process"].(map[string]any)["pid"], "%s: the parent acts", where)
		}
		if ec := attr("process.exit.code"); ec != nil {
			assert.EqualValues(t, ec, body["exit_code"], where)
		}
	default:
		proc = body["actor"].(map[string]any)["process"].(map[string]any)
	}
	assert.EqualValues(t, attr("process.pid"), proc["pid"], where)
	if v := attr("process.command_line"); v != nil {
		assert.Equal(t, v, proc["cmd_line"], where)
	}
	if v := attr("process.executable.path"); v != nil {
		assert.Equal(t, v, proc["file"].(map[string]any)["path"], where)
	}
	if v := attr("process.user.id"); v != nil {
		u, _ := orig.Attributes().Get("process.user.id")
		assert.Equal(t, map[string]any{"uid": u.AsString()}, proc["user"], "%s: OCSF uid is a string", where)
	}
	if attempt {
		target := body["process"].(map[string]any)
		assert.Equal(t, attr("vigil.exec.path"), target["file"].(map[string]any)["path"], "%s: the denied exec's target", where)
	}
	switch class {
	case 1001:
		p := attr("file.path").(string)
		assert.Equal(t, map[string]any{"path": p, "name": filepath.Base(p)}, body["file"], where)
	case 4001:
		assert.Equal(t, attr("network.transport"), body["connection_info"].(map[string]any)["protocol_name"], where)
		ep := map[string]any{}
		switch orig.EventName() {
		case "network.connect":
			ep = body["dst_endpoint"].(map[string]any)
			assert.Equal(t, attr("network.peer.address"), ep["ip"], where)
			assert.EqualValues(t, attr("network.peer.port"), ep["port"], where)
		case "network.accept":
			ep = body["src_endpoint"].(map[string]any)
			assert.Equal(t, attr("network.peer.address"), ep["ip"], where)
			assert.EqualValues(t, attr("network.peer.port"), ep["port"], where)
		case "network.listen":
			ep = body["dst_endpoint"].(map[string]any)
			assert.Equal(t, attr("network.local.address"), ep["ip"], where)
			assert.EqualValues(t, attr("network.local.port"), ep["port"], where)
		}
		assert.NotEmpty(t, ep["ip"], where)
	}
}
