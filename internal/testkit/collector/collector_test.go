package collector

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeEnv makes the test binary a stand-in collector: it prints its arguments and an
// environment variable, then waits for SIGTERM and exits with the status the variable's
// value asks for.
const fakeEnv = "VIGIL_TESTKIT_FAKE_COLLECTOR"

func TestMain(m *testing.M) {
	if v := os.Getenv(fakeEnv); v != "" {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		fmt.Printf("args=%s env=%s\n", strings.Join(os.Args[1:], " "), v)
		select {
		case <-sig:
		case <-time.After(time.Minute):
		}
		if v == "fail" {
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func waitOut(t *testing.T, p *Process, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q lacks %q", p.Out.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStartStop(t *testing.T) {
	p := Start(t, os.Args[0], []string{fakeEnv + "=ok"}, "a.yaml", "b.yaml")
	waitOut(t, p, "args=--config a.yaml --config b.yaml env=ok")
	if p.Exited() {
		t.Fatal("exited before Stop")
	}
	p.Stop(t)
	if !p.Exited() {
		t.Fatal("running after Stop")
	}
}

// A collector that exits with an error on SIGTERM fails Stop.
func TestStopFailsOnUncleanExit(t *testing.T) {
	p := Start(t, os.Args[0], []string{fakeEnv + "=fail"})
	waitOut(t, p, "env=fail")
	ft := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); p.Stop(ft) }()
	<-done
	if !strings.Contains(ft.msg, "exit cleanly") {
		t.Fatalf("Stop of a collector exiting 3: %q, want a clean-exit failure", ft.msg)
	}
}

// The end of a test stops a collector still running (SIGTERM).
func TestCleanupStops(t *testing.T) {
	var p *Process
	t.Run("inner", func(t *testing.T) {
		p = Start(t, os.Args[0], []string{fakeEnv + "=ok"})
		waitOut(t, p, "env=ok")
	})
	if !p.Exited() {
		t.Fatal("still running after its test ended")
	}
}

// fatalRecorder records Fatalf and ends the goroutine, as testing.T does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
