package k8smetaextension

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNoTypedClientDeps guards the distribution's idle memory: client-go's typed clientset
// and informers register every API group at process start (about 16 MB of RSS). Only the
// tests may import them.
func TestNoTypedClientDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".", "../../processor/k8senrichprocessor").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"k8s.io/client-go/kubernetes", "k8s.io/client-go/informers"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				t.Errorf("non-test code depends on %s", pkg)
			}
		}
	}
}
