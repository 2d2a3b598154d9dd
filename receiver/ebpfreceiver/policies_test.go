//go:build linux

package ebpfreceiver

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
)

// recordsWhere returns every record of an event whose attribute key equals value.
func recordsWhere(sink *consumertest.LogsSink, event, key, value string) []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					lr := lrs.At(k)
					if lr.EventName() != event {
						continue
					}
					if v, ok := lr.Attributes().Get(key); ok && v.AsString() == value {
						out = append(out, lr)
					}
				}
			}
		}
	}
	return out
}

func writePolicy(t *testing.T, dir, file, body string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+file+".tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(body), 0o600))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, file))) // atomic, as editors and ConfigMaps do
}

func filePolicy(name, path string) string {
	return fmt.Sprintf("name: %s\nrules:\n  - name: watch\n    event: file.open\n    paths: [%s]\n    severity: warn\n", name, path)
}

func touchAndRead(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o600))
	_, err := os.ReadFile(path)
	require.NoError(t, err)
}

// Policies load from a directory, match in the kernel, and reload live: a broken
// edit keeps the last good version running, the other file keeps working, and a
// fixed edit changes what matches without a restart.
func TestPoliciesLoadReloadAndSurviveBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policies")
	require.NoError(t, os.Mkdir(pdir, 0o755))
	var watched [3]string
	for i := range watched {
		watched[i] = filepath.Join(dir, fmt.Sprintf("w%d", i)) + "/"
		require.NoError(t, os.Mkdir(watched[i], 0o755))
	}
	writePolicy(t, pdir, "a.yaml", filePolicy("pol-a", watched[0]))
	writePolicy(t, pdir, "b.yaml", filePolicy("pol-b", watched[1]))
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{pdir} }, nil)

	fa, fb, fc := filepath.Join(watched[0], "f"), filepath.Join(watched[1], "f"), filepath.Join(watched[2], "f")
	touchAndRead(t, fa)
	touchAndRead(t, fb)
	touchAndRead(t, fc)
	require.Eventually(t, func() bool {
		return len(recordsWhere(s.sink, "file.open", "file.path", fa)) == 2 &&
			len(recordsWhere(s.sink, "file.open", "file.path", fb)) == 2
	}, 5*time.Second, 20*time.Millisecond)
	assert.Empty(t, recordsWhere(s.sink, "file.open", "file.path", fc), "no policy watches w2")
	rec := recordsWhere(s.sink, "file.open", "file.path", fa)[1]
	a := rec.Attributes().AsRaw()
	assert.Equal(t, "watch", a["security_rule.name"])
	assert.Equal(t, "pol-a", a["security_rule.ruleset.name"])
	assert.Equal(t, "post", a["vigil.policy.action"])
	assert.Equal(t, "read", a["vigil.file.access"])
	assert.Equal(t, int64(os.Getpid()), a["process.pid"])
	assert.Equal(t, plog.SeverityNumberWarn, rec.SeverityNumber())

	// Break b.yaml: an error is counted, pol-b keeps its last good version, pol-a runs.
	writePolicy(t, pdir, "b.yaml", "name: pol-b\nrules:\n  - event: file.open\n    cidrs: [10.0.0.0/8]\n")
	require.Eventually(t, func() bool {
		return sumMetric(t, s.tel, "otelcol_ebpf_policy_errors", nil) >= 1
	}, 5*time.Second, 20*time.Millisecond, "the broken file is reported")
	touchAndRead(t, fa)
	touchAndRead(t, fb)
	require.Eventually(t, func() bool {
		return len(recordsWhere(s.sink, "file.open", "file.path", fa)) == 4 &&
			len(recordsWhere(s.sink, "file.open", "file.path", fb)) == 4
	}, 5*time.Second, 20*time.Millisecond, "both policies still run")

	// Fix b.yaml to watch w2 instead: a map update, no restart.
	writePolicy(t, pdir, "b.yaml", filePolicy("pol-b", watched[2]))
	time.Sleep(600 * time.Millisecond) // debounce + apply
	touchAndRead(t, fb)
	touchAndRead(t, fc)
	require.Eventually(t, func() bool {
		return len(recordsWhere(s.sink, "file.open", "file.path", fc)) == 2
	}, 5*time.Second, 20*time.Millisecond)
	assert.Len(t, recordsWhere(s.sink, "file.open", "file.path", fb), 4, "w1 is no longer watched")
}

// A deny rule refuses the connect for real and the record says so; a count rule
// sends nothing through the ring buffer but is counted.
func TestPolicyConnectDenyRecordAndCountRule(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	self, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	counted := filepath.Join(dir, "counted") + "/"
	require.NoError(t, os.Mkdir(counted, 0o755))
	writePolicy(t, dir, "deny.yaml", fmt.Sprintf(`name: no-loopback-port
mode: enforce
selector:
  binaries: [%s]
rules:
  - name: port
    event: network.connect
    cidrs: [127.0.0.0/8]
    ports: [%d]
    action: deny
`, self, port))
	writePolicy(t, dir, "count.yaml", fmt.Sprintf("name: count-opens\nrules:\n  - name: opens\n    event: file.open\n    paths: [%s]\n    action: count\n", counted))
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{dir} }, nil)

	_, err = net.DialTimeout("tcp", l.Addr().String(), time.Second)
	require.ErrorIs(t, err, syscall.EPERM)
	for i := range 5 {
		touchAndRead(t, filepath.Join(counted, fmt.Sprint(i)))
	}
	var recs []plog.LogRecord
	require.Eventually(t, func() bool {
		recs = recordsWhere(s.sink, "network.connect", "network.peer.port", fmt.Sprint(port))
		return len(recs) == 1
	}, 5*time.Second, 20*time.Millisecond)
	a := recs[0].Attributes().AsRaw()
	assert.Equal(t, "127.0.0.1", a["network.peer.address"])
	assert.Equal(t, "tcp", a["network.transport"])
	assert.Equal(t, "deny", a["vigil.policy.action"])
	assert.Equal(t, "enforce", a["vigil.policy.mode"])
	assert.Equal(t, true, a["vigil.policy.applied"])
	assert.Equal(t, plog.SeverityNumberWarn, recs[0].SeverityNumber(), "a denial is not INFO")
	assert.Contains(t, recs[0].Body().Str(), "denied network.connect 127.0.0.1:")

	require.Eventually(t, func() bool {
		return sumMetric(t, s.tel, "otelcol_ebpf_rule_matches", func(m map[string]string) bool { return m["policy"] == "count-opens" }) == 10
	}, 5*time.Second, 50*time.Millisecond, "5 writes + 5 reads counted in the kernel")
	for i := range 5 {
		assert.Empty(t, recordsWhere(s.sink, "file.open", "file.path", filepath.Join(counted, fmt.Sprint(i))), "count rules emit no records")
	}
	assert.Equal(t, int64(1), sumMetric(t, s.tel, "otelcol_ebpf_policy_actions", func(m map[string]string) bool {
		return m["policy"] == "no-loopback-port" && m["outcome"] == "applied"
	}))
}

// A policy too large for the kernel maps is rejected with its file and the
// limit while the receiver runs and the other policy reports; once the big file
// is gone a later change applies without a restart.
func TestOversizedPolicyRejectedOthersRun(t *testing.T) {
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policies")
	require.NoError(t, os.Mkdir(pdir, 0o755))
	var big strings.Builder
	big.WriteString("name: big\nrules:\n  - event: file.open\n    paths:\n")
	for i := range 10000 {
		fmt.Fprintf(&big, "      - /srv/vigil-big/f%05d\n", i)
	}
	writePolicy(t, pdir, "big.yaml", big.String())
	fa, fb := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writePolicy(t, pdir, "normal.yaml", filePolicy("normal", fa))
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{pdir} }, nil)

	touchAndRead(t, fa)
	require.Eventually(t, func() bool {
		return len(recordsWhere(s.sink, "file.open", "file.path", fa)) == 2
	}, 20*time.Second, 20*time.Millisecond, "the normal policy reports")
	assert.Equal(t, "normal", recordsWhere(s.sink, "file.open", "file.path", fa)[0].Attributes().AsRaw()["security_rule.ruleset.name"])
	errs := s.r.engine.ctl.Errors()
	require.Len(t, errs, 1)
	assert.True(t, strings.HasPrefix(errs[0], filepath.Join(pdir, "big.yaml")+": paths: 10000 entries exceed the file path map's remaining capacity of 8192"), errs[0])
	assert.GreaterOrEqual(t, sumMetric(t, s.tel, "otelcol_ebpf_policy_errors", nil), int64(1))

	require.NoError(t, os.Remove(filepath.Join(pdir, "big.yaml")))
	writePolicy(t, pdir, "normal.yaml", filePolicy("normal", fb))
	require.Eventually(t, func() bool {
		touchAndRead(t, fb)
		return len(recordsWhere(s.sink, "file.open", "file.path", fb)) >= 2
	}, 20*time.Second, 100*time.Millisecond, "a later change applies")
	assert.Empty(t, s.r.engine.ctl.Errors())
}
