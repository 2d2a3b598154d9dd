package components

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"sigs.k8s.io/yaml"
)

// OCSF 1.3.0 attribute names, written from the OCSF schema (events/base_event.json, the
// system, network and findings categories, the host and security_control profiles, and the
// objects below). Each class lists the top-level attributes it may carry; each object the
// attributes it may carry. The mapping may use fewer, never others.
var (
	ocsfBase = []string{"activity_id", "activity_name", "category_name", "category_uid", "class_name",
		"class_uid", "count", "duration", "end_time", "enrichments", "message", "metadata", "observables",
		"raw_data", "severity", "severity_id", "start_time", "status", "status_code", "status_detail",
		"status_id", "time", "timezone_offset", "type_name", "type_uid", "unmapped",
		// the host profile (system classes include it; network classes take it as a profile)
		"actor", "device"}
	// The security_control profile (system, network and detection finding classes).
	ocsfSecurityControl = []string{"action", "action_id", "attacks", "authorizations", "disposition",
		"disposition_id", "firewall_rule", "malware"}
	ocsfClasses = map[int64][]string{
		1007: {"actor", "actual_permissions", "exit_code", "injection_type", "injection_type_id", "launch_type",
			"launch_type_id", "module", "process", "requested_permissions"},
		1001: {"access_mask", "actor", "component", "connection_uid", "create_mask", "file", "file_diff", "file_result"},
		1002: {"actor", "driver"},
		4001: {"app_name", "connection_info", "dst_endpoint", "src_endpoint", "traffic", "proxy", "tls",
			"initiator", "is_src_dst_assignment_known", "url", "observation_point", "observation_point_id"},
		// Detection Finding: the finding class's attributes and detection_finding's own.
		2004: {"comment", "confidence", "confidence_id", "confidence_score", "finding_info",
			"evidences", "impact", "impact_id", "impact_score", "remediation", "resources", "risk_level",
			"risk_level_id", "risk_score", "risk_details", "vulnerabilities"},
	}
	ocsfCategory = map[int64]int64{1007: 1, 1001: 1, 1002: 1, 4001: 4, 2004: 2}
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
		"driver":           {"file"}, // kernel_driver
		"finding_info": {"analytic", "attacks", "created_time", "data_sources", "desc", "first_seen_time", "kill_chain",
			"last_seen_time", "modified_time", "product_uid", "related_events", "related_analytics", "src_url", "title", "types", "uid"},
		"analytic":  {"category", "desc", "name", "related_analytics", "type", "type_id", "uid", "version"},
		"evidences": {"actor", "api", "container", "connection_info", "data", "database", "databucket", "device", "dst_endpoint", "email", "file", "process", "query", "src_endpoint", "url", "user", "job"},
	}
)

// ocsfObject names the schema object an event path stands for.
func ocsfObject(path string) string {
	parts := strings.Split(path, ".")
	last := parts[len(parts)-1]
	switch {
	case path == "metadata" || path == "metadata.product" || path == "device" || path == "driver" ||
		path == "finding_info" || path == "evidences":
		return path
	case path == "finding_info.analytic":
		return "analytic"
	case last == "connection_info":
		return "connection_info"
	case path == "file" || path == "evidences.file":
		return "file"
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
		assert.True(t, slices.Contains(ocsfBase, k) || slices.Contains(ocsfSecurityControl, k) || slices.Contains(ocsfClasses[class], k),
			"%s: %q is not an attribute of OCSF class %d", where, k, class)
		if k == "unmapped" {
			continue // free-form by definition: the source's own names
		}
		checkOCSFValue(t, k, v, where)
	}
}

// checkOCSFValue checks an object, or each object of an array of objects.
func checkOCSFValue(t *testing.T, path string, v any, where string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		checkOCSFObject(t, path, x, where)
	case []any:
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				checkOCSFObject(t, path, m, where)
			}
		}
	}
}

func checkOCSFObject(t *testing.T, path string, m map[string]any, where string) {
	t.Helper()
	obj := ocsfObject(path)
	require.NotEmpty(t, obj, "%s: %s is not a known OCSF object", where, path)
	for k, v := range m {
		assert.True(t, slices.Contains(ocsfObjects[obj], k), "%s: %s.%s is not an attribute of the OCSF %s object", where, path, k, obj)
		checkOCSFValue(t, path+"."+k, v, where)
	}
}

// ocsfWant is what each mapped Vigil event must become: class_uid and activity_id.
var ocsfWant = map[string][2]int64{
	"process.exec": {1007, 1}, "process.exit": {1007, 2}, "privilege.change": {1007, 5},
	"file.open": {1001, 14}, "file.write": {1001, 3}, "file.unlink": {1001, 4}, "file.rename": {1001, 5}, "file.chmod": {1001, 7},
	"file.link": {1001, 1}, "file.symlink": {1001, 1}, "kernel.module_load": {1002, 1},
	"network.connect": {4001, 1}, "network.accept": {4001, 1}, "network.listen": {4001, 7},
}

// ocsfUnmapped are the kinds with no OCSF activity class: they stay as they are.
var ocsfUnmapped = []string{"process.fork", "bpf.load", "namespace.change", "network.socket", "fd.dup"}

// ocsfWantFor is the class and activity of a record; process.ptrace depends on the request
// (vigil.syscall.args[0]): taking control (TRACEME 0, ATTACH 16, SEIZE 0x4206) is 3 Open,
// a write into the process 4 Inject.
func ocsfWantFor(lr plog.LogRecord) ([2]int64, bool) {
	if lr.EventName() != "process.ptrace" {
		w, ok := ocsfWant[lr.EventName()]
		return w, ok
	}
	args, ok := lr.Attributes().Get("vigil.syscall.args")
	if ok && args.Slice().Len() > 0 {
		switch args.Slice().At(0).Int() {
		case 0, 16, 0x4206:
			return [2]int64{1007, 3}, true
		}
	}
	return [2]int64{1007, 4}, true
}

// loadOCSFProcessor builds one of the shipped processors (transform/ocsf,
// filter/ocsf_findings, transform/ocsf_finding) with the real factory.
func loadOCSFProcessor(t *testing.T, id string, sink *consumertest.LogsSink) func(plog.Logs) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "ocsf", "transform.yaml"))
	require.NoError(t, err)
	var doc map[string]map[string]map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	section, ok := doc["processors"][id]
	require.True(t, ok, "deploy/ocsf/transform.yaml defines processors.%s", id)
	// The shipped file ignores a statement error (the record flows on); here every
	// statement must work on every golden record, so errors fail the test.
	assert.Equal(t, "ignore", section["error_mode"])
	section["error_mode"] = "propagate"
	var f processor.Factory = transformprocessor.NewFactory()
	if strings.HasPrefix(id, "filter/") {
		f = filterprocessor.NewFactory()
	}
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

// goldenLogs reads every golden OTLP file of the receiver (the real record builder's output),
// plus a ptrace write (PTRACE_POKEDATA) made from the ptrace golden, which has none.
func goldenLogs(t *testing.T) map[string]plog.Logs {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "receiver", "ebpfreceiver", "internal", "otlplogs", "testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]plog.Logs{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		in, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(data)
		require.NoError(t, err, f)
		out[filepath.Base(f)] = in
	}
	poke := plog.NewLogs()
	out["process_ptrace.json"].CopyTo(poke)
	lr := poke.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	require.Equal(t, "process.ptrace", lr.EventName())
	args, _ := lr.Attributes().Get("vigil.syscall.args")
	require.Equal(t, pcommon.ValueTypeInt, args.Slice().At(0).Type())
	args.Slice().At(0).SetInt(5) // PTRACE_POKEDATA
	out["process_ptrace_poke (derived)"] = poke
	return out
}

// eachRecord calls f for every record of out with the record it came from in before.
func eachRecord(out, before plog.Logs, f func(lr, orig plog.LogRecord, res pcommon.Resource)) {
	for i := 0; i < out.ResourceLogs().Len(); i++ {
		rl := out.ResourceLogs().At(i)
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				f(lrs.At(k), before.ResourceLogs().At(i).ScopeLogs().At(j).LogRecords().At(k), rl.Resource())
			}
		}
	}
}

// The shipped OCSF mapping, run through the real transform processor on the receiver's
// golden OTLP records: every mapped event gets its class, activity, type, severity, time
// and product, every field name is an OCSF one, values come from the record, and records
// without an OCSF class are left exactly as they were.
func TestOCSFTransformOnGoldenRecords(t *testing.T) {
	sink := new(consumertest.LogsSink)
	run := loadOCSFProcessor(t, "transform/ocsf", sink)
	seen := map[string]int{}
	for name, in := range goldenLogs(t) {
		before := plog.NewLogs()
		in.CopyTo(before)
		sink.Reset()
		run(in)
		require.Len(t, sink.AllLogs(), 1)
		eachRecord(sink.AllLogs()[0], before, func(lr, orig plog.LogRecord, res pcommon.Resource) {
			where := name + " " + lr.EventName()
			want, mapped := ocsfWantFor(orig)
			if !mapped {
				assert.Contains(t, ocsfUnmapped, lr.EventName(), "%s: an event kind the mapping does not know", where)
				assert.Equal(t, orig.Body().AsRaw(), lr.Body().AsRaw(), "%s: not an OCSF class, untouched", where)
				seen[lr.EventName()]++
				return
			}
			seen[fmt.Sprintf("%s/%d", lr.EventName(), want[1])]++
			if testing.Verbose() {
				js, _ := json.Marshal(lr.Body().AsRaw())
				t.Logf("%s -> %s", where, js)
			}
			require.Equal(t, pcommon.ValueTypeMap, lr.Body().Type(), where)
			checkOCSFEvent(t, where, want, lr.Body().Map().AsRaw(), orig, res)
		})
	}
	var missing []string
	for ev, w := range ocsfWant {
		if seen[fmt.Sprintf("%s/%d", ev, w[1])] == 0 {
			missing = append(missing, ev)
		}
	}
	for _, ev := range []string{"process.ptrace/3", "process.ptrace/4"} {
		if seen[ev] == 0 {
			missing = append(missing, ev)
		}
	}
	for _, ev := range ocsfUnmapped {
		if seen[ev] == 0 {
			missing = append(missing, ev)
		}
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "every mapped and unmapped event is exercised by a golden record")
}

func checkOCSFEvent(t *testing.T, where string, want [2]int64, body map[string]any, orig plog.LogRecord, res pcommon.Resource) {
	t.Helper()
	class, activity := want[0], want[1]
	checkOCSFNames(t, class, body, where)
	checkOCSFBase(t, where, class, activity, body, orig, res)
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
	ptrace := orig.EventName() == "process.ptrace"
	switch {
	case class == 1007 && !attempt && !ptrace:
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
	checkOCSFProcess(t, where, proc, orig)
	if attempt {
		target := body["process"].(map[string]any)
		assert.Equal(t, attr("vigil.exec.path"), target["file"].(map[string]any)["path"], "%s: the denied exec's target", where)
	}
	if ptrace {
		// The traced process is the target; PTRACE_TRACEME (target 0) hands control to the parent.
		target := attr("vigil.target.pid").(int64)
		if target == 0 {
			target = attr("process.parent_pid").(int64)
		}
		assert.Equal(t, map[string]any{"pid": target}, body["process"], "%s: the traced process", where)
		assert.NotEqualValues(t, attr("process.pid"), target, "%s: the golden traces another process", where)
	}
	switch class {
	case 1001:
		p := attr("file.path").(string)
		f := map[string]any{"path": p, "name": filepath.Base(p)}
		if orig.EventName() == "file.symlink" {
			f["type_id"] = int64(7) // Symbolic Link
			assert.Equal(t, map[string]any{"file.symbolic_link.target_path": attr("file.symbolic_link.target_path")}, body["unmapped"], where)
		}
		if orig.EventName() == "file.link" {
			assert.Equal(t, map[string]any{"vigil.file.link.old_path": attr("vigil.file.link.old_path")}, body["unmapped"], where)
		}
		if orig.EventName() != "file.link" && orig.EventName() != "file.symlink" {
			assert.Nil(t, body["unmapped"], where)
		}
		assert.Equal(t, f, body["file"], where)
	case 1002:
		if p, ok := attr("file.path").(string); ok {
			assert.Equal(t, map[string]any{"file": map[string]any{"path": p, "name": filepath.Base(p)}}, body["driver"], where)
		} else {
			assert.Nil(t, body["driver"], "%s: a module loaded from memory names no file", where)
		}
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

// checkOCSFBase checks what every event carries: class, category, activity, type,
// severity, time, message, metadata and device.
func checkOCSFBase(t *testing.T, where string, class, activity int64, body map[string]any, orig plog.LogRecord, res pcommon.Resource) {
	t.Helper()
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
}

// checkOCSFProcess checks an OCSF process object against the record's process attributes.
func checkOCSFProcess(t *testing.T, where string, proc map[string]any, orig plog.LogRecord) {
	t.Helper()
	attr := func(k string) any {
		v, ok := orig.Attributes().Get(k)
		if !ok {
			return nil
		}
		return v.AsRaw()
	}
	assert.EqualValues(t, attr("process.pid"), proc["pid"], where)
	if v := attr("process.command_line"); v != nil {
		assert.Equal(t, v, proc["cmd_line"], where)
	}
	if v := attr("process.executable.path"); v != nil {
		assert.Equal(t, v, proc["file"].(map[string]any)["path"], where)
	}
	if v := attr("process.executable.name"); v != nil {
		assert.Equal(t, v, proc["name"], where)
	}
	if v := attr("process.user.id"); v != nil {
		u, _ := orig.Attributes().Get("process.user.id")
		assert.Equal(t, map[string]any{"uid": u.AsString()}, proc["user"], "%s: OCSF uid is a string", where)
	}
	if v := attr("process.parent_pid"); v != nil {
		assert.Equal(t, map[string]any{"pid": v}, proc["parent_process"], where)
	}
}

// ocsfDisposition is what a policy match's action and outcome become:
// action_id, action, disposition_id, disposition.
func ocsfDisposition(action string, applied bool) (int64, string, int64, string) {
	switch {
	case applied && action == "deny":
		return 2, "Denied", 2, "Blocked"
	case applied && action == "kill":
		return 2, "Denied", 99, "Killed"
	case action == "deny" || action == "kill":
		return 1, "Allowed", 15, "Detected"
	case action == "count":
		return 1, "Allowed", 20, "Count"
	}
	return 1, "Allowed", 19, "Alert"
}

// The Detection Finding path on every golden record: filter/ocsf_findings keeps exactly the
// policy matches, and transform/ocsf_finding turns each into a Detection Finding (2004)
// whose evidence is the record's activity event as transform/ocsf shapes it (or, for a kind
// without an activity class, its process and, for fd.dup, the socket's ends).
func TestOCSFDetectionFindingOnGoldenRecords(t *testing.T) {
	filtered := new(consumertest.LogsSink)
	filter := loadOCSFProcessor(t, "filter/ocsf_findings", filtered)
	findings := new(consumertest.LogsSink)
	finding := loadOCSFProcessor(t, "transform/ocsf_finding", findings)
	activities := new(consumertest.LogsSink)
	activity := loadOCSFProcessor(t, "transform/ocsf", activities)
	dispositions := map[string]int{}
	kinds := map[string]int{}
	for name, in := range goldenLogs(t) {
		// Which records are matches, before anything runs.
		var matches, others int
		eachRecord(in, in, func(lr, _ plog.LogRecord, _ pcommon.Resource) {
			if _, ok := lr.Attributes().Get("security_rule.name"); ok {
				matches++
			} else {
				others++
			}
		})
		filtered.Reset()
		findings.Reset()
		activities.Reset()
		filter(in)
		if matches == 0 {
			assert.Zero(t, filtered.LogRecordCount(), "%s: no match, nothing passes the findings filter", name)
			continue
		}
		require.Equal(t, matches, filtered.LogRecordCount(), "%s: every match passes, nothing else (%d others)", name, others)
		before := plog.NewLogs()
		filtered.AllLogs()[0].CopyTo(before)
		asActivity := plog.NewLogs()
		filtered.AllLogs()[0].CopyTo(asActivity)
		activity(asActivity)
		finding(filtered.AllLogs()[0])
		out := findings.AllLogs()[0]
		act := activities.AllLogs()[0]
		for i := 0; i < out.ResourceLogs().Len(); i++ {
			rl := out.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				for k := 0; k < rl.ScopeLogs().At(j).LogRecords().Len(); k++ {
					lr := rl.ScopeLogs().At(j).LogRecords().At(k)
					orig := before.ResourceLogs().At(i).ScopeLogs().At(j).LogRecords().At(k)
					actBody := act.ResourceLogs().At(i).ScopeLogs().At(j).LogRecords().At(k).Body()
					where := name + " " + orig.EventName()
					require.Equal(t, pcommon.ValueTypeMap, lr.Body().Type(), where)
					body := lr.Body().Map().AsRaw()
					if testing.Verbose() && kinds[orig.EventName()] == 0 {
						js, _ := json.Marshal(body)
						t.Logf("%s -> %s", where, js)
					}
					kinds[orig.EventName()]++
					dispositions[checkOCSFFinding(t, where, body, orig, rl.Resource(), actBody)]++
				}
			}
		}
	}
	// Every outcome and every kind of match is exercised.
	for _, d := range []string{"Blocked", "Killed", "Detected", "Count", "Alert"} {
		assert.Positive(t, dispositions[d], "a golden record gives disposition %s", d)
	}
	for _, ev := range []string{"process.exec", "file.open", "network.connect", "kernel.module_load", "bpf.load",
		"namespace.change", "network.socket", "fd.dup", "process.ptrace", "file.link", "file.symlink"} {
		assert.Positive(t, kinds[ev], "a golden %s match becomes a finding", ev)
	}
}

// checkOCSFFinding checks one Detection Finding against its record and the activity event
// transform/ocsf made of the same record; it returns the disposition.
func checkOCSFFinding(t *testing.T, where string, body map[string]any, orig plog.LogRecord, res pcommon.Resource, activity pcommon.Value) string {
	t.Helper()
	checkOCSFNames(t, 2004, body, where)
	checkOCSFBase(t, where, 2004, 1, body, orig, res)
	str := func(k string) string {
		v, _ := orig.Attributes().Get(k)
		return v.Str()
	}
	rule, ruleset := str("security_rule.name"), str("security_rule.ruleset.name")
	require.NotEmpty(t, rule, where)
	assert.EqualValues(t, 1, body["status_id"], "%s: New", where)
	applied, _ := orig.Attributes().Get("vigil.policy.applied")
	aid, a, did, d := ocsfDisposition(str("vigil.policy.action"), applied.Bool())
	assert.EqualValues(t, aid, body["action_id"], where)
	assert.Equal(t, a, body["action"], where)
	assert.EqualValues(t, did, body["disposition_id"], where)
	assert.Equal(t, d, body["disposition"], where)
	assert.Equal(t, map[string]any{
		"uid":   fmt.Sprintf("%s:%d:%s:%s", str("vigil.exec_id"), orig.Timestamp(), ruleset, rule),
		"title": rule,
		"desc":  orig.Body().Str(),
		"analytic": map[string]any{
			"name": rule, "type_id": int64(1), "type": "Rule", "category": ruleset,
		},
	}, body["finding_info"], where)
	evs, ok := body["evidences"].([]any)
	require.True(t, ok, "%s: evidences is an array", where)
	require.Len(t, evs, 1, where)
	ev := evs[0].(map[string]any)
	if activity.Type() == pcommon.ValueTypeMap {
		// The evidence is the activity event's objects, unchanged.
		a := activity.Map().AsRaw()
		want := map[string]any{}
		for _, k := range []string{"actor", "process", "file", "src_endpoint", "dst_endpoint", "connection_info"} {
			if v, ok := a[k]; ok {
				want[k] = v
			}
		}
		if drv, ok := a["driver"].(map[string]any); ok {
			want["file"] = drv["file"]
		}
		if _, ok := want["process"]; !ok {
			// File, network and kernel classes name the process as the actor only.
			proc := ev["process"].(map[string]any)
			checkOCSFProcess(t, where, proc, orig)
			want["process"] = proc
		}
		assert.Equal(t, want, ev, "%s: the evidence is the activity event", where)
		return d
	}
	// A kind without an activity class: its process, and fd.dup's socket.
	assert.Equal(t, activity.AsRaw(), orig.Body().AsRaw(), "%s: transform/ocsf leaves the kind alone", where)
	checkOCSFProcess(t, where, ev["process"].(map[string]any), orig)
	if orig.EventName() == "fd.dup" {
		// Each end as far as the record knows it.
		end := func(addr, port string) map[string]any {
			m := map[string]any{}
			if v, ok := orig.Attributes().Get(addr); ok {
				m["ip"] = v.Str()
			}
			if v, ok := orig.Attributes().Get(port); ok {
				m["port"] = v.Int()
			}
			return m
		}
		assert.Equal(t, end("network.local.address", "network.local.port"), ev["src_endpoint"], where)
		assert.Equal(t, end("network.peer.address", "network.peer.port"), ev["dst_endpoint"], where)
		assert.Equal(t, map[string]any{"protocol_name": str("network.transport")}, ev["connection_info"], where)
		assert.NotEmpty(t, ev["dst_endpoint"], "%s: the peer", where)
		assert.Len(t, ev, 4, where)
	} else {
		assert.Len(t, ev, 1, "%s: the process only", where)
	}
	return d
}
