//go:build linux

package ebpfreceiver

import (
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policyctl"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// policyEngine is the receiver's handle on the policy controller, which owns
// all policy state (internal/policyctl). The read path reads only emitAll and
// the current rule table (compiled.Load()).
type policyEngine struct {
	ctl      *policyctl.Controller
	pods     *policyctl.PodSets // nil without a k8s_meta extension
	emitAll  bool
	compiled ruleTables
}

func newPolicyEngine(cfg policyctl.Config) *policyEngine {
	ctl := policyctl.New(cfg)
	return &policyEngine{ctl: ctl, pods: cfg.Pods, emitAll: ctl.EmitAll(), compiled: ruleTables{ctl}}
}

// ruleTables hands out the controller's current rule table snapshot.
type ruleTables struct{ ctl *policyctl.Controller }

func (t ruleTables) Load() *sensor.RuleTable { return t.ctl.Rules() }

func (e *policyEngine) start(paths []string) error { return e.ctl.Start(paths) }
func (e *policyEngine) close() error               { return e.ctl.Close() }
func (e *policyEngine) refreshPods()               { e.ctl.RefreshPods() }
