//go:build linux

package ebpfreceiver

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/trigger"
)

// packE2E are the triggers whose events the sensors and the event side provide today; the
// others wait for a field or an event (docs/detections.md, "e2e needs").
var packE2E = []string{
	"shell-from-web-server", "shell-from-node", "web-shell-internal-connect", "netcat-exec",
	"search-private-keys", "find-aws-credentials", "remove-bulk-data", "exec-dev-shm", "exec-tmp",
	"system-user-login", "sudo-invoked", "read-shadow", "read-shadow-after-startup",
	"shared-library-tmp", "ssh-non-standard-port", "ptrace-attach", "setuid-root", "sshd-accept", "bpf-load",
	"hardlink-shadow", "symlink-shadow", "reverse-shell", "ptrace-traceme",
	"memfd-exec", "system-user-ssh-session",
	"clear-log", "directory-traversal", "kernel-module",
}

// triggerHits counts, per rule, the rule records of processes that vigil-trigger (the binary
// bin) ran or is: other activity on the machine is not counted.
func triggerHits(sink *consumertest.LogsSink, bin string) map[string]int {
	mine := map[string]bool{}
	each := func(f func(a pcommon.Map)) {
		for _, ld := range sink.AllLogs() {
			for i := 0; i < ld.ResourceLogs().Len(); i++ {
				sl := ld.ResourceLogs().At(i).ScopeLogs()
				for j := 0; j < sl.Len(); j++ {
					lrs := sl.At(j).LogRecords()
					for k := 0; k < lrs.Len(); k++ {
						f(lrs.At(k).Attributes())
					}
				}
			}
		}
	}
	each(func(a pcommon.Map) {
		id, ok := a.Get("vigil.exec_id")
		if !ok {
			return
		}
		for _, k := range []string{"process.executable.path", "vigil.parent.executable.path"} {
			if p, ok := a.Get(k); ok && p.Str() == bin {
				mine[id.Str()] = true
			}
		}
		if anc, ok := a.Get("vigil.ancestors.executable.path"); ok {
			for i := 0; i < anc.Slice().Len(); i++ {
				if anc.Slice().At(i).Str() == bin {
					mine[id.Str()] = true
				}
			}
		}
	})
	out := map[string]int{}
	each(func(a pcommon.Map) {
		rule, ok := a.Get("security_rule.name")
		id, ok2 := a.Get("vigil.exec_id")
		if ok && ok2 && mine[id.Str()] {
			out[rule.Str()]++
		}
	})
	return out
}

// buildTrigger builds vigil-trigger, static (no cgo: it also runs in a busybox container), in a
// temporary directory and returns its path.
func buildTrigger(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil-trigger")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/vigil-trigger")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	return bin
}

// startPackReceiver starts the receiver with the default pack in policy_paths and checks it
// loaded whole. A local file empties vigil_build_tools (the documented tuning for build
// machines), since the triggers run under `go test`.
func startPackReceiver(t *testing.T) started {
	t.Helper()
	local := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(local, "zz_e2e_local.yaml"), []byte(`
- list: vigil_build_tools
  items: []
  override:
    items: replace
`), 0o600))
	s := startReceiver(t, func(c *Config) { c.PolicyPaths = []string{"../../rules", local} }, nil)
	rf := s.r.engine.ctl.RulesFiles()
	require.Zero(t, rf.Skipped, rf.Problems)
	require.Equal(t, 37, rf.Loaded)
	return s
}

// The default pack in policy_paths, end to end on the real kernel: it loads whole; each
// supported trigger fires its rule, and the look-alikes, run alone afterwards, fire nothing.
// A local file empties vigil_build_tools (the documented tuning for build machines), since
// the triggers run under `go test`.
func TestDefaultPackEndToEnd(t *testing.T) {
	bin := buildTrigger(t)
	s := startPackReceiver(t)
	byName := map[string]trigger.Case{}
	for _, c := range trigger.Cases() {
		byName[c.Name] = c
	}
	runT := func(args ...string) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		require.NoError(t, err, string(out))
		require.NotContains(t, string(out), "skipped", string(out))
	}
	for _, name := range packE2E {
		c := byName[name]
		before := triggerHits(s.sink, bin)[c.Rule]
		runT("--run", name)
		assert.Eventually(t, func() bool { return triggerHits(s.sink, bin)[c.Rule] > before }, 10*time.Second,
			20*time.Millisecond, "trigger %s did not fire %q", name, c.Rule)
	}
	time.Sleep(time.Second)
	before := triggerHits(s.sink, bin)
	for _, name := range packE2E {
		runT("--run", name, "--only-lookalikes")
	}
	time.Sleep(2 * time.Second)
	assert.Equal(t, before, triggerHits(s.sink, bin), "a look-alike fired a rule")
	t.Logf("rule records of the triggers: %v", before)
}
