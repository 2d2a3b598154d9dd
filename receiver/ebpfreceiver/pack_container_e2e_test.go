//go:build linux

package ebpfreceiver

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/trigger"
)

// ctrTriggerPath is where vigil-trigger sits in the test containers' file system (in a lower
// layer of their overlay: it is part of the "image").
const ctrTriggerPath = "/opt/vigil-trigger/vigil-trigger"

// packContainerCases are the container rules proven here, each with the container it needs:
// "caps" has CAP_SYS_ADMIN (release_agent, a network namespace of the trigger's own),
// CAP_SYS_MODULE (finit_module reaching the module loader) and CAP_NET_ADMIN (an address on
// that namespace's loopback), "plain" has the runtime's default capabilities (CAP_NET_RAW among them,
// for the packet socket).
var packContainerCases = []struct{ name, ctr string }{
	{"packet-socket-container", "plain"},
	{"redirect-socket-container", "plain"},
	{"netcat-exec-container", "plain"},
	{"drop-and-execute-container", "plain"},
	{"release-agent-container", "caps"},
	{"kernel-module-container", "caps"},
	{"k8s-api-from-container", "caps"},
}

// ruleHit is one rule record: the rule and the container.id of the record's resource ("" on
// the host).
type ruleHit struct{ rule, container string }

// ruleHits counts the records of the rules in rules by rule and container, and separately
// the rule records whose process is vigil-trigger at bin or descends from it.
func ruleHits(sink *consumertest.LogsSink, rules map[string]bool, bin string) (all, mine map[ruleHit]int) {
	all, mine = map[ruleHit]int{}, map[ruleHit]int{}
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			ctr := ""
			if v, ok := rl.Resource().Attributes().Get("container.id"); ok {
				ctr = v.Str()
			}
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					a := lrs.At(k).Attributes()
					r, ok := a.Get("security_rule.name")
					if !ok || !rules[r.Str()] {
						continue
					}
					h := ruleHit{r.Str(), ctr}
					all[h]++
					paths := []string{}
					for _, key := range []string{"process.executable.path", "vigil.parent.executable.path"} {
						if v, ok := a.Get(key); ok {
							paths = append(paths, v.Str())
						}
					}
					if anc, ok := a.Get("vigil.ancestors.executable.path"); ok {
						for n := 0; n < anc.Slice().Len(); n++ {
							paths = append(paths, anc.Slice().At(n).Str())
						}
					}
					for _, p := range paths {
						if p == bin {
							mine[h]++
							break
						}
					}
				}
			}
		}
	}
	return all, mine
}

// triggerRootfs mounts an overlay for the test containers: the busybox rootfs and a layer
// holding vigil-trigger (and /var/lib, where the drop trigger writes) below, an empty upper
// directory above, as an image's container has. It is unmounted at the test's end.
func triggerRootfs(t *testing.T, c *containertest.Containerd, bin string) string {
	t.Helper()
	dir := t.TempDir()
	layer, upper, work, merged := filepath.Join(dir, "layer"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{filepath.Join(layer, filepath.Dir(ctrTriggerPath)), filepath.Join(layer, "var", "lib"),
		filepath.Join(layer, "run"), upper, work, merged} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	b, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(layer, ctrTriggerPath), b, 0o755))
	opts := fmt.Sprintf("lowerdir=%s:%s,upperdir=%s,workdir=%s", layer, c.Rootfs(), upper, work)
	require.NoError(t, unix.Mount("overlay", merged, "overlay", 0, opts), "mounting the containers' overlay")
	// Registered before the containers: it runs after they are removed.
	t.Cleanup(func() { assert.NoError(t, unix.Unmount(merged, unix.MNT_DETACH), "unmounting %s", merged) })
	return merged
}

// The container rules of the default pack, end to end in real containerd/runc containers on
// the real kernel: vigil-trigger, in each container's file system, is run with `ctr task
// exec` for each trigger. Each trigger fires its rule (once per event of the case that must
// fire it), on records whose resource carries the container's id, and no other of these rules; then the look-alikes in the same containers,
// the same triggers on the host, and the release_agent trigger in the container without
// CAP_SYS_ADMIN fire none of them.
//
// The containers have a network namespace of their own with only loopback; "caps" adds
// CAP_SYS_ADMIN, CAP_SYS_MODULE and CAP_NET_ADMIN (--cap-add, not --privileged), "plain" has
// the runtime's default set. The Kubernetes API trigger connects to the Service address
// inside a network namespace it makes itself (in the container, and in the host run). On a
// kernel without module loading the kernel refuses finit_module itself (ENOSYS): the attempt
// still fires the module rule.
func TestDefaultPackContainerTriggers(t *testing.T) {
	c := containerd(t)
	bin := buildTrigger(t)
	s := startPackReceiver(t)
	rootfs := triggerRootfs(t, c, bin)

	byName := map[string]trigger.Case{}
	for _, tc := range trigger.Cases() {
		byName[tc.Name] = tc
	}
	rules := map[string]bool{}
	for _, pc := range packContainerCases {
		tc, ok := byName[pc.name]
		require.True(t, ok, "no trigger %s", pc.name)
		require.True(t, tc.Container, "%s is a container trigger", pc.name)
		rules[tc.Rule] = true
	}
	require.Len(t, rules, len(packContainerCases), "one rule per trigger")

	// Ids of 64 hex digits: the cgroup then names the container (container.id).
	ctrs := map[string]string{}
	for _, kind := range []string{"plain", "caps"} {
		var raw [32]byte
		_, _ = rand.Read(raw[:])
		id := hex.EncodeToString(raw[:])
		flags := []string{"--env", "VIGIL_TRIGGER_IN_CONTAINER=1"}
		if kind == "caps" {
			flags = append(flags, "--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SYS_MODULE", "--cap-add", "CAP_NET_ADMIN")
		}
		_, err := c.RunRootfs(id, rootfs, flags, "/bin/sleep", "300")
		t.Cleanup(func() { assert.NoError(t, c.Remove(id), "removing container %s", kind) })
		require.NoError(t, err, "starting container %s", kind)
		ctrs[kind] = id
	}
	execN := 0
	inCtr := func(kind string, args ...string) string {
		execN++
		out, err := c.Exec(ctrs[kind], fmt.Sprintf("trig%d", execN), append([]string{ctrTriggerPath}, args...)...)
		require.NoError(t, err, "vigil-trigger %v in container %s: %s", args, kind, out)
		return out
	}
	onHost := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "VIGIL_TRIGGER_IN_CONTAINER=1") // the actions run on the host too
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "vigil-trigger %v on the host: %s", args, out)
		return string(out)
	}
	// ran checks that vigil-trigger performed the action (the container check did not skip it).
	ran := func(out, name, what string) {
		t.Helper()
		assert.Regexp(t, `(?m)^ran +`+name+` +`+what+` `, out)
	}

	for _, pc := range packContainerCases {
		rule, id := byName[pc.name].Rule, ctrs[pc.ctr]
		want := ruleHit{rule, id}
		// As many records as the case's events that fire the rule (the offline proof's table).
		n := 0
		for _, ev := range byName[pc.name].Events {
			for _, f := range ev.Fires {
				if f == rule {
					n++
				}
			}
		}
		require.Positive(t, n, "the case %s has an event firing %q", pc.name, rule)
		before, _ := ruleHits(s.sink, rules, ctrTriggerPath)
		ran(inCtr(pc.ctr, "--run", pc.name), pc.name, "trigger")
		assert.Eventually(t, func() bool {
			all, _ := ruleHits(s.sink, rules, ctrTriggerPath)
			return all[want] >= before[want]+n
		}, 10*time.Second, 20*time.Millisecond, "trigger %s in a container did not fire %q %d times", pc.name, rule, n)
		time.Sleep(500 * time.Millisecond) // any other record of the same actions
		after, mine := ruleHits(s.sink, rules, ctrTriggerPath)
		assert.Equal(t, before[want]+n, after[want], "records of %q from trigger %s", rule, pc.name)
		for h, n := range after {
			if h != want {
				assert.Equal(t, before[h], n, "trigger %s also fired %q (container %q)", pc.name, h.rule, h.container)
			}
		}
		assert.Equal(t, after[want], mine[want], "every %q record of %s is vigil-trigger's or its helpers'", rule, pc.name)
	}

	time.Sleep(time.Second)
	before, _ := ruleHits(s.sink, rules, ctrTriggerPath)
	for _, pc := range packContainerCases {
		ran(inCtr(pc.ctr, "--run", pc.name, "--only-lookalikes"), pc.name, "look-alike")
		ran(onHost("--run", pc.name), pc.name, "trigger")
	}
	// Without CAP_SYS_ADMIN the release_agent write is no escape.
	ran(inCtr("plain", "--run", "release-agent-container"), "release-agent-container", "trigger")
	time.Sleep(2 * time.Second)
	after, _ := ruleHits(s.sink, rules, ctrTriggerPath)
	assert.Equal(t, before, after, "a look-alike, a host run or the release_agent trigger without CAP_SYS_ADMIN fired a container rule")
	keys := make([]string, 0, len(after))
	for h, n := range after {
		keys = append(keys, fmt.Sprintf("%s@%s=%d", h.rule, shortID(h.container), n))
	}
	sort.Strings(keys)
	t.Logf("container rule records: %s", strings.Join(keys, ", "))
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	if id == "" {
		return "host"
	}
	return id
}
