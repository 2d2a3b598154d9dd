package ebpfreceiver

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/vigilsec/vigil/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.RunHelperIfAsked() // runs of this binary as testenv's helper
	// The OpenTelemetry SDK's periodic readers are not used here; nothing may leak.
	// The containerd the container tests share is stopped before the leak check.
	goleak.VerifyTestMain(runThenStopContainerd{m})
}
