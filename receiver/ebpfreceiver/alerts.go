//go:build linux

package ebpfreceiver

import (
	"context"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/proctree"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// handleAlert turns a policy match from the kernel into an event.
func (r *logsReceiver) handleAlert(b []byte, observed time.Time) {
	ctx := context.Background()
	var a sensor.Alert
	if err := sensor.DecodeAlert(b, &a); err != nil {
		r.tb.EbpfEventsDropped.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "decode_error")))
		return
	}
	p, ok := r.cache.Get(a.TGID)
	if !ok {
		p = &proctree.Process{PID: a.TGID, PPID: a.PPID, UID: a.UID, EUID: a.EUID, GID: a.GID,
			ExecID: proctree.ExecID(a.StartBoottime, a.TGID), CgroupID: a.CgroupID}
	}
	if r.engine != nil && r.engine.emitAll && a.Kind == sensor.KindFile && a.Event == sensor.EvFileOpen {
		// filter_in_user_space: the kernel sent every open; decide here.
		c := r.engine.compiled.Load()
		if c == nil {
			return
		}
		a.Rules = c.MatchFileInUserSpace(a.Path, a.Access, sensor.FileProcess{UID: a.UID, Executable: p.Executable, InContainer: p.ContainerID != ""})
		if a.Rules == 0 {
			return
		}
	}
	m := r.matchOf(a.Kind, a.Rules, a.Applied)
	if m == nil {
		return // the policy was removed while the record was in flight
	}
	if a.Kind == sensor.KindNet && m.ref.Action == policy.ActionKill && m.ref.Enforce {
		// The cgroup hook refused the connect but cannot signal on every kernel.
		_ = syscall.Kill(int(a.TGID), syscall.SIGKILL)
	}
	name := string(m.ref.Event)
	r.pending.received1(eventAlert)
	out := &event{name: name, ktime: a.KTime, observed: observed, proc: p, match: m, alert: &a}
	if m.ref.Action == policy.ActionCount && !m.applied {
		return // count rules are metrics only (emit-all mode lands here)
	}
	r.enqueue(out)
}

type actionKey struct {
	ref     sensor.RuleRef
	outcome string
}

// match is the policy rule behind an event.
type match struct {
	ref     sensor.RuleRef
	applied bool
}

// matchOf resolves matched rule slots to the rule that decided, and counts the action.
func (r *logsReceiver) matchOf(kind int, rules uint64, applied bool) *match {
	if r.engine == nil {
		return nil
	}
	c := r.engine.compiled.Load()
	if c == nil {
		return nil
	}
	ref, ok := c.Strongest(kind, rules)
	if !ok {
		return nil
	}
	outcome := "posted"
	switch {
	case applied:
		outcome = "applied"
	case ref.Action == policy.ActionDeny || ref.Action == policy.ActionKill:
		outcome = "monitored"
	}
	key := actionKey{ref, outcome}
	if _, ok := r.actionAttrs[key]; !ok {
		// Bounded: rules x outcomes of the policies ever loaded.
		r.actionAttrs[key] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("policy", ref.Policy), attribute.String("rule", ref.Rule),
			attribute.String("action", string(ref.Action)), attribute.String("outcome", outcome)))
	}
	r.pending.actions[key]++ // added to the counter by flushCounts
	return &match{ref: ref, applied: applied}
}
