package components

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/modfile"
)

type manifest struct {
	Dist struct {
		Name string `yaml:"name"`
	} `yaml:"dist"`
	Receivers  []entry `yaml:"receivers"`
	Processors []entry `yaml:"processors"`
	Exporters  []entry `yaml:"exporters"`
	Extensions []entry `yaml:"extensions"`
	Connectors []entry `yaml:"connectors"`
}

type entry struct {
	GoMod  string `yaml:"gomod"`
	Import string `yaml:"import"`
	Path   string `yaml:"path"`
}

func (e entry) pkg() string {
	if e.Import != "" {
		return e.Import
	}
	return strings.Fields(e.GoMod)[0]
}

func load(t *testing.T) (manifest, *modfile.File) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "builder-config.yaml"))
	require.NoError(t, err)
	var m manifest
	require.NoError(t, yaml.Unmarshal(raw, &m))
	gm, err := os.ReadFile(filepath.Join("..", "go.mod"))
	require.NoError(t, err)
	mf, err := modfile.Parse("go.mod", gm, nil)
	require.NoError(t, err)
	return m, mf
}

// ocb silently mixes collector releases when our go.mod and the manifest name
// different versions of a module: every manifest module must be required by
// go.mod at exactly the manifest's version.
func TestManifestMatchesGoMod(t *testing.T) {
	m, mf := load(t)
	req := map[string]string{}
	for _, r := range mf.Require {
		req[r.Mod.Path] = r.Mod.Version
	}
	all := append(append(append(append([]entry{}, m.Receivers...), m.Processors...), m.Exporters...), m.Extensions...)
	require.NotEmpty(t, all)
	for _, e := range all {
		f := strings.Fields(e.GoMod)
		require.Len(t, f, 2, "gomod %q must be 'module version'", e.GoMod)
		if f[0] == mf.Module.Mod.Path {
			assert.Equal(t, "./", e.Path, "%s: our own module is built from this checkout", e.Import)
			continue
		}
		v, ok := req[f[0]]
		if assert.True(t, ok, "%s is in builder-config.yaml but not in go.mod", f[0]) {
			assert.Equal(t, f[1], v, "%s: builder-config.yaml says %s, go.mod says %s", f[0], f[1], v)
		}
	}
	// The collector core itself must be at the release the manifest's modules use.
	assert.Equal(t, "v0.161.0", req["go.opentelemetry.io/collector/otelcol"])
	assert.Equal(t, "v1.67.0", req["go.opentelemetry.io/collector/pdata"])
}

// The in-process factory list and the manifest name the same packages.
func TestComponentsMatchManifest(t *testing.T) {
	m, _ := load(t)
	f, err := Components()
	require.NoError(t, err)
	pkgs := func(es []entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.pkg())
		}
		sort.Strings(out)
		return out
	}
	// Factory maps also hold deprecated aliases (otlp -> otlp_grpc): count distinct factories.
	assert.Equal(t, len(m.Receivers), distinct(f.Receivers))
	assert.Equal(t, len(m.Processors), distinct(f.Processors))
	assert.Equal(t, len(m.Exporters), distinct(f.Exporters))
	assert.Equal(t, len(m.Extensions), distinct(f.Extensions))
	imports := importsOf(t, "components.go")
	for _, group := range [][]entry{m.Receivers, m.Processors, m.Exporters, m.Extensions} {
		for _, p := range pkgs(group) {
			assert.Contains(t, imports, p, "builder-config.yaml lists %s but components.go does not", p)
		}
	}
}

func importsOf(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	return string(b)
}

func distinct[K comparable, V any](m map[K]V) int {
	seen := map[any]bool{}
	for _, v := range m {
		seen[any(v)] = true
	}
	return len(seen)
}
