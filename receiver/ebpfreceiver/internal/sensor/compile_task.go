//go:build linux

package sensor

import (
	"slices"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// MapTaskNames is the map of the rules' process and parent names.
const MapTaskNames = "task_names"

// Which name of a task_names key (struct task_name_key.which).
const (
	nameOfProcess  = 0
	nameOfParent   = 1
	nameOfAncestor = 2
)

// taskNameKey is the task_names key of a name for rules of kind k.
func taskNameKey(k int, which uint8, name string) processTaskNameKey {
	key := processTaskNameKey{Kind: uint8(k), Which: which}
	for i := 0; i < len(name) && i < policy.CommLen; i++ {
		key.Name[i] = int8(name[i])
	}
	return key
}

// taskRule compiles a rule's task keys (the kernel part: its own keys
// narrowed by its condition): every kind has them. It returns the rule's
// capability mask (rule_cfg.caps).
func (c *compiler) taskRule(r *policy.Rule, rs ruleSlot) uint64 {
	tk := &c.img.taskKeys
	keyed := false
	if len(r.ProcessNames) > 0 {
		tk.NameRules[rs.kind] |= rs.bit
		for _, n := range r.ProcessNames {
			c.img.taskNames[taskNameKey(rs.kind, nameOfProcess, n)] |= rs.bit
		}
		keyed = true
	}
	if len(r.ParentNames) > 0 {
		tk.PnameRules[rs.kind] |= rs.bit
		if r.ParentsCond {
			tk.PnameCond[rs.kind] |= rs.bit
		}
		for _, n := range r.ParentNames {
			c.img.taskNames[taskNameKey(rs.kind, nameOfParent, n)] |= rs.bit
		}
		keyed = true
	}
	if len(r.AncestorNames) > 0 {
		tk.AnameRules[rs.kind] |= rs.bit
		for d := range r.Depth() {
			tk.AnameAt[rs.kind][d] |= rs.bit
		}
		if r.AncestorsOpen {
			tk.AnameOpen[rs.kind] |= rs.bit
		}
		if r.AncestorsCond {
			tk.AnameCond[rs.kind] |= rs.bit
		}
		for _, n := range r.AncestorNames {
			c.img.taskNames[taskNameKey(rs.kind, nameOfAncestor, n)] |= rs.bit
		}
		keyed = true
	}
	if r.TTY != nil {
		if *r.TTY {
			tk.TtyRules[rs.kind] |= rs.bit
		} else {
			tk.NottyRules[rs.kind] |= rs.bit
		}
		keyed = true
	}
	caps := r.CapMask()
	if caps != 0 {
		tk.CapRules[rs.kind] |= rs.bit
		keyed = true
	}
	if keyed {
		c.img.selector.TaskFilter = 1
	}
	return caps
}

// taskTest is a rule's task keys taken in Go (filter_in_user_space and the
// loader's exec decision), as task_keys_filter decides them on a process
// that was not re-parented: the parent and ancestors are the process cache's
// (user space's), which after a re-parenting are not the kernel's
// real_parent chain, so a policy's own parent and ancestor keys may hold
// here where the kernel's would not.
type taskTest struct {
	names, pnames []string
	tty           *bool
	caps          uint64
	anames        []string
	adepth        int
	aopen         bool
}

func taskTestOf(r *policy.Rule) taskTest {
	t := taskTest{names: r.ProcessNames, pnames: r.ParentNames, tty: r.TTY, caps: r.CapMask()}
	if len(r.AncestorNames) > 0 {
		t.anames, t.adepth, t.aopen = r.AncestorNames, r.Depth(), r.AncestorsOpen
	}
	return t
}

// holds reports whether every task key of the rule holds for p. Names
// compare as the kernel keeps them: cut to CommLen bytes.
func (k taskTest) holds(p FileProcess) bool {
	if k.names != nil && !slices.Contains(k.names, commOf(p.Name)) {
		return false
	}
	if k.pnames != nil && !slices.Contains(k.pnames, commOf(p.ParentName)) {
		return false
	}
	if k.tty != nil && *k.tty != p.TTY {
		return false
	}
	if k.anames != nil && !k.ancestorHolds(p) {
		return false
	}
	return k.caps == 0 || k.caps&p.CapEffective != 0
}

// ancestorHolds is the kernel's ancestor walk on the process cache's chain:
// a name of the set within the depth, or (aopen) a chain longer than it.
func (k taskTest) ancestorHolds(p FileProcess) bool {
	for i := 0; i < k.adepth && i < len(p.Ancestors); i++ {
		if slices.Contains(k.anames, commOf(p.Ancestors[i])) {
			return true
		}
	}
	return k.aopen && (len(p.Ancestors) > k.adepth || p.AncestorsCut)
}

func commOf(name string) string {
	if len(name) > policy.CommLen {
		return name[:policy.CommLen]
	}
	return name
}
