// Package collector runs the ocb-built Vigil distribution for end-to-end tests: finding the
// binary ($VIGIL_COLLECTOR_BIN), starting it with configuration files and environment, and
// stopping it, gracefully, when the test ends.
package collector

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testkit"
)

// EnvBinary names the ocb-built distribution (`make build` writes _build/otelcol-vigil;
// `make test` sets it).
const EnvBinary = "VIGIL_COLLECTOR_BIN"

// Time bounds of a stop.
const (
	cleanupGrace = 15 * time.Second // SIGTERM at the end of a test, then SIGKILL
	stopTimeout  = 20 * time.Second // Stop: the collector must have exited cleanly by then
)

// Binary returns the distribution $VIGIL_COLLECTOR_BIN names. Unset: the test is skipped,
// or fails when CI=true; set to a missing file: the test fails.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvBinary + " is not set: CI must build the distribution (make build) and run the end-to-end tests")
		}
		t.Skip("set " + EnvBinary + " to the ocb-built otelcol-vigil (make build writes _build/otelcol-vigil)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s: %v", EnvBinary, err)
	}
	return bin
}

// Process is a running collector.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's, once exited is closed
	// Out is everything the collector printed (stdout and stderr).
	Out *testkit.SyncBuffer
}

// Start runs bin with the configuration files merged in order (one --config each) and env
// added to the test's environment. When the test ends a collector still running gets
// SIGTERM, and SIGKILL 15 s later; its output is logged if the test failed.
func Start(t testing.TB, bin string, env []string, configs ...string) *Process {
	t.Helper()
	args := make([]string, 0, 2*len(configs))
	for _, c := range configs {
		args = append(args, "--config", c)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &Process{cmd: cmd, exited: make(chan struct{}), Out: &testkit.SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		if !p.Exited() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(cleanupGrace):
				_ = cmd.Process.Kill()
				<-p.exited
			}
		}
		if t.Failed() {
			names := make([]string, len(configs))
			for i, c := range configs {
				names[i] = filepath.Base(c)
			}
			t.Logf("collector (%s) output:\n%s", strings.Join(names, ", "), p.Out.String())
		}
	})
	return p
}

// Exited reports whether the collector has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and fails the test unless the collector exits cleanly (status 0)
// within 20 s.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("collector had already exited before Stop: %v", p.err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to the collector: %v", err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			var ee *exec.ExitError
			if errors.As(p.err, &ee) {
				t.Fatalf("collector must exit cleanly on SIGTERM: %v", p.err)
			}
			t.Fatalf("waiting for the collector: %v", p.err)
		}
	case <-time.After(stopTimeout):
		t.Fatalf("collector did not stop within %s of SIGTERM", stopTimeout)
	}
}
