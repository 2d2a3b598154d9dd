//go:build linux

package trigger_test

import (
	"os"
	"testing"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/trigger"
)

func TestMain(m *testing.M) {
	if ok, code := trigger.RunHelper(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
