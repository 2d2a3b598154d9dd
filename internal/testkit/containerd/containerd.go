//go:build linux

// Package containerd holds what the repository's private-containerd test harnesses do
// alike: the receiver's container harness (a containerd without CRI, containers from a
// busybox rootfs) and the real-node harness (a containerd with CRI under a kubelet). Each
// harness runs its own containerd from a temporary directory; this package writes its
// configuration, runs ctr against it, and finds and removes what its containers leave
// behind outside that directory (shims, their sockets, mounts, cgroups).
package containerd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config is the part of a private containerd's config.toml (version 2) the harnesses
// share: its root and state directories and its socket (grpc at Socket, ttrpc at
// Socket.ttrpc).
type Config struct {
	Root, State, Socket string
	// DisabledPlugins are plugin IDs not to load (io.containerd.grpc.v1.cri without a
	// kubelet).
	DisabledPlugins []string
	// Plugins is TOML appended as it is: the [plugins."..."] tables.
	Plugins string
}

// TOML renders the configuration.
func (c Config) TOML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version = 2\nroot = %q\nstate = %q\n", c.Root, c.State)
	if len(c.DisabledPlugins) > 0 {
		q := make([]string, len(c.DisabledPlugins))
		for i, p := range c.DisabledPlugins {
			q[i] = strconv.Quote(p)
		}
		fmt.Fprintf(&b, "disabled_plugins = [%s]\n", strings.Join(q, ", "))
	}
	fmt.Fprintf(&b, "[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n", c.Socket, c.Socket+".ttrpc")
	b.WriteString(c.Plugins)
	return b.String()
}

// Ctr runs the ctr binary bin against the containerd at addr in namespace ns, bounded by
// timeout, and returns its combined output; a failure's error holds the output.
func Ctr(bin, addr, ns string, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--address", addr, "--namespace", ns}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// ShimSocket is where containerd 1.6 puts the shim socket of container id in namespace
// ns of the containerd at addr (under /run/containerd/s, whatever containerd's state
// directory).
func ShimSocket(addr, ns, id string) string {
	sum := sha256.Sum256([]byte(filepath.Join(addr, ns, id)))
	return filepath.Join("/run/containerd/s", hex.EncodeToString(sum[:]))
}

// ShimPIDs finds the shims of the containerd at addr: processes named containerd-shim*
// whose command line has "-address ADDR" or, when ns is not "", "-namespace NS".
func ShimPIDs(addr, ns string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if (args[i] == "-address" && args[i+1] == addr) || (ns != "" && args[i] == "-namespace" && args[i+1] == ns) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// RemoveCgroup removes a cgroup directory, retrying (bounded: 50 times, 20 ms apart) while
// a killed process is still leaving it. One that does not exist is no error.
func RemoveCgroup(dir string) error {
	var err error
	for range 50 {
		err = os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("removing cgroup %s: %w", dir, err)
}

// UnmountUnder unmounts (lazily) everything mounted at or under dir, deepest first, in
// bounded passes (mount propagation can add mounts while it unmounts).
func UnmountUnder(dir string) error {
	var errs []error
	for range 3 {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return nil
		}
		var mounts []string
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
				mounts = append(mounts, f[4])
			}
		}
		if len(mounts) == 0 {
			return nil
		}
		sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
		errs = errs[:0]
		for _, m := range mounts {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}
