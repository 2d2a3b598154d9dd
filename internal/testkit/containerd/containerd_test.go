//go:build linux

package containerd

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestConfigTOML(t *testing.T) {
	got := Config{Root: "/t/root", State: "/t/state", Socket: "/t/c.sock",
		DisabledPlugins: []string{"io.containerd.grpc.v1.cri"}}.TOML()
	want := `version = 2
root = "/t/root"
state = "/t/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "/t/c.sock"
[ttrpc]
  address = "/t/c.sock.ttrpc"
`
	if got != want {
		t.Fatalf("config:\n%s\nwant:\n%s", got, want)
	}
	got = Config{Root: "/r", State: "/s", Socket: "/c", Plugins: "[plugins.\"x\"]\n  a = 1\n"}.TOML()
	if strings.Contains(got, "disabled_plugins") {
		t.Fatalf("no plugin disabled, yet:\n%s", got)
	}
	if !strings.HasSuffix(got, "[ttrpc]\n  address = \"/c.ttrpc\"\n[plugins.\"x\"]\n  a = 1\n") {
		t.Fatalf("plugin tables are not appended after the sockets:\n%s", got)
	}
}

// ShimPIDs finds a process named containerd-shim* by its -address, or its -namespace when
// one is given, and nothing else.
func TestShimPIDs(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "c.sock")
	// sh -c with a second command after sleep, so the shell stays the process (no exec).
	cmd := exec.Command("/bin/sh", "-c", "sleep 30; :", "-address", sock, "-namespace", "vigil-ns-test")
	cmd.Args[0] = "containerd-shim-fake"
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(ShimPIDs(sock, ""), pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d (-address %s) not found by its address", pid, sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !slices.Contains(ShimPIDs("/no/such.sock", "vigil-ns-test"), pid) {
		t.Fatal("not found by its namespace")
	}
	if slices.Contains(ShimPIDs("/no/such.sock", ""), pid) {
		t.Fatal("found with another address and no namespace")
	}
	if slices.Contains(ShimPIDs("/no/such.sock", "other-ns"), pid) {
		t.Fatal("found with another address and another namespace")
	}
	// A process with the address but another name is no shim.
	other := exec.Command("/bin/sh", "-c", "sleep 30; :", "-address", sock)
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	if slices.Contains(ShimPIDs(sock, ""), other.Process.Pid) {
		t.Fatal("a process not named containerd-shim* counted as a shim")
	}
}

func TestShimSocket(t *testing.T) {
	a, b := ShimSocket("/t/c.sock", "ns", "box"), ShimSocket("/t/c.sock", "ns", "box2")
	if filepath.Dir(a) != "/run/containerd/s" || len(filepath.Base(a)) != 64 {
		t.Fatalf("shim socket %s: want /run/containerd/s/<sha256 hex>", a)
	}
	if a == b || a != ShimSocket("/t/c.sock", "ns", "box") {
		t.Fatalf("shim sockets are not one per container: %s, %s", a, b)
	}
}

// UnmountUnder unmounts nested mounts under a directory (and the directory itself),
// deepest first, and leaves a mount beside it alone.
func TestUnmountUnder(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to mount, and CI=true forbids skipping it")
		}
		t.Skip("needs root to mount")
	}
	base := t.TempDir()
	dir, beside := filepath.Join(base, "d"), filepath.Join(base, "dd")
	inner := filepath.Join(dir, "a")
	for _, d := range []string{dir, beside} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	mount := func(p string) {
		t.Helper()
		if err := syscall.Mount("tmpfs", p, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatalf("mounting %s: %v", p, err)
		}
	}
	mount(dir)
	if err := os.Mkdir(inner, 0o700); err != nil {
		t.Fatal(err)
	}
	mount(inner)
	mount(beside)
	t.Cleanup(func() {
		for _, p := range []string{inner, dir, beside} {
			_ = syscall.Unmount(p, syscall.MNT_DETACH)
		}
	})
	if err := UnmountUnder(dir); err != nil {
		t.Fatal(err)
	}
	mounted := func(p string) bool {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[4] == p {
				return true
			}
		}
		return false
	}
	if mounted(dir) || mounted(inner) {
		t.Fatalf("%s or %s still mounted", dir, inner)
	}
	if !mounted(beside) {
		t.Fatalf("%s (beside, not under %s) was unmounted", beside, dir)
	}
	if err := UnmountUnder(dir); err != nil {
		t.Fatalf("nothing left to unmount: %v", err)
	}
}

func TestRemoveCgroup(t *testing.T) {
	d := filepath.Join(t.TempDir(), "cg")
	if err := RemoveCgroup(d); err != nil {
		t.Fatalf("a missing directory: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(d, "child"), 0o700); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := RemoveCgroup(d)
	if err == nil || !strings.Contains(err.Error(), "removing cgroup "+d) {
		t.Fatalf("a directory that stays busy: %v, want an error naming it", err)
	}
	if e := time.Since(start); e > 5*time.Second {
		t.Fatalf("retries took %s: not bounded", e)
	}
	if err := os.Remove(filepath.Join(d, "child")); err != nil {
		t.Fatal(err)
	}
	if err := RemoveCgroup(d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", d, err)
	}
}
