//go:build linux

package ebpfreceiver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copyFile copies a system program into dir under a new name.
func copyFile(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	dst := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(dst, b, 0o755))
	return dst
}

// runCat runs cat on a file and says whether it was killed by SIGKILL.
func runCat(t *testing.T, cat, file string) (killed bool) {
	t.Helper()
	cmd := exec.Command(cat, file)
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws, ok := ee.Sys().(syscall.WaitStatus)
		require.True(t, ok)
		require.True(t, ws.Signaled(), "%s %s: %v", cat, file, err)
		require.Equal(t, syscall.SIGKILL, ws.Signal())
		return true
	}
	require.NoError(t, err)
	return false
}

// Two Tetragon TracingPolicies in policy_paths, converted on load, run in the
// kernel: a file-open watch with Sigkill limited by matchBinaries kills the
// selected program opening the watched file, and neither another program
// opening it nor the selected program opening a sibling file; an exec watch
// (security_bprm_check, Post) marks the exec of the named program and not of
// the program it was copied from.
func TestTetragonPoliciesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policies")
	require.NoError(t, os.Mkdir(pdir, 0o755))
	secret, other := filepath.Join(dir, "secret"), filepath.Join(dir, "secret.txt")
	require.NoError(t, os.WriteFile(secret, []byte("s"), 0o600))
	require.NoError(t, os.WriteFile(other, []byte("o"), 0o600))
	tcat := copyFile(t, "/bin/cat", dir, "tcat")
	ttrue := copyFile(t, "/bin/true", dir, "ttrue")

	writePolicy(t, pdir, "file-kill.yaml", fmt.Sprintf(`apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: secret-reader-kill
spec:
  kprobes:
  - call: security_file_open
    syscall: false
    args:
    - index: 0
      type: file
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: [%q]
      matchBinaries:
      - operator: In
        values: [%q]
      matchActions:
      - action: Sigkill
`, secret, tcat))
	writePolicy(t, pdir, "exec-post.yaml", fmt.Sprintf(`apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: true-copy-exec
spec:
  kprobes:
  - call: security_bprm_check
    syscall: false
    args:
    - index: 0
      type: linux_binprm
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: [%q]
`, ttrue))
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{pdir} }, nil)

	// Look-alikes first: nothing may be killed or recorded.
	assert.False(t, runCat(t, "/bin/cat", secret), "another program opening the file")
	assert.False(t, runCat(t, tcat, other), "the selected program opening another file")
	require.NoError(t, exec.Command("/bin/true").Run())

	// The triggers.
	assert.True(t, runCat(t, tcat, secret), "the selected program opening the watched file is killed")
	require.NoError(t, exec.Command(ttrue).Run())

	a := awaitRecord(t, s, "file.open", "file.path", secret)
	assert.Equal(t, "security_file_open", a["security_rule.name"])
	assert.Equal(t, "secret-reader-kill", a["security_rule.ruleset.name"])
	assert.Equal(t, "kill", a["vigil.policy.action"])
	assert.Equal(t, true, a["vigil.policy.applied"])
	assert.Equal(t, tcat, a["process.executable.path"])
	assert.Equal(t, "ERROR", a["severity"])

	e := awaitRecord(t, s, "process.exec", "process.executable.path", ttrue)
	assert.Equal(t, "security_bprm_check", e["security_rule.name"])
	assert.Equal(t, "true-copy-exec", e["security_rule.ruleset.name"])
	assert.Equal(t, "post", e["vigil.policy.action"])

	// The look-alikes left no policy record: one file.open record in all
	// (the killed open), and the original /bin/true exec matched no rule.
	time.Sleep(300 * time.Millisecond)
	assert.Len(t, recordsWhere(s.sink, "file.open", "file.path", secret), 1)
	assert.Empty(t, recordsWhere(s.sink, "file.open", "file.path", other))
	trueExecs := 0
	for _, path := range []string{"/bin/true", "/usr/bin/true"} {
		for _, r := range recordsWhere(s.sink, "process.exec", "process.executable.path", path) {
			trueExecs++
			_, matched := r.Attributes().Get("security_rule.name")
			assert.False(t, matched, "the exec of /bin/true matched a rule")
		}
	}
	assert.Positive(t, trueExecs, "the look-alike exec was seen (and matched nothing)")
	_, err := os.Stat(tcat)
	require.NoError(t, err)
}
