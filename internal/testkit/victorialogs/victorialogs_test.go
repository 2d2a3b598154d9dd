package victorialogs

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The server answers /health and queries once started, refuses connections once stopped,
// and starts again on the same address and data directory.
func TestStartStopStart(t *testing.T) {
	s := NewForTest(t)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("a second Start: %v, want already running", err)
	}
	query(t, s)
	s.Stop()
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		_ = c.Close()
		t.Fatalf("%s still accepts connections after Stop", s.Addr)
	}
	s.Stop() // a stopped server: nothing to do
	if err := s.Start(); err != nil {
		t.Fatalf("restart on the same address and data: %v", err)
	}
	query(t, s)
}

func query(t *testing.T, s *Server) {
	t.Helper()
	resp, err := http.PostForm(s.URL()+"/select/logsql/query", url.Values{"query": {"*"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query: status %d", resp.StatusCode)
	}
}

// A binary that is no VictoriaLogs never becomes healthy: Start fails with the reason and
// leaves no process behind.
func TestStartFailsWhenTheProcessExits(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s := New("/bin/false", addr, t.TempDir())
	err = s.Start()
	if err == nil || !strings.Contains(err.Error(), "exited before it was healthy") {
		t.Fatalf("Start of /bin/false: %v, want an exit before healthy", err)
	}
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		t.Fatal("a failed Start left its process recorded as running")
	}
	if err := s.Start(); err == nil {
		t.Fatal("a second Start of /bin/false succeeded")
	}
}
