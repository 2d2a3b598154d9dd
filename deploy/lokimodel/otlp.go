// Package lokimodel models, for Vigil's tests, what Grafana Loki 3.x does with OTLP logs
// and how it evaluates the small LogQL subset Vigil's dashboard and alert rules use.
//
// It is written from Loki's documented behaviour, not from its code (Loki is AGPL; no
// Loki code, module or binary is used by this project):
//
//   - Loki's OTLP endpoint turns a fixed default list of resource attributes into index
//     (stream) labels, and every other resource, scope and log attribute into structured
//     metadata. Names are sanitized to label names: dots (and any other character that is
//     not a letter, digit or underscore) become underscores.
//   - A resource without service.name (or with an empty one) is given
//     service_name="unknown_service".
//   - limits_config.otlp_config changes the mapping: resource attributes can be indexed,
//     kept as structured metadata or dropped; scope and log attributes kept or dropped.
//     The default index labels come first unless ignore_defaults is set, and the first
//     rule that names an attribute decides (so demoting a default index label needs
//     ignore_defaults: true).
//   - The LogRecord's event_name field is stored (as structured metadata event_name)
//     only from Loki 3.8.0; 3.7.x drops it.
package lokimodel

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"sigs.k8s.io/yaml"
)

// DefaultIndexLabels are the resource attributes Loki indexes by default.
var DefaultIndexLabels = []string{
	"cloud.availability_zone",
	"cloud.region",
	"container.name",
	"deployment.environment.name",
	"k8s.cluster.name",
	"k8s.container.name",
	"k8s.cronjob.name",
	"k8s.daemonset.name",
	"k8s.deployment.name",
	"k8s.job.name",
	"k8s.namespace.name",
	"k8s.pod.name",
	"k8s.replicaset.name",
	"k8s.statefulset.name",
	"service.instance.id",
	"service.name",
	"service.namespace",
}

// UnknownService is the service_name of a resource without service.name.
const UnknownService = "unknown_service"

// Version is a Loki release.
type Version struct{ Major, Minor, Patch int }

// ParseVersion reads "3.7.2" or "v3.8.0".
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("loki version %q: want major.minor.patch", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Version{}, fmt.Errorf("loki version %q: %q is not a number", s, p)
		}
		n[i] = v
	}
	return Version{n[0], n[1], n[2]}, nil
}

// AtLeast reports whether v is o or newer.
func (v Version) AtLeast(o Version) bool {
	if v.Major != o.Major {
		return v.Major > o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor > o.Minor
	}
	return v.Patch >= o.Patch
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// EventNameSince is the first Loki release that stores the LogRecord event_name.
var EventNameSince = Version{3, 8, 0}

// Actions of an otlp_config attribute rule.
const (
	ActionIndexLabel         = "index_label"
	ActionStructuredMetadata = "structured_metadata"
	ActionDrop               = "drop"
)

// AttributeRule is one entry of otlp_config: an action for the attributes it names
// (attributes, or a regex that must match the whole name; exactly one of the two).
type AttributeRule struct {
	Action     string   `json:"action,omitempty"`
	Attributes []string `json:"attributes,omitempty"`
	Regex      string   `json:"regex,omitempty"`

	re *regexp.Regexp
}

// OTLPConfig is limits_config.otlp_config.
type OTLPConfig struct {
	ResourceAttributes struct {
		IgnoreDefaults   bool            `json:"ignore_defaults,omitempty"`
		AttributesConfig []AttributeRule `json:"attributes_config,omitempty"`
	} `json:"resource_attributes,omitempty"`
	ScopeAttributes []AttributeRule `json:"scope_attributes,omitempty"`
	LogAttributes   []AttributeRule `json:"log_attributes,omitempty"`
}

// ParseLimitsConfig reads the otlp_config of a Loki limits_config snippet
// ("limits_config: {otlp_config: ...}"), strictly: an unknown key is an error.
func ParseLimitsConfig(raw []byte) (*OTLPConfig, error) {
	var doc struct {
		LimitsConfig struct {
			OTLPConfig *OTLPConfig `json:"otlp_config"`
		} `json:"limits_config"`
	}
	if err := yaml.UnmarshalStrict(raw, &doc); err != nil {
		return nil, fmt.Errorf("limits_config: %w", err)
	}
	cfg := doc.LimitsConfig.OTLPConfig
	if cfg == nil {
		return nil, errors.New("limits_config.otlp_config: missing")
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("limits_config.otlp_config.%w", err)
	}
	return cfg, nil
}

func (c *OTLPConfig) validate() error {
	check := func(where string, rules []AttributeRule, indexOK bool) error {
		for i := range rules {
			r := &rules[i]
			if r.Action == "" {
				r.Action = ActionStructuredMetadata
			}
			switch r.Action {
			case ActionStructuredMetadata, ActionDrop:
			case ActionIndexLabel:
				if !indexOK {
					return fmt.Errorf("%s[%d]: index_label is only for resource attributes", where, i)
				}
			default:
				return fmt.Errorf("%s[%d]: unknown action %q", where, i, r.Action)
			}
			if (len(r.Attributes) == 0) == (r.Regex == "") {
				return fmt.Errorf("%s[%d]: set exactly one of attributes and regex", where, i)
			}
			if r.Regex != "" {
				re, err := regexp.Compile("^(?:" + r.Regex + ")$")
				if err != nil {
					return fmt.Errorf("%s[%d].regex: %w", where, i, err)
				}
				r.re = re
			}
		}
		return nil
	}
	if err := check("resource_attributes.attributes_config", c.ResourceAttributes.AttributesConfig, true); err != nil {
		return err
	}
	if err := check("scope_attributes", c.ScopeAttributes, false); err != nil {
		return err
	}
	return check("log_attributes", c.LogAttributes, false)
}

func actionFor(rules []AttributeRule, name string) string {
	for _, r := range rules {
		if r.re != nil && r.re.MatchString(name) {
			return r.Action
		}
		for _, a := range r.Attributes {
			if a == name {
				return r.Action
			}
		}
	}
	return ActionStructuredMetadata
}

// Entry is one stored log line.
type Entry struct {
	Time time.Time
	Line string
	// Labels are the stream (index) labels.
	Labels map[string]string
	// Metadata is the structured metadata of the line.
	Metadata map[string]string
}

// Ingester converts OTLP logs the way one Loki release with one otlp_config would.
type Ingester struct {
	Version Version
	// Config is the tenant's otlp_config; nil is Loki's default mapping.
	Config *OTLPConfig
}

func (in Ingester) resourceRules() []AttributeRule {
	var rules []AttributeRule
	if in.Config == nil || !in.Config.ResourceAttributes.IgnoreDefaults {
		rules = append(rules, AttributeRule{Action: ActionIndexLabel, Attributes: DefaultIndexLabels})
	}
	if in.Config != nil {
		rules = append(rules, in.Config.ResourceAttributes.AttributesConfig...)
	}
	return rules
}

// Ingest returns the entries Loki would store for logs. It never modifies logs.
func (in Ingester) Ingest(logs plog.Logs) ([]Entry, error) {
	var scopeRules, logRules []AttributeRule
	if in.Config != nil {
		scopeRules, logRules = in.Config.ScopeAttributes, in.Config.LogAttributes
	}
	resRules := in.resourceRules()
	var out []Entry
	for i := 0; i < logs.ResourceLogs().Len(); i++ {
		rl := logs.ResourceLogs().At(i)
		labels, resMeta := map[string]string{}, map[string]string{}
		res := pcommon.NewMap()
		rl.Resource().Attributes().CopyTo(res)
		if v, ok := res.Get("service.name"); !ok || v.AsString() == "" {
			res.PutStr("service.name", UnknownService)
		}
		var err error
		res.Range(func(k string, v pcommon.Value) bool {
			switch actionFor(resRules, k) {
			case ActionIndexLabel:
				err = put(labels, k, v)
			case ActionStructuredMetadata:
				err = put(resMeta, k, v)
			}
			return err == nil
		})
		if err != nil {
			return nil, fmt.Errorf("resource %d: %w", i, err)
		}
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			sl := rl.ScopeLogs().At(j)
			scopeMeta := clone(resMeta)
			sl.Scope().Attributes().Range(func(k string, v pcommon.Value) bool {
				if actionFor(scopeRules, k) != ActionDrop {
					err = put(scopeMeta, k, v)
				}
				return err == nil
			})
			if err == nil && sl.Scope().Name() != "" {
				err = putStr(scopeMeta, "scope_name", sl.Scope().Name())
			}
			if err == nil && sl.Scope().Version() != "" {
				err = putStr(scopeMeta, "scope_version", sl.Scope().Version())
			}
			if err != nil {
				return nil, fmt.Errorf("resource %d scope %d: %w", i, j, err)
			}
			for k := 0; k < sl.LogRecords().Len(); k++ {
				e, err := in.entry(sl.LogRecords().At(k), labels, scopeMeta, logRules)
				if err != nil {
					return nil, fmt.Errorf("resource %d scope %d record %d: %w", i, j, k, err)
				}
				out = append(out, e)
			}
		}
	}
	return out, nil
}

func (in Ingester) entry(lr plog.LogRecord, labels, scopeMeta map[string]string, logRules []AttributeRule) (Entry, error) {
	meta := clone(scopeMeta)
	var err error
	lr.Attributes().Range(func(k string, v pcommon.Value) bool {
		if actionFor(logRules, k) != ActionDrop {
			err = put(meta, k, v)
		}
		return err == nil
	})
	fields := []struct {
		name, value string
		set         bool
	}{
		{"severity_text", lr.SeverityText(), lr.SeverityText() != ""},
		{"severity_number", strconv.Itoa(int(lr.SeverityNumber())), lr.SeverityNumber() != plog.SeverityNumberUnspecified},
		{"observed_timestamp", strconv.FormatInt(int64(lr.ObservedTimestamp()), 10), lr.ObservedTimestamp() != 0},
		{"trace_id", lr.TraceID().String(), !lr.TraceID().IsEmpty()},
		{"span_id", lr.SpanID().String(), !lr.SpanID().IsEmpty()},
		{"flags", strconv.FormatUint(uint64(lr.Flags()), 10), lr.Flags() != 0},
		{"dropped_attributes_count", strconv.FormatUint(uint64(lr.DroppedAttributesCount()), 10), lr.DroppedAttributesCount() != 0},
		{"event_name", lr.EventName(), lr.EventName() != "" && in.Version.AtLeast(EventNameSince)},
	}
	for _, f := range fields {
		if err == nil && f.set {
			err = putStr(meta, f.name, f.value)
		}
	}
	if err != nil {
		return Entry{}, err
	}
	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	return Entry{Time: ts.AsTime(), Line: lr.Body().AsString(), Labels: labels, Metadata: meta}, nil
}

// put stores an attribute under its label name; maps flatten into name_key.
func put(m map[string]string, key string, v pcommon.Value) error {
	if v.Type() == pcommon.ValueTypeMap {
		var err error
		v.Map().Range(func(k string, sub pcommon.Value) bool {
			err = put(m, key+"_"+k, sub)
			return err == nil
		})
		return err
	}
	return putStr(m, key, v.AsString())
}

// putStr stores one value; a second, different value under the same sanitized name is an
// error (the test then shows the conflict instead of picking one silently).
func putStr(m map[string]string, key, value string) error {
	name := LabelName(key)
	if old, ok := m[name]; ok && old != value {
		return fmt.Errorf("%q: two values for label %q (%q, %q)", key, name, old, value)
	}
	m[name] = value
	return nil
}

// LabelName sanitizes an attribute name into a label name: every character that is not
// an ASCII letter, digit or underscore becomes an underscore; a leading digit gets the
// prefix "key_", a single leading underscore the prefix "key".
func LabelName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	out := string(b)
	switch {
	case out == "":
		return out
	case out[0] >= '0' && out[0] <= '9':
		return "key_" + out
	case out[0] == '_' && !strings.HasPrefix(out, "__"):
		return "key" + out
	}
	return out
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+16)
	for k, v := range m {
		out[k] = v
	}
	return out
}
