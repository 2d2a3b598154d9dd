//go:build linux

package policyctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/cgroups"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/features"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, goleak.IgnoreCurrent()) }

type rig struct {
	ctl  *Controller
	proc *sensor.Process
	rd   *ringbuf.Reader
	dir  string
}

// newRig loads the real sensors (syscall hooks: this host refuses BPF LSM) and
// a controller watching a fresh policy directory holding files.
func newRig(t *testing.T, files map[string]string) *rig {
	t.Helper()
	testenv.RequireRoot(t)
	require.NoError(t, sensor.EnsureTracefs())
	p, err := sensor.LoadProcess(sensor.ProcessOptions{RingBufferSize: 1 << 22, ArgsMax: 256})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	root, err := cgroups.Cgroup2Mount("/proc/self/mountinfo")
	require.NoError(t, err)
	pol, _, err := sensor.LoadPolicy(p, 0, root, sensor.Hooks{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, pol.Close()) })
	rd, err := sensor.NewReader(p.Events())
	require.NoError(t, err)
	t.Cleanup(func() { rd.Close() })
	require.NoError(t, p.Attach())
	tb, err := metadata.NewTelemetryBuilder(componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	t.Cleanup(tb.Shutdown)
	dir := t.TempDir()
	for name, body := range files {
		writeFile(t, dir, name, body)
	}
	ctl := New(Config{Logger: zap.NewNop(), Telemetry: tb, Host: componenttest.NewNopHost(), Process: p, Sensors: pol,
		Caps: CapabilitiesOf(features.Set{CgroupSockAddr: true, SendSignal: true}, pol.HasLSM())})
	require.NoError(t, ctl.Start([]string{dir}))
	t.Cleanup(func() { assert.NoError(t, ctl.Close()) })
	return &rig{ctl: ctl, proc: p, rd: rd, dir: dir}
}

func writeFile(t *testing.T, dir, name, body string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(body), 0o600))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, name)))
}

// paths is a file.open policy on n exact paths under base, plus extra entries.
func paths(name, base string, n int, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nrules:\n  - name: watch\n    event: file.open\n    paths:\n", name)
	for i := range n {
		fmt.Fprintf(&b, "      - %s/f%05d\n", base, i)
	}
	for _, e := range extra {
		fmt.Fprintf(&b, "      - %s\n", e)
	}
	return b.String()
}

// matched opens path and returns the policies whose rules matched our opens of
// it, as the read path resolves them through the rule table.
func (r *rig) matched(t *testing.T, path string) []string {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o600))
	var out []string
	var rec ringbuf.Record
	r.rd.SetDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		if err := r.rd.ReadInto(&rec); err != nil {
			require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
			return out
		}
		if sensor.RecordOp(rec.RawSample) != sensor.OpAlert {
			continue
		}
		var a sensor.Alert
		require.NoError(t, sensor.DecodeAlert(rec.RawSample, &a))
		if a.TGID != uint32(os.Getpid()) || a.Path != path {
			continue
		}
		ref, ok := r.ctl.Rules().Strongest(a.Kind, a.Rules)
		require.True(t, ok, "every kernel match names a rule of the table")
		out = append(out, ref.Policy)
	}
}

// waitErrors waits for the controller's errors to satisfy cond. Reloads of
// large policies take seconds under the race detector on a loaded machine.
func (r *rig) waitErrors(t *testing.T, cond func([]string) bool, what string) []string {
	t.Helper()
	var errs []string
	require.Eventually(t, func() bool { errs = r.ctl.Errors(); return cond(errs) }, 20*time.Second, 20*time.Millisecond, what)
	return errs
}

func hasError(sub string) func([]string) bool {
	return func(errs []string) bool {
		for _, e := range errs {
			if strings.Contains(e, sub) {
				return true
			}
		}
		return false
	}
}

// One policy with 10,000 paths does not fit the file path map (8,192): it is
// rejected with its file and the limit, the normal policy beside it enforces
// and reports, and once the big file is removed a later change applies.
func TestOversizedPolicyDoesNotTakeOthersDown(t *testing.T) {
	watched := t.TempDir()
	normal := func(file string) string { return paths("normal", watched, 0, filepath.Join(watched, file)) }
	r := newRig(t, map[string]string{
		"big.yaml":    paths("big", "/srv/vigil-big", 10000),
		"normal.yaml": normal("a"),
	})
	errs := r.waitErrors(t, func(e []string) bool { return len(e) > 0 }, "the big file is reported")
	big := filepath.Join(r.dir, "big.yaml")
	require.Len(t, errs, 1, "only the big file fails: %v", errs)
	assert.Equal(t, big+": paths: 10000 entries exceed the file path map's remaining capacity of 8192 (file_paths holds 8192, 0 used by other policies): policy not loaded, the other policies run", errs[0])
	assert.Equal(t, []string{"normal"}, sortedValues(r.ctl.Rules().Policies))
	assert.Equal(t, []string{"normal"}, r.matched(t, filepath.Join(watched, "a")), "the normal policy reports")
	assert.Empty(t, r.matched(t, filepath.Join(watched, "b")))

	require.NoError(t, os.Remove(big))
	r.waitErrors(t, func(e []string) bool { return len(e) == 0 }, "removing the big file clears its error")
	writeFile(t, r.dir, "normal.yaml", normal("b"))
	require.Eventually(t, func() bool {
		return len(r.matched(t, filepath.Join(watched, "b"))) == 1
	}, 20*time.Second, 50*time.Millisecond, "a later change applies")
	assert.Empty(t, r.matched(t, filepath.Join(watched, "a")), "the old path is no longer watched")
	assert.Empty(t, r.ctl.Errors())
}

// Three policies of 3,000 paths: two fit, the third is rejected by name; the
// running policies keep their room when a new file would push them out.
func TestPoliciesFillingTheMapTogether(t *testing.T) {
	watched := t.TempDir()
	r := newRig(t, map[string]string{
		"p0.yaml": paths("p0", "/srv/vigil-p0", 3000, filepath.Join(watched, "p0")),
		"p1.yaml": paths("p1", "/srv/vigil-p1", 3000, filepath.Join(watched, "p1")),
		"p2.yaml": paths("p2", "/srv/vigil-p2", 3000, filepath.Join(watched, "p2")),
	})
	errs := r.waitErrors(t, func(e []string) bool { return len(e) > 0 }, "the third file is reported")
	require.Len(t, errs, 1, "%v", errs)
	assert.True(t, strings.HasPrefix(errs[0], filepath.Join(r.dir, "p2.yaml")+": paths: 3001 entries exceed the file path map's remaining capacity of 2190"), errs[0])
	assert.Equal(t, []string{"p0"}, r.matched(t, filepath.Join(watched, "p0")))
	assert.Equal(t, []string{"p1"}, r.matched(t, filepath.Join(watched, "p1")))
	assert.Empty(t, r.matched(t, filepath.Join(watched, "p2")))

	// A new file sorting first does not displace the running policies.
	writeFile(t, r.dir, "a-new.yaml", paths("a-new", "/srv/vigil-new", 3000))
	r.waitErrors(t, hasError(filepath.Join(r.dir, "a-new.yaml")+": paths: 3000 entries exceed"), "the new file is rejected")
	assert.Equal(t, []string{"p0"}, r.matched(t, filepath.Join(watched, "p0")))
	assert.Equal(t, []string{"p1"}, r.matched(t, filepath.Join(watched, "p1")))
}

// 1,100 top directories overflow top_dirs (1,024): the policy still loads,
// without the top-directory pre-filter, and matches.
func TestManyTopDirectoriesLoad(t *testing.T) {
	watched := t.TempDir()
	var extra []string
	for i := range 1100 {
		extra = append(extra, fmt.Sprintf("/vigil-top%04d/", i))
	}
	extra = append(extra, filepath.Join(watched, "x"))
	r := newRig(t, map[string]string{"tops.yaml": paths("tops", "/srv", 0, extra...)})
	require.Eventually(t, func() bool { return r.ctl.Rules() != nil }, 20*time.Second, 20*time.Millisecond)
	assert.Empty(t, r.ctl.Errors())
	assert.Equal(t, []string{"tops"}, r.matched(t, filepath.Join(watched, "x")))
}

// A failed map write leaves the previous policies in force, in the kernel and
// in the rule table, and the next change applies.
func TestFailedApplyKeepsPreviousPolicies(t *testing.T) {
	watched := t.TempDir()
	r := newRig(t, map[string]string{"a.yaml": paths("a", watched, 0, filepath.Join(watched, "a"))})
	require.Eventually(t, func() bool { return r.ctl.Rules() != nil }, 20*time.Second, 20*time.Millisecond)
	before := r.ctl.Rules()
	r.ctl.mu.Lock()
	r.ctl.apply = func(*sensor.MapImage, bool) error { return errors.New("injected write failure") }
	r.ctl.mu.Unlock()
	writeFile(t, r.dir, "b.yaml", paths("b", watched, 0, filepath.Join(watched, "b")))
	r.waitErrors(t, hasError("applying policies (previous policies stay in force): injected write failure"), "the failure is reported")
	assert.Same(t, before, r.ctl.Rules(), "the rule table stays")
	assert.Equal(t, []string{"a"}, r.matched(t, filepath.Join(watched, "a")))
	assert.Empty(t, r.matched(t, filepath.Join(watched, "b")))

	r.ctl.mu.Lock()
	r.ctl.apply = r.proc.Apply
	r.ctl.mu.Unlock()
	writeFile(t, r.dir, "b.yaml", paths("b", watched, 0, filepath.Join(watched, "b"), filepath.Join(watched, "c")))
	require.Eventually(t, func() bool { return len(r.matched(t, filepath.Join(watched, "b"))) == 1 }, 20*time.Second, 50*time.Millisecond)
	assert.Equal(t, []string{"a"}, r.matched(t, filepath.Join(watched, "a")))
	assert.Empty(t, r.ctl.Errors())
}

func sortedValues(m map[int]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
