//go:build !linux

package ebpfreceiver

import (
	"errors"

	"go.opentelemetry.io/collector/receiver"
)

func newSignalReceiver(receiver.Settings, *Config) (signalReceiver, error) {
	return nil, errors.New("ebpf receiver is only supported on linux")
}
