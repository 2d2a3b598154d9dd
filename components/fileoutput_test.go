//go:build linux

package components

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.yaml.in/yaml/v3"
)

// The shipped local configuration's events file is readable by the collector's user
// only, under the usual umask 022: the file exporter creates its files 0644 (there is
// no option), so the configuration has it create the directory 0700. The exporter is
// the distribution's own, configured from deploy/config/local.yaml.
func TestLocalConfigEventsFileIsPrivate(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "config", "local.yaml"))
	require.NoError(t, err)
	var doc struct {
		Exporters map[string]map[string]any `yaml:"exporters"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	section, ok := doc.Exporters["file"]
	require.True(t, ok, "local.yaml has a file exporter")

	f := fileexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*fileexporter.Config)
	require.NoError(t, confmap.NewFromStringMap(section).Unmarshal(cfg))
	require.Equal(t, "./out/vigil-events.json", cfg.Path)
	// Same relative layout, in a fresh directory: out/ does not exist yet.
	root := t.TempDir()
	cfg.Path = filepath.Join(root, "out", "vigil-events.json")
	require.NoError(t, cfg.Validate())

	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	exp, err := f.CreateLogs(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("process.exec")
	require.NoError(t, exp.ConsumeLogs(context.Background(), ld))
	require.NoError(t, exp.Shutdown(context.Background()))

	dir, err := os.Stat(filepath.Dir(cfg.Path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), dir.Mode().Perm(), "out/ is private to the collector's user")
	file, err := os.Stat(cfg.Path)
	require.NoError(t, err)
	assert.NotZero(t, file.Size(), "the record was written")
	// The file itself keeps the exporter's fixed 0644: the directory is what protects it.
	assert.Zero(t, dir.Mode().Perm()&0o077, "no group or other access to the directory")
}
