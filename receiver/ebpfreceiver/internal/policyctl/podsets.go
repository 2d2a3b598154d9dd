//go:build linux

package policyctl

import (
	"sort"
	"sync"
	"time"

	"github.com/vigilsec/vigil/extension/k8smetaextension"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/cgroups"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// PodSets turns namespace and pod-label selectors into the cgroup ids the kernel
// filters on. Pods come from the k8s_meta extension; a pod's cgroups are those
// whose path names its UID (kubepods-...-pod<uid>.slice, or pod<uid>/; for a
// static pod the kubelet's UID of it, PodInfo.StaticUID), which
// exist before its containers start: a process is selected from its first exec.
type PodSets struct {
	resolver *cgroups.Resolver

	mu   sync.Mutex
	pods map[string]*k8smetaextension.PodInfo // uid -> pod
}

// NewPodSets resolves pod cgroups under the cgroup2 mount root.
func NewPodSets(root string) *PodSets {
	return &PodSets{resolver: cgroups.NewResolver(root, 0), pods: map[string]*k8smetaextension.PodInfo{}}
}

// Update records a pod change from the extension.
func (s *PodSets) Update(pod *k8smetaextension.PodInfo, deleted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if deleted {
		delete(s.pods, pod.UID)
		return
	}
	s.pods[pod.UID] = pod
}

// selects reports whether a pod satisfies a policy's Kubernetes selectors.
func selects(sel policy.Selector, pod *k8smetaextension.PodInfo) bool {
	if len(sel.Namespaces) > 0 {
		found := false
		for _, ns := range sel.Namespaces {
			found = found || ns == pod.Namespace
		}
		if !found {
			return false
		}
	}
	for k, v := range sel.PodLabels {
		if got, ok := pod.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// sets computes, for every policy with Kubernetes selectors, the cgroup ids of the
// pods it selects, scanning the cgroup hierarchy once.
func (s *PodSets) sets(pols []*policy.Policy) map[string][]uint64 {
	s.mu.Lock()
	pods := make([]*k8smetaextension.PodInfo, 0, len(s.pods))
	for _, p := range s.pods {
		pods = append(pods, p)
	}
	s.mu.Unlock()
	byPod := s.resolver.IDsByPod()
	out := map[string][]uint64{}
	for _, p := range pols {
		if len(p.Selector.Namespaces) == 0 && len(p.Selector.PodLabels) == 0 {
			continue
		}
		var ids []uint64
		for _, pod := range pods {
			if selects(p.Selector, pod) {
				ids = append(ids, byPod[pod.UID]...)
				if pod.StaticUID != "" {
					// A static pod's cgroups carry the kubelet's UID, not the mirror's.
					ids = append(ids, byPod[pod.StaticUID]...)
				}
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		out[p.Name] = ids
	}
	return out
}

// PodRefreshInterval bounds how long a new pod's cgroups stay unknown to the
// kernel filter when no pod event announces them.
const PodRefreshInterval = time.Second
