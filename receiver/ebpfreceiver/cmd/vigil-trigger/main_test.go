//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/trigger"
)

func TestMain(m *testing.M) {
	if ok, code := trigger.RunHelper(); ok {
		os.Exit(code)
	}
	// The test binary stands in for vigil-trigger when a test runs it as the command.
	if os.Getenv("VIGIL_TRIGGER_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestList(t *testing.T) {
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"--list"}, &out, &errb), errb.String())
	for _, c := range trigger.Cases() {
		assert.Contains(t, out.String(), c.Name)
		assert.Contains(t, out.String(), c.Rule)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"--list", "--run", "all"}, {"extra"},
		{"--run", "all", "--lookalikes", "--only-lookalikes"}, {"--list", "--detach", "x"}} {
		var out, errb bytes.Buffer
		assert.Equal(t, 2, run(args, &out, &errb), args)
		assert.Contains(t, errb.String(), "usage:")
	}
	var out, errb bytes.Buffer
	assert.Equal(t, 2, run([]string{"--run", "no-such"}, &out, &errb))
	assert.Contains(t, errb.String(), `no trigger "no-such"`)
}

// TestRunOne runs a trigger and its look-alike for real.
func TestRunOne(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"--run", "shell-from-web-server", "--lookalikes"}, &out, &errb), errb.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], "expect alert: Run shell untrusted")
	assert.Contains(t, lines[1], "expect no alert")

	out.Reset()
	require.Equal(t, 0, run([]string{"--run", "shell-from-web-server", "--only-lookalikes"}, &out, &errb), errb.String())
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0], "look-alike expect no alert")
}

// TestDetach: --detach returns at once, and the triggers then run in a process that no
// longer descends from the caller (here the test binary and the Go tool), which is how the
// end-to-end test keeps the pack's go-test exclusion from hiding its triggers.
func TestDetach(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "report")
	cmd := exec.Command(self, "--detach", out, "--run", "sudo-invoked", "--lookalikes")
	cmd.Env = append(os.Environ(), "VIGIL_TRIGGER_MAIN=1")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	var report string
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		rb, _ := os.ReadFile(out)
		report = string(rb)
		if strings.Contains(report, "done ") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.Contains(t, report, "done 0", report)
	assert.Contains(t, report, "expect alert: sudo invoked")
	assert.Contains(t, report, "expect no alert")
	var anc string
	for _, l := range strings.Split(report, "\n") {
		if a, ok := strings.CutPrefix(l, "ancestors "); ok {
			anc = a
		}
	}
	mine := strings.Fields(anc)
	require.NotEmpty(t, mine, "no ancestors line: %s", report)
	t.Logf("detached ancestors: %v", mine)
	assert.NotContains(t, mine, "go", report)
	assert.NotContains(t, mine, filepath.Base(self)[:min(15, len(filepath.Base(self)))], report)
}
