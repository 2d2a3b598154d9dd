//go:build linux

package sensor

import "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"

// sysRule compiles a syscall-kind rule: it has no filter keys (the selector and
// the event's rule mask decide), only its hooks.
func (c *compiler) sysRule(r *policy.Rule, act policy.Action, rs ruleSlot) {
	c.plan.SysEvents[r.Event] = true
	c.plan.sysRules[r.Event] |= rs.bit
	if act == policy.ActionDeny {
		// Only possible with BPF LSM (CheckImplemented): the event's LSM hooks.
		c.onLSM(rs)
		c.plan.SysLSM[r.Event] = true
	}
}
