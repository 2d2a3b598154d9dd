//go:build linux

// Package policyctl owns the ebpf receiver's policy state: it watches the
// policy files, compiles them, admits the policies that fit the kernel maps,
// attaches the hooks they need, writes the maps (all or nothing), keeps the
// cgroup sets of Kubernetes selectors current and attributes the kernel's rule
// counters to rules. The read path sees only the rule table (Rules), an
// immutable snapshot swapped atomically on each successful apply.
package policyctl

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/features"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// Config is what a Controller works with.
type Config struct {
	Logger    *zap.Logger
	Telemetry *metadata.TelemetryBuilder
	// Host receives the component status (policy errors).
	Host component.Host
	// Process owns the policy maps; Sensors the policy hooks.
	Process *sensor.Process
	Sensors *sensor.Policy
	// EmitAll: filter_in_user_space (the kernel emits every file.open).
	EmitAll bool
	// Caps are what policies may use on this kernel (CapabilitiesOf).
	Caps policy.Capabilities
	// Pods resolves Kubernetes selectors; nil without a k8s_meta extension.
	Pods *PodSets
}

// Controller loads policy files, compiles them into the kernel maps and keeps
// them current as files change. A bad file, or one whose entries do not fit
// the kernel maps, is rejected, logged once, counted and reported in the
// component status; every other policy keeps running.
type Controller struct {
	cfg Config

	mu       sync.Mutex // serialises applies
	last     policy.Set // the set last delivered by the watcher, reapplied when pods change
	lastSets map[string][]uint64
	applied  map[string]bool // the policies in force
	slots    *policy.Slots
	lastErrs map[string]bool
	watcher  *policy.Watcher
	rules    atomic.Pointer[sensor.RuleTable]
	loaded   atomic.Int64
	// user is what the set's rules files loaded to; userSet its rule set, read
	// by the pipeline's rule stage (userrules.go).
	user    rulestage.Loaded
	userSet atomic.Pointer[rulestage.Set]
	userN   [3]atomic.Int64 // loaded, skipped, unfiltered

	// apply writes a map image (Process.Apply); a field so tests can fail it.
	apply func(img *sensor.MapImage, emitAll bool) error

	// Kernel rule counters are per slot and slots are reused across reloads:
	// deltas are attributed to the rule that held the slot when they were read.
	hitsMu   sync.Mutex
	lastHits []uint64
	totals   map[sensor.RuleRef]int64
}

// New returns a controller; Start loads the policies.
func New(cfg Config) *Controller {
	return &Controller{cfg: cfg, slots: policy.NewSlots(), applied: map[string]bool{}, apply: cfg.Process.Apply}
}

// CapabilitiesOf turns probed kernel features into what policies may use. lsm is
// whether the in-kernel security hooks loaded (BPF LSM, or their fmod_ret
// build): they implement the denies and the LSM-only events.
func CapabilitiesOf(f features.Set, lsm bool) policy.Capabilities {
	return policy.Capabilities{
		LSM: lsm, Fentry: f.Fentry, Kprobe: f.Kprobe,
		CgroupSockAddr: f.CgroupSockAddr, SendSignal: f.SendSignal,
	}
}

// Start watches paths and applies the first set before it returns. Only an
// unusable path set is an error; bad files are reported and skipped.
func (c *Controller) Start(paths []string) error {
	w, err := policy.NewLinkedWatcher(paths, c.cfg.Caps, rulestage.Linker{}, c.reload)
	if err != nil {
		return err
	}
	c.watcher = w
	return w.Start(context.Background())
}

// Close stops watching. The maps keep what was applied (the sensors own them).
func (c *Controller) Close() error {
	if c.watcher == nil {
		return nil
	}
	return c.watcher.Close()
}

// Rules returns the rule table of the policies in force (nil before the first
// apply). The table is never modified: a new apply swaps in a new one.
func (c *Controller) Rules() *sensor.RuleTable { return c.rules.Load() }

// EmitAll reports whether the kernel emits every file.open
// (filter_in_user_space): the read path then decides with the rule table.
func (c *Controller) EmitAll() bool { return c.cfg.EmitAll }

// Errors returns the current policy errors, sorted (what the component status
// reports).
func (c *Controller) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.lastErrs))
	for e := range c.lastErrs {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// reload applies a new set of policies.
func (c *Controller) reload(set policy.Set) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = set
	c.loadRules(set)
	for _, f := range set.Files {
		if len(f.Notes) > 0 && f.Err == nil {
			// A converted Tetragon TracingPolicy: what the conversion ignored
			// or where its reports differ, once per load.
			c.cfg.Logger.Info("TracingPolicy converted", zap.String("file", f.Path), zap.Strings("notes", f.Notes))
		}
	}
	c.applyLocked(true)
}

// RefreshPods reapplies the policies when the cgroup sets of their Kubernetes
// selectors changed (pods started or stopped on this node).
func (c *Controller) RefreshPods() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.Pods == nil || c.rules.Load() == nil {
		return
	}
	if sets := c.cfg.Pods.sets(c.last.Policies); !reflect.DeepEqual(sets, c.lastSets) {
		c.applyLocked(false)
	}
}

// applyLocked runs watch -> check -> admit -> compile -> attach -> write for
// the last set. On a compile or write error the previous policies stay in
// force, in the maps and in the rule table alike.
func (c *Controller) applyLocked(logApplied bool) {
	set := c.last
	errs := map[string]bool{}
	for _, f := range set.Files {
		if f.Err != nil {
			errs[f.Err.Error()] = true
		}
	}
	if set.Err != nil {
		errs[set.Err.Error()] = true
	}
	var pols []*policy.Policy
	for _, p := range set.Policies {
		if err := p.CheckImplemented(c.cfg.Sensors.HasLSM()); err != nil {
			errs[err.Error()] = true
			continue
		}
		pols = append(pols, p)
	}
	pols = c.withGenerated(pols, errs) // the rules files' kernel filters, admitted after the policies
	var sets map[string][]uint64
	if c.cfg.Pods != nil {
		sets = c.cfg.Pods.sets(pols)
	} else {
		for _, p := range pols {
			if len(p.Selector.Namespaces)+len(p.Selector.PodLabels) > 0 {
				errs[p.Source+": selector.namespaces/pod_labels need the receiver's k8s_metadata extension: the policy selects no process"] = true
			}
		}
	}
	pols, topDropped := c.admit(pols, sets, errs)
	names := make([]string, len(pols))
	for i, p := range pols {
		names[i] = p.Name
	}
	slots, err := c.slots.Sync(names)
	var compiled *sensor.Compiled
	if err == nil {
		compiled, err = sensor.Compile(pols, slots, sets)
	}
	if err == nil {
		if c.cfg.Sensors.HasLSM() && !c.cfg.EmitAll {
			compiled.UseLSM()
		}
		if topDropped {
			compiled.DropTopFilter()
		}
		if aerr := c.cfg.Sensors.Ensure(compiled.Plan); aerr != nil {
			errs[aerr.Error()] = true // hooks that failed: their rules cannot fire
		}
		err = c.apply(compiled.Image, c.cfg.EmitAll)
	}
	if err != nil {
		errs[fmt.Sprintf("applying policies (previous policies stay in force): %v", err)] = true
	} else {
		c.collectHits() // attribute counts so far to the outgoing rules
		c.rules.Store(compiled.Rules)
		c.lastSets = sets
		c.applied = map[string]bool{}
		for _, n := range names {
			c.applied[n] = true
		}
		c.loaded.Store(int64(len(pols)))
		if logApplied {
			fields := []zap.Field{zap.Strings("policies", names), zap.Strings("hooks", sortedHooks(c.cfg.Sensors))}
			if why := c.cfg.Sensors.PrivilegeFallback(); why != nil {
				// Not per event: once per apply, like the hooks list.
				fields = append(fields, zap.String("privilege_change_hook",
					"tp_btf/sys_enter (a program on every syscall): the set*id syscalls' own tracepoints did not attach: "+why.Error()))
			}
			c.cfg.Logger.Info("policies applied", fields...)
		}
	}
	c.report(errs)
}

// admit keeps the policies whose map entries fit the kernel maps, the policies
// in force first (a new file cannot push out a running policy), then the
// others in file order. Each rejected policy gets an error naming its file,
// the key and the limit. topDropped says the admitted policies' top
// directories overflow top_dirs: the pre-filter is dropped instead.
func (c *Controller) admit(pols []*policy.Policy, sets map[string][]uint64, errs map[string]bool) (out []*policy.Policy, topDropped bool) {
	order := make([]*policy.Policy, 0, len(pols))
	for _, p := range pols {
		if c.applied[p.Name] {
			order = append(order, p)
		}
	}
	for _, p := range pols {
		if !c.applied[p.Name] {
			order = append(order, p)
		}
	}
	u := sensor.NewUsage(c.cfg.Process.Capacity())
	keep := map[*policy.Policy]bool{}
	for _, p := range order {
		if err := u.Admit(p, sets[p.Name]); err != nil {
			errs[err.Error()] = true
			continue
		}
		keep[p] = true
	}
	for _, p := range pols { // back to file order: slots and rule order as before
		if keep[p] {
			out = append(out, p)
		}
	}
	return out, u.TopDirsDropped
}

// report logs and counts each error once (not again on every reload while the
// file stays broken) and sets the component status.
func (c *Controller) report(errs map[string]bool) {
	var all []string
	for msg := range errs {
		all = append(all, msg)
		if !c.lastErrs[msg] {
			c.cfg.Logger.Error("policy rejected", zap.String("error", msg))
			c.cfg.Telemetry.EbpfPolicyErrors.Add(context.Background(), 1)
		}
	}
	c.lastErrs = errs
	if c.cfg.Host == nil {
		return
	}
	if len(all) == 0 {
		componentstatus.ReportStatus(c.cfg.Host, componentstatus.NewEvent(componentstatus.StatusOK))
		return
	}
	sort.Strings(all)
	componentstatus.ReportStatus(c.cfg.Host, componentstatus.NewRecoverableErrorEvent(errors.New(strings.Join(all, "; "))))
}

func sortedHooks(s *sensor.Policy) []string {
	h := s.Attached()
	sort.Strings(h)
	return h
}

// collectHits reads the kernel's per-slot counters and adds what changed since
// the last read to the rule currently holding each slot.
func (c *Controller) collectHits() map[sensor.RuleRef]int64 {
	c.hitsMu.Lock()
	defer c.hitsMu.Unlock()
	if c.totals == nil {
		c.totals = map[sensor.RuleRef]int64{}
	}
	rt := c.rules.Load()
	hits, err := c.cfg.Process.RuleHits()
	if err != nil {
		return c.totals
	}
	if c.lastHits == nil {
		c.lastHits = make([]uint64, len(hits))
	}
	for i, h := range hits {
		if d := h - c.lastHits[i]; d > 0 && rt != nil {
			if ref, ok := rt.Refs[i]; ok {
				ref.Cond = nil // one series per rule across reloads
				c.totals[ref] += int64(d)
			}
		}
		c.lastHits[i] = h
	}
	out := make(map[sensor.RuleRef]int64, len(c.totals))
	for k, v := range c.totals {
		out[k] = v
	}
	return out
}

// Observe reports kernel rule match counts and policy state.
func (c *Controller) Observe(o metric.Observer) {
	tb := c.cfg.Telemetry
	o.ObserveInt64(tb.EbpfPoliciesLoaded, c.loaded.Load())
	c.observeRules(o)
	for ref, n := range c.collectHits() {
		o.ObserveInt64(tb.EbpfRuleMatches, n, metric.WithAttributes(
			attribute.String("policy", ref.Policy), attribute.String("rule", ref.Rule),
			attribute.String("action", string(ref.Action))))
	}
}

// RuleHits returns each rule's match count from the kernel's rule counters
// since the controller started (cumulative; count rules included). Safe for
// concurrent use with Observe.
func (c *Controller) RuleHits() map[sensor.RuleRef]int64 { return c.collectHits() }

// Loaded returns how many policies run in the kernel now.
func (c *Controller) Loaded() int64 { return c.loaded.Load() }
