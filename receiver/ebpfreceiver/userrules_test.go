//go:build linux

package ebpfreceiver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// ruleRecords returns the records a rule produced.
func ruleRecords(sink *consumertest.LogsSink, rule string) []plog.LogRecord {
	var out []plog.LogRecord
	for _, ev := range []string{"process.exec", "file.open"} {
		out = append(out, recordsWhere(sink, ev, "security_rule.name", rule)...)
	}
	return out
}

// copyProgram copies a system program into dir under name, so that its process
// has that name (comm).
func copyProgram(t *testing.T, src, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	dst := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(dst, data, 0o755))
	return dst
}

// falcoRulesFile is a Falco-format rules file: an exec rule on a process and its
// parent, a file rule with a kernel-lowered path prefix and a user-space
// exception list, and a rule that cannot load.
func falcoRulesFile(secretDir string) string {
	return fmt.Sprintf(`- required_engine_version: 0.31.0

- list: trusted_list
  items: [vigil-rt-trustd]

- macro: spawned_process
  condition: (evt.type in (execve, execveat) and evt.dir=<)

- macro: open_read
  condition: (evt.type in (open, openat, openat2) and evt.is_open_read=true and fd.typechar='f')

- rule: Helper Under Parent
  desc: the helper started by the parent program
  condition: spawned_process and proc.name = vigil-rt-helper and proc.pname = vigil-rt-parent
  output: helper started (user=%%user.uid cmd=%%proc.cmdline parent=%%proc.pname)
  priority: WARNING
  tags: [test]

- rule: Secret Read Untrusted
  desc: a secret read by a program not in the trusted list
  condition: open_read and fd.name startswith %s/secret and not proc.name in (trusted_list)
  output: secret read (file=%%fd.name by=%%proc.name parent=%%proc.pname)
  priority: ERROR

- rule: Needs DNS
  desc: cannot load
  condition: evt.type = connect and fd.sip.name = example.com
  output: dns %%fd.sip
  priority: NOTICE
`, secretDir)
}

// Falco-syntax rules in policy_paths, end to end on the real kernel: the exec rule
// fires for its parent and not for a look-alike (same program, other parent); the
// file rule, whose path prefix the kernel filters, fires for an untrusted reader
// and not for the trusted one or a look-alike path; the rule that cannot load is
// reported with its reason and counted.
func TestFalcoRulesFileEndToEnd(t *testing.T) {
	bin := t.TempDir()
	helper := copyProgram(t, "/bin/true", bin, "vigil-rt-helper")
	parent := copyProgram(t, "/bin/sh", bin, "vigil-rt-parent")
	other := copyProgram(t, "/bin/sh", bin, "vigil-rt-otherp")
	reader := copyProgram(t, "/bin/cat", bin, "vigil-rt-reader")
	trusted := copyProgram(t, "/bin/cat", bin, "vigil-rt-trustd")

	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret.key")
	lookalike := filepath.Join(secretDir, "public.key")
	require.NoError(t, os.WriteFile(secret, []byte("s"), 0o600))
	require.NoError(t, os.WriteFile(lookalike, []byte("p"), 0o600))

	rulesDir := t.TempDir()
	rulesPath := filepath.Join(rulesDir, "my_rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(falcoRulesFile(secretDir)), 0o600))

	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{rulesDir} }, nil)

	// (c) the rule that cannot load: its exact reason, the counts, the status.
	e := s.r.engine.ctl.RulesFiles()
	assert.Equal(t, 2, e.Loaded)
	assert.Equal(t, 1, e.Skipped)
	line := 1 + strings.Count(strings.Split(falcoRulesFile(secretDir), "fd.sip.name =")[0], "\n")
	assert.Contains(t, e.Problems, fmt.Sprintf(`%s:%d: rule "Needs DNS": field fd.sip.name is not supported`, rulesPath, line))
	require.Len(t, e.Policies, 1, "only the file rule needs a kernel filter")
	assert.Equal(t, "falco:my_rules.yaml:Secret Read Untrusted", e.Policies[0].Name)
	assert.Equal(t, []string{secretDir + "/"}, e.Policies[0].Rules[0].Paths)
	require.Eventually(t, func() bool {
		return gaugeValue(t, s, "otelcol_ebpf_user_rules", "skipped") == 1 &&
			gaugeValue(t, s, "otelcol_ebpf_user_rules", "loaded") == 2
	}, 5*time.Second, 50*time.Millisecond)

	run := func(name string, args ...string) int {
		cmd := exec.Command(name, args...)
		require.NoError(t, cmd.Run(), "%s %v", name, args)
		return cmd.Process.Pid
	}
	// (a) "; true" keeps the shell from exec'ing the helper in its own place.
	run(parent, "-c", helper+"; true")
	run(other, "-c", helper+"; true") // look-alike: other parent
	run(helper)                       // look-alike: run by the test itself
	// (b)
	readerPid := run(reader, secret)
	run(trusted, secret)   // trusted reader
	run(reader, lookalike) // look-alike path

	var hit plog.LogRecord
	require.Eventually(t, func() bool {
		recs := ruleRecords(s.sink, "Helper Under Parent")
		if len(recs) == 0 {
			return false
		}
		hit = recs[0]
		return true
	}, 10*time.Second, 20*time.Millisecond, "the exec rule did not fire")
	a := hit.Attributes().AsRaw()
	assert.Equal(t, "process.exec", hit.EventName())
	assert.Equal(t, "my_rules.yaml", a["security_rule.ruleset.name"])
	assert.Equal(t, helper, a["process.executable.path"])
	assert.Equal(t, parent, a["vigil.parent.executable.path"], "the alert carries its parent")
	assert.Equal(t, fmt.Sprintf("helper started (user=%d cmd=vigil-rt-helper parent=vigil-rt-parent)", os.Geteuid()), hit.Body().AsString())
	assert.Equal(t, "WARN", hit.SeverityText())
	assert.Equal(t, plog.SeverityNumberWarn, hit.SeverityNumber())

	var read plog.LogRecord
	require.Eventually(t, func() bool {
		recs := ruleRecords(s.sink, "Secret Read Untrusted")
		if len(recs) == 0 {
			return false
		}
		read = recs[0]
		return true
	}, 10*time.Second, 20*time.Millisecond, "the file rule did not fire")
	a = read.Attributes().AsRaw()
	assert.Equal(t, "file.open", read.EventName())
	assert.Equal(t, int64(readerPid), a["process.pid"])
	assert.Equal(t, secret, a["file.path"])
	assert.Equal(t, reader, a["process.executable.path"])
	assert.Contains(t, a, "process.command_line", "a rule match carries the full process context")
	assert.Contains(t, a, "process.working_directory")
	assert.Equal(t, "secret read (file="+secret+" by=vigil-rt-reader parent="+parentName()+")", read.Body().AsString())
	assert.Equal(t, plog.SeverityNumberError, read.SeverityNumber())

	// What must not happen, given time to arrive: a marker exec after every
	// trigger is seen first, so the pipeline has passed the look-alikes.
	marker := run("/bin/true")
	waitRecord(t, s.sink, "process.exec", marker)
	assert.Len(t, ruleRecords(s.sink, "Helper Under Parent"), 1, "the look-alikes (other parent, the test as parent) must not fire")
	reads := ruleRecords(s.sink, "Secret Read Untrusted")
	require.Len(t, reads, 1, "the trusted reader and the look-alike path must not fire")
	for _, r := range recordsWhere(s.sink, "file.open", "file.path", lookalike) {
		t.Errorf("the look-alike path produced a record: %v", r.Attributes().AsRaw())
	}
	for _, r := range recordsWhere(s.sink, "file.open", "process.executable.path", trusted) {
		t.Errorf("the trusted reader produced a record: %v", r.Attributes().AsRaw())
	}
	for _, name := range []string{"falco:my_rules.yaml:Secret Read Untrusted"} {
		assert.Empty(t, recordsWhere(s.sink, "file.open", "security_rule.ruleset.name", name), "a generated kernel filter never names a record")
	}
	require.Eventually(t, func() bool {
		return sumMetric(t, s.tel, "otelcol_ebpf_policy_actions", func(m map[string]string) bool {
			return m["policy"] == "my_rules.yaml" && m["rule"] == "Secret Read Untrusted"
		}) == 1
	}, 5*time.Second, 50*time.Millisecond, "the rule match is counted")

	// Live reload: the reader becomes trusted, and a new rule watches the
	// look-alike path (a new kernel filter).
	edited := strings.Replace(falcoRulesFile(secretDir), "items: [vigil-rt-trustd]", "items: [vigil-rt-trustd, vigil-rt-reader]", 1) + fmt.Sprintf(`
- rule: Public Read
  desc: added by the edit
  condition: open_read and fd.name = %s
  output: public read by %%proc.name
  priority: INFO
`, lookalike)
	writePolicy(t, rulesDir, "my_rules.yaml", edited)
	require.Eventually(t, func() bool {
		run(reader, lookalike)
		return len(ruleRecords(s.sink, "Public Read")) > 0
	}, 10*time.Second, 100*time.Millisecond, "the edited rules file did not take effect")
	assert.Equal(t, "public read by vigil-rt-reader", ruleRecords(s.sink, "Public Read")[0].Body().AsString())
	run(reader, secret) // now trusted
	marker = run("/bin/true")
	waitRecord(t, s.sink, "process.exec", marker)
	assert.Len(t, ruleRecords(s.sink, "Secret Read Untrusted"), 1, "after the edit the reader is trusted")
}

// parentName is the test binary's process name, the parent of what it runs.
func parentName() string {
	n := filepath.Base(os.Args[0])
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// gaugeValue reads one data point of an int64 gauge by its state attribute, -1
// when it is not recorded.
func gaugeValue(t *testing.T, s started, name, state string) int64 {
	t.Helper()
	m, err := s.tel.GetMetric(name)
	if err != nil {
		return -1
	}
	g, ok := m.Data.(metricdata.Gauge[int64])
	if !ok {
		t.Errorf("%s is not an int64 gauge: %T", name, m.Data)
		return -1
	}
	for _, dp := range g.DataPoints {
		if v, ok := dp.Attributes.Value("state"); ok && v.AsString() == state {
			return dp.Value
		}
	}
	return -1
}

// A network rule: its server address and port become the generated kernel
// policy's cidrs and ports; a connect to the rule's port fires, one to another
// port of the same address (the look-alike) produces no record at all.
func TestFalcoNetworkRuleEndToEnd(t *testing.T) {
	hit, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer hit.Close()
	miss, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer miss.Close()
	port := hit.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "net_rules.yaml"), []byte(fmt.Sprintf(`
- rule: Loopback Service Contacted
  desc: a connect to the test's service
  condition: evt.type = connect and fd.sip = 127.0.0.1 and fd.sport = %d and not proc.name in (sshd)
  output: "connect to %%fd.sip:%%fd.sport by %%proc.name (%%fd.l4proto)"
  priority: CRITICAL
`, port)), 0o600))
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{dir} }, nil)
	l := s.r.engine.ctl.RulesFiles()
	require.Len(t, l.Policies, 1)
	kr := l.Policies[0].Rules[0]
	assert.Equal(t, "network.connect", string(kr.Event))
	assert.Equal(t, "127.0.0.1/32", fmt.Sprint(kr.CIDRs[0]))
	assert.Equal(t, []uint16{uint16(port)}, kr.Ports)

	for _, l := range []net.Listener{miss, hit} {
		c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
		require.NoError(t, err)
		c.Close()
	}
	var rec plog.LogRecord
	require.Eventually(t, func() bool {
		recs := recordsWhere(s.sink, "network.connect", "security_rule.name", "Loopback Service Contacted")
		if len(recs) == 0 {
			return false
		}
		rec = recs[0]
		return true
	}, 10*time.Second, 20*time.Millisecond, "the network rule did not fire")
	assert.Equal(t, fmt.Sprintf("connect to 127.0.0.1:%d by %s (tcp)", port, parentName()), rec.Body().AsString())
	assert.Equal(t, plog.SeverityNumberFatal, rec.SeverityNumber())
	marker := exec.Command("/bin/true")
	require.NoError(t, marker.Run())
	waitRecord(t, s.sink, "process.exec", marker.Process.Pid)
	all := recordsWhere(s.sink, "network.connect", "process.pid", fmt.Sprint(os.Getpid()))
	require.Len(t, all, 1, "the connect to the other port never reaches user space")
}
