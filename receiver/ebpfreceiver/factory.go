package ebpfreceiver

import (
	"go.opentelemetry.io/collector/receiver"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
)

// NewFactory returns the factory of the ebpf receiver. The receivers it
// creates for one component ID are one instance serving the logs and the
// metrics signal (one set of kernel programs); only one ID may run at a time.
func NewFactory() receiver.Factory {
	reg := newInstances(newSignalReceiver)
	return receiver.NewFactory(metadata.Type, createDefaultConfig,
		receiver.WithLogs(reg.createLogs, metadata.LogsStability),
		receiver.WithMetrics(reg.createMetrics, metadata.MetricsStability))
}
