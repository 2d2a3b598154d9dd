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
	meter                  metric.Meter
	mu                     sync.Mutex
	registrations          []metric.Registration
	K8sMetaAPIErrors       metric.Int64Counter
	K8sMetaCacheContainers metric.Int64ObservableGauge
	K8sMetaCachePods       metric.Int64ObservableGauge
	K8sMetaLookupMisses    metric.Int64ObservableCounter
	K8sMetaLookups         metric.Int64ObservableCounter
}

// TelemetryBuilderOption applies changes to default builder.
type TelemetryBuilderOption interface {
	apply(*TelemetryBuilder)
}

func (builder *TelemetryBuilder) register(cb metric.Int64Callback, inst metric.Int64Observable) error {
	reg, err := builder.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		return cb(ctx, &observerInt64{inst: inst, obs: o})
	}, inst)
	if err != nil {
		return err
	}
	builder.mu.Lock()
	defer builder.mu.Unlock()
	builder.registrations = append(builder.registrations, reg)
	return nil
}

// RegisterK8sMetaCacheContainersCallback sets callback for observable K8sMetaCacheContainers metric.
func (builder *TelemetryBuilder) RegisterK8sMetaCacheContainersCallback(cb metric.Int64Callback) error {
	return builder.register(cb, builder.K8sMetaCacheContainers)
}

// RegisterK8sMetaCachePodsCallback sets callback for observable K8sMetaCachePods metric.
func (builder *TelemetryBuilder) RegisterK8sMetaCachePodsCallback(cb metric.Int64Callback) error {
	return builder.register(cb, builder.K8sMetaCachePods)
}

// RegisterK8sMetaLookupMissesCallback sets callback for observable K8sMetaLookupMisses metric.
func (builder *TelemetryBuilder) RegisterK8sMetaLookupMissesCallback(cb metric.Int64Callback) error {
	return builder.register(cb, builder.K8sMetaLookupMisses)
}

// RegisterK8sMetaLookupsCallback sets callback for observable K8sMetaLookups metric.
func (builder *TelemetryBuilder) RegisterK8sMetaLookupsCallback(cb metric.Int64Callback) error {
	return builder.register(cb, builder.K8sMetaLookups)
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
	builder.K8sMetaAPIErrors, err = builder.meter.Int64Counter(
		"otelcol_k8s_meta_api_errors",
		metric.WithDescription("Number of errors talking to the Kubernetes API server (list/watch failures, client set-up), by resource. [Alpha]"),
		metric.WithUnit("{error}"),
	)
	errs = errors.Join(errs, err)
	builder.K8sMetaCacheContainers, err = builder.meter.Int64ObservableGauge(
		"otelcol_k8s_meta_cache_containers",
		metric.WithDescription("Number of container ids indexed in the cache. [Alpha]"),
		metric.WithUnit("{container}"),
	)
	errs = errors.Join(errs, err)
	builder.K8sMetaCachePods, err = builder.meter.Int64ObservableGauge(
		"otelcol_k8s_meta_cache_pods",
		metric.WithDescription("Number of pods of this node held in the cache. [Alpha]"),
		metric.WithUnit("{pod}"),
	)
	errs = errors.Join(errs, err)
	builder.K8sMetaLookupMisses, err = builder.meter.Int64ObservableCounter(
		"otelcol_k8s_meta_lookup_misses",
		metric.WithDescription("Number of lookups that found nothing. [Alpha]"),
		metric.WithUnit("{lookup}"),
	)
	errs = errors.Join(errs, err)
	builder.K8sMetaLookups, err = builder.meter.Int64ObservableCounter(
		"otelcol_k8s_meta_lookups",
		metric.WithDescription("Number of lookups by container id or pod uid. [Alpha]"),
		metric.WithUnit("{lookup}"),
	)
	errs = errors.Join(errs, err)
	return &builder, errs
}
