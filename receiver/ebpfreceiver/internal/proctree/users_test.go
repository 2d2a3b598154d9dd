package proctree

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUsersNamesAndRereads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	require.NoError(t, os.WriteFile(path, []byte("root:x:0:0:root:/root:/bin/sh\n# comment\nbad line\nalice:x:1000:1000::/home/alice:/bin/sh\nalias:x:1000:1000::/:/bin/sh\n"), 0o600))
	now := time.Unix(100, 0)
	u := NewUsers(path)
	u.now = func() time.Time { return now }
	assert.Equal(t, "root", u.Name(0))
	assert.Equal(t, "alice", u.Name(1000), "the first name of a uid wins")
	assert.Equal(t, "", u.Name(4242))

	// A new user appears once the file changed and the recheck interval passed.
	require.NoError(t, os.WriteFile(path, []byte("root:x:0:0:root:/root:/bin/sh\nbob:x:4242:4242::/:/bin/sh\n"), 0o600))
	require.NoError(t, os.Chtimes(path, time.Unix(5000, 0), time.Unix(5000, 0)))
	assert.Equal(t, "", u.Name(4242), "not rechecked within the interval")
	now = now.Add(2 * time.Second)
	assert.Equal(t, "bob", u.Name(4242))
	assert.Equal(t, "", u.Name(1000), "alice is gone")

	require.NoError(t, os.Remove(path))
	now = now.Add(2 * time.Second)
	assert.Equal(t, "", u.Name(0), "no file: no names")
	assert.Equal(t, "", NewUsers("").Name(0))
}
