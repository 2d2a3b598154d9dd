//go:build linux

// Package cgroups turns the cgroup a process runs in into the container and pod
// it belongs to, from the cgroup path shapes container runtimes create.
package cgroups

import (
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/mountinfo"
)

// Info is what a cgroup path says about its owner.
type Info struct {
	ContainerID string // 64 hex characters, without runtime prefix
	Runtime     string // containerd, cri-o, docker, podman, or "" when unknown
	PodUID      string // Kubernetes pod UID with dashes, when the path shows it
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
				continue
			}
		}
		if info.PodUID == "" {
			if uid, ok := podFromComponent(p); ok {
				info.PodUID = uid
			}
		}
	}
	if info.PodUID != "" && info.Runtime == "" && info.ContainerID != "" {
		info.Runtime = "kubernetes"
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

func podFromComponent(p string) (string, bool) {
	name := strings.TrimSuffix(p, ".slice")
	i := strings.LastIndex(name, "pod")
	if i < 0 {
		return "", false
	}
	uid := strings.ReplaceAll(name[i+3:], "_", "-")
	if len(uid) != 36 || strings.Count(uid, "-") != 4 || !isHexOrDash(uid) {
		return "", false
	}
	return uid, true
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
	if time.Since(r.lastScan) < r.minRescan {
		return "", false
	}
	r.scanLocked()
	p, ok := r.paths[id]
	return p, ok
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
