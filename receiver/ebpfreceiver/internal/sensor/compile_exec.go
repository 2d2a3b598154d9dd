//go:build linux

package sensor

import "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"

// execRule compiles a process.exec rule's binaries.
func (c *compiler) execRule(r *policy.Rule, act policy.Action, rs ruleSlot) {
	if len(r.Binaries) == 0 {
		c.img.selector.AnyFilter[KindExec] |= rs.bit
	}
	if act == policy.ActionDeny {
		// Only possible with BPF LSM (CheckImplemented): lsm/bprm_check_security.
		c.onLSM(rs)
		c.plan.ExecLSM = true
	}
	for _, b := range r.Binaries {
		c.execEntries = append(c.execEntries, pathEntry{b, true, rs.bit})
	}
}
