package policy

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse: parsing never panics, and a policy it accepts validates again,
// survives a capability check, and marshals back to YAML that parses to the
// same policy.
func FuzzParse(f *testing.F) {
	root := filepath.Join(repoRoot, "testdata", "policies")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f.Add(data)
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseBytes("fuzz.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatal("policy returned with an error")
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted policy does not re-validate: %v", err)
		}
		if err := p.CheckCapabilities(TypicalCapabilities()); err != nil {
			t.Fatalf("typical capabilities rejected an accepted policy: %v", err)
		}
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		q, err := ParseBytes("fuzz.yaml", out)
		if err != nil {
			t.Fatalf("marshalled policy does not parse: %v\n%s", err, out)
		}
		if !samePolicy(p, q) {
			t.Fatalf("round trip changed the policy:\n%#v\n%#v\n%s", p, q, out)
		}
		if !reflect.DeepEqual(q.Validate(), nil) {
			t.Fatal("round-tripped policy does not validate")
		}
	})
}
