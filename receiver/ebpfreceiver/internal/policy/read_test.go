//go:build linux

package policy

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Policy paths that are not regular files, or are too big, are rejected with a
// reason naming the file, at once, and never stop the other policies.
func TestLoadPathsRejectsUnreadableKinds(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), simple("a"))
	fifo := filepath.Join(dir, "b.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	big := filepath.Join(dir, "c.yaml")
	// A valid start, then a list of paths far past the limit.
	var sb strings.Builder
	sb.WriteString("name: big\nrules:\n  - event: file.open\n    paths:\n")
	for sb.Len() <= MaxFileBytes {
		sb.WriteString("      - /var/lib/some/long/path/that/fills/the/file\n")
	}
	writeFile(t, big, sb.String())
	writeFile(t, filepath.Join(dir, "d.yaml"), simple("d"))
	devZeroLink := filepath.Join(dir, "e.yaml")
	require.NoError(t, os.Symlink("/dev/zero", devZeroLink))

	type result struct {
		pols []*Policy
		errs []error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		pols, errs := LoadPaths([]string{dir})
		done <- result{pols, errs}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("loading a directory holding a FIFO and /dev/zero did not return within 10s")
	}
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, []string{"a", "d"}, policyNames(r.pols), "the good policies load beside the bad files")
	require.Len(t, r.errs, 3)
	assert.Equal(t, fifo+": is not a regular file (a named pipe); policies are read only from regular files", r.errs[0].Error())
	assert.Contains(t, r.errs[1].Error(), big+": is ")
	assert.Contains(t, r.errs[1].Error(), "bytes; a policy file may hold at most 1048576")
	assert.Equal(t, devZeroLink+": is not a regular file (a character device); policies are read only from regular files", r.errs[2].Error())

	// A configured path (not found in a directory) gets the same treatment.
	_, errs := LoadPaths([]string{"/dev/zero"})
	require.Len(t, errs, 1)
	assert.Equal(t, "/dev/zero: is not a regular file (a character device); policies are read only from regular files", errs[0].Error())
}

// A policy at the size limit still loads.
func TestLoadFileAtSizeLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	body := simple("edge")
	pad := MaxFileBytes - len(body)
	content := body + "#" + strings.Repeat("x", pad-2) + "\n"
	require.Len(t, content, MaxFileBytes)
	writeFile(t, path, content)
	p, err := LoadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "edge", p.Name)
}
