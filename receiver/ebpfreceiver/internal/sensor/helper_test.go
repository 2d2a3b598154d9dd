//go:build linux

package sensor

import (
	"os"
	"testing"

	"github.com/vigilsec/vigil/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.RunHelperIfAsked() // runs of this binary as testenv's helper
	os.Exit(m.Run())
}
