//go:build !linux

package ebpfreceiver

import (
	"errors"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

func newLogsReceiver(receiver.Settings, *Config, consumer.Logs) (receiver.Logs, error) {
	return nil, errors.New("ebpf receiver is only supported on linux")
}
