//go:build linux

package features

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/testenv"
)

// kernelDev converts a user-space st_dev to the kernel's dev_t encoding
// (major << 20 | minor), which is what super_block.s_dev holds.
func kernelDev(dev uint64) uint32 {
	return unix.Major(dev)<<20 | unix.Minor(dev)
}

// TestLSMDenyInode shows the BPF LSM really enforces: a file_open program denying
// one inode makes open(2) of that file fail with EPERM while attached, leaves other
// files alone, and the file opens again after detach. It runs where the kernel has
// the BPF LSM (the stock kernels of `make test-vm`) and fails there if it does not.
func TestLSMDenyInode(t *testing.T) {
	testenv.RequireRoot(t)
	if s := Probe(); !s.LSM {
		if k := vmKernel(); k != "" {
			t.Fatalf("the BPF LSM must work on VM kernel %s: %s", k, s.Reasons[CapLSM])
		}
		t.Skipf("no usable BPF LSM on this kernel (%s); this test runs under make test-vm", s.Reasons[CapLSM])
	}

	spec, err := loadProbes()
	require.NoError(t, err)
	var objs struct {
		Prog   *ebpf.Program `ebpf:"lsm_deny_inode"`
		Target *ebpf.Map     `ebpf:"deny_target"`
	}
	require.NoError(t, spec.LoadAndAssign(&objs, nil))
	t.Cleanup(func() {
		assert.NoError(t, objs.Prog.Close())
		assert.NoError(t, objs.Target.Close())
	})

	dir := t.TempDir()
	denied := filepath.Join(dir, "denied")
	other := filepath.Join(dir, "other")
	require.NoError(t, os.WriteFile(denied, []byte("secret\n"), 0o600))
	require.NoError(t, os.WriteFile(other, []byte("public\n"), 0o600))

	var st unix.Stat_t
	require.NoError(t, unix.Stat(denied, &st))
	require.NoError(t, objs.Target.Put(uint32(0), probesInodeKey{Ino: st.Ino, Dev: kernelDev(st.Dev)}))

	_, err = os.ReadFile(denied)
	require.NoError(t, err, "the file must open before the program is attached")

	l, err := link.AttachLSM(link.LSMOptions{Program: objs.Prog})
	require.NoError(t, err)
	attached := true
	t.Cleanup(func() {
		if attached {
			assert.NoError(t, l.Close())
		}
	})

	_, err = os.Open(denied)
	require.ErrorIs(t, err, unix.EPERM, "open of the denied inode while the LSM program is attached")
	for _, p := range []string{other, "/proc/self/status", os.Args[0]} {
		b, err := os.ReadFile(p)
		require.NoError(t, err, "open of %s must not be denied", p)
		require.NotEmpty(t, b)
	}

	require.NoError(t, l.Close())
	attached = false
	b, err := os.ReadFile(denied)
	require.NoError(t, err, "the file must open again after detach")
	assert.Equal(t, "secret\n", string(b))
}
