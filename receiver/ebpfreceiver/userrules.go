//go:build linux

package ebpfreceiver

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// loadRules loads the set's rules files (once per delivered set, so once per
// change), publishes the rule set to the pipeline and logs the outcome.
func (e *policyEngine) loadRules(set policy.Set) {
	files := set.RulesFiles()
	e.user = rulestage.LoadFiles(files, policy.MaxPolicies-len(set.Policies))
	e.userSet.Store(e.user.Set)
	e.userN[0].Store(int64(e.user.Loaded))
	e.userN[1].Store(int64(e.user.Skipped))
	e.userN[2].Store(int64(e.user.Unfiltered))
	if len(files) == 0 {
		return
	}
	for _, w := range e.user.Warnings {
		e.logger.Warn("rules file", zap.String("note", w))
	}
	e.logger.Info("rules files loaded", zap.Int("files", e.user.Files), zap.Int("rules_loaded", e.user.Loaded),
		zap.Int("rules_skipped", e.user.Skipped), zap.Int("rules_disabled", e.user.Disabled), zap.Int("rules_unfiltered", e.user.Unfiltered),
		zap.Int("kernel_filters", len(e.user.Policies)))
}

// withGenerated adds the kernel policies generated for the rules files' rules to
// pols, and their problems to errs.
func (e *policyEngine) withGenerated(pols []*policy.Policy, errs map[string]bool) []*policy.Policy {
	for _, msg := range e.user.Problems {
		errs[msg] = true
	}
	if e.user.Skipped > 0 {
		errs[fmt.Sprintf("rules files: %d rules loaded, %d skipped", e.user.Loaded, e.user.Skipped)] = true
	}
	for _, p := range e.user.Policies {
		q := *p // CheckSupported may set an effective action: keep the generated one intact
		q.Rules = append([]policy.Rule(nil), p.Rules...)
		if err := sensor.CheckSupported(&q, e.sensors.HasLSM()); err != nil {
			errs[err.Error()] = true
			continue
		}
		pols = append(pols, &q)
	}
	return pols
}

func (e *policyEngine) observeRules(o metric.Observer) {
	for i, state := range []string{"loaded", "skipped", "unfiltered"} {
		o.ObserveInt64(e.tb.VigilReceiverUserRules, e.userN[i].Load(), metric.WithAttributes(attribute.String("state", state)))
	}
}
