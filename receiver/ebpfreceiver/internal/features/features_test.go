//go:build linux

package features

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/testenv"
)

// vmKernel is the kernel release when the test runs under .ci/vm/vmexec.sh, else "".
func vmKernel() string { return os.Getenv("VIGIL_VM_KERNEL") }

// expected returns what Probe must find on the kernel the test runs on.
func expected(t *testing.T) map[string]bool {
	t.Helper()
	all := func(except ...string) map[string]bool {
		m := make(map[string]bool)
		for _, n := range Names() {
			m[n] = true
		}
		for _, n := range except {
			m[n] = false
		}
		return m
	}
	rel := vmKernel()
	switch {
	case rel == "":
		// The project's machines and CI runners (PLATFORM.md): a 6.18 kernel whose
		// sandbox refuses fentry and LSM at load, built without kprobes and fprobe.
		return all(CapLSM, CapFentry, CapKprobe, CapKprobeMulti)
	case strings.HasPrefix(rel, "6.1."), strings.HasPrefix(rel, "6.1-"):
		// Debian 12 cloud kernel: BPF LSM, BTF and kprobes, no CONFIG_FPROBE.
		return all(CapKprobeMulti)
	case strings.HasPrefix(rel, "6.12."), strings.HasPrefix(rel, "6.12-"):
		return all()
	}
	t.Fatalf("no expected capabilities for VM kernel %q: add them to this test", rel)
	return nil
}

func TestProbe(t *testing.T) {
	testenv.RequireRoot(t)
	start := time.Now()
	s := Probe()
	t.Logf("Probe took %v: %s", time.Since(start), s)

	for _, n := range Names() {
		if s.Has(n) {
			assert.Empty(t, s.Reasons[n], "%s is available but has a reason", n)
		} else {
			assert.NotEmpty(t, s.Reasons[n], "%s is missing without a reason", n)
		}
	}
	want := expected(t)
	for _, n := range Names() {
		assert.Equal(t, want[n], s.Has(n), "capability %s (reason: %q)", n, s.Reasons[n])
	}
	if vmKernel() == "" {
		// The refusal must be named for what it is, not as a memlock problem.
		for _, n := range []string{CapLSM, CapFentry} {
			assert.Contains(t, s.Reasons[n], "refused by the kernel (EPERM at load)", n)
			assert.NotContains(t, strings.ToLower(s.Reasons[n]), "memlock may be too low", n)
		}
		assert.Contains(t, s.Reasons[CapKprobe], "no kprobe PMU")
	}
}

func TestProbeWithoutCgroup2(t *testing.T) {
	testenv.RequireRoot(t)
	mi := filepath.Join(t.TempDir(), "mountinfo")
	require.NoError(t, os.WriteFile(mi, []byte("22 1 0:21 / /proc rw,relatime shared:5 - proc proc rw\n"), 0o600))
	s := probe(system{lsmList: lsmListPath, mountinfo: mi, kprobePMU: kprobePMUPath})
	assert.False(t, s.CgroupSockAddr)
	assert.Contains(t, s.Reasons[CapCgroupSockAddr], "no cgroup2 hierarchy")
	assert.True(t, s.RingBuf, s.Reasons[CapRingBuf])
}

func TestSetReporting(t *testing.T) {
	s := Set{Kprobe: true, RingBuf: true, Reasons: map[string]string{CapLSM: "refused by the kernel (EPERM at load)"}}

	vals := s.MetricValues()
	assert.Len(t, vals, len(Names()))
	assert.Equal(t, int64(1), vals[CapKprobe])
	assert.Equal(t, int64(1), vals[CapRingBuf])
	assert.Equal(t, int64(0), vals[CapLSM])
	assert.Equal(t, int64(0), vals[CapTaskIter])

	str := s.String()
	assert.True(t, strings.HasPrefix(str, "eBPF capabilities: kprobe, ringbuf; missing: lsm (refused by the kernel (EPERM at load)); fentry (not probed)"), str)
	assert.Equal(t, "eBPF capabilities: none; missing: "+strings.Join(func() []string {
		var m []string
		for _, n := range Names() {
			m = append(m, n+" (not probed)")
		}
		return m
	}(), "; "), Set{}.String())
	assert.False(t, s.Has("no_such_capability"))
}

func TestLoadReason(t *testing.T) {
	// What cilium/ebpf returns for a program type the kernel refuses.
	memlock := fmt.Errorf("load program: %w (MEMLOCK may be too low, consider rlimit.RemoveMemlock)", unix.EPERM)
	r := loadReason("load", memlock).Error()
	assert.Contains(t, r, "refused by the kernel (EPERM at load)")
	assert.NotContains(t, r, "MEMLOCK")

	assert.Contains(t, loadReason("load", fmt.Errorf("x: %w", errors.ErrUnsupported)).Error(), "could not be loaded")
	assert.Contains(t, attachReason(fmt.Errorf("attach: %w", unix.EPERM)).Error(), "EPERM at attach")
}

func TestHasLSM(t *testing.T) {
	assert.True(t, hasLSM("lockdown,capability,landlock,bpf", "bpf"))
	assert.True(t, hasLSM("bpf", "bpf"))
	assert.False(t, hasLSM("lockdown,capability,apparmor", "bpf"))
	assert.False(t, hasLSM("lockdown,bpfx", "bpf"))
	assert.False(t, hasLSM("", "bpf"))
}
