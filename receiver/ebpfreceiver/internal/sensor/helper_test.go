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

// runHelper runs bin as the helper for one action and returns its outcome.
func runHelper(t *testing.T, bin, act string) string { return testenv.RunHelper(t, bin, act) }
