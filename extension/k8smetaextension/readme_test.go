package k8smetaextension

import (
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/docstest"
)

// The README's configuration table lists every key of Config with the factory's default.
func TestREADMEConfigTable(t *testing.T) {
	rows, err := docstest.ConfigTable("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if d := docstest.Diff(rows, docstest.ConfigDefaults(createDefaultConfig())); len(d) > 0 {
		t.Errorf("README.md's configuration table and Config disagree:\n%s", strings.Join(d, "\n"))
	}
}
