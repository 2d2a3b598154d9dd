package k8senrichprocessor // import "github.com/vigilsec/vigil/processor/k8senrichprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/vigilsec/vigil/processor/k8senrichprocessor/internal/metadata"
)

// NewFactory returns the factory of the k8s_enrich processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithLogs(createLogs, metadata.LogsStability),
		processor.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

func createLogs(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Logs) (processor.Logs, error) {
	if next == nil {
		return nil, errNilNext
	}
	p, err := newEnrichProcessor(set.TelemetrySettings, cfg.(*Config), logsOps(next.ConsumeLogs))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewLogs(ctx, set, cfg, next, p.process,
		// The processor adds resource attributes and moves held resources out.
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown))
}

func createMetrics(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Metrics) (processor.Metrics, error) {
	if next == nil {
		return nil, errNilNext
	}
	p, err := newEnrichProcessor(set.TelemetrySettings, cfg.(*Config), metricsOps(next.ConsumeMetrics))
	if err != nil {
		return nil, err
	}
	return processorhelper.NewMetrics(ctx, set, cfg, next, p.process,
		// The processor adds resource attributes and moves held resources out.
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown))
}
