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

func (r *rig) waitErrors(t *testing.T, cond func([]string) bool, what string) []string {
	t.Helper()
	var errs []string
	require.Eventually(t, func() bool { errs = r.ctl.Errors(); return cond(errs) }, 5*time.Second, 20*time.Millisecond, what)
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

// A failed map write leaves the previous policies in force, in the kernel and
// in the rule table, and the next change applies.
func TestFailedApplyKeepsPreviousPolicies(t *testing.T) {
	watched := t.TempDir()
	r := newRig(t, map[string]string{"a.yaml": paths("a", watched, 0, filepath.Join(watched, "a"))})
	require.Eventually(t, func() bool { return r.ctl.Rules() != nil }, 5*time.Second, 20*time.Millisecond)
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
	require.Eventually(t, func() bool { return len(r.matched(t, filepath.Join(watched, "b"))) == 1 }, 5*time.Second, 50*time.Millisecond)
	assert.Equal(t, []string{"a"}, r.matched(t, filepath.Join(watched, "a")))
	assert.Empty(t, r.ctl.Errors())
}
