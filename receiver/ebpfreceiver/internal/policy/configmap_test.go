package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kubeletWrite updates dir the way the kubelet updates a ConfigMap volume (its atomic
// writer): the keys are written into a new hidden timestamped directory, a temporary
// ..data symlink to it is renamed over ..data, each key is a symlink to ..data/<key>
// (created when new, removed when the key is gone), and the previous directory is removed.
// The Helm chart mounts the policies ConfigMap this way (a directory, no subPath).
func kubeletWrite(t *testing.T, dir string, gen int, files map[string]string) {
	t.Helper()
	ts := fmt.Sprintf("..2026_12_01_10_00_%02d.%09d", gen, gen)
	require.NoError(t, os.Mkdir(filepath.Join(dir, ts), 0o755))
	for k, v := range files {
		writeFile(t, filepath.Join(dir, ts, k), v)
	}
	data := filepath.Join(dir, "..data")
	old, _ := os.Readlink(data)
	tmp := filepath.Join(dir, "..data_tmp")
	require.NoError(t, os.Symlink(ts, tmp))
	require.NoError(t, os.Rename(tmp, data))
	for k := range files {
		if _, err := os.Lstat(filepath.Join(dir, k)); os.IsNotExist(err) {
			require.NoError(t, os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)))
		}
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		if _, keep := files[e.Name()]; !keep && !strings.HasPrefix(e.Name(), "..") {
			require.NoError(t, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	if old != "" {
		require.NoError(t, os.RemoveAll(filepath.Join(dir, old)))
	}
}

func TestWatcherConfigMapVolume(t *testing.T) {
	dir := t.TempDir()
	kubeletWrite(t, dir, 1, map[string]string{"a.yaml": simple("a"), "b.yaml": simple("b"), "NOTES": "not a policy"})
	_, sets, s := startWatcher(t, []string{dir})
	assert.Equal(t, []string{"a", "b"}, policyNames(s.Policies), "the keys, not the hidden ..data entries")
	assert.Empty(t, s.Errors())

	// An edit of one key and a new key, applied by the ..data swap.
	kubeletWrite(t, dir, 2, map[string]string{"a.yaml": simple("a2"), "b.yaml": simple("b"), "c.yml": simple("c")})
	s = next(t, sets)
	assert.Equal(t, []string{"a2", "b", "c"}, policyNames(s.Policies))
	assert.Empty(t, s.Errors())

	// Keys removed from the ConfigMap disappear.
	kubeletWrite(t, dir, 3, map[string]string{"c.yml": simple("c")})
	s = next(t, sets)
	assert.Equal(t, []string{"c"}, policyNames(s.Policies))
	assert.Empty(t, s.Errors())

	// The kubelet's periodic resync with unchanged content delivers nothing.
	kubeletWrite(t, dir, 4, map[string]string{"c.yml": simple("c")})
	quiet(t, sets)

	// A bad edit keeps the running policy.
	kubeletWrite(t, dir, 5, map[string]string{"c.yml": "name: c\nrules:\n  - event: nope\n"})
	s = next(t, sets)
	assert.Equal(t, []string{"c"}, policyNames(s.Policies))
	assert.NotEmpty(t, s.Errors())
}
