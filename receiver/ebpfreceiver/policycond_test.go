//go:build linux

package ebpfreceiver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

// A Vigil policy's process.exec rule with a condition on the process name and
// its parent's: it fires for a shell started by the helper parent, and not for
// the same shell under a look-alike parent (same program, other name) nor for
// another program under the helper.
func TestPolicyConditionExec(t *testing.T) {
	bin := t.TempDir()
	parent := copyProgram(t, "/bin/sh", bin, "vigil-pc-parent")
	other := copyProgram(t, "/bin/sh", bin, "vigil-pc-other")
	shell := copyProgram(t, "/bin/sh", bin, "sh")
	dir := t.TempDir()
	writePolicy(t, dir, "exec.yaml", `name: cond-exec
lists:
  pc_shells: [sh, bash]
macros:
  pc_from_helper: proc.pname = vigil-pc-parent
rules:
  - name: shell-under-helper
    event: process.exec
    condition: proc.name in (pc_shells) and pc_from_helper
    output: "shell %proc.exepath under %proc.pname"
`)
	// A rule the kernel cannot narrow: loads, counted as unfiltered.
	writePolicy(t, dir, "wide.yaml", `name: cond-wide
rules:
  - event: network.listen
    condition: not proc.name in (vigil-pc-none)
`)
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{dir} }, nil)
	require.Empty(t, s.r.engine.ctl.Errors())
	require.EqualValues(t, 2, s.r.engine.ctl.Loaded())
	require.Eventually(t, func() bool {
		return gaugeValue(t, s, "otelcol_ebpf_user_rules", "unfiltered") == 1
	}, 5*time.Second, 50*time.Millisecond, "the unnarrowed rule is counted")

	run := func(name string, args ...string) int {
		cmd := exec.Command(name, args...)
		require.NoError(t, cmd.Run(), "%s %v", name, args)
		return cmd.Process.Pid
	}
	// "; true" keeps the shell from exec'ing the child in its own place.
	run(parent, "-c", shell+" -c true; true")
	run(other, "-c", shell+" -c true; true") // look-alike parent
	run(parent, "-c", "/bin/true; true")     // the helper, another program
	run(shell, "-c", "true")                 // the shell, run by the test

	var hit plog.LogRecord
	require.Eventually(t, func() bool {
		recs := recordsWhere(s.sink, "process.exec", "security_rule.name", "shell-under-helper")
		if len(recs) == 0 {
			return false
		}
		hit = recs[0]
		return true
	}, 10*time.Second, 20*time.Millisecond, "the exec rule did not fire")
	a := hit.Attributes().AsRaw()
	assert.Equal(t, "cond-exec", a["security_rule.ruleset.name"])
	assert.Equal(t, shell, a["process.executable.path"])
	assert.Equal(t, parent, a["vigil.parent.executable.path"])
	assert.Equal(t, "shell "+shell+" under vigil-pc-parent", hit.Body().AsString())

	marker := run("/bin/true")
	waitRecord(t, s.sink, "process.exec", marker)
	assert.Len(t, recordsWhere(s.sink, "process.exec", "security_rule.name", "shell-under-helper"), 1,
		"the look-alike parent, the other program and the test's own shell must not fire")
}

// pcPolicy is an enforcing file.open policy on dir: a post and a kill rule
// whose conditions exclude a trusted reader by name (a residual the receiver
// evaluates; the kernel filters dir's paths).
func pcPolicy(dir string) string {
	return fmt.Sprintf(`name: cond-file
mode: enforce
lists:
  pc_trusted: [vigil-pc-trustd]
rules:
  - name: post-read
    event: file.open
    paths: [%[1]s/]
    condition: fd.name startswith %[1]s/post and not proc.name in (pc_trusted)
    output: "read %%fd.name by %%proc.name"
  - name: kill-read
    event: file.open
    paths: [%[1]s/]
    condition: fd.name = %[1]s/kill.key and not proc.name in (pc_trusted)
    action: kill
  - name: count-read
    event: file.open
    paths: [%[1]s/count.key]
    condition: not proc.name in (pc_trusted)
    action: count
`, dir)
}

// A file.open rule with paths and "not proc.name in (...)": posts for an
// untrusted reader and not for the trusted one; kills an untrusted reader
// after the fact (the event-to-kill latency is measured) and leaves the
// trusted one alone; a deny rule with a residual is refused with the reason
// while the other policy keeps running; a deny whose condition the kernel
// decides denies the file and not its neighbour.
func TestPolicyConditionFileOpen(t *testing.T) {
	bin := t.TempDir()
	reader := copyProgram(t, "/bin/cat", bin, "vigil-pc-reader")
	trusted := copyProgram(t, "/bin/cat", bin, "vigil-pc-trustd")
	files := t.TempDir()
	for _, f := range []string{"post.key", "kill.key", "deny.key", "other.key", "count.key"} {
		require.NoError(t, os.WriteFile(filepath.Join(files, f), []byte("x"), 0o600))
	}
	dir := t.TempDir()
	writePolicy(t, dir, "a.yaml", pcPolicy(files))
	badDeny := fmt.Sprintf(`name: cond-bad
mode: enforce
rules:
  - name: deny-untrusted
    event: file.open
    paths: [%s/]
    condition: not proc.name in (vigil-pc-trustd)
    action: deny
`, files)
	writePolicy(t, dir, "b.yaml", badDeny)
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{dir} }, nil)

	// The refused deny, with its reason; the good policy runs.
	want := filepath.Join(dir, "b.yaml") + `:7: rules[0].condition: deny needs the whole condition decided in the kernel, but "not proc.name in (vigil-pc-trustd)" runs in user space (use kill for an after-the-fact SIGKILL, or post)`
	assert.Contains(t, s.r.engine.ctl.Errors(), want)
	assert.EqualValues(t, 1, s.r.engine.ctl.Loaded())

	run := func(name string, args ...string) (int, error) {
		cmd := exec.Command(name, args...)
		err := cmd.Run()
		return cmd.Process.Pid, err
	}
	post := filepath.Join(files, "post.key")
	readerPid, err := run(reader, post)
	require.NoError(t, err)
	_, err = run(trusted, post)
	require.NoError(t, err)
	var rec plog.LogRecord
	require.Eventually(t, func() bool {
		recs := recordsWhere(s.sink, "file.open", "security_rule.name", "post-read")
		if len(recs) == 0 {
			return false
		}
		rec = recs[0]
		return true
	}, 10*time.Second, 20*time.Millisecond, "the post rule did not fire")
	assert.Equal(t, int64(readerPid), rec.Attributes().AsRaw()["process.pid"])
	assert.Equal(t, "read "+post+" by vigil-pc-reader", rec.Body().AsString())
	assert.Contains(t, rec.Attributes().AsRaw(), "process.command_line", "a condition's match carries the full process")

	// count: counted in user space, for the untrusted reader only; no record.
	count := filepath.Join(files, "count.key")
	for range 3 {
		_, err = run(reader, count)
		require.NoError(t, err)
	}
	_, err = run(trusted, count)
	require.NoError(t, err)
	isCount := func(m map[string]string) bool {
		return m["policy"] == "cond-file" && m["rule"] == "count-read" && m["action"] == "count"
	}
	require.Eventually(t, func() bool {
		return sumMetric(t, s.tel, "otelcol_ebpf_policy_actions", isCount) == 3
	}, 10*time.Second, 50*time.Millisecond, "the count rule counts the untrusted reads")

	// kill: the reader opens kill.key, then waits on its stdin; the receiver's
	// SIGKILL ends it. The trusted reader runs to its end.
	kill := filepath.Join(files, "kill.key")
	lat := measureKills(t, s, reader, kill, 20)
	t.Logf("event-to-kill latency, poll_interval %v, over %d kills (kernel event time to the killed process reaped): p50 %v, max %v",
		s.r.cfg.PollInterval, len(lat), lat[len(lat)/2], lat[len(lat)-1])
	assert.Less(t, lat[len(lat)-1], s.r.cfg.PollInterval+time.Second)

	tcmd := exec.Command(trusted, kill, "-")
	tcmd.Stdin = strings.NewReader("")
	tcmd.Stdout = io.Discard
	require.NoError(t, tcmd.Run(), "the trusted reader must not be killed")

	// A deny the kernel decides alone (needs the security hooks).
	if s.r.pol.HasLSM() {
		deny := filepath.Join(files, "deny.key")
		writePolicy(t, dir, "c.yaml", fmt.Sprintf(`name: cond-deny
mode: enforce
rules:
  - name: deny-key
    event: file.open
    paths: [%s/]
    condition: fd.name in (%s) and evt.is_open_read = true
    action: deny
`, files, deny))
		require.Eventually(t, func() bool { return s.r.engine.ctl.Loaded() == 2 }, 10*time.Second, 50*time.Millisecond)
		_, err := run(reader, deny)
		require.Error(t, err, "the deny rule must refuse the open")
		_, err = run(reader, filepath.Join(files, "other.key"))
		require.NoError(t, err, "the neighbour file is not denied")
	} else {
		t.Log("no security hooks on this kernel: the kernel-decided deny part is not run")
	}

	marker, err := run("/bin/true")
	require.NoError(t, err)
	waitRecord(t, s.sink, "process.exec", marker)
	assert.Len(t, recordsWhere(s.sink, "file.open", "security_rule.name", "post-read"), 1, "the trusted reader must not fire")
	assert.Empty(t, recordsWhere(s.sink, "file.open", "security_rule.name", "count-read"), "a count rule emits no record")
	assert.EqualValues(t, 3, sumMetric(t, s.tel, "otelcol_ebpf_policy_actions", isCount), "the trusted reader is not counted")
	for _, r := range recordsWhere(s.sink, "file.open", "process.executable.path", trusted) {
		t.Errorf("the trusted reader produced a record: %v", r.Attributes().AsRaw())
	}
}

// measureKills runs n readers of kill, each then waiting on its stdin, and
// returns, sorted, the time from each open's kernel event to the reader, killed
// by the receiver, being reaped.
func measureKills(t *testing.T, s started, reader, kill string, n int) []time.Duration {
	t.Helper()
	var lat []time.Duration
	for i := range n {
		cmd := exec.Command(reader, kill, "-")
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		cmd.Stdout = io.Discard
		require.NoError(t, cmd.Start())
		done := make(chan time.Time, 1)
		var werr error
		go func() { werr = cmd.Wait(); done <- time.Now() }()
		var ended time.Time
		select {
		case ended = <-done:
		case <-time.After(10 * time.Second):
			stdin.Close()
			<-done
			t.Fatalf("run %d: the reader was not killed", i)
		}
		stdin.Close()
		var ee *exec.ExitError
		require.True(t, errors.As(werr, &ee), "run %d: %v", i, werr)
		ws := ee.Sys().(syscall.WaitStatus)
		require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "run %d: the reader ended with %v, not SIGKILL", i, ws)
		var krec plog.LogRecord
		require.Eventually(t, func() bool {
			recs := recordsWhere(s.sink, "file.open", "process.pid", fmt.Sprint(cmd.Process.Pid))
			if len(recs) == 0 {
				return false
			}
			krec = recs[0]
			return true
		}, 10*time.Second, 10*time.Millisecond)
		ka := krec.Attributes().AsRaw()
		assert.Equal(t, "kill-read", ka["security_rule.name"])
		assert.Equal(t, "kill", ka["vigil.policy.action"])
		assert.Equal(t, true, ka["vigil.policy.applied"])
		lat = append(lat, ended.Sub(krec.Timestamp().AsTime()))
	}
	slices.Sort(lat)
	return lat
}

// The after-the-fact kill's latency is bounded by how long a record waits in
// the ring buffer (poll_interval): measured again with a short one.
func TestPolicyConditionKillLatency(t *testing.T) {
	bin := t.TempDir()
	reader := copyProgram(t, "/bin/cat", bin, "vigil-pc-reader")
	files := t.TempDir()
	kill := filepath.Join(files, "kill.key")
	require.NoError(t, os.WriteFile(kill, []byte("x"), 0o600))
	dir := t.TempDir()
	writePolicy(t, dir, "a.yaml", pcPolicy(files))
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{dir}; c.PollInterval = 10 * time.Millisecond }, nil)
	lat := measureKills(t, s, reader, kill, 20)
	t.Logf("event-to-kill latency, poll_interval %v, over %d kills: p50 %v, max %v", s.r.cfg.PollInterval, len(lat), lat[len(lat)/2], lat[len(lat)-1])
	assert.Less(t, lat[len(lat)-1], time.Second)
}

// A deny whose condition the kernel decides alone, on every kernel: the
// cgroup connect hook refuses a connect to the condition's address and port,
// and lets a connect to another port of the same address through.
func TestPolicyConditionDenyConnect(t *testing.T) {
	hit, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer hit.Close()
	miss, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer miss.Close()
	port := hit.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	writePolicy(t, dir, "deny.yaml", fmt.Sprintf(`name: cond-deny-connect
mode: enforce
rules:
  - name: deny-port
    event: network.connect
    cidrs: [127.0.0.0/8]
    condition: fd.sip = 127.0.0.1 and fd.sport = %d
    action: deny
`, port))
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{dir} }, nil)
	require.Empty(t, s.r.engine.ctl.Errors())

	_, err = net.DialTimeout("tcp", hit.Addr().String(), time.Second)
	require.Error(t, err, "the connect to the condition's port is refused")
	assert.ErrorIs(t, err, syscall.EPERM)
	c, err := net.DialTimeout("tcp", miss.Addr().String(), time.Second)
	require.NoError(t, err, "another port of the same address is not")
	c.Close()
	var rec plog.LogRecord
	require.Eventually(t, func() bool {
		recs := recordsWhere(s.sink, "network.connect", "security_rule.name", "deny-port")
		if len(recs) == 0 {
			return false
		}
		rec = recs[0]
		return true
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, true, rec.Attributes().AsRaw()["vigil.policy.applied"])
	assert.Equal(t, "deny", rec.Attributes().AsRaw()["vigil.policy.action"])
}
