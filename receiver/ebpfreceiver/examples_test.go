//go:build linux

package ebpfreceiver

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
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
		set := policy.Load(files, caps.c)
		require.Empty(t, set.Errors(), caps.name)
		slots := map[string]int{}
		for i, p := range set.Policies {
			require.NoError(t, sensor.CheckSupported(p, caps.c.LSM), "%s: %s", caps.name, p.Source)
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
