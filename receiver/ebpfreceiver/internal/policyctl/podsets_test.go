//go:build linux

package policyctl

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/extension/k8smetaextension"
	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/cgroups"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// A namespace selector selects a regular pod's cgroups (named by its API UID) and a static
// pod's (named by the kubelet's 32-hex UID, which only the mirror pod's annotation gives),
// in real cgroup2 directories of the kubelet's cgroupfs shape; a pod of another namespace,
// and a 32-hex pod cgroup no mirror claims, are not selected.
func TestPodSetsSelectStaticPods(t *testing.T) {
	testenv.RequireRoot(t)
	root, err := cgroups.Cgroup2Mount("/proc/self/mountinfo")
	require.NoError(t, err)
	const (
		cid       = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		regular   = "5f3c1a2b-0c1d-4e5f-8a9b-0c1d2e3f4a5b"
		mirror    = "0f0e0d0c-0b0a-4908-8706-050403020100"
		staticUID = "9a4c7e1f2b3d4c5e6f708192a3b4c5d6"
		other     = "11111111-2222-4333-8444-555555555555"
		orphan    = "ffffffffffffffffffffffffffffffff"
	)
	base := filepath.Join(root, "vigil-podsets-test")
	t.Cleanup(func() {
		for _, uid := range []string{regular, staticUID, other, orphan} {
			_ = os.Remove(filepath.Join(base, "pod"+uid, cid))
			_ = os.Remove(filepath.Join(base, "pod"+uid))
		}
		_ = os.Remove(base)
	})
	ino := map[string][2]uint64{} // uid -> pod cgroup, container cgroup
	for _, uid := range []string{regular, staticUID, other, orphan} {
		dir := filepath.Join(base, "pod"+uid, cid)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		var pod, ctr syscall.Stat_t
		require.NoError(t, syscall.Stat(filepath.Dir(dir), &pod))
		require.NoError(t, syscall.Stat(dir, &ctr))
		ino[uid] = [2]uint64{pod.Ino, ctr.Ino}
	}

	s := NewPodSets(root)
	s.Update(&k8smetaextension.PodInfo{UID: regular, Name: "web", Namespace: "shop"}, false)
	s.Update(&k8smetaextension.PodInfo{UID: mirror, Name: "static-web-node", Namespace: "shop", StaticUID: staticUID}, false)
	s.Update(&k8smetaextension.PodInfo{UID: other, Name: "db", Namespace: "ops"}, false)

	got := s.sets([]*policy.Policy{{Name: "shop", Selector: policy.Selector{Namespaces: []string{"shop"}}}})
	assert.ElementsMatch(t, []uint64{ino[regular][0], ino[regular][1], ino[staticUID][0], ino[staticUID][1]}, got["shop"])

	s.Update(&k8smetaextension.PodInfo{UID: mirror, Namespace: "shop", StaticUID: staticUID}, true)
	got = s.sets([]*policy.Policy{{Name: "shop", Selector: policy.Selector{Namespaces: []string{"shop"}}}})
	assert.ElementsMatch(t, []uint64{ino[regular][0], ino[regular][1]}, got["shop"], "the mirror deleted: its cgroups leave the set")
}
