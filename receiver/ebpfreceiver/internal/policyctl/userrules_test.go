//go:build linux

package policyctl

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// statusHost records the component status reported to it.
type statusHost struct {
	component.Host
	events []*componentstatus.Event
}

func (h *statusHost) Report(e *componentstatus.Event) { h.events = append(h.events, e) }

// A load with a skipped rule: one log line with the counts, the reason in the
// status (a recoverable error naming the counts), the gauge; a clean load is OK.
func TestRulesFilesReportedOncePerLoad(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	tb, err := metadata.NewTelemetryBuilder(componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	host := &statusHost{Host: componenttest.NewNopHost()}
	e := &Controller{cfg: Config{Logger: zap.New(core), Telemetry: tb, Host: host}}
	rules := `- rule: Exec
  desc: d
  condition: evt.type = execve and proc.name = sh
  output: sh
  priority: NOTICE
- rule: Needs DNS
  desc: d
  condition: evt.type = connect and fd.sip.name = example.com
  output: x
  priority: NOTICE
- rule: Off
  desc: d
  condition: evt.type = execve
  output: x
  priority: NOTICE
  enabled: false
`
	set := policy.Set{Files: []policy.FileResult{{Path: "/etc/vigil/r.yaml", Rules: []byte(rules)}}}
	e.loadRules(set)
	errs := map[string]bool{}
	assert.Empty(t, e.withGenerated(nil, errs), "exec rules need no kernel policy")
	e.report(errs)

	loaded := logs.FilterMessage("rules files loaded").All()
	require.Len(t, loaded, 1)
	f := loaded[0].ContextMap()
	assert.Equal(t, int64(1), f["rules_loaded"])
	assert.Equal(t, int64(1), f["rules_skipped"])
	assert.Equal(t, int64(1), f["rules_disabled"])
	assert.Len(t, logs.FilterMessage("rules file").All(), 1, "the disabled rule is noted")
	require.Len(t, host.events, 1)
	st := host.events[0]
	assert.Equal(t, componentstatus.StatusRecoverableError, st.Status())
	assert.Contains(t, st.Err().Error(), "rules files: 1 rules loaded, 1 skipped")
	assert.Contains(t, st.Err().Error(), `/etc/vigil/r.yaml:8: rule "Needs DNS": field fd.sip.name is not supported`)
	assert.NotContains(t, st.Err().Error(), "Off")
	assert.Equal(t, 1, e.userSet.Load().Len())
	assert.Equal(t, int64(1), e.userN[1].Load())

	// The file fixed: status OK, nothing more logged as rejected.
	fixed := strings.Split(rules, "- rule: Needs DNS")[0]
	e.loadRules(policy.Set{Files: []policy.FileResult{{Path: "/etc/vigil/r.yaml", Rules: []byte(fixed)}}})
	errs = map[string]bool{}
	e.withGenerated(nil, errs)
	e.report(errs)
	assert.Equal(t, componentstatus.StatusOK, host.events[len(host.events)-1].Status())
	assert.Len(t, logs.FilterMessage("rules files loaded").All(), 2, "once per load")
	assert.Len(t, logs.FilterMessage("policy rejected").All(), 2, "each problem logged once: the reason and the counts")
}
