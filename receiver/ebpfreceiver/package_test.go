package ebpfreceiver

import (
	"github.com/vigilsec/vigil/internal/testenv"
)

// runTestHelperIfAsked is the setup step of the generated TestMain (metadata.yaml,
// tests.goleak.setup): runs of this test binary as testenv's helper process do their
// work and exit here, before any test or leak check. The OpenTelemetry SDK's periodic
// readers are not used in these tests, so goleak ignores nothing.
func runTestHelperIfAsked() {
	testenv.RunHelperIfAsked()
}
