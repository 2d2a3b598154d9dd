//go:build linux

package ebpfreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLoaderProgram(t *testing.T) {
	for _, exe := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/lib/ld-musl-x86_64.so.1", "/usr/lib/ld-2.31.so", "/lib/ld64.so.2"} {
		assert.True(t, isLoader(exe), exe)
	}
	for _, exe := range []string{"/usr/bin/ld", "/usr/bin/ld.gold", "/usr/lib/libc.so.6", "/usr/bin/ldd"} {
		assert.False(t, isLoader(exe), exe)
	}
	for args, want := range map[string][]string{
		"/bin/nc":    {"ld.so", "/bin/nc", "-l"},
		"./nc":       {"ld.so", "--library-path", "/tmp", "--inhibit-cache", "./nc", "x"},
		"-weird":     {"ld.so", "--argv0", "x", "--", "-weird"},
		"/bin/true2": {"ld.so", "--preload", "/lib/a.so", "/bin/true2"},
	} {
		got, ok := loaderProgram(want)
		assert.True(t, ok, want)
		assert.Equal(t, args, got, want)
	}
	for _, args := range [][]string{{"ld.so"}, {"ld.so", "--list"}, {"ld.so", "--audit"}, {"ld.so", "--"}} {
		_, ok := loaderProgram(args)
		assert.False(t, ok, args)
	}
}
