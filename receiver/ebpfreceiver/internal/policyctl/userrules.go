//go:build linux

package policyctl

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
)

// loadRules loads the set's rules files (once per delivered set, so once per
// change), publishes the rule set to the pipeline and logs the outcome.
func (c *Controller) loadRules(set policy.Set) {
	files := set.RulesFiles()
	c.user = rulestage.LoadFilesWith(rulestage.PolicyDefs(set.Policies), files, policy.MaxPolicies-len(set.Policies))
	c.userSet.Store(c.user.Set)
	// Policy rules whose condition is evaluated on every event of their kind
	// are unfiltered too.
	unfiltered := c.user.Unfiltered
	for _, p := range set.Policies {
		unfiltered += p.Unfiltered()
		for _, w := range p.Warnings() {
			c.cfg.Logger.Warn("policy", zap.String("note", w))
		}
	}
	c.userN[0].Store(int64(c.user.Loaded))
	c.userN[1].Store(int64(c.user.Skipped))
	c.userN[2].Store(int64(unfiltered))
	if len(files) == 0 {
		return
	}
	for _, w := range c.user.Warnings {
		c.cfg.Logger.Warn("rules file", zap.String("note", w))
	}
	c.cfg.Logger.Info("rules files loaded", zap.Int("files", c.user.Files), zap.Int("rules_loaded", c.user.Loaded),
		zap.Int("rules_skipped", c.user.Skipped), zap.Int("rules_disabled", c.user.Disabled), zap.Int("rules_unfiltered", c.user.Unfiltered),
		zap.Int("kernel_filters", len(c.user.Policies)))
}

// withGenerated adds the kernel policies generated for the rules files' rules to
// pols, and their problems to errs.
func (c *Controller) withGenerated(pols []*policy.Policy, errs map[string]bool) []*policy.Policy {
	for _, msg := range c.user.Problems {
		errs[msg] = true
	}
	if c.user.Skipped > 0 {
		errs[fmt.Sprintf("rules files: %d rules loaded, %d skipped", c.user.Loaded, c.user.Skipped)] = true
	}
	for _, p := range c.user.Policies {
		q := *p // the check may set an effective action: keep the generated one intact
		q.Rules = append([]policy.Rule(nil), p.Rules...)
		if err := q.CheckImplemented(c.cfg.Sensors.HasLSM()); err != nil {
			errs[fmt.Sprintf("kernel filter %q of a rules file's rule is not applied (the rule sees no such event): %v", q.Name, err)] = true
			continue
		}
		pols = append(pols, &q)
	}
	return pols
}

// UserRules returns the rule set of the rules files in force, nil before any
// load; the read path's rule stage evaluates it.
func (c *Controller) UserRules() *rulestage.Set { return c.userSet.Load() }

// RulesFiles returns what the last load of the rules files produced.
func (c *Controller) RulesFiles() rulestage.Loaded {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

func (c *Controller) observeRules(o metric.Observer) {
	for i, state := range []string{"loaded", "skipped", "unfiltered"} {
		o.ObserveInt64(c.cfg.Telemetry.EbpfUserRules, c.userN[i].Load(), metric.WithAttributes(attribute.String("state", state)))
	}
}
