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

// static is a static pod's UID as the kubelet makes it (the hex of an md5 hash).
const static = "9a4c7e1f2b3d4c5e6f708192a3b4c5d6"

const misplaced = "5f3c1a2b0-c1d-4e5f-8a9b-0c1d2e3f4a5b"

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
		// The kubelet's cgroupfs layout: containerd and cri-dockerd both create a bare id
		// there, so the path does not name the runtime (the pod status's container id does).
		{"cgroupfs kubepods", "/kubepods/burstable/pod" + uid + "/" + id, Info{id, "", uid}},
		{"cgroupfs kubepods besteffort", "/kubepods/besteffort/pod" + uid + "/" + id, Info{id, "", uid}},
		{"cgroupfs kubepods guaranteed", "/kubepods/pod" + uid + "/" + id, Info{id, "", uid}},
		{"cgroupfs kubepods cri-o", "/kubepods/besteffort/pod" + uid + "/crio-" + id, Info{id, "cri-o", uid}},
		{"cgroupfs pod sandbox-less leaf", "pod" + uid + "/" + id, Info{id, "", uid}},
		// Static pods: the kubelet's own UID is the 32-hex hash of the manifest, no dashes.
		{"cgroupfs static pod", "/kubepods/besteffort/pod" + static + "/" + id, Info{id, "", static}},
		{"systemd static pod", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + static + ".slice/cri-containerd-" + id + ".scope", Info{id, "containerd", static}},
		{"static pod leaf and parent only", "pod" + static + "/" + id, Info{id, "", static}},
		{"static pod slice only", "/kubepods/besteffort/pod" + static, Info{"", "", static}},
		{"docker systemd", "/system.slice/docker-" + id + ".scope", Info{id, "docker", ""}},
		{"docker cgroupfs", "/docker/" + id, Info{id, "docker", ""}},
		{"docker kubepods systemd", "/kubepods.slice/kubepods-pod" + uidU + ".slice/docker-" + id + ".scope", Info{id, "docker", uid}},
		{"containerd outside kubernetes (ctr)", "/default/" + id, Info{id, "", ""}},
		{"nerdctl", "/system.slice/nerdctl-" + id + ".scope", Info{id, "containerd", ""}},
		{"not a pod: 31 hex", "/kubepods/besteffort/pod" + static[:31] + "/" + id, Info{id, "", ""}},
		{"not a pod: word before pod", "/kubepods/besteffort/ipod" + uid + "/" + id, Info{id, "", ""}},
		{"not a pod: dashes misplaced", "/kubepods/besteffort/pod" + misplaced + "/" + id, Info{id, "", ""}},
		{"not a pod: non-hex static", "/kubepods/besteffort/pod" + strings.Repeat("g", 32) + "/" + id, Info{id, "", ""}},
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

// TestResolverNewCgroupWithoutRescan: a cgroup created after the last scan, inside the
// rescan rate limit, still resolves (the kernel opens it by its id), so the first
// events of a new container do not wait for the next walk.
func TestResolverNewCgroupWithoutRescan(t *testing.T) {
	testenv.RequireRoot(t)
	root, err := Cgroup2Mount("/proc/self/mountinfo")
	require.NoError(t, err)
	r := NewResolver(root, time.Hour)
	_, ok := r.Path(1 << 60) // the first miss scans; the next scan is an hour away
	require.False(t, ok)

	rel := "/vigil-test-new/pod" + static + "/" + id
	require.NoError(t, os.MkdirAll(filepath.Join(root, rel), 0o755))
	t.Cleanup(func() {
		_ = os.Remove(filepath.Join(root, rel))
		_ = os.Remove(filepath.Join(root, "/vigil-test-new/pod"+static))
		_ = os.Remove(filepath.Join(root, "/vigil-test-new"))
	})
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(filepath.Join(root, rel), &st))
	p, ok := r.Path(st.Ino)
	require.True(t, ok, "a new cgroup resolves by handle, without a rescan")
	assert.Equal(t, rel, p)
	assert.Equal(t, Info{id, "", static}, Parse(p))

	require.NoError(t, os.Remove(filepath.Join(root, rel)))
	_, ok = NewResolver(root, time.Hour).Path(st.Ino)
	assert.False(t, ok, "a removed cgroup does not resolve")
}
