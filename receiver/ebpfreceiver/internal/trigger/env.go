//go:build linux

// Package trigger holds vigil-trigger's detection tests: for each rule of the default pack,
// a safe, bounded action that fires it, a benign look-alike that must not fire anything,
// and the events both produce. The same table drives the command (vigil-trigger), the
// offline proof against the rules files and the end-to-end test against the collector.
package trigger

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrNeedsContainer is returned by an action that must run inside a container when it is not.
var ErrNeedsContainer = errors.New("needs a container: run vigil-trigger inside one (set VIGIL_TRIGGER_IN_CONTAINER=1 there)")

// ErrExternal is returned by an action that vigil-trigger cannot perform itself (the rule
// needs the container runtime or the cluster to act); the case's Manual says what to run.
var ErrExternal = errors.New("performed outside vigil-trigger (see the manual step)")

// ErrUnsupported is returned by an action the kernel cannot perform (a kernel built without
// module loading, for example).
var ErrUnsupported = errors.New("not supported by this kernel")

// Env is what actions run in: a private directory for helpers, removed by Close.
type Env struct {
	// Dir holds the helper copies. It is not under /tmp, /var/tmp or /dev/shm, where
	// executing would itself be a detection.
	Dir string
	// Self is the binary copied to make helpers.
	Self string
	// InContainer: the process runs in a container.
	InContainer bool
	helpers     map[string]string
}

// NewEnv makes an Env. base is the parent of its directory ("" for the default:
// $VIGIL_TRIGGER_DIR, else /run, else the user cache directory).
func NewEnv(base string) (*Env, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the running binary: %w", err)
	}
	var bases []string
	if base != "" {
		bases = []string{base}
	} else {
		if d := os.Getenv("VIGIL_TRIGGER_DIR"); d != "" {
			bases = append(bases, d)
		}
		bases = append(bases, "/run")
		if d, err := os.UserCacheDir(); err == nil {
			bases = append(bases, d)
		}
	}
	var dir string
	for _, b := range bases {
		if dir, err = os.MkdirTemp(b, "vigil-trigger-"); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("making the helper directory: %w", err)
	}
	// Helpers run as nobody too (System user interactive).
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &Env{Dir: dir, Self: self, InContainer: inContainer(), helpers: map[string]string{}}, nil
}

// Close removes the helper directory.
func (e *Env) Close() error { return os.RemoveAll(e.Dir) }

// inContainer: the marker files of Docker and Podman, or the variable the harness sets.
func inContainer() bool {
	if os.Getenv("VIGIL_TRIGGER_IN_CONTAINER") == "1" {
		return true
	}
	for _, p := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// helper returns the path of the helper copy named name, making it once.
func (e *Env) helper(name string) (string, error) {
	if p, ok := e.helpers[name]; ok {
		return p, nil
	}
	p := filepath.Join(e.Dir, name)
	if err := copyFile(e.Self, p, 0o755); err != nil {
		return "", fmt.Errorf("making helper %s: %w", name, err)
	}
	e.helpers[name] = p
	return p, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// helperRun describes one helper run.
type helperRun struct {
	name  string   // the helper's name (its process name)
	args  []string // its arguments (argv[1:])
	op    string
	arg   string
	delay string // a duration to wait before the operation
	uid   int    // run as this uid when > 0
	env   map[string]string
	dir   string
}

// run runs the helper and waits for it (bounded by the helper's own timeout).
func (e *Env) run(h helperRun) error {
	p, err := e.helper(h.name)
	if err != nil {
		return err
	}
	cmd := exec.Command(p, h.args...)
	cmd.Dir = h.dir
	k := envKey(h.name)
	cmd.Env = append(os.Environ(), helperEnv+"=1", opEnv+k+"="+h.op, argEnv+k+"="+h.arg)
	if h.delay != "" {
		cmd.Env = append(cmd.Env, delayEnv+k+"="+h.delay)
	}
	for n, v := range h.env {
		cmd.Env = append(cmd.Env, n+"="+v)
	}
	if h.uid > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(h.uid), Gid: uint32(h.uid)}}
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == exitUnsupported {
		return fmt.Errorf("helper %s (%s): %w: %s", h.name, h.op, ErrUnsupported, strings.TrimSpace(string(out)))
	}
	if err != nil {
		return fmt.Errorf("helper %s (%s): %w: %s", h.name, h.op, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// helperEnvFor returns the environment entries that make a child helper named name do op.
func helperEnvFor(name, op, arg string) map[string]string {
	k := envKey(name)
	return map[string]string{opEnv + k: op, argEnv + k: arg}
}
