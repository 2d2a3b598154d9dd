//go:build linux

// Package cgroups turns the cgroup a process runs in into the container and pod
// it belongs to, from the cgroup path shapes container runtimes create.
package cgroups

import (
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/mountinfo"
)

// Info is what a cgroup path says about its owner.
type Info struct {
	ContainerID string // 64 hex characters, without runtime prefix
	// Runtime is containerd, cri-o, docker or podman when the path's shape names the
	// runtime, "" when it does not (a bare id under the kubelet's cgroupfs layout is
	// created alike by containerd and cri-dockerd: the pod status's container id, which
	// carries the runtime's scheme, tells them apart; see k8s_enrich).
	Runtime string
	// PodUID is the pod UID the kubelet named the pod's cgroup after: an API pod's UID
	// with dashes, or, for a static pod, the kubelet's own 32-hex UID (the hash of its
	// manifest, which the API's mirror pod carries in its kubernetes.io/config.mirror
	// annotation).
	PodUID string
}

// runtimePrefixes maps the prefix of a systemd scope (or cgroupfs directory) to
// the runtime that creates it. Order matters: longer prefixes first.
var runtimePrefixes = []struct{ prefix, runtime string }{
	{"cri-containerd-", "containerd"},
	{"crio-conmon-", ""}, // the conmon monitor, not the container
	{"crio-", "cri-o"},
	{"docker-", "docker"},
	{"libpod-conmon-", ""},
	{"libpod-", "podman"},
	{"containerd-", "containerd"},
	{"nerdctl-", "containerd"},
}

// parentRuntimes names the runtime of a bare container id (the cgroupfs driver) from
// the directory it is created in, when only one runtime uses that directory.
var parentRuntimes = map[string]string{
	"docker": "docker", // dockerd's cgroupfs parent
}

// Parse extracts the container id, runtime and pod UID from a cgroup path
// ("/kubepods.slice/.../cri-containerd-<id>.scope"), or from its last components
// only. It never fails: an unknown shape gives an empty Info (a host process).
func Parse(path string) Info {
	var info Info
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		if info.ContainerID == "" {
			if id, rt, ok := containerFromComponent(p); ok {
				info.ContainerID, info.Runtime = id, rt
				if rt == "" && i > 0 {
					info.Runtime = parentRuntimes[parts[i-1]]
				}
				continue
			}
		}
		if info.PodUID == "" {
			if uid, ok := podFromComponent(p); ok {
				info.PodUID = uid
			}
		}
	}
	return info
}

func containerFromComponent(p string) (id, runtime string, ok bool) {
	name := strings.TrimSuffix(p, ".scope")
	for _, rp := range runtimePrefixes {
		if rest, found := strings.CutPrefix(name, rp.prefix); found {
			if rp.runtime == "" || !isContainerID(rest) {
				return "", "", false
			}
			return rest, rp.runtime, true
		}
	}
	// cgroupfs driver: a bare id under /docker, /kubepods/.../pod<uid>, ...
	if isContainerID(name) {
		return name, "", true
	}
	return "", "", false
}

// podFromComponent reads the pod UID of a kubelet pod cgroup: "pod<uid>" (cgroupfs) or
// "kubepods-<qos>-pod<uid with underscores>.slice" (systemd). The UID is an API pod's
// (36 characters with dashes) or a static pod's (32 hex characters, no dashes).
func podFromComponent(p string) (string, bool) {
	name, slice := strings.CutSuffix(p, ".slice")
	i := strings.LastIndex(name, "pod")
	if i < 0 || (i > 0 && name[i-1] != '-') || (slice && i == 0) {
		return "", false
	}
	uid := name[i+3:]
	if slice {
		uid = strings.ReplaceAll(uid, "_", "-")
	}
	switch {
	case len(uid) == 36 && strings.Count(uid, "-") == 4 && isHexOrDash(uid) &&
		uid[8] == '-' && uid[13] == '-' && uid[18] == '-' && uid[23] == '-':
		return uid, true
	case len(uid) == 32 && strings.Count(uid, "-") == 0 && isHexOrDash(uid):
		return uid, true
	}
	return "", false
}

func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func isHexOrDash(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '-' && (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Cgroup2Mount returns where the cgroup2 hierarchy is mounted, from a mountinfo file.
func Cgroup2Mount(mountinfoPath string) (string, error) { return mountinfo.Cgroup2(mountinfoPath) }

// Resolver maps cgroup ids (the cgroup2 directory's inode number, which is what
// bpf_get_current_cgroup_id returns) to paths relative to the cgroup2 root. It
// rescans the hierarchy on a miss, at most once per MinRescan.
type Resolver struct {
	root      string
	minRescan time.Duration

	mu       sync.Mutex
	paths    map[uint64]string
	lastScan time.Time
}

// NewResolver returns a resolver over the cgroup2 hierarchy mounted at root.
func NewResolver(root string, minRescan time.Duration) *Resolver {
	return &Resolver{root: root, minRescan: minRescan, paths: map[uint64]string{}}
}

// Path returns the cgroup path ("/kubepods.slice/...") of a cgroup id.
func (r *Resolver) Path(id uint64) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.paths[id]; ok {
		return p, true
	}
	// A cgroup created since the last scan: the kernel resolves its id directly (no
	// walk, no rate limit), where it supports cgroup file handles and we may use them.
	if p, ok := r.byHandle(id); ok {
		if len(r.paths) >= maxPaths {
			clear(r.paths)
		}
		r.paths[id] = p
		return p, true
	}
	if time.Since(r.lastScan) < r.minRescan {
		return "", false
	}
	r.scanLocked()
	p, ok := r.paths[id]
	return p, ok
}

// maxPaths bounds the id -> path map between scans.
const maxPaths = 1 << 16

// fileIDKernfs is the file handle type of kernfs (cgroup2) inodes: the handle is the
// 64-bit cgroup id, the same number bpf_get_current_cgroup_id returns.
const fileIDKernfs = 0xfe

// byHandle opens a cgroup by its id (open_by_handle_at on the cgroup2 mount, which needs
// CAP_DAC_READ_SEARCH) and reads its path back.
func (r *Resolver) byHandle(id uint64) (string, bool) {
	mnt, err := unix.Open(r.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0) // not O_PATH: the handle call refuses it
	if err != nil {
		return "", false
	}
	defer unix.Close(mnt)
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], id)
	fd, err := unix.OpenByHandleAt(mnt, unix.NewFileHandle(fileIDKernfs, b[:]), unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return "", false
	}
	defer unix.Close(fd)
	target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", false
	}
	rel, ok := strings.CutPrefix(target, r.root)
	if !ok || (rel != "" && rel[0] != '/') {
		return "", false // the mount root differs from what /proc reports (another namespace)
	}
	if rel == "" {
		rel = "/"
	}
	return rel, true
}

// IDsOf returns the cgroup ids whose path Parse()s to the given container id.
func (r *Resolver) IDsOf(containerID string) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scanLocked()
	var ids []uint64
	for id, p := range r.paths {
		if Parse(p).ContainerID == containerID {
			ids = append(ids, id)
		}
	}
	return ids
}

func (r *Resolver) scanLocked() {
	r.lastScan = time.Now()
	paths := make(map[uint64]string, len(r.paths))
	_ = filepath.WalkDir(r.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil //nolint:nilerr // a cgroup removed during the walk is not an error
		}
		fi, err := d.Info()
		if err != nil {
			return nil //nolint:nilerr // same
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel := strings.TrimPrefix(p, r.root)
		if rel == "" {
			rel = "/"
		}
		paths[st.Ino] = rel
		return nil
	})
	r.paths = paths
}

// IDsByPod rescans the hierarchy and returns the cgroup ids of every pod UID found
// in cgroup paths: the pod's own slice and everything below it.
func (r *Resolver) IDsByPod() map[string][]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scanLocked()
	out := map[string][]uint64{}
	for id, p := range r.paths {
		if uid := Parse(p).PodUID; uid != "" {
			out[uid] = append(out[uid], id)
		}
	}
	return out
}
