// Package victorialogs runs a real VictoriaLogs (Apache-2.0) on 127.0.0.1 for tests:
// finding its binary, starting it on an address and data directory, waiting for it to be
// healthy, and stopping it. A stopped Server starts again on the same address and data
// (a backend outage).
package victorialogs

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testkit"
)

// Version is the VictoriaLogs release .ci/loki/build-victoria-logs.sh caches.
const Version = "v1.52.1"

// Time bounds.
const (
	healthTimeout = 30 * time.Second // from start to /health answering 200
	healthEvery   = 100 * time.Millisecond
	stopTimeout   = 10 * time.Second // SIGTERM, then SIGKILL
)

// Binary finds VictoriaLogs: $VIGIL_VICTORIA_LOGS, victoria-logs on $PATH, or the cache
// .ci/loki/build-victoria-logs.sh fills ($VIGIL_CACHE_DIR, default ~/.cache/vigil).
// Missing: the test is skipped, or fails when CI=true.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("VIGIL_VICTORIA_LOGS"); p != "" {
		return p
	}
	if p, err := exec.LookPath("victoria-logs"); err == nil {
		return p
	}
	cache := os.Getenv("VIGIL_CACHE_DIR")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "vigil")
	}
	p := filepath.Join(cache, "victoria-logs-"+Version)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	msg := "victoria-logs not found: run .ci/loki/build-victoria-logs.sh or set VIGIL_VICTORIA_LOGS"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("victorialogs: finding a free port: %w", err)
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// Server is one VictoriaLogs process, on Addr with its data under Dir. Its methods are
// safe for concurrent use.
type Server struct {
	Bin, Addr, Dir string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	logs   testkit.SyncBuffer
}

// New returns a stopped Server; Start runs it.
func New(bin, addr, dir string) *Server { return &Server{Bin: bin, Addr: addr, Dir: dir} }

// URL is the server's base URL.
func (s *Server) URL() string { return "http://" + s.Addr }

// Logs is everything the server's processes printed, over all their starts.
func (s *Server) Logs() string { return s.logs.String() }

// Start runs VictoriaLogs (data in Dir/data, 7 days' retention, warnings only) and waits,
// bounded, until /health answers 200. A failed start leaves no process behind.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("victorialogs: already running")
	}
	cmd := exec.Command(s.Bin, "-httpListenAddr="+s.Addr, "-storageDataPath="+filepath.Join(s.Dir, "data"),
		"-loggerLevel=WARN", "-retentionPeriod=7d")
	cmd.Stdout, cmd.Stderr = &s.logs, &s.logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("victorialogs: starting %s: %w", s.Bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(healthTimeout)
	for {
		err := health(client, s.URL())
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("victorialogs: %s exited before it was healthy:\n%s", s.Bin, s.logs.String())
		case <-time.After(healthEvery):
		}
		if time.Now().After(deadline) {
			s.stopLocked()
			return fmt.Errorf("victorialogs did not become healthy within %s: %w\n%s", healthTimeout, err, s.logs.String())
		}
	}
}

func health(client *http.Client, base string) error {
	resp, err := client.Get(base + "/health")
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/health: status %d", resp.StatusCode)
	}
	return nil
}

// Stop ends the server (SIGTERM, SIGKILL after 10 s) and waits for it; its port refuses
// connections after. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Run starts a VictoriaLogs from Binary on a free loopback port with its data in a
// temporary directory, and stops it when the test ends (printing its output if the test
// failed).
func Run(t testing.TB) *Server {
	t.Helper()
	s := NewForTest(t)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// NewForTest is a stopped Server from Binary on a free loopback port with its data in a
// temporary directory; it is stopped when the test ends, and its output printed if the
// test failed.
func NewForTest(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s := New(bin, addr, t.TempDir())
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("victoria-logs output:\n%s", s.Logs())
		}
	})
	return s
}
