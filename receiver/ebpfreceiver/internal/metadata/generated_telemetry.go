package metadata

import (
	"errors"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
)

// TelemetryBuilder holds the receiver's self-telemetry instruments (metadata.yaml).
type TelemetryBuilder struct {
	meter                              metric.Meter
	VigilReceiverEventsReceived        metric.Int64Counter
	VigilReceiverEventsDropped         metric.Int64Counter
	VigilReceiverKernelEventsLost      metric.Int64ObservableCounter
	VigilReceiverKernelErrors          metric.Int64ObservableCounter
	VigilReceiverProcessCacheEntries   metric.Int64ObservableGauge
	VigilReceiverProcessCacheEvictions metric.Int64ObservableCounter
	VigilReceiverPolicyErrors          metric.Int64Counter
	VigilReceiverPolicyActions         metric.Int64Counter
	VigilReceiverRuleMatches           metric.Int64ObservableCounter
	VigilReceiverPoliciesLoaded        metric.Int64ObservableGauge
	VigilReceiverKernelCapability      metric.Int64ObservableGauge
	VigilReceiverUserRules             metric.Int64ObservableGauge
	registrations                      []metric.Registration
}

// NewTelemetryBuilder creates the instruments from the component's meter provider.
func NewTelemetryBuilder(settings component.TelemetrySettings) (*TelemetryBuilder, error) {
	b := &TelemetryBuilder{meter: settings.MeterProvider.Meter(ScopeName)}
	var err, e error
	b.VigilReceiverEventsReceived, e = b.meter.Int64Counter("vigil_receiver_events_received",
		metric.WithDescription("Records read from the kernel ring buffer, by event name."), metric.WithUnit("{records}"))
	err = errors.Join(err, e)
	b.VigilReceiverEventsDropped, e = b.meter.Int64Counter("vigil_receiver_events_dropped",
		metric.WithDescription("Events lost in user space, by reason: queue_full, decode_error, consumer_refused."), metric.WithUnit("{events}"))
	err = errors.Join(err, e)
	b.VigilReceiverKernelEventsLost, e = b.meter.Int64ObservableCounter("vigil_receiver_kernel_events_lost",
		metric.WithDescription("Events the kernel could not write because the ring buffer was full, per CPU."), metric.WithUnit("{events}"))
	err = errors.Join(err, e)
	b.VigilReceiverKernelErrors, e = b.meter.Int64ObservableCounter("vigil_receiver_kernel_errors",
		metric.WithDescription("Kernel-side faults by kind: args_fault, scratch_miss."), metric.WithUnit("{errors}"))
	err = errors.Join(err, e)
	b.VigilReceiverProcessCacheEntries, e = b.meter.Int64ObservableGauge("vigil_receiver_process_cache_entries",
		metric.WithDescription("Processes in the cache, by state (live, exited)."), metric.WithUnit("{processes}"))
	err = errors.Join(err, e)
	b.VigilReceiverProcessCacheEvictions, e = b.meter.Int64ObservableCounter("vigil_receiver_process_cache_evictions",
		metric.WithDescription("Live processes evicted because the cache was full."), metric.WithUnit("{processes}"))
	err = errors.Join(err, e)
	b.VigilReceiverPolicyErrors, e = b.meter.Int64Counter("vigil_receiver_policy_errors",
		metric.WithDescription("Policy files rejected (parse, validation, capability or load errors); the running policies keep working."), metric.WithUnit("{errors}"))
	err = errors.Join(err, e)
	b.VigilReceiverPolicyActions, e = b.meter.Int64Counter("vigil_receiver_policy_actions",
		metric.WithDescription("Policy matches emitted, by policy, rule, action and outcome (applied, monitored: would have been applied in enforce mode, posted)."), metric.WithUnit("{events}"))
	err = errors.Join(err, e)
	b.VigilReceiverRuleMatches, e = b.meter.Int64ObservableCounter("vigil_receiver_rule_matches",
		metric.WithDescription("Rule matches counted in the kernel, by policy, rule and action (count rules send nothing else)."), metric.WithUnit("{events}"))
	err = errors.Join(err, e)
	b.VigilReceiverPoliciesLoaded, e = b.meter.Int64ObservableGauge("vigil_receiver_policies_loaded",
		metric.WithDescription("Policies running in the kernel."), metric.WithUnit("{policies}"))
	err = errors.Join(err, e)
	b.VigilReceiverKernelCapability, e = b.meter.Int64ObservableGauge("vigil_receiver_kernel_capability",
		metric.WithDescription("Kernel capabilities probed at start-up (1 present, 0 missing), by capability."), metric.WithUnit("1"))
	err = errors.Join(err, e)
	b.VigilReceiverUserRules, e = b.meter.Int64ObservableGauge("vigil_receiver_user_rules",
		metric.WithDescription("Rules of the loaded rules files, by state: loaded, skipped (did not load), unfiltered (loaded, but the kernel cannot narrow their events)."), metric.WithUnit("{rules}"))
	err = errors.Join(err, e)
	return b, err
}

// RegisterCallback registers an observer for the asynchronous instruments.
func (b *TelemetryBuilder) RegisterCallback(cb metric.Callback) error {
	reg, err := b.meter.RegisterCallback(cb,
		b.VigilReceiverKernelEventsLost, b.VigilReceiverKernelErrors,
		b.VigilReceiverProcessCacheEntries, b.VigilReceiverProcessCacheEvictions,
		b.VigilReceiverRuleMatches, b.VigilReceiverPoliciesLoaded, b.VigilReceiverKernelCapability,
		b.VigilReceiverUserRules)
	if err != nil {
		return err
	}
	b.registrations = append(b.registrations, reg)
	return nil
}

// Shutdown unregisters callbacks.
func (b *TelemetryBuilder) Shutdown() {
	for _, r := range b.registrations {
		_ = r.Unregister()
	}
	b.registrations = nil
}
