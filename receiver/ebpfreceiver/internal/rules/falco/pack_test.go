package falco

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// packDir is the default detection pack at the top of the repository.
const packDir = "../../../../../rules"

// packFiles lists the pack's rules files of dir in load order (name order).
func packFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	slices.Sort(m)
	require.NotEmpty(t, m, "no rules files in %s", dir)
	return m
}

// TestDefaultPackLoads: every rule of the default pack loads with the engine, with no
// skipped rule, no unreadable file and no note (an ignored key or a <NA> output field would
// be a mistake in the pack).
func TestDefaultPackLoads(t *testing.T) {
	files := packFiles(t, packDir)
	require.Equal(t, "00_vigil_macros.yaml", filepath.Base(files[0]), "the macros file must sort first")
	res := LoadFiles(files...)
	require.Empty(t, res.Errors)
	for _, s := range res.Skipped {
		t.Errorf("skipped: %s", s)
	}
	for _, n := range res.Notes {
		t.Errorf("note: %s", n)
	}
	require.GreaterOrEqual(t, res.Loaded(), 25)
	names := map[string]bool{}
	for _, r := range res.Rules {
		assert.False(t, names[r.Name], "rule %q defined twice", r.Name)
		names[r.Name] = true
		assert.NotEmpty(t, r.Desc, r.Name)
		assert.NotEmpty(t, r.OutputFormat, r.Name)
		assert.True(t, strings.HasPrefix(r.Ruleset, "vigil_") || strings.Contains(r.Ruleset, "_vigil_"), r.Name)
	}
	for _, n := range falcoStable {
		assert.True(t, names[n], "Falco stable detection %q has no rule of that name", n)
	}
}

// falcoStable are the 25 rule names of Falco's stable rules (falco-rules-5.1.0); the pack
// has a rule of each name.
var falcoStable = []string{
	"Directory traversal monitored file read", "Read sensitive file trusted after startup",
	"Read sensitive file untrusted", "Run shell untrusted", "System user interactive",
	"Terminal shell in container", "Contact K8S API Server From Container",
	"Netcat Remote Code Execution in Container", "Search Private Keys or Passwords",
	"Clear Log Activities", "Remove Bulk Data from Disk", "Create Symlink Over Sensitive Files",
	"Create Hardlink Over Sensitive Files", "Packet socket created in container",
	"Redirect STDOUT/STDIN to Network Connection in Container",
	"Linux Kernel Module Injection Detected", "Debugfs Launched in Privileged Container",
	"Detect release_agent File Container Escapes", "PTRACE attached to process",
	"PTRACE anti-debug attempt", "Find AWS Credentials", "Execution from /dev/shm",
	"Drop and execute new binary in container", "Disallowed SSH Connection Non Standard Port",
	"Fileless execution via memfd_create",
}

// TestDefaultPackPending: the rules of rules/pending are written but cannot load yet; each
// is skipped for exactly the capability it waits for, so a gap that closes (or a new one)
// shows here.
func TestDefaultPackPending(t *testing.T) {
	pending := packFiles(t, filepath.Join(packDir, "pending"))
	res := LoadFiles(append([]string{filepath.Join(packDir, "00_vigil_macros.yaml")}, pending...)...)
	require.Empty(t, res.Errors)
	assert.Empty(t, res.Rules, "a pending rule loads: move it to the main pack")
	var got []string
	for _, s := range res.Skipped {
		got = append(got, s.Rule+": "+s.Reason)
	}
	assert.Equal(t, []string{
		"Contact K8S API Server by name From Container: field fd.sip.name is not supported",
		"Shared library mapped from a writable directory: evt.type mmap is not sensed, so the condition can match no event",
		"Dynamic linker preload set in a process environment: field proc.env is not supported",
		"Perf event opened by an unexpected program: evt.type perf_event_open is not sensed, so the condition can match no event",
	}, got)
}

// TestDefaultPackTags: every rule is tagged; vigil.enforce_safe is on the rules meant for
// enforcement and nowhere else.
func TestDefaultPackTags(t *testing.T) {
	res := LoadFiles(packFiles(t, packDir)...)
	var safe []string
	for _, r := range res.Rules {
		assert.NotEmpty(t, r.Tags, r.Name)
		if slices.Contains(r.Tags, "vigil.enforce_safe") {
			safe = append(safe, r.Name)
		}
	}
	slices.Sort(safe)
	assert.Equal(t, []string{
		"Create Hardlink Over Sensitive Files", "Create Symlink Over Sensitive Files",
		"Debugfs Launched in Privileged Container", "Detect release_agent File Container Escapes",
		"Execution from /dev/shm", "Fileless execution via memfd_create",
		"Linux Kernel Module Injection Detected", "Netcat Remote Code Execution in Container",
		"Netcat with command execution", "Redirect STDOUT/STDIN to Network Connection in Container",
		"Reverse shell standard input or output on a network socket",
	}, safe)
	_, err := os.Stat(packDir)
	require.NoError(t, err)
}
