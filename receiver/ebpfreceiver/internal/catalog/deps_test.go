package catalog

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The pure packages stay pure: policy and catalog import neither the eBPF
// library, pdata nor the collector, and the offline checker does not link the
// eBPF library (it was a 6.3 MB binary when it did).
func TestDependencyGuard(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go tool is needed to list dependencies")
	root := repoRoot(t)
	list := func(pkgs ...string) []string {
		cmd := exec.Command(goBin, append([]string{"list", "-deps"}, pkgs...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.Fields(string(out))
	}
	banned := func(pkgs []string, prefixes ...string) []string {
		var bad []string
		for _, p := range pkgs {
			for _, b := range prefixes {
				if p == b || strings.HasPrefix(p, b+"/") {
					bad = append(bad, p)
				}
			}
		}
		return bad
	}
	pure := list("./receiver/ebpfreceiver/internal/policy", "./receiver/ebpfreceiver/internal/catalog")
	require.Contains(t, pure, "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/catalog")
	require.Empty(t, banned(pure, "github.com/cilium/ebpf", "go.opentelemetry.io/collector"),
		"policy and catalog must not import cilium/ebpf, pdata or the collector")
	checker := list("./receiver/ebpfreceiver/cmd/vigil-policy")
	require.Contains(t, checker, "github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy")
	require.Empty(t, banned(checker, "github.com/cilium/ebpf"), "vigil-policy must not link cilium/ebpf")
}
