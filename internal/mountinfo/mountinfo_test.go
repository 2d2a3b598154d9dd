//go:build linux

package mountinfo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mountinfo")
	require.NoError(t, os.WriteFile(p, []byte(
		"22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"+
			"40 22 253:1 /etc /tmp/with\\040space rw master:3 - ext4 /dev/vda1 rw\n"+
			"41 22 0:61 /d /srv/x rw - tmpfs tmpfs rw\n"), 0o600))
	ms, err := Parse(p)
	require.NoError(t, err)
	assert.Equal(t, []Mount{
		{ID: 22, Parent: 1, Major: 253, Minor: 1, Root: "/", MountPoint: "/", FSType: "ext4"},
		{ID: 40, Parent: 22, Major: 253, Minor: 1, Root: "/etc", MountPoint: "/tmp/with space", FSType: "ext4"},
		{ID: 41, Parent: 22, Major: 0, Minor: 61, Root: "/d", MountPoint: "/srv/x", FSType: "tmpfs"},
	}, ms)
	require.NoError(t, os.WriteFile(p, []byte("22 1 253:1 / /\n"), 0o600))
	_, err = Parse(p)
	assert.ErrorContains(t, err, "line 1")
	_, err = Parse(filepath.Join(t.TempDir(), "missing"))
	assert.Error(t, err)
	assert.Equal(t, `a\b`, unescape(`a\134b`))
	assert.Equal(t, `a\9`, unescape(`a\9`), "not an escape")
}

// This host's own table parses, with a whole root mount.
func TestParseSelf(t *testing.T) {
	ms, err := Parse("/proc/self/mountinfo")
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	found := false
	for _, m := range ms {
		found = found || m.MountPoint == "/"
	}
	assert.True(t, found)
}
