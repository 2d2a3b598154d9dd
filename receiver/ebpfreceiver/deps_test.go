package ebpfreceiver

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// listDeps returns the packages the non-test code of pkgs depends on.
func listDeps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goBin, append([]string{"list", "-deps"}, pkgs...)...).CombinedOutput()
	require.NoError(t, err, string(out))
	return strings.Fields(string(out))
}

func requireNoDeps(t *testing.T, deps []string, banned ...string) {
	t.Helper()
	require.NotEmpty(t, deps)
	for _, pkg := range deps {
		for _, b := range banned {
			if pkg == b || strings.HasPrefix(pkg, b+"/") {
				t.Errorf("non-test code depends on %s", pkg)
			}
		}
	}
}

// The lowest layer (the event model and the policy front end) knows no kernel
// object library, no pdata and no collector: rule engines, the policy CLI and
// tests use it without them, and the read path's stages meet only in it.
func TestLowerLayerDeps(t *testing.T) {
	deps := listDeps(t, "./internal/event", "./internal/policy", "./internal/catalog", "./internal/rules/...")
	require.Contains(t, deps, "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event")
	require.Contains(t, deps, "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy")
	require.Contains(t, deps, "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/catalog")
	require.Contains(t, deps, "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules")
	requireNoDeps(t, deps, "github.com/cilium/ebpf", "go.opentelemetry.io/collector")
}

// Dependencies run one way (DESIGN.md): the leaves (event, catalog, policy,
// proctree, cgroups, redact) import none of the stages above them.
func TestLeavesImportNoStage(t *testing.T) {
	const base = "github.com/vigilsec/vigil/receiver/ebpfreceiver"
	deps := listDeps(t, "./internal/event", "./internal/catalog", "./internal/policy",
		"./internal/proctree", "./internal/cgroups", "./internal/redact")
	requireNoDeps(t, deps, base+"/internal/sensor", base+"/internal/otlplogs", base+"/internal/policyctl",
		base+"/internal/rules")
	require.NotContains(t, deps, base, "a leaf imports the receiver package")
}

// Building OTLP knows events, not records: no cilium/ebpf and no sensor.
func TestOTLPBuilderDeps(t *testing.T) {
	deps := listDeps(t, "./internal/otlplogs")
	requireNoDeps(t, deps, "github.com/cilium/ebpf", "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor")
}
