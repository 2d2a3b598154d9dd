package sensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

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

// eventIDs maps the policy events this version's sensors implement to the kernel's
// event ids and rule kinds.
var eventIDs = map[policy.Event]struct {
	id   uint8
	kind int
}{
	policy.EventFileOpen:         {uint8(processVigilEventEV_FILE_OPEN), KindFile},
	policy.EventFileWrite:        {uint8(processVigilEventEV_FILE_WRITE), KindFile},
	policy.EventFileUnlink:       {uint8(processVigilEventEV_FILE_UNLINK), KindFile},
	policy.EventFileRename:       {uint8(processVigilEventEV_FILE_RENAME), KindFile},
	policy.EventFileChmod:        {uint8(processVigilEventEV_FILE_CHMOD), KindFile},
	policy.EventNetworkConnect:   {uint8(processVigilEventEV_NET_CONNECT), KindNet},
	policy.EventNetworkAccept:    {uint8(processVigilEventEV_NET_ACCEPT), KindNet},
	policy.EventNetworkListen:    {uint8(processVigilEventEV_NET_LISTEN), KindNet},
	policy.EventProcessExec:      {uint8(processVigilEventEV_PROCESS_EXEC), KindExec},
	policy.EventPrivilegeChange:  {uint8(processVigilEventEV_PRIVILEGE_CHANGE), KindSys},
	policy.EventNamespaceChange:  {uint8(processVigilEventEV_NAMESPACE_CHANGE), KindSys},
	policy.EventKernelModuleLoad: {uint8(processVigilEventEV_MODULE_LOAD), KindSys},
	policy.EventBPFLoad:          {uint8(processVigilEventEV_BPF_LOAD), KindSys},
	policy.EventProcessPtrace:    {uint8(processVigilEventEV_PTRACE), KindSys},
}

// EvFileOpen is the kernel's event id of file.open.
const EvFileOpen = uint8(processVigilEventEV_FILE_OPEN)

// Supported reports whether this version's sensors implement an event.
func Supported(e policy.Event) bool { _, ok := eventIDs[e]; return ok }

// RuleRef names the policy rule behind a kernel rule slot.
type RuleRef struct {
	Policy   string
	Rule     string
	Event    policy.Event
	Action   policy.Action // effective on this kernel
	Severity policy.Severity
	Enforce  bool
}

// Compiled is the kernel map contents for a set of policies.
type Compiled struct {
	selector  processSelectorCfg
	rules     [numKinds * maxRules]processRuleCfg
	selUID    map[uint32]uint64
	selBinary map[processBinKey]uint64
	filePaths map[processBinKey]uint64
	execBins  map[processBinKey]uint64
	net4      map[processNet4Key]uint64
	net6      map[processNet6Key]uint64
	ports     map[uint16]uint64
	anyPort   uint64
	cgroups   map[uint64]uint64
	topDirs   map[processTopKey]uint8
	events    [int(processVigilEventEV_MAX)]uint64
	// Refs names each used rule slot: index kind*64+slot.
	Refs map[int]RuleRef
	// Kinds says which rule kinds are in use (their programs must be attached).
	Kinds [numKinds]bool
	// NeedsLSM: a rule is enforced by a BPF LSM hook.
	NeedsLSM bool
	// fileLSM: every file rule runs in the LSM hook, none on syscall exit.
	fileLSM   bool
	fileRules uint64
	// ExecLSM: a process.exec deny rule needs lsm/bprm_check_security.
	ExecLSM bool
	// writeRules are the file.write rule slots, pathRules those of the lsm/path_* events.
	writeRules, pathRules uint64
	// sysRules are the rule slots of each syscall-kind event.
	sysRules map[policy.Event]uint64
	// PathEvents lists the file events of the lsm/path_* hooks in use.
	PathEvents map[policy.Event]bool
	// NetEvents lists the network events in use (each has its own hooks).
	NetEvents map[policy.Event]bool
	// SysEvents lists the syscall-kind events in use.
	SysEvents map[policy.Event]bool
	// SysLSM lists the syscall-kind events with rules on BPF LSM hooks.
	SysLSM map[policy.Event]bool
	// Policies are the compiled policy names, by slot.
	Policies map[int]string

	// User-space copies for filter_in_user_space (a debug mode that makes the
	// kernel emit every file.open): the same decisions, taken in Go.
	userFile []userFileRule
	userSel  map[int]*policy.Policy
}

type userFileRule struct {
	slot, policy int
	paths        []pathEntry
	access       uint8
}

// FileProcess is what user-space filtering needs to know about a process.
type FileProcess struct {
	UID         uint32
	Executable  string
	InContainer bool
}

// MatchFileInUserSpace is the kernel's file.open decision taken in Go: the mask
// of file rules that match. Used only in filter_in_user_space mode.
func (c *Compiled) MatchFileInUserSpace(path string, openFlags uint32, p FileProcess) uint64 {
	access := uint8(1)
	switch openFlags & 3 {
	case 1:
		access = 2
	case 2:
		access = 3
	}
	var out uint64
	for _, r := range c.userFile {
		if r.access != 0 && r.access&access == 0 {
			continue
		}
		if len(r.paths) > 0 {
			hit := false
			for _, e := range r.paths {
				if (e.exact && e.path == path) || (!e.exact && strings.HasPrefix(path, e.path)) {
					hit = true
					break
				}
			}
			if !hit {
				continue
			}
		}
		if !selects(c.userSel[r.policy], p) {
			continue
		}
		out |= 1 << r.slot
	}
	return out
}

func selects(pol *policy.Policy, p FileProcess) bool {
	if pol == nil {
		return false
	}
	s := pol.Selector
	if len(s.UIDs) > 0 && !slicesContains(s.UIDs, p.UID) {
		return false
	}
	if len(s.Binaries)+len(s.BinaryPrefixes) > 0 {
		ok := slicesContains(s.Binaries, p.Executable)
		for _, pre := range s.BinaryPrefixes {
			ok = ok || strings.HasPrefix(p.Executable, pre)
		}
		if !ok {
			return false
		}
	}
	switch s.Containers {
	case policy.ContainersOnly:
		return p.InContainer
	case policy.ContainersNone:
		return !p.InContainer
	}
	// Namespace and pod-label selectors need the cgroup sets: not evaluated here.
	return len(s.Namespaces) == 0 && len(s.PodLabels) == 0
}

func slicesContains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// lsmOnly are the events only the security hooks see, with their hook (LSM hook
// name: lsm/path_*, or fmod_ret on security_path_*).
var lsmOnly = map[policy.Event]string{
	policy.EventFileUnlink: "path_unlink",
	policy.EventFileRename: "path_rename",
	policy.EventFileChmod:  "path_chmod",
}

// sysSecHooks are the syscall-kind events the security hooks carry where they
// work, with their hooks (LSM hook names): they see the outcome (the
// credentials about to be committed, the module's file) instead of the request,
// can deny, and need no syscall tracepoint. namespace.change has no such hook
// and stays on the tracepoints.
var sysSecHooks = map[policy.Event][]string{
	policy.EventPrivilegeChange:  {"task_fix_setuid", "task_fix_setgid", "capset"},
	policy.EventKernelModuleLoad: {"kernel_read_file", "kernel_load_data"},
	policy.EventBPFLoad:          {"bpf"},
	policy.EventProcessPtrace:    {"ptrace_access_check"},
}

// canDeny says whether a sensor of this version can refuse an event, given
// whether BPF LSM works.
func canDeny(e policy.Event, lsm bool) bool {
	switch {
	case e == policy.EventNetworkConnect:
		return true // cgroup/connect4/6 (CheckCapabilities checked those)
	case sysSecHooks[e] != nil, e == policy.EventProcessExec, e == policy.EventFileOpen, e == policy.EventFileWrite:
		return lsm
	}
	_, ok := lsmOnly[e]
	return ok && lsm
}

// CheckSupported rejects rules whose event this version's sensors do not implement
// (or, for the path events, that need BPF LSM when lsm is false), and applies
// fallback: kill to deny rules on events no sensor can refuse here (canDeny).
func CheckSupported(p *policy.Policy, lsm bool) error {
	var errs []error
	for i := range p.Rules {
		r := &p.Rules[i]
		key := "rules[" + strconv.Itoa(i) + "]"
		if !Supported(r.Event) {
			errs = append(errs, p.ErrorAt(key+".event",
				"%s is not implemented by this version's sensors (supported: %s)", r.Event, supportedList()))
			continue
		}
		if hook, ok := lsmOnly[r.Event]; ok && !lsm {
			errs = append(errs, p.ErrorAt(key+".event",
				"%s needs BPF LSM or fmod_ret (lsm/%s), which this kernel does not offer", r.Event, hook))
			continue
		}
		if r.EffectiveAction != policy.ActionDeny || canDeny(r.Event, lsm) {
			continue
		}
		if r.Fallback == policy.ActionKill {
			r.EffectiveAction = policy.ActionKill
			continue
		}
		errs = append(errs, p.ErrorAt(key+".action",
			"deny for %s is not implemented by this version's sensors (deny works for file.*, process.exec, privilege.change, kernel.module_load, bpf.load and process.ptrace with BPF LSM, and for network.connect); add fallback: kill to kill instead", r.Event))
	}
	return errors.Join(errs...)
}

// nativeU32 reads 4 bytes in the host's byte order, as the kernel reads a u32 key field.
func nativeU32(b [4]byte) uint32 { return binary.NativeEndian.Uint32(b[:]) }

func supportedList() string {
	var s []string
	for e := range eventIDs {
		s = append(s, string(e))
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// Compile turns policies (already validated and capability-checked, each with a
// slot) into kernel map contents. Namespace and pod-label selectors are resolved
// by cgroupSets: policy name -> cgroup ids of the pods it selects.
func Compile(pols []*policy.Policy, slots map[string]int, cgroupSets map[string][]uint64) (*Compiled, error) {
	c := &Compiled{
		selUID: map[uint32]uint64{}, selBinary: map[processBinKey]uint64{},
		filePaths: map[processBinKey]uint64{}, execBins: map[processBinKey]uint64{},
		net4: map[processNet4Key]uint64{}, net6: map[processNet6Key]uint64{},
		ports: map[uint16]uint64{}, Refs: map[int]RuleRef{}, SysEvents: map[policy.Event]bool{},
		NetEvents: map[policy.Event]bool{}, PathEvents: map[policy.Event]bool{},
		Policies: map[int]string{}, userSel: map[int]*policy.Policy{}, topDirs: map[processTopKey]uint8{},
		sysRules: map[policy.Event]uint64{}, SysLSM: map[policy.Event]bool{},
	}
	topFilter := true
	var nextRule [numKinds]int
	selCgroup := map[uint64]uint64{}
	var fileEntries, execEntries, binEntries []pathEntry
	var net4Entries, net6Entries []cidrEntry
	for _, p := range pols {
		slot, ok := slots[p.Name]
		if !ok || slot < 0 || slot >= maxRules {
			return nil, fmt.Errorf("policy %s has no slot", p.Name)
		}
		bit := uint64(1) << slot
		c.Policies[slot] = p.Name
		c.userSel[slot] = p
		c.selector.Active |= bit
		sel := p.Selector
		if len(sel.UIDs) > 0 {
			c.selector.NeedUid |= bit
			for _, u := range sel.UIDs {
				c.selUID[u] |= bit
			}
		}
		if len(sel.Binaries)+len(sel.BinaryPrefixes) > 0 {
			c.selector.NeedBinary |= bit
			for _, b := range sel.Binaries {
				binEntries = append(binEntries, pathEntry{b, true, bit})
			}
			for _, b := range sel.BinaryPrefixes {
				binEntries = append(binEntries, pathEntry{b, false, bit})
			}
		}
		if len(sel.Namespaces) > 0 || len(sel.PodLabels) > 0 {
			c.selector.NeedCgroup |= bit
			for _, id := range cgroupSets[p.Name] {
				selCgroup[id] |= bit
			}
		}
		switch sel.Containers {
		case policy.ContainersOnly:
			c.selector.ContainersOnly |= bit
		case policy.ContainersNone:
			c.selector.ContainersNone |= bit
		}
		for ri := range p.Rules {
			r := &p.Rules[ri]
			ev, ok := eventIDs[r.Event]
			if !ok {
				return nil, p.ErrorAt("rules["+strconv.Itoa(ri)+"].event", "%s is not implemented by this version's sensors", r.Event)
			}
			k := ev.kind
			rs := nextRule[k]
			if rs >= maxRules {
				return nil, p.ErrorAt("rules["+strconv.Itoa(ri)+"]", "more than %d rules of this kind across all policies", maxRules)
			}
			nextRule[k]++
			rbit := uint64(1) << rs
			c.Kinds[k] = true
			c.selector.KindPolicies[k] |= bit
			act := r.EffectiveAction
			if act == "" {
				act = r.Action
			}
			cfg := processRuleCfg{Active: 1, Policy: uint8(slot), Action: kernelAction(act), Event: ev.id}
			if p.Mode == policy.ModeEnforce {
				cfg.Enforce = 1
			}
			for _, a := range r.Access {
				switch a {
				case policy.AccessRead:
					cfg.Access |= 1
				case policy.AccessWrite:
					cfg.Access |= 2
				}
			}
			c.rules[k*maxRules+rs] = cfg
			c.events[ev.id] |= rbit
			c.Refs[k*maxRules+rs] = RuleRef{Policy: p.Name, Rule: r.Name, Event: r.Event, Action: act,
				Severity: r.Severity, Enforce: p.Mode == policy.ModeEnforce}
			switch k {
			case KindFile:
				if len(r.Paths) == 0 {
					c.selector.AnyFilter[k] |= rbit
					topFilter = false
				}
				for _, path := range r.Paths {
					if top, ok := topComponent(path); ok {
						c.topDirs[top] = 1
					} else {
						topFilter = false
					}
				}
				if _, ok := lsmOnly[r.Event]; ok || act == policy.ActionDeny {
					// Path events and denies are only possible with BPF LSM
					// (CheckSupported, CheckCapabilities): the LSM hooks own them.
					c.selector.LsmRules[k] |= rbit
					c.NeedsLSM = true
				}
				if _, ok := lsmOnly[r.Event]; ok {
					c.PathEvents[r.Event] = true
					c.pathRules |= rbit
				}
				if r.Event == policy.EventFileWrite {
					c.writeRules |= rbit
				}
				c.fileRules |= rbit
				ur := userFileRule{slot: rs, policy: slot, access: cfg.Access}
				for _, path := range r.Paths {
					e := pathEntry{path, !strings.HasSuffix(path, "/"), rbit}
					fileEntries = append(fileEntries, e)
					ur.paths = append(ur.paths, e)
				}
				c.userFile = append(c.userFile, ur)
			case KindExec:
				if len(r.Binaries) == 0 {
					c.selector.AnyFilter[k] |= rbit
				}
				if act == policy.ActionDeny {
					// Only possible with BPF LSM (CheckSupported): lsm/bprm_check_security.
					c.selector.LsmRules[k] |= rbit
					c.NeedsLSM = true
					c.ExecLSM = true
				}
				for _, b := range r.Binaries {
					execEntries = append(execEntries, pathEntry{b, true, rbit})
				}
			case KindNet:
				c.NetEvents[r.Event] = true
				if len(r.CIDRs) == 0 {
					c.selector.AnyFilter[k] |= rbit
				}
				for _, pfx := range r.CIDRs {
					if pfx.Addr().Is4() {
						net4Entries = append(net4Entries, cidrEntry{pfx, rbit})
					} else {
						net6Entries = append(net6Entries, cidrEntry{pfx, rbit})
					}
				}
				if len(r.Ports) == 0 {
					c.anyPort |= rbit
				}
				for _, port := range r.Ports {
					c.ports[port] |= rbit
				}
			case KindSys:
				c.SysEvents[r.Event] = true
				c.sysRules[r.Event] |= rbit
				if act == policy.ActionDeny {
					// Only possible with BPF LSM (CheckSupported): the event's LSM hooks.
					c.selector.LsmRules[k] |= rbit
					c.NeedsLSM = true
					c.SysLSM[r.Event] = true
				}
			}
		}
	}
	c.cgroups = selCgroup
	if topFilter && len(c.topDirs) > 0 {
		c.selector.TopFilter = 1
	}
	closePaths(fileEntries, c.filePaths)
	closePaths(execEntries, c.execBins)
	closePaths(binEntries, c.selBinary)
	for _, e := range closeCIDRs(net4Entries) {
		k := processNet4Key{Prefixlen: uint32(e.pfx.Bits())}
		a := e.pfx.Addr().As4()
		// The kernel compares the address in network byte order, as bytes.
		k.Addr = nativeU32(a)
		c.net4[k] |= e.mask
	}
	for _, e := range closeCIDRs(net6Entries) {
		k := processNet6Key{Prefixlen: uint32(e.pfx.Bits()), Addr: e.pfx.Addr().As16()}
		c.net6[k] |= e.mask
	}
	return c, nil
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

type pathEntry struct {
	path  string
	exact bool
	mask  uint64
}

// key builds the LPM key: exact paths include their NUL so that only the exact
// path matches; directory prefixes do not.
func (e pathEntry) key() processBinKey {
	var k processBinKey
	n := len(e.path)
	for i := 0; i < n && i < binKeyLen; i++ {
		k.Path[i] = int8(e.path[i])
	}
	if e.exact {
		n++
	}
	k.Prefixlen = uint32(min(n, binKeyLen) * 8)
	return k
}

// covers reports whether e matches every path that o matches.
func (e pathEntry) covers(o pathEntry) bool {
	if e.exact {
		return o.exact && o.path == e.path
	}
	return strings.HasPrefix(o.path, e.path)
}

// closePaths writes each entry's key with the masks of every entry covering it:
// an LPM lookup returns only the longest match, which must carry the shorter ones.
func closePaths(entries []pathEntry, out map[processBinKey]uint64) {
	for _, e := range entries {
		m := uint64(0)
		for _, o := range entries {
			if o.covers(e) {
				m |= o.mask
			}
		}
		out[e.key()] |= m
	}
}

type cidrEntry struct {
	pfx  netip.Prefix
	mask uint64
}

func closeCIDRs(entries []cidrEntry) []cidrEntry {
	out := make([]cidrEntry, 0, len(entries))
	for _, e := range entries {
		m := uint64(0)
		for _, o := range entries {
			if o.pfx.Bits() <= e.pfx.Bits() && o.pfx.Contains(e.pfx.Addr()) {
				m |= o.mask
			}
		}
		out = append(out, cidrEntry{e.pfx.Masked(), m})
	}
	return out
}

// UseLSM moves every rule that a BPF LSM hook can carry to it: the file rules
// (lsm/file_open sees each open once, in the kernel's open path;
// lsm/file_permission each write) and the syscall-kind rules of sysSecHooks. The
// syscall-exit hook and the syscall tracepoints, which put every syscall of every
// task on the kernel's slow path, are then not attached for them. Only where BPF
// LSM works.
func (c *Compiled) UseLSM() {
	if c.fileRules != 0 {
		c.selector.LsmRules[KindFile] = c.fileRules
		c.NeedsLSM = true
		c.fileLSM = true
	}
	for ev, rules := range c.sysRules {
		if sysSecHooks[ev] != nil {
			c.selector.LsmRules[KindSys] |= rules
			c.SysLSM[ev] = true
		}
	}
}

// sysOnTracepoints says whether rules of a syscall-kind event are left to the
// tracepoints (not all carried by LSM hooks).
func (c *Compiled) sysOnTracepoints(ev policy.Event) bool {
	return c.sysRules[ev]&^c.selector.LsmRules[KindSys] != 0
}

// fileOpenOnLSM says whether file.open rules run in lsm/file_open.
func (c *Compiled) fileOpenOnLSM() bool {
	return (c.fileRules&^c.writeRules&^c.pathRules)&c.selector.LsmRules[KindFile] != 0
}

// writeOnLSM says whether file.write rules run in lsm/file_permission.
func (c *Compiled) writeOnLSM() bool { return c.writeRules&c.selector.LsmRules[KindFile] != 0 }

// Strongest returns the rule of a kind's matched mask whose action ranks highest
// (kill > deny > post > count), the lowest slot on ties: the kernel's choice.
func (c *Compiled) Strongest(kind int, mask uint64) (RuleRef, bool) {
	best, bestRank, found := RuleRef{}, -1, false
	for i := 0; i < maxRules; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		ref, ok := c.Refs[kind*maxRules+i]
		if !ok {
			continue
		}
		if r := actionRank(ref.Action); r > bestRank {
			best, bestRank, found = ref, r, true
		}
	}
	return best, found
}

func actionRank(a policy.Action) int {
	switch a {
	case policy.ActionKill:
		return 3
	case policy.ActionDeny:
		return 2
	case policy.ActionPost:
		return 1
	}
	return 0
}

// topComponent returns the kernel's top_dirs key for a rule path: its first
// component, truncated to 15 bytes (the kernel truncates the same way).
func topComponent(path string) (processTopKey, bool) {
	var k processTopKey
	rest := strings.TrimPrefix(path, "/")
	first, _, _ := strings.Cut(rest, "/")
	if first == "" {
		return k, false // "/" matches everything: no pre-filter
	}
	for i := 0; i < len(first) && i < len(k.Name)-1; i++ {
		k.Name[i] = int8(first[i])
	}
	return k, true
}
