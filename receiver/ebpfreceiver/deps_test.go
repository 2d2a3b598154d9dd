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
	deps := listDeps(t, "./internal/event", "./internal/policy/...", "./internal/catalog", "./internal/rules/...")
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

// The rule engine, its lowering and the rule stage are pure Go: the policy CLI
// explains rules with them, and they are tested without a kernel.
func TestRuleStageDeps(t *testing.T) {
	deps := listDeps(t, "./internal/rulestage", "./internal/rules/...")
	require.Contains(t, deps, "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/lower")
	requireNoDeps(t, deps, "github.com/cilium/ebpf", "go.opentelemetry.io/collector",
		"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor")
	// The engine knows no event model: only the stage joins the two.
	for _, pkg := range listDeps(t, "./internal/rules/...") {
		require.NotEqual(t, "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event", pkg, "package rules must stay source-agnostic")
	}
	for _, pkg := range listDeps(t, "./internal/event") {
		require.False(t, strings.HasPrefix(pkg, "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"), "package event must not import the rule engine")
	}
}

// The policy CLI checks, explains and replays offline: it links no kernel
// object library and no sensor.
func TestPolicyCLIDeps(t *testing.T) {
	deps := listDeps(t, "./cmd/vigil-policy")
	require.Contains(t, deps, "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage")
	requireNoDeps(t, deps, "github.com/cilium/ebpf", "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor")
}

// vigil-trigger and its detection table are a small standalone binary: no kernel object
// library, no collector, no sensor.
func TestTriggerDeps(t *testing.T) {
	deps := listDeps(t, "./internal/trigger", "./cmd/vigil-trigger")
	require.Contains(t, deps, "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/trigger")
	requireNoDeps(t, deps, "github.com/cilium/ebpf", "go.opentelemetry.io/collector",
		"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor",
		"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules")
}
