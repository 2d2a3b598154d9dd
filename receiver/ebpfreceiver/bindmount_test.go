//go:build linux

package ebpfreceiver

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigilsec/vigil/internal/testenv"
)

// End to end: a file of a watched directory opened through a bind mount (made
// by a helper in a private mount namespace of its own) is reported with the
// path as opened (file.path) and its canonical path; a file of an unwatched
// directory through a bind mount is not.
func TestBindMountedWatchedDirRecord(t *testing.T) {
	dir := t.TempDir()
	watched, over, plain, over2 := filepath.Join(dir, "watched"), filepath.Join(dir, "over"), filepath.Join(dir, "plain"), filepath.Join(dir, "over2")
	for _, d := range []string{watched, over, plain, over2} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(watched, "secret"), []byte("s"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(plain, "note"), []byte("n"), 0o600))
	pdir := t.TempDir()
	writePolicy(t, pdir, "bind.yaml", filePolicy("bind-mounts", watched+"/"))
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{pdir} }, nil)

	bin := testenv.CopyTestBinary(t, "")
	through := filepath.Join(over, "secret")
	require.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(through, watched+"="+over)))
	require.Equal(t, "ok", testenv.RunHelper(t, bin, testenv.BindOpen(filepath.Join(over2, "note"), plain+"="+over2)))
	var recs []plog.LogRecord
	require.Eventually(t, func() bool {
		recs = recordsWhere(s.sink, "file.open", "file.path", through)
		return len(recs) == 1
	}, 5*time.Second, 20*time.Millisecond)
	a := recs[0].Attributes().AsRaw()
	assert.Equal(t, filepath.Join(watched, "secret"), a["vigil.file.canonical_path"])
	assert.NotContains(t, a, "vigil.file.canonical_path_unresolved")
	assert.Equal(t, "bind-mounts", a["security_rule.ruleset.name"])
	time.Sleep(300 * time.Millisecond) // the other open's record, were there one, is in by now
	assert.Empty(t, recordsWhere(s.sink, "file.open", "file.path", filepath.Join(over2, "note")), "an unwatched directory's bind mount")
}
