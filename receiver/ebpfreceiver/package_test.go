package ebpfreceiver

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The OpenTelemetry SDK's periodic readers are not used here; nothing may leak.
	goleak.VerifyTestMain(m)
}
