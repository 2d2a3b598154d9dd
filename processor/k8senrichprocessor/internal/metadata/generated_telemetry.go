// This file follows the layout mdatagen generates from metadata.yaml, but it is maintained by
// hand: mdatagen cannot be installed in this project's build environment. Keep it in sync with
// metadata.yaml.

package metadata

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/trace"
)

func Meter(settings component.TelemetrySettings) metric.Meter {
	return settings.MeterProvider.Meter(ScopeName)
}

func Tracer(settings component.TelemetrySettings) trace.Tracer {
	return settings.TracerProvider.Tracer(ScopeName)
}

// TelemetryBuilder provides an interface for components to report telemetry
// as defined in metadata and user config.
type TelemetryBuilder struct {
	meter                      metric.Meter
	mu                         sync.Mutex
	registrations              []metric.Registration
	K8sEnrichHeld              metric.Int64Counter
	K8sEnrichMisses            metric.Int64Counter
	K8sEnrichPending           metric.Int64ObservableGauge
	K8sEnrichQueueFull         metric.Int64Counter
	K8sEnrichResourcesEnriched metric.Int64Counter
}

// TelemetryBuilderOption applies changes to default builder.
type TelemetryBuilderOption interface {
	apply(*TelemetryBuilder)
}

// RegisterK8sEnrichPendingCallback sets callback for observable K8sEnrichPending metric.
func (builder *TelemetryBuilder) RegisterK8sEnrichPendingCallback(cb metric.Int64Callback) error {
	reg, err := builder.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		return cb(ctx, &observerInt64{inst: builder.K8sEnrichPending, obs: o})
	}, builder.K8sEnrichPending)
	if err != nil {
		return err
	}
	builder.mu.Lock()
	defer builder.mu.Unlock()
	builder.registrations = append(builder.registrations, reg)
	return nil
}

type observerInt64 struct {
	embedded.Int64Observer
	inst metric.Int64Observable
	obs  metric.Observer
}

func (oi *observerInt64) Observe(value int64, opts ...metric.ObserveOption) {
	oi.obs.ObserveInt64(oi.inst, value, opts...)
}

// Shutdown unregister all registered callbacks for async instruments.
func (builder *TelemetryBuilder) Shutdown() {
	builder.mu.Lock()
	defer builder.mu.Unlock()
	for _, reg := range builder.registrations {
		_ = reg.Unregister()
	}
	builder.registrations = nil
}

// NewTelemetryBuilder provides a struct with methods to update all internal telemetry
// for a component
func NewTelemetryBuilder(settings component.TelemetrySettings, options ...TelemetryBuilderOption) (*TelemetryBuilder, error) {
	builder := TelemetryBuilder{}
	for _, op := range options {
		op.apply(&builder)
	}
	builder.meter = Meter(settings)
	var err, errs error
	builder.K8sEnrichHeld, err = builder.meter.Int64Counter(
		"otelcol_k8s_enrich_held",
		metric.WithDescription("Number of resources held in the pending queue waiting for metadata. [Alpha]"),
		metric.WithUnit("{resource}"),
	)
	errs = errors.Join(errs, err)
	builder.K8sEnrichMisses, err = builder.meter.Int64Counter(
		"otelcol_k8s_enrich_misses",
		metric.WithDescription("Number of resources with a container id or pod uid sent on unenriched because no pod was found (after waiting, or at once when the pending queue was full). [Alpha]"),
		metric.WithUnit("{resource}"),
	)
	errs = errors.Join(errs, err)
	builder.K8sEnrichPending, err = builder.meter.Int64ObservableGauge(
		"otelcol_k8s_enrich_pending",
		metric.WithDescription("Number of resources currently held in the pending queue. [Alpha]"),
		metric.WithUnit("{resource}"),
	)
	errs = errors.Join(errs, err)
	builder.K8sEnrichQueueFull, err = builder.meter.Int64Counter(
		"otelcol_k8s_enrich_queue_full",
		metric.WithDescription("Number of resources sent on unenriched at once because the pending queue was full. [Alpha]"),
		metric.WithUnit("{resource}"),
	)
	errs = errors.Join(errs, err)
	builder.K8sEnrichResourcesEnriched, err = builder.meter.Int64Counter(
		"otelcol_k8s_enrich_resources_enriched",
		metric.WithDescription("Number of resources enriched with Kubernetes metadata. [Alpha]"),
		metric.WithUnit("{resource}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
