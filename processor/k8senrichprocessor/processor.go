package k8senrichprocessor // import "github.com/vigilsec/vigil/processor/k8senrichprocessor"

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigilsec/vigil/extension/k8smetaextension"
	"github.com/vigilsec/vigil/processor/k8senrichprocessor/internal/metadata"
)

// sendErrorLogInterval rate-limits the warning about failed sends of released resources.
const sendErrorLogInterval = 10 * time.Second

// signalOps adapts the processor to one signal (logs or metrics).
type signalOps[T any] struct {
	name string
	// removeIf calls f for each resource of a payload and removes those it returns true
	// for; f's second argument moves the resource into a payload of its own.
	removeIf func(T, func(pcommon.Resource, func() (T, pcommon.Resource)) bool)
	// empty reports whether a payload has no resources left.
	empty func(T) bool
	// merge moves several payloads into the first one.
	merge func([]T) T
	// consume sends a payload to the next consumer.
	consume func(context.Context, T) error
}

// enrichProcessor is the signal-independent core of the k8s_enrich processor.
type enrichProcessor[T any] struct {
	cfg       *Config
	set       component.TelemetrySettings
	ops       signalOps[T]
	enricher  *enricher
	telemetry *metadata.TelemetryBuilder
	attrs     metric.MeasurementOption
	pending   *pendingQueue[T]

	unsubscribe  func()
	lastSendWarn atomic.Int64
}

func newEnrichProcessor[T any](set component.TelemetrySettings, cfg *Config, ops signalOps[T]) (*enrichProcessor[T], error) {
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, fmt.Errorf("creating k8s_enrich telemetry: %w", err)
	}
	p := &enrichProcessor[T]{
		cfg:       cfg,
		set:       set,
		ops:       ops,
		enricher:  newEnricher(cfg),
		telemetry: tb,
		attrs:     metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", ops.name))),
	}
	p.pending = newPendingQueue(cfg.WaitForMetadata, cfg.MaxPending, p.enricher.enrich, p.release)
	return p, nil
}

func (p *enrichProcessor[T]) start(_ context.Context, host component.Host) error {
	ext, ok := host.GetExtensions()[p.cfg.Extension]
	if !ok {
		return fmt.Errorf("extension %q not found: add the k8s_meta extension to the service's extensions", p.cfg.Extension)
	}
	meta, ok := ext.(k8smetaextension.Metadata)
	if !ok {
		return fmt.Errorf("extension %q is not a k8s_meta extension", p.cfg.Extension)
	}
	p.enricher.meta = meta
	if err := p.telemetry.RegisterK8sEnrichPendingCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(int64(p.pending.len()), p.attrs)
		return nil
	}); err != nil {
		return fmt.Errorf("registering k8s_enrich telemetry: %w", err)
	}
	if p.cfg.WaitForMetadata > 0 {
		p.pending.start()
		// A pod appearing or changing is the moment held resources may become resolvable.
		p.unsubscribe = meta.Subscribe(func(_ *k8smetaextension.PodInfo, deleted bool) {
			if !deleted {
				p.pending.notify()
			}
		})
	}
	return nil
}

func (p *enrichProcessor[T]) shutdown(ctx context.Context) error {
	if p.unsubscribe != nil {
		p.unsubscribe()
	}
	if p.enricher.meta != nil {
		p.pending.stop(ctx)
	}
	p.telemetry.Shutdown()
	return nil
}

// process enriches the resources of a payload in place; resources to wait for are moved out
// into the pending queue.
func (p *enrichProcessor[T]) process(ctx context.Context, data T) (T, error) {
	var enriched, missed, heldN, full int64
	p.ops.removeIf(data, func(res pcommon.Resource, take func() (T, pcommon.Resource)) bool {
		switch p.enricher.enrich(res) {
		case outcomeEnriched:
			enriched++
			return false
		case outcomeNotApplicable:
			return false
		}
		if p.cfg.WaitForMetadata <= 0 {
			missed++
			return false
		}
		key, _ := lookupKey(res)
		switch p.pending.tryHold(key, take) {
		case heldOK:
			heldN++
			return true
		case holdQueueFull:
			full++
		}
		missed++
		return false
	})
	if enriched > 0 {
		p.telemetry.K8sEnrichResourcesEnriched.Add(ctx, enriched, p.attrs)
	}
	if missed > 0 {
		p.telemetry.K8sEnrichMisses.Add(ctx, missed, p.attrs)
	}
	if heldN > 0 {
		p.telemetry.K8sEnrichHeld.Add(ctx, heldN, p.attrs)
	}
	if full > 0 {
		p.telemetry.K8sEnrichQueueFull.Add(ctx, full, p.attrs)
	}
	if p.ops.empty(data) {
		return data, processorhelper.ErrSkipProcessingData
	}
	return data, nil
}

// release sends resources that were held, enriched or not, to the next consumer.
func (p *enrichProcessor[T]) release(ctx context.Context, items []T, enriched, missed int) {
	if enriched > 0 {
		p.telemetry.K8sEnrichResourcesEnriched.Add(ctx, int64(enriched), p.attrs)
	}
	if missed > 0 {
		p.telemetry.K8sEnrichMisses.Add(ctx, int64(missed), p.attrs)
	}
	if err := p.ops.consume(ctx, p.ops.merge(items)); err != nil {
		now := time.Now().UnixNano()
		last := p.lastSendWarn.Load()
		if now-last >= int64(sendErrorLogInterval) && p.lastSendWarn.CompareAndSwap(last, now) {
			p.set.Logger.Warn("sending held resources to the next consumer failed", zap.Error(err))
		}
	}
}

func logsOps(next func(context.Context, plog.Logs) error) signalOps[plog.Logs] {
	return signalOps[plog.Logs]{
		name: "logs",
		removeIf: func(ld plog.Logs, f func(pcommon.Resource, func() (plog.Logs, pcommon.Resource)) bool) {
			ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
				return f(rl.Resource(), func() (plog.Logs, pcommon.Resource) {
					out := plog.NewLogs()
					dst := out.ResourceLogs().AppendEmpty()
					rl.MoveTo(dst)
					return out, dst.Resource()
				})
			})
		},
		empty: func(ld plog.Logs) bool { return ld.ResourceLogs().Len() == 0 },
		merge: func(items []plog.Logs) plog.Logs {
			out := items[0]
			for _, it := range items[1:] {
				it.ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
			}
			return out
		},
		consume: next,
	}
}

func metricsOps(next func(context.Context, pmetric.Metrics) error) signalOps[pmetric.Metrics] {
	return signalOps[pmetric.Metrics]{
		name: "metrics",
		removeIf: func(md pmetric.Metrics, f func(pcommon.Resource, func() (pmetric.Metrics, pcommon.Resource)) bool) {
			md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
				return f(rm.Resource(), func() (pmetric.Metrics, pcommon.Resource) {
					out := pmetric.NewMetrics()
					dst := out.ResourceMetrics().AppendEmpty()
					rm.MoveTo(dst)
					return out, dst.Resource()
				})
			})
		},
		empty: func(md pmetric.Metrics) bool { return md.ResourceMetrics().Len() == 0 },
		merge: func(items []pmetric.Metrics) pmetric.Metrics {
			out := items[0]
			for _, it := range items[1:] {
				it.ResourceMetrics().MoveAndAppendTo(out.ResourceMetrics())
			}
			return out
		},
		consume: next,
	}
}

var errNilNext = errors.New("nil next consumer")
