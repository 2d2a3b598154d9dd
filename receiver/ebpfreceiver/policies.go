//go:build linux

package ebpfreceiver

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
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// policyEngine loads policy files, compiles them into the kernel maps and keeps
// them current as files change. A bad file is rejected, logged once, counted and
// reported in the component status; every other policy keeps running.
type policyEngine struct {
	logger  *zap.Logger
	tb      *metadata.TelemetryBuilder
	host    component.Host
	proc    *sensor.Process
	sensors *sensor.Policy
	emitAll bool
	caps    policy.Capabilities

	mu       sync.Mutex // serialises reloads
	last     policy.Set // the set last delivered by the watcher, reapplied when pods change
	pods     *podSets   // nil without a k8s_meta extension
	lastSets map[string][]uint64
	slots    *policy.Slots
	lastErrs map[string]bool
	watcher  *policy.Watcher
	compiled atomic.Pointer[sensor.Compiled]
	loaded   atomic.Int64

	// Kernel rule counters are per slot and slots are reused across reloads:
	// deltas are attributed to the rule that held the slot when they were read.
	hitsMu   sync.Mutex
	lastHits []uint64
	totals   map[sensor.RuleRef]int64
}

// capabilitiesOf turns probed kernel features into what policies may use. lsm is
// whether the in-kernel security hooks loaded (BPF LSM, or their fmod_ret
// build): they implement the denies and the LSM-only events.
func capabilitiesOf(f features.Set, lsm bool) policy.Capabilities {
	return policy.Capabilities{
		LSM: lsm, Fentry: f.Fentry, Kprobe: f.Kprobe,
		CgroupSockAddr: f.CgroupSockAddr, SendSignal: f.SendSignal,
	}
}

func (e *policyEngine) start(paths []string) error {
	w, err := policy.NewWatcher(paths, e.caps, e.reload)
	if err != nil {
		return err
	}
	e.watcher = w
	// Start delivers the first set before it returns.
	return w.Start(context.Background())
}

func (e *policyEngine) close() error {
	if e.watcher == nil {
		return nil
	}
	return e.watcher.Close()
}

// reload applies a new set of policies: compile, attach the hooks they need,
// write the maps. On a compile or write error the previous policies stay.
func (e *policyEngine) reload(set policy.Set) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.last = set
	e.applyLocked(true)
}

// refreshPods reapplies the policies when the cgroup sets of their Kubernetes
// selectors changed (pods started or stopped on this node).
func (e *policyEngine) refreshPods() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pods == nil || e.compiled.Load() == nil {
		return
	}
	if sets := e.pods.sets(e.last.Policies); !reflect.DeepEqual(sets, e.lastSets) {
		e.applyLocked(false)
	}
}

func (e *policyEngine) applyLocked(logApplied bool) {
	set := e.last
	errs := map[string]bool{}
	var pols []*policy.Policy
	for _, f := range set.Files {
		if f.Err != nil {
			errs[f.Err.Error()] = true
		}
	}
	if set.Err != nil {
		errs[set.Err.Error()] = true
	}
	for _, p := range set.Policies {
		if err := sensor.CheckSupported(p, e.sensors.HasLSM()); err != nil {
			errs[err.Error()] = true
			continue
		}
		pols = append(pols, p)
	}
	names := make([]string, len(pols))
	for i, p := range pols {
		names[i] = p.Name
	}
	slots, err := e.slots.Sync(names)
	var sets map[string][]uint64
	if e.pods != nil {
		sets = e.pods.sets(pols)
	} else {
		for _, p := range pols {
			if len(p.Selector.Namespaces)+len(p.Selector.PodLabels) > 0 {
				errs[p.Source+": selector.namespaces/pod_labels need the receiver's k8s_metadata extension: the policy selects no process"] = true
			}
		}
	}
	var c *sensor.Compiled
	if err == nil {
		c, err = sensor.Compile(pols, slots, sets)
	}
	if err == nil && e.sensors.HasLSM() && !e.emitAll {
		c.UseLSM()
	}
	if err == nil {
		if aerr := e.sensors.Ensure(c); aerr != nil {
			errs[aerr.Error()] = true // hooks that failed: their rules cannot fire
		}
		err = e.proc.Apply(c, e.emitAll)
	}
	if err != nil {
		errs[fmt.Sprintf("applying policies (previous policies stay in force): %v", err)] = true
	} else {
		e.collectHits() // attribute counts so far to the outgoing rules
		e.compiled.Store(c)
		e.lastSets = sets
		e.loaded.Store(int64(len(pols)))
		if logApplied {
			e.logger.Info("policies applied", zap.Strings("policies", names), zap.Strings("hooks", sortedHooks(e.sensors)))
		}
	}
	e.report(errs)
}

// report logs and counts each error once (not again on every reload while the
// file stays broken) and sets the component status.
func (e *policyEngine) report(errs map[string]bool) {
	var all []string
	for msg := range errs {
		all = append(all, msg)
		if !e.lastErrs[msg] {
			e.logger.Error("policy rejected", zap.String("error", msg))
			e.tb.EbpfPolicyErrors.Add(context.Background(), 1)
		}
	}
	e.lastErrs = errs
	if len(all) == 0 {
		componentstatus.ReportStatus(e.host, componentstatus.NewEvent(componentstatus.StatusOK))
		return
	}
	sort.Strings(all)
	componentstatus.ReportStatus(e.host, componentstatus.NewRecoverableErrorEvent(errors.New(strings.Join(all, "; "))))
}

func sortedHooks(s *sensor.Policy) []string {
	h := s.Attached()
	sort.Strings(h)
	return h
}

// collectHits reads the kernel's per-slot counters and adds what changed since
// the last read to the rule currently holding each slot.
func (e *policyEngine) collectHits() map[sensor.RuleRef]int64 {
	e.hitsMu.Lock()
	defer e.hitsMu.Unlock()
	if e.totals == nil {
		e.totals = map[sensor.RuleRef]int64{}
	}
	c := e.compiled.Load()
	hits, err := e.proc.RuleHits()
	if err != nil {
		return e.totals
	}
	if e.lastHits == nil {
		e.lastHits = make([]uint64, len(hits))
	}
	for i, h := range hits {
		if d := h - e.lastHits[i]; d > 0 && c != nil {
			if ref, ok := c.Refs[i]; ok {
				e.totals[ref] += int64(d)
			}
		}
		e.lastHits[i] = h
	}
	out := make(map[sensor.RuleRef]int64, len(e.totals))
	for k, v := range e.totals {
		out[k] = v
	}
	return out
}

// observe reports kernel rule match counts and policy state.
func (e *policyEngine) observe(o metric.Observer) {
	o.ObserveInt64(e.tb.EbpfPoliciesLoaded, e.loaded.Load())
	for ref, n := range e.collectHits() {
		o.ObserveInt64(e.tb.EbpfRuleMatches, n, metric.WithAttributes(
			attribute.String("policy", ref.Policy), attribute.String("rule", ref.Rule),
			attribute.String("action", string(ref.Action))))
	}
}
