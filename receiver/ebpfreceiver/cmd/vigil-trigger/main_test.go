//go:build linux

package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/trigger"
)

func TestMain(m *testing.M) {
	if ok, code := trigger.RunHelper(); ok {
		os.Exit(code)
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
	for _, args := range [][]string{nil, {"--list", "--run", "all"}, {"extra"}} {
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
}
