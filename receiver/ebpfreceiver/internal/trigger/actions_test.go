//go:build linux

package trigger_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/trigger"
)

// leftovers lists what vigil-trigger may leave behind in the shared directories.
func leftovers(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, d := range []string{os.TempDir(), "/dev/shm", "/var/tmp", "/var/cache", "/var/lib", "/var/log", "/run"} {
		m, err := filepath.Glob(filepath.Join(d, "vigil-trigger-*"))
		require.NoError(t, err)
		out = append(out, m...)
	}
	return out
}

// TestActionsRun performs every host action and look-alike for real: each succeeds (or, for
// a container case outside a container, says so) and leaves nothing behind.
func TestActionsRun(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the trigger actions need root")
		}
		t.Skip("the trigger actions need root")
	}
	before := leftovers(t)
	env, err := trigger.NewEnv("")
	require.NoError(t, err)
	for _, c := range trigger.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			for _, step := range []struct {
				what string
				f    func(*trigger.Env) error
			}{{"action", c.Action}, {"look-alike", c.LookAlike}} {
				err := step.f(env)
				switch {
				case c.Manual != "":
					assert.ErrorIs(t, err, trigger.ErrExternal, step.what)
				case c.Container && !env.InContainer:
					assert.ErrorIs(t, err, trigger.ErrNeedsContainer, step.what)
				case errors.Is(err, trigger.ErrUnsupported):
					t.Logf("%s: %v", step.what, err)
				case errors.Is(err, trigger.ErrNeedsContainer):
					t.Errorf("%s: host case asked for a container", step.what)
				default:
					assert.NoError(t, err, step.what)
				}
			}
		})
	}
	require.NoError(t, env.Close())
	assert.ElementsMatch(t, before, leftovers(t), "vigil-trigger left files behind")
}
