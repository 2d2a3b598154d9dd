//go:build linux

package ebpfreceiver

import (
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policyctl"
)

// policyEngine is the receiver's handle on the policy controller, which owns
// all policy state (internal/policyctl). The read path reads only the current
// rule table (ctl.Rules()).
type policyEngine struct {
	ctl  *policyctl.Controller
	pods *policyctl.PodSets // nil without a k8s_meta extension
}

func newPolicyEngine(cfg policyctl.Config) *policyEngine {
	return &policyEngine{ctl: policyctl.New(cfg), pods: cfg.Pods}
}

func (e *policyEngine) start(paths []string) error { return e.ctl.Start(paths) }
func (e *policyEngine) close() error               { return e.ctl.Close() }
func (e *policyEngine) refreshPods()               { e.ctl.RefreshPods() }
