//go:build linux

// Package containertest runs a real containerd and runc for tests: a private
// containerd (its root, state and socket in a temporary directory), containers
// started from a busybox rootfs directory with `ctr run --rootfs` (no registry
// is needed), and execs into them with `ctr task exec`. Everything it creates
// is removed by Close, also after a failed test: the containers, their shims
// (ended by pid), runc's state, the shims' sockets, the cgroups and any mount
// left under the temporary directory.
package containertest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/internal/testkit/containerd"
)

// Time bounds of the harness's waits.
const (
	startTimeout   = 20 * time.Second // containerd's socket answering
	commandTimeout = 20 * time.Second // one ctr command
	stopTimeout    = 5 * time.Second  // containerd ending after SIGTERM
)

// Tools are the programs the harness needs (Debian: containerd, runc, busybox-static).
var Tools = []string{"containerd", "containerd-shim-runc-v2", "ctr", "runc", "busybox"}

// TB is the part of testing.TB the harness uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// RequireTools skips (or, with CI=true, fails) when a tool is missing or the
// caller is not root.
func RequireTools(t TB) {
	t.Helper()
	var missing []string
	for _, tool := range Tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "needs root to run containerd and runc"
	case len(missing) > 0:
		why = "missing " + strings.Join(missing, ", ") + " (Debian: apt-get install containerd runc busybox-static)"
	default:
		return
	}
	if testenv.InCI() {
		t.Fatalf("real-container test: %s, and CI=true forbids skipping it", why)
	}
	t.Skipf("real-container test: %s", why)
}

// Containerd is one private containerd. Its methods are safe for concurrent use.
type Containerd struct {
	dir       string // temporary directory holding everything but what runc and the shims put under /run
	addr      string // grpc socket
	ns        string // containerd namespace: unique, so nothing else's containers are touched
	cgroup    string // parent cgroup path of every container
	rootfs    string
	cmd       *exec.Cmd
	exited    chan struct{}
	mu        sync.Mutex
	ids       []string // containers created
	createdRD bool     // the harness created /run/containerd
	closed    bool
}

// Start runs containerd in a new temporary directory and builds the busybox
// rootfs. Call Close when done (the caller's cleanup, or TestMain's).
func Start() (*Containerd, error) {
	dir, err := os.MkdirTemp("", "vigil-containerd-")
	if err != nil {
		return nil, fmt.Errorf("containerd harness: %w", err)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	ns := "vigiltest-" + hex.EncodeToString(rnd[:])
	c := &Containerd{dir: dir, addr: filepath.Join(dir, "containerd.sock"), ns: ns, cgroup: "/" + ns,
		rootfs: filepath.Join(dir, "rootfs"), exited: make(chan struct{})}
	if _, err := os.Stat("/run/containerd"); errors.Is(err, os.ErrNotExist) {
		c.createdRD = true
	}
	if err := c.start(); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func (c *Containerd) start() error {
	if err := buildRootfs(c.rootfs); err != nil {
		return err
	}
	conf := containerd.Config{Root: filepath.Join(c.dir, "root"), State: filepath.Join(c.dir, "state"), Socket: c.addr,
		DisabledPlugins: []string{"io.containerd.grpc.v1.cri"}}.TOML()
	confPath := filepath.Join(c.dir, "config.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("containerd harness: writing %s: %w", confPath, err)
	}
	log, err := os.Create(filepath.Join(c.dir, "containerd.log"))
	if err != nil {
		return fmt.Errorf("containerd harness: %w", err)
	}
	c.cmd = exec.Command("containerd", "--config", confPath)
	c.cmd.Stdout, c.cmd.Stderr = log, log
	if err := c.cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("containerd harness: starting containerd: %w", err)
	}
	go func() { _ = c.cmd.Wait(); _ = log.Close(); close(c.exited) }()
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("unix", c.addr, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			break
		}
		select {
		case <-c.exited:
			return fmt.Errorf("containerd harness: containerd exited at start: %s", c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd harness: socket %s not answering after %s: %s", c.addr, startTimeout, c.logTail())
		}
	}
	// The socket answers before every plugin is ready: wait for a real request.
	for {
		_, err := c.ctr("version")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd harness: not ready after %s: %w", startTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// buildRootfs writes a busybox rootfs: the static busybox and the applets the tests use.
func buildRootfs(dir string) error {
	src, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("containerd harness: %w", err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("containerd harness: reading %s: %w", src, err)
	}
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("containerd harness: rootfs: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), b, 0o755); err != nil {
		return fmt.Errorf("containerd harness: rootfs: %w", err)
	}
	for _, applet := range []string{"sh", "sleep", "true", "false", "echo", "cat", "ls", "ps", "id"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return fmt.Errorf("containerd harness: rootfs: %w", err)
		}
	}
	return nil
}

func (c *Containerd) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "containerd.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// ctr runs one ctr command against this containerd, bounded by commandTimeout.
func (c *Containerd) ctr(args ...string) (string, error) {
	return containerd.Ctr("ctr", c.addr, c.ns, commandTimeout, args...)
}

// Run starts a detached container id running args in the busybox rootfs and
// returns the pid of its entrypoint.
func (c *Containerd) Run(id string, args ...string) (int, error) {
	return c.RunWith(id, nil, args...)
}

// RunWith is Run with more `ctr run` flags before the rootfs (for example
// --privileged).
func (c *Containerd) RunWith(id string, flags []string, args ...string) (int, error) {
	return c.RunRootfs(id, c.rootfs, flags, args...)
}

// Rootfs is the busybox rootfs directory the containers run from. A test may
// use it as a lower directory of an overlay of its own (RunRootfs); it must
// not change it.
func (c *Containerd) Rootfs() string { return c.rootfs }

// RunRootfs is RunWith from another rootfs directory (for example an overlay
// mount the test made over Rootfs, so that the container's file system has an
// upper layer as an image's does). The caller owns that directory; the
// container is removed by Remove or Close as the others are.
func (c *Containerd) RunRootfs(id, rootfs string, flags []string, args ...string) (int, error) {
	c.mu.Lock()
	c.ids = append(c.ids, id)
	c.mu.Unlock()
	cmd := append(append([]string{"run", "-d"}, flags...), "--rootfs", "--cgroup", c.cgroup+"/"+id, rootfs, id)
	if _, err := c.ctr(append(cmd, args...)...); err != nil {
		return 0, err
	}
	return c.TaskPID(id)
}

// ExecTTY runs args in the running container id with a terminal (ctr task
// exec -t, as kubectl exec -it does): tty, the slave side of a pseudo
// terminal, is ctr's standard input and output. It waits for the process,
// bounded by commandTimeout.
func (c *Containerd) ExecTTY(id, execID string, tty *os.File, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	full := append([]string{"--address", c.addr, "--namespace", c.ns, "task", "exec", "-t", "--exec-id", execID, id}, args...)
	cmd := exec.CommandContext(ctx, "ctr", full...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ctr task exec -t %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// TaskPID returns the pid of a container's entrypoint.
func (c *Containerd) TaskPID(id string) (int, error) {
	out, err := c.ctr("task", "ls")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == id {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("ctr task ls: no task %s in %q", id, out)
}

// Exec runs args in the running container id (ctr task exec, runc exec
// underneath), waits for it and returns its output.
func (c *Containerd) Exec(id, execID string, args ...string) (string, error) {
	cmd := append([]string{"task", "exec", "--exec-id", execID, id}, args...)
	return c.ctr(cmd...)
}

// Remove kills and deletes a container.
func (c *Containerd) Remove(id string) error {
	var errs []error
	if _, err := c.ctr("task", "kill", "-s", "SIGKILL", id); err != nil && !notFound(err) && !finished(err) {
		errs = append(errs, err)
	}
	// The task is deleted once it has stopped: bounded retries.
	deadline := time.Now().Add(commandTimeout)
	for {
		_, err := c.ctr("task", "delete", id)
		if err == nil || notFound(err) {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, err)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := c.ctr("container", "delete", id); err != nil && !notFound(err) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func notFound(err error) bool { return strings.Contains(err.Error(), "not found") }

// finished: the task's process has already exited (kill has nothing to do).
func finished(err error) bool { return strings.Contains(err.Error(), "already finished") }

// Close removes every container, stops containerd and removes what the
// containers left behind. It is safe to call more than once.
func (c *Containerd) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ids := append([]string(nil), c.ids...)
	c.mu.Unlock()

	var errs []error
	running := c.cmd != nil && c.cmd.Process != nil
	if running {
		select {
		case <-c.exited:
			running = false
		default:
		}
	}
	if running {
		for _, id := range ids {
			if err := c.Remove(id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Whatever is left (containerd died, a removal failed): end the containers'
	// processes through their cgroups and the shims by pid.
	for _, id := range ids {
		c.killCgroup(id)
	}
	for _, pid := range c.shimPIDs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if running {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(stopTimeout):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	}
	for _, id := range ids {
		_ = os.Remove(c.shimSocket(id))
		if err := c.removeCgroup(id); err != nil {
			errs = append(errs, err)
		}
	}
	c.removeCgroupParent()
	_ = os.RemoveAll(filepath.Join("/run/containerd/runc", c.ns))
	if c.createdRD {
		// Only the empty directories the shims and runc created.
		for _, d := range []string{"/run/containerd/s", "/run/containerd/runc", "/run/containerd/fifo", "/run/containerd"} {
			_ = os.Remove(d)
		}
	}
	if err := c.unmountUnder(); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("containerd harness: removing %s: %w", c.dir, err))
	}
	return errors.Join(errs...)
}

// shimSocket is where containerd puts the shim socket of a container.
func (c *Containerd) shimSocket(id string) string { return containerd.ShimSocket(c.addr, c.ns, id) }

// shimPIDs finds this containerd's shims (by its socket or its unique namespace).
func (c *Containerd) shimPIDs() []int { return containerd.ShimPIDs(c.addr, c.ns) }

// cgroupDirs are a container's cgroup directories in every mounted hierarchy.
func (c *Containerd) cgroupDirs(rel string) []string {
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	dirs := []string{filepath.Join("/sys/fs/cgroup", rel)}
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup", e.Name(), rel))
		}
	}
	return dirs
}

func (c *Containerd) killCgroup(id string) {
	for _, d := range c.cgroupDirs(filepath.Join(c.cgroup, id)) {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

func (c *Containerd) removeCgroup(id string) error {
	for _, d := range c.cgroupDirs(filepath.Join(c.cgroup, id)) {
		// A killed process leaves its cgroup a moment later: RemoveCgroup retries.
		if err := containerd.RemoveCgroup(d); err != nil {
			return fmt.Errorf("containerd harness: %w", err)
		}
	}
	return nil
}

func (c *Containerd) removeCgroupParent() {
	for _, d := range c.cgroupDirs(c.cgroup) {
		_ = os.Remove(d)
	}
}

// unmountUnder unmounts anything still mounted under the temporary directory.
func (c *Containerd) unmountUnder() error {
	if err := containerd.UnmountUnder(c.dir); err != nil {
		return fmt.Errorf("containerd harness: %w", err)
	}
	return nil
}
