//go:build linux

package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testenv"
)

const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
const uid = "5f3c1a2b-0c1d-4e5f-8a9b-0c1d2e3f4a5b"

func TestParse(t *testing.T) {
	uidU := strings.ReplaceAll(uid, "-", "_")
	tests := []struct {
		name, path string
		want       Info
	}{
		{"containerd systemd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id + ".scope", Info{id, "containerd", uid}},
		{"containerd besteffort", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + id + ".scope", Info{id, "containerd", uid}},
		{"guaranteed pod", "/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + id + ".scope", Info{id, "containerd", uid}},
		{"cri-o", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/crio-" + id + ".scope", Info{id, "cri-o", uid}},
		{"cri-o conmon is not the container", "/kubepods.slice/kubepods-pod" + uidU + ".slice/crio-conmon-" + id + ".scope", Info{"", "", uid}},
		{"cgroupfs kubepods", "/kubepods/burstable/pod" + uid + "/" + id, Info{id, "kubernetes", uid}},
		{"docker systemd", "/system.slice/docker-" + id + ".scope", Info{id, "docker", ""}},
		{"docker cgroupfs", "/docker/" + id, Info{id, "", ""}},
		{"podman", "/machine.slice/libpod-" + id + ".scope", Info{id, "podman", ""}},
		{"podman rootless nested", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope/container", Info{id, "podman", ""}},
		{"host process", "/user.slice/user-0.slice/session-3.scope", Info{}},
		{"root", "/", Info{}},
		{"short id is not a container", "/docker/0123abcd", Info{}},
		{"leaf and parent names only", "kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + id + ".scope", Info{id, "containerd", uid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Parse(tt.path))
		})
	}
}

func TestCgroup2Mount(t *testing.T) {
	dir := t.TempDir()
	mi := filepath.Join(dir, "mountinfo")
	require.NoError(t, os.WriteFile(mi, []byte(
		"25 30 0:23 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro\n"+
			"26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate\n"), 0o600))
	got, err := Cgroup2Mount(mi)
	require.NoError(t, err)
	assert.Equal(t, "/sys/fs/cgroup/unified", got)
	require.NoError(t, os.WriteFile(mi, []byte("25 30 0:23 / / rw - ext4 /dev/vda rw\n"), 0o600))
	_, err = Cgroup2Mount(mi)
	assert.ErrorContains(t, err, "no cgroup2 mount")
}

// TestResolverRealCgroup creates a real cgroup2 directory with a containerd shape
// and resolves its id (the inode number the kernel reports) back to the container.
func TestResolverRealCgroup(t *testing.T) {
	testenv.RequireRoot(t)
	root, err := Cgroup2Mount("/proc/self/mountinfo")
	require.NoError(t, err)
	rel := "/vigil-test.slice/cri-containerd-" + id + ".scope"
	require.NoError(t, os.MkdirAll(filepath.Join(root, rel), 0o755))
	t.Cleanup(func() {
		_ = os.Remove(filepath.Join(root, rel))
		_ = os.Remove(filepath.Join(root, "/vigil-test.slice"))
	})
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(filepath.Join(root, rel), &st))

	r := NewResolver(root, time.Second)
	p, ok := r.Path(st.Ino)
	require.True(t, ok)
	assert.Equal(t, rel, p)
	assert.Equal(t, id, Parse(p).ContainerID)
	assert.Equal(t, []uint64{st.Ino}, r.IDsOf(id))
	_, ok = r.Path(1 << 60)
	assert.False(t, ok, "unknown ids miss, and the rescan is rate limited")
}
