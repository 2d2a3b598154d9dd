//go:build linux

package sensor

import (
	"fmt"
	"strconv"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/catalog"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// Rule kinds, mirrored from enum rule_kind: each kind has its own 64 rule slots.
const (
	KindFile  = int(processRuleKindKIND_FILE)
	KindNet   = int(processRuleKindKIND_NET)
	KindExec  = int(processRuleKindKIND_EXEC)
	KindSys   = int(processRuleKindKIND_SYS)
	numKinds  = int(processRuleKindKIND_MAX)
	maxRules  = 64
	binKeyLen = len(processBinKey{}.Path)
)

// Kernel actions, mirrored from enum vigil_action.
const (
	actPost  = uint8(processVigilActionACT_POST)
	actCount = uint8(processVigilActionACT_COUNT)
	actDeny  = uint8(processVigilActionACT_DENY)
	actKill  = uint8(processVigilActionACT_KILL)
)

// kernelKinds maps the catalog's rule kinds to the kernel's.
var kernelKinds = map[catalog.Kind]int{
	catalog.KindFile: KindFile, catalog.KindNetwork: KindNet, catalog.KindExec: KindExec, catalog.KindSyscall: KindSys,
}

// eventIDs maps the policy events to the kernel's event ids (enum vigil_event,
// the record ABI). What each event is (kind, filters, hooks) is the catalog's.
var eventIDs = map[policy.Event]uint8{
	policy.EventFileOpen:         uint8(processVigilEventEV_FILE_OPEN),
	policy.EventFileWrite:        uint8(processVigilEventEV_FILE_WRITE),
	policy.EventFileUnlink:       uint8(processVigilEventEV_FILE_UNLINK),
	policy.EventFileRename:       uint8(processVigilEventEV_FILE_RENAME),
	policy.EventFileChmod:        uint8(processVigilEventEV_FILE_CHMOD),
	policy.EventNetworkConnect:   uint8(processVigilEventEV_NET_CONNECT),
	policy.EventNetworkAccept:    uint8(processVigilEventEV_NET_ACCEPT),
	policy.EventNetworkListen:    uint8(processVigilEventEV_NET_LISTEN),
	policy.EventProcessExec:      uint8(processVigilEventEV_PROCESS_EXEC),
	policy.EventPrivilegeChange:  uint8(processVigilEventEV_PRIVILEGE_CHANGE),
	policy.EventNamespaceChange:  uint8(processVigilEventEV_NAMESPACE_CHANGE),
	policy.EventKernelModuleLoad: uint8(processVigilEventEV_MODULE_LOAD),
	policy.EventBPFLoad:          uint8(processVigilEventEV_BPF_LOAD),
	policy.EventProcessPtrace:    uint8(processVigilEventEV_PTRACE),
	policy.EventFileLink:         uint8(processVigilEventEV_FILE_LINK),
	policy.EventFileSymlink:      uint8(processVigilEventEV_FILE_SYMLINK),
	policy.EventNetworkSocket:    uint8(processVigilEventEV_NET_SOCKET),
	policy.EventFdDup:            uint8(processVigilEventEV_FD_DUP),
}

// EvFileOpen is the kernel's event id of file.open.
const EvFileOpen = uint8(processVigilEventEV_FILE_OPEN)

// kernelEvent returns an event's kernel id and rule kind.
func kernelEvent(e policy.Event) (id uint8, kind int, ok bool) {
	id, ok = eventIDs[e]
	if !ok {
		return 0, 0, false
	}
	row, ok := catalog.Lookup(string(e))
	if !ok {
		return 0, 0, false
	}
	kind, ok = kernelKinds[row.Kind]
	return id, kind, ok
}

// Compiled is a set of policies compiled for the kernel, in three parts with
// three readers: the map image (written into the kernel maps), the attach plan
// (the hooks to attach) and the rule table (what the read path needs to name
// the rule behind a record).
type Compiled struct {
	Image *MapImage
	Plan  *AttachPlan
	Rules *RuleTable
}

// compiler accumulates one Compile.
type compiler struct {
	img      *MapImage
	plan     *AttachPlan
	rules    *RuleTable
	nextRule [numKinds]int
	// Entries before closure (an LPM lookup returns the longest match only,
	// so each key must carry the masks of the shorter keys covering it).
	fileEntries, execEntries, binEntries []pathEntry
	net4Entries, net6Entries             []cidrEntry
	// suffixEntries are the name suffixes, substrs the name_contains and
	// raw_contains patterns (by target), with the rules having each.
	suffixEntries map[string]uint64
	substrs       [2]map[string]uint64
}

// Compile turns policies (already validated and capability-checked, each with a
// slot) into kernel map contents, hooks and rule table. Namespace and pod-label
// selectors are resolved by cgroupSets: policy name -> cgroup ids of the pods it
// selects.
func Compile(pols []*policy.Policy, slots map[string]int, cgroupSets map[string][]uint64) (*Compiled, error) {
	c := &compiler{img: newMapImage(), plan: newAttachPlan(), rules: newRuleTable(),
		suffixEntries: map[string]uint64{}, substrs: [2]map[string]uint64{{}, {}}}
	for _, p := range pols {
		slot, ok := slots[p.Name]
		if !ok || slot < 0 || slot >= maxRules {
			return nil, fmt.Errorf("policy %s has no slot", p.Name)
		}
		c.selector(p, slot, cgroupSets[p.Name])
		for ri := range p.Rules {
			if err := c.rule(p, slot, ri); err != nil {
				return nil, err
			}
		}
	}
	return c.finish(), nil
}

// selector compiles a policy's process selector into its policy bit.
func (c *compiler) selector(p *policy.Policy, slot int, cgroupIDs []uint64) {
	bit := uint64(1) << slot
	c.rules.Policies[slot] = p.Name
	c.rules.userSel[slot] = p
	s := &c.img.selector
	s.Active |= bit
	sel := p.Selector
	if len(sel.UIDs) > 0 {
		s.NeedUid |= bit
		for _, u := range sel.UIDs {
			c.img.selUID[u] |= bit
		}
	}
	if len(sel.Binaries)+len(sel.BinaryPrefixes) > 0 {
		s.NeedBinary |= bit
		for _, b := range sel.Binaries {
			c.binEntries = append(c.binEntries, pathEntry{b, true, bit})
		}
		for _, b := range sel.BinaryPrefixes {
			c.binEntries = append(c.binEntries, pathEntry{b, false, bit})
		}
	}
	if len(sel.Namespaces) > 0 || len(sel.PodLabels) > 0 {
		s.NeedCgroup |= bit
		for _, id := range cgroupIDs {
			c.img.cgroups[id] |= bit
		}
	}
	switch sel.Containers {
	case policy.ContainersOnly:
		s.ContainersOnly |= bit
	case policy.ContainersNone:
		s.ContainersNone |= bit
	}
}

// rule compiles one rule: its slot in its kind's rule table, then the kind's
// filters (compile_file.go, compile_net.go, compile_exec.go, compile_sys.go).
func (c *compiler) rule(p *policy.Policy, slot, ri int) error {
	orig := &p.Rules[ri]
	// The kernel carries the rule's kernel part: its keys narrowed by its
	// condition, and post when user space decides the condition.
	kr := orig.KernelRule()
	r := &kr
	key := "rules[" + strconv.Itoa(ri) + "]"
	id, k, ok := kernelEvent(r.Event)
	if !ok {
		return p.ErrorAt(key+".event", "%s is not implemented by this version's sensors", r.Event)
	}
	rs := c.nextRule[k]
	if rs >= maxRules {
		return p.ErrorAt(key, "more than %d rules of this kind across all policies", maxRules)
	}
	c.nextRule[k]++
	rule := ruleSlot{kind: k, slot: rs, bit: uint64(1) << rs}
	c.plan.Kinds[k] = true
	c.img.selector.KindPolicies[k] |= uint64(1) << slot
	act := r.EffectiveAction
	if act == "" {
		act = r.Action
	}
	cfg := processRuleCfg{Active: 1, Policy: uint8(slot), Action: kernelAction(act), Event: id}
	if p.Mode == policy.ModeEnforce {
		cfg.Enforce = 1
	}
	c.img.events[id] |= rule.bit
	refAct := orig.EffectiveAction
	if refAct == "" {
		refAct = orig.Action
	}
	c.rules.Refs[rule.index()] = RuleRef{Policy: p.Name, Rule: r.Name, Event: r.Event, Action: refAct,
		Severity: r.Severity, Enforce: p.Mode == policy.ModeEnforce, Cond: orig.Cond}
	if orig.Cond.UserSpace() {
		c.rules.conds = true
	}
	switch k {
	case KindFile:
		cfg.Access = c.fileRule(r, act, rule, slot)
		cfg.Oflags = r.OpenFlagMask()
		c.openStatics(r.Event, cfg.Access, cfg.Oflags, rule.bit)
	case KindExec:
		cfg.Access = c.execRule(r, act, rule, slot)
	case KindNet:
		c.netRule(r, rule)
	case KindSys:
		c.sysRule(r, act, rule)
	}
	cfg.Caps = c.taskRule(r, rule)
	c.img.rules[rule.index()] = cfg
	return nil
}

// ruleSlot is a rule's place in its kind's table.
type ruleSlot struct {
	kind, slot int
	bit        uint64
}

func (s ruleSlot) index() int { return s.kind*maxRules + s.slot }

// onLSM marks a rule as carried by a security hook (BPF LSM or fmod_ret).
func (c *compiler) onLSM(r ruleSlot) {
	c.img.selector.LsmRules[r.kind] |= r.bit
	c.plan.lsmRules[r.kind] |= r.bit
	c.plan.NeedsLSM = true
}

// finish closes the filter entries into LPM keys.
func (c *compiler) finish() *Compiled {
	if len(c.img.topDirs) > 0 {
		// The pre-filter drops an open outside the top directories unless a
		// candidate rule is in nontop_rules.
		c.img.selector.TopFilter = 1
	}
	closePaths(c.fileEntries, c.img.filePaths)
	closeSuffixes(c.suffixEntries, c.img.suffixes)
	for t, pats := range c.substrs {
		c.img.substrs[t] = substrTable(pats)
		c.img.substrCounts[t] = len(pats)
	}
	closePaths(c.execEntries, c.img.execBins)
	closePaths(c.binEntries, c.img.selBinary)
	for _, e := range closeCIDRs(c.net4Entries) {
		c.img.net4[net4Key(e.pfx)] |= e.mask
	}
	for _, e := range closeCIDRs(c.net6Entries) {
		c.img.net6[net6Key(e.pfx)] |= e.mask
	}
	return &Compiled{Image: c.img, Plan: c.plan, Rules: c.rules}
}

func kernelAction(a policy.Action) uint8 {
	switch a {
	case policy.ActionCount:
		return actCount
	case policy.ActionDeny:
		return actDeny
	case policy.ActionKill:
		return actKill
	}
	return actPost
}

// UseLSM moves every rule that a BPF LSM hook can carry to it: the file rules
// (lsm/file_open sees each open once, in the kernel's open path;
// lsm/file_permission each write) and the syscall-kind rules of events with
// security hooks. The syscall-exit hook and the syscall tracepoints, which put
// every syscall of every task on the kernel's slow path, are then not attached
// for them. Only where BPF LSM works.
func (c *Compiled) UseLSM() {
	p := c.Plan
	// Failed opens never reach a security hook (the lookup fails first): the
	// rules asking for them stay on the syscall-exit hook.
	if lsm := p.fileRules &^ p.failedRules; lsm != 0 {
		c.Image.selector.LsmRules[KindFile] = lsm
		p.lsmRules[KindFile] = lsm
		p.NeedsLSM = true
		p.fileLSM = p.failedRules == 0
	}
	for ev, rules := range p.sysRules {
		if len(securityHooks(ev)) > 0 {
			c.Image.selector.LsmRules[KindSys] |= rules
			p.lsmRules[KindSys] |= rules
			p.SysLSM[ev] = true
		}
	}
}

// securityHooks returns the names of an event's security hooks (LSM hook
// names), from the catalog.
func securityHooks(e policy.Event) []string {
	row, _ := catalog.Lookup(string(e))
	var out []string
	for _, h := range row.HooksOf(catalog.HookLSM) {
		out = append(out, h.Name)
	}
	return out
}

// securityHookOnly reports whether only the security hooks see an event.
func securityHookOnly(e policy.Event) bool {
	row, _ := catalog.Lookup(string(e))
	return row.SecurityHookOnly
}
