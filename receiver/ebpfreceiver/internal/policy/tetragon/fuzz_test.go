package tetragon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy/tetragon"
)

// Convert never panics, and what it returns without error is a policy the
// loader parses (a converter bug would otherwise surface as a load error at
// the receiver).
func FuzzConvert(f *testing.F) {
	files, _ := filepath.Glob("testdata/library/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(kprobe("security_file_open", "0:file", "- matchArgs:\n  - index: 0\n    operator: Prefix\n    values: [/etc]\n  matchActions:\n  - action: Sigkill")))
	f.Add([]byte(kprobe("tcp_connect", "0:sock", "- matchArgs:\n  - index: 0\n    operator: DAddr\n    values: [10.0.0.1]\n  - index: 0\n    operator: DPort\n    values: [\"443\"]")))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, skip := range []bool{false, true} {
			res, err := tetragon.Convert("f.yaml", data, tetragon.Options{SkipUnsupported: skip})
			if err != nil {
				continue
			}
			if res.Name == "" || len(res.Lines) == 0 {
				t.Fatalf("empty result without an error")
			}
			// Values the converter passes through (paths, names) may still be
			// refused by the policy parser, but the text it writes is always a
			// well-formed policy: no YAML error, no unknown or duplicate key.
			if _, err := policy.ParseBytes("f.yaml", res.YAML); err != nil {
				for _, bad := range []string{"invalid YAML", "unknown key", "duplicate key", "must be a mapping", "must be a list", "must be a string"} {
					if strings.Contains(err.Error(), bad) {
						t.Fatalf("converter wrote a malformed policy (%v):\n%s", err, res.YAML)
					}
				}
			}
		}
	})
}
