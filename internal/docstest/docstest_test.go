package docstest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Depth int      `mapstructure:"depth"`
	Extra []string `mapstructure:"extra"`
}

type sample struct {
	Size     int           `mapstructure:"size"`
	Interval time.Duration `mapstructure:"interval"`
	Name     string        `mapstructure:"name"`
	On       bool          `mapstructure:"on"`
	Ref      *string       `mapstructure:"ref"`
	Nested   inner         `mapstructure:"nested"`
	hidden   int
	Untagged int
}

func TestConfigDefaultsWalksNestedKeys(t *testing.T) {
	got := ConfigDefaults(&sample{Size: 4096, Interval: 200 * time.Millisecond, Nested: inner{Depth: 3}, hidden: 1, Untagged: 2})
	want := map[string]string{
		"size": "4096", "interval": "200ms", "name": `""`, "on": "false", "ref": "unset",
		"nested.depth": "3", "nested.extra": "[]",
	}
	if d := Diff(want, got); len(d) > 0 {
		t.Fatalf("ConfigDefaults differs:\n%s", strings.Join(d, "\n"))
	}
}

func TestConfigTableAndDiff(t *testing.T) {
	readme := "# x\n\n## Configuration\n\n| field | type | default | description |\n|---|---|---|---|\n" +
		"| `size` | int | `4096` (4 KiB) | a \\| b |\n| `nested.depth` | int | `2` | |\n| `gone` | bool | `true` | |\n| `ref` | ID | unset | |\n\n## Example\n\n| field | default |\n|---|---|\n| `other` | `1` |\n"
	path := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(path, []byte(readme), 0o600); err != nil {
		t.Fatal(err)
	}
	rows, err := ConfigTable(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows["size"] != "4096" || rows["ref"] != "unset" {
		t.Fatalf("rows = %v", rows)
	}
	if _, ok := rows["other"]; ok {
		t.Fatal("a table outside the Configuration section was read")
	}
	d := Diff(rows, map[string]string{"size": "4096", "nested.depth": "3", "ref": "unset", "new": "0"})
	want := []string{
		"gone: in the README table but not a key of the Config struct",
		"nested.depth: the README says default 2, the factory sets 3",
		"new: in the Config struct but not in the README table (default 0)",
	}
	if strings.Join(d, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Diff =\n%s\nwant\n%s", strings.Join(d, "\n"), strings.Join(want, "\n"))
	}
}

func TestConfigTableMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(path, []byte("# x\n\n## Configuration\n\nNone.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ConfigTable(path); err == nil {
		t.Fatal("a README without a configuration table passed")
	}
}
