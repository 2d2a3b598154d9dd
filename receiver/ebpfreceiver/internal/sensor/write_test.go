//go:build linux

package sensor

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// file.write: 10,000 writes elsewhere and an open for writing without a write
// give nothing; 3 writes (write, pwrite, writev) to the watched file give exactly
// 3 records, each with the resolved path. A file.open rule on the same path
// sees the opens, not the writes.
func fileWriteScenario(t *testing.T, r *policyRig) {
	dir := t.TempDir()
	watched := filepath.Join(dir, "watched")
	other := filepath.Join(dir, "other")
	c := r.applyWith(t, r.caps(), r.pol.HasLSM(), `name: writes
rules:
  - name: w
    event: file.write
    paths: [`+watched+`]
  - name: o
    event: file.open
    paths: [`+watched+`]
    access: [write]
`)
	assert.Equal(t, r.pol.HasLSM(), c.Plan.writeOnLSM())
	f, err := os.Create(other)
	require.NoError(t, err)
	for range 10000 {
		_, err := f.Write([]byte("n"))
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())

	w, err := os.OpenFile(watched, os.O_CREATE|os.O_WRONLY, 0o600) // one open for write
	require.NoError(t, err)
	_, err = w.Write([]byte("a"))
	require.NoError(t, err)
	_, err = w.WriteAt([]byte("b"), 1)
	require.NoError(t, err)
	_, err = unix.Writev(int(w.Fd()), [][]byte{[]byte("c"), []byte("d")})
	require.NoError(t, err)
	require.NoError(t, w.Close())
	b, err := os.ReadFile(watched) // a read: neither rule
	require.NoError(t, err)
	require.Equal(t, "acd", string(b)) // pwrite does not move the offset: writev overwrites "b"

	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.TGID == uint32(os.Getpid()) })
	var writes, opens int
	for _, a := range got {
		assert.Equal(t, watched, a.Path)
		ref, ok := c.Rules.Strongest(KindFile, a.Rules)
		require.True(t, ok)
		switch ref.Rule {
		case "w":
			writes++
			assert.Equal(t, uint32(syscall.O_WRONLY), a.Access&3, "reported with the open flags")
		case "o":
			opens++
		}
		assert.Equal(t, r.hookFlag(), a.Flags&(FlagLSM|FlagFmodRet))
	}
	assert.Equal(t, 3, writes, "write, pwrite64, writev")
	assert.Equal(t, 1, opens, "the open for write; the read-only open is not write access")
	assert.Len(t, got, 4)
}

func TestFileWriteFilteredInKernel(t *testing.T) {
	fileWriteScenario(t, newPolicyRig(t))
}

func TestFileWriteFilteredInLSM(t *testing.T) { inSecurityBuilds(t, fileWriteFilteredInLSM) }

func fileWriteFilteredInLSM(t *testing.T, hooks Hooks) {
	testenv.RequireRoot(t)
	if os.Getenv("VIGIL_VM_KERNEL") == "" {
		t.Skip("BPF LSM is refused on this host: runs in the kernel matrix (make test-vm)")
	}
	r := newPolicyRigHooks(t, hooks)
	fileWriteScenario(t, r)
	assert.Contains(t, r.pol.Attached(), r.pol.secHook("file_permission").name)
	assert.NotContains(t, r.pol.Attached(), "sys_exit")
}

// A file.write deny refuses each write with EPERM through lsm/file_permission,
// also on a descriptor opened before the policy came: the write is checked, not
// the open. The write works again once the hook is detached.
func TestFileWriteDenyLSM(t *testing.T) { inSecurityBuilds(t, fileWriteDenyLSM) }

func fileWriteDenyLSM(t *testing.T, hooks Hooks) {
	testenv.RequireRoot(t)
	if os.Getenv("VIGIL_VM_KERNEL") == "" {
		t.Skip("BPF LSM is refused on this host: runs in the kernel matrix (make test-vm)")
	}
	r := newPolicyRigHooks(t, hooks)
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	w, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	defer w.Close()
	r.applyWith(t, policy.Capabilities{LSM: true, CgroupSockAddr: true, SendSignal: true}, true, fmt.Sprintf(`name: deny-writes
mode: enforce
rules:
  - event: file.write
    paths: [%s]
    action: deny
`, target))
	_, err = w.Write([]byte("x"))
	require.ErrorIs(t, err, syscall.EPERM, "refused while attached")
	_, err = os.ReadFile(target)
	require.NoError(t, err, "reads pass")
	got := r.alerts(t, time.Second, func(a *Alert) bool { return a.Path == target })
	require.Len(t, got, 1)
	assert.True(t, got[0].Applied)
	assert.Equal(t, actDeny, got[0].Action)

	require.NoError(t, r.pol.Close())
	_, err = w.Write([]byte("y"))
	require.NoError(t, err, "writes again after detach")
}
