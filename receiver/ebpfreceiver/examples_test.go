//go:build linux

package ebpfreceiver

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// Every example policy loads and compiles on this host's capabilities and on a
// kernel with BPF LSM, with the effective actions their comments promise.
func TestExamplePoliciesCompile(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "policies", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, caps := range []struct {
		name string
		c    policy.Capabilities
	}{
		{"no LSM", policy.Capabilities{CgroupSockAddr: true, SendSignal: true}},
		{"LSM", policy.Capabilities{LSM: true, CgroupSockAddr: true, SendSignal: true}},
	} {
		set := policy.LoadLinked(files, caps.c, rulestage.Linker{}) // as the receiver loads them
		require.Empty(t, set.Errors(), caps.name)
		slots := map[string]int{}
		for i, p := range set.Policies {
			require.NoError(t, p.CheckImplemented(caps.c.LSM), "%s: %s", caps.name, p.Source)
			slots[p.Name] = i
		}
		_, err := sensor.Compile(set.Policies, slots, nil)
		require.NoError(t, err, caps.name)
		eff := map[string]policy.Action{}
		for _, p := range set.Policies {
			for _, r := range p.Rules {
				eff[p.Name+"/"+r.Name] = r.EffectiveAction
			}
		}
		assert.Equal(t, policy.ActionDeny, eff["metadata-endpoint/imds"], caps.name)
		assert.Equal(t, policy.ActionKill, eff["netcat-kill/netcat"], caps.name)
		if caps.c.LSM {
			assert.Equal(t, policy.ActionDeny, eff["ptrace/attach"], "%s: lsm/ptrace_access_check denies", caps.name)
		} else {
			assert.Equal(t, policy.ActionKill, eff["ptrace/attach"], "%s: ptrace deny falls back to kill", caps.name)
		}
	}
}

// sensitive-files.yaml as shipped: a read of /etc/shadow is one file.open record.
func TestExampleSensitiveFiles(t *testing.T) {
	if _, err := os.Stat("/etc/shadow"); err != nil {
		t.Skip("no /etc/shadow on this system")
	}
	s := startReceiver(t, func(c *Config) {
		c.PolicyPaths = []string{filepath.Join("..", "..", "testdata", "policies", "sensitive-files.yaml")}
	}, nil)
	_, err := os.ReadFile("/etc/shadow")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, r := range recordsWhere(s.sink, "file.open", "file.path", "/etc/shadow") {
			if v, _ := r.Attributes().Get("process.pid"); v.Int() == int64(os.Getpid()) {
				return r.Attributes().AsRaw()["security_rule.name"] == "shadow"
			}
		}
		return false
	}, 5*time.Second, 20*time.Millisecond)
}

func examplePolicy(name string) string {
	return filepath.Join("..", "..", "testdata", "policies", name)
}

// awaitRecord waits for one record of an event whose key holds value, and
// returns its attributes.
func awaitRecord(t *testing.T, s started, event, key, value string) map[string]any {
	t.Helper()
	var attrs map[string]any
	require.Eventually(t, func() bool {
		recs := recordsWhere(s.sink, event, key, value)
		if len(recs) == 0 {
			return false
		}
		attrs = recs[0].Attributes().AsRaw()
		attrs["severity"] = recs[0].SeverityText()
		attrs["body"] = recs[0].Body().AsString()
		return true
	}, 5*time.Second, 20*time.Millisecond, "no %s record with %s=%s", event, key, value)
	return attrs
}

// privilege-escalation.yaml as shipped: a process that raises its euid back to 0
// is one WARN privilege.change record; one that only lowers it is none.
func TestExamplePrivilegeEscalation(t *testing.T) {
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{examplePolicy("privilege-escalation.yaml")} }, nil)
	lower := testenv.CopyTestBinary(t, "")
	raise := testenv.CopyTestBinary(t, "")
	require.Equal(t, "ok", testenv.RunHelper(t, lower, "setuid-lower"))
	require.Equal(t, "ok", testenv.RunHelper(t, raise, "setuid-raise"))
	a := awaitRecord(t, s, "privilege.change", "process.executable.path", raise)
	assert.Equal(t, "raise", a["security_rule.name"])
	assert.Equal(t, "WARN", a["severity"])
	assert.Equal(t, "post", a["vigil.policy.action"])
	assert.Empty(t, recordsWhere(s.sink, "privilege.change", "process.executable.path", lower))
}

// ptrace.yaml as shipped: a tracer run from /tmp is refused (BPF LSM, fmod_ret)
// or, on this host, killed (fallback: kill), and the record says which.
func TestExamplePtrace(t *testing.T) {
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{examplePolicy("ptrace.yaml")} }, nil)
	dir, err := os.MkdirTemp("/tmp", "vigil-ptrace-") // the policy selects binaries under /tmp/
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	tracer := testenv.CopyTestBinary(t, dir)
	out := testenv.RunHelper(t, tracer, "ptrace")
	a := awaitRecord(t, s, "process.ptrace", "process.executable.path", tracer)
	assert.Equal(t, "attach", a["security_rule.name"])
	assert.Equal(t, true, a["vigil.policy.applied"])
	if s.r.pol.HasLSM() {
		assert.Equal(t, "1", out, "EPERM")
		assert.Equal(t, "deny", a["vigil.policy.action"])
	} else {
		assert.Equal(t, "killed: killed", out, "SIGKILL: deny falls back to kill without BPF LSM")
		assert.Equal(t, "kill", a["vigil.policy.action"])
	}
}

// metadata-endpoint.yaml as shipped: a connect to 169.254.169.254:80 from a
// process in its own pid namespace (containers: only) fails with EPERM; the same
// connect from a host process is not refused.
func TestExampleMetadataEndpoint(t *testing.T) {
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{examplePolicy("metadata-endpoint.yaml")} }, nil)
	helper := testenv.CopyTestBinary(t, "")
	assert.Equal(t, "1", testenv.RunHelper(t, helper, "in-pidns:connect-imds"), "EPERM in a container")
	a := awaitRecord(t, s, "network.connect", "network.peer.address", "169.254.169.254")
	assert.Equal(t, "imds", a["security_rule.name"])
	assert.Equal(t, "deny", a["vigil.policy.action"])
	assert.Equal(t, true, a["vigil.policy.applied"])
	assert.Equal(t, int64(80), a["network.peer.port"])
	assert.NotEqual(t, "1", testenv.RunHelper(t, helper, "connect-imds"), "a host process is not refused")
}
