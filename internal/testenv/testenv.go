// Package testenv holds test helpers for tests that need the real kernel.
package testenv

import (
	"os"
	"testing"

	"github.com/vigilsec/vigil/internal/mountinfo"
)

// InCI reports whether the tests run in CI, where nothing may skip for lack of privilege.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireRoot skips a test that needs root outside CI, and fails it loudly in CI.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatal("this test needs root (eBPF programs are loaded into the kernel) and CI=true forbids skipping it")
	}
	t.Skip("needs root: loads eBPF programs into the kernel (run as root, or with CI=true to make this a failure)")
}

// Cgroup2Root returns where the cgroup2 hierarchy is mounted on this host.
func Cgroup2Root(t testing.TB) string {
	t.Helper()
	root, err := mountinfo.Cgroup2("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("container association needs cgroup v2 (unified or hybrid): %v", err)
	}
	return root
}
