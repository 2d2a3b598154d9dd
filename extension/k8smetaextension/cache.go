package k8smetaextension // import "github.com/vigilsec/vigil/extension/k8smetaextension"

import (
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Workload kinds reported in PodInfo.WorkloadKind.
const (
	KindDeployment  = "Deployment"
	KindDaemonSet   = "DaemonSet"
	KindStatefulSet = "StatefulSet"
	KindReplicaSet  = "ReplicaSet"
	KindJob         = "Job"
	KindCronJob     = "CronJob"
)

// objectKey names a namespaced object (a ReplicaSet or a Job).
type objectKey struct {
	namespace, name string
}

// controllerRef is the controlling owner of an object.
type controllerRef struct {
	kind, name string
}

type containerEntry struct {
	pod       *PodInfo
	container *ContainerInfo
}

type podEntry struct {
	info  *PodInfo
	owner controllerRef // the pod's own controller, before resolution
	ids   []string      // container ids indexed for this pod
}

// podCache is the node-local index. PodInfo values are replaced, never modified, once
// published, so readers may keep them without locks.
type podCache struct {
	mu         sync.RWMutex
	pods       map[string]*podEntry      // by pod UID
	static     map[string]string         // static pod's kubelet UID -> its mirror pod's UID
	containers map[string]containerEntry // by bare container id
	owners     map[objectKey]controllerRef
	namespaces map[string]map[string]string // namespace name -> labels

	lookups atomic.Int64
	misses  atomic.Int64

	// dispatchMu serializes notifications and Subscribe's replay of known pods, so that a
	// subscriber sees every change that happens after (or during) its registration.
	dispatchMu sync.Mutex
	subsMu     sync.Mutex
	subs       map[uint64]func(*PodInfo, bool)
	nextSub    uint64
	subsSnap   atomic.Pointer[[]func(*PodInfo, bool)]
}

func newPodCache() *podCache {
	return &podCache{
		pods:       make(map[string]*podEntry),
		static:     make(map[string]string),
		containers: make(map[string]containerEntry),
		owners:     make(map[objectKey]controllerRef),
		namespaces: make(map[string]map[string]string),
		subs:       make(map[uint64]func(*PodInfo, bool)),
	}
}

// LookupContainer implements Metadata.
func (c *podCache) LookupContainer(containerID string) (*PodInfo, *ContainerInfo, bool) {
	c.lookups.Add(1)
	c.mu.RLock()
	e, ok := c.containers[bareContainerID(containerID)]
	c.mu.RUnlock()
	if !ok {
		c.misses.Add(1)
		return nil, nil, false
	}
	return e.pod, e.container, true
}

// LookupPod implements Metadata.
func (c *podCache) LookupPod(uid string) (*PodInfo, bool) {
	c.lookups.Add(1)
	c.mu.RLock()
	e, ok := c.pods[uid]
	if !ok {
		if mirror, isStatic := c.static[uid]; isStatic {
			e, ok = c.pods[mirror]
		}
	}
	c.mu.RUnlock()
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	return e.info, true
}

// NamespaceLabels returns the labels of a namespace known to the cache.
func (c *podCache) NamespaceLabels(name string) (map[string]string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	l, ok := c.namespaces[name]
	return l, ok
}

// Subscribe implements Metadata.
func (c *podCache) Subscribe(fn func(pod *PodInfo, deleted bool)) func() {
	c.dispatchMu.Lock()
	defer c.dispatchMu.Unlock()

	c.mu.RLock()
	known := make([]*PodInfo, 0, len(c.pods))
	for _, e := range c.pods {
		known = append(known, e.info)
	}
	c.mu.RUnlock()
	for _, p := range known {
		fn(p, false)
	}

	c.subsMu.Lock()
	id := c.nextSub
	c.nextSub++
	c.subs[id] = fn
	c.publishSubsLocked()
	c.subsMu.Unlock()

	var once sync.Once
	return func() {
		once.Do(func() {
			c.subsMu.Lock()
			delete(c.subs, id)
			c.publishSubsLocked()
			c.subsMu.Unlock()
		})
	}
}

func (c *podCache) publishSubsLocked() {
	fns := make([]func(*PodInfo, bool), 0, len(c.subs))
	for _, fn := range c.subs {
		fns = append(fns, fn)
	}
	c.subsSnap.Store(&fns)
}

// notify must be called with dispatchMu held.
func (c *podCache) notify(p *PodInfo, deleted bool) {
	snap := c.subsSnap.Load()
	if snap == nil {
		return
	}
	for _, fn := range *snap {
		fn(p, deleted)
	}
}

func (c *podCache) sizes() (pods, containers int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.pods), len(c.containers)
}

// upsertPod indexes a pod (added or updated) and notifies subscribers.
func (c *podCache) upsertPod(rec *podRecord) {
	c.dispatchMu.Lock()
	defer c.dispatchMu.Unlock()

	c.mu.Lock()
	info, extra := c.buildLocked(rec)
	c.storeLocked(&podEntry{info: info, owner: rec.Owner}, extra)
	c.mu.Unlock()
	c.notify(info, false)
}

// deletePod forgets a pod and notifies subscribers.
func (c *podCache) deletePod(uid string) {
	c.dispatchMu.Lock()
	defer c.dispatchMu.Unlock()

	c.mu.Lock()
	e, ok := c.pods[uid]
	if ok {
		c.unindexLocked(e)
		delete(c.pods, uid)
	}
	c.mu.Unlock()
	if ok {
		c.notify(e.info, true)
	}
}

// setOwner records the controller of a ReplicaSet or Job (or forgets it when deleted) and
// re-resolves the workload of the pods it controls.
func (c *podCache) setOwner(kind string, key objectKey, owner controllerRef, deleted bool) {
	c.dispatchMu.Lock()
	defer c.dispatchMu.Unlock()

	c.mu.Lock()
	old, had := c.owners[key]
	if deleted {
		delete(c.owners, key)
	} else {
		c.owners[key] = owner
	}
	if (deleted && !had) || (!deleted && had && old == owner) {
		c.mu.Unlock()
		return
	}
	var changed []*PodInfo
	for _, e := range c.pods {
		if e.owner.kind != kind || e.owner.name != key.name || e.info.Namespace != key.namespace {
			continue
		}
		wk, wn := c.resolveLocked(e.info.Namespace, e.owner)
		if wk == e.info.WorkloadKind && wn == e.info.WorkloadName {
			continue
		}
		info := *e.info
		info.WorkloadKind, info.WorkloadName = wk, wn
		c.repointLocked(e, &info)
		changed = append(changed, &info)
	}
	c.mu.Unlock()
	for _, p := range changed {
		c.notify(p, false)
	}
}

func (c *podCache) setNamespace(name string, labels map[string]string, deleted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted {
		delete(c.namespaces, name)
		return
	}
	c.namespaces[name] = labels
}

// repointLocked replaces a published PodInfo with a new one sharing the container list.
func (c *podCache) repointLocked(e *podEntry, info *PodInfo) {
	e.info = info
	for _, id := range e.ids {
		ce := c.containers[id]
		ce.pod = info
		c.containers[id] = ce
	}
}

func (c *podCache) unindexLocked(e *podEntry) {
	if su := e.info.StaticUID; su != "" && c.static[su] == e.info.UID {
		delete(c.static, su)
	}
	for _, id := range e.ids {
		if ce, ok := c.containers[id]; ok && ce.pod.UID == e.info.UID {
			delete(c.containers, id)
		}
	}
}

// storeLocked replaces the entry of a pod and re-indexes its containers. extra holds
// containers that are indexed but not listed in PodInfo.Containers (previous instances).
func (c *podCache) storeLocked(e *podEntry, extra []*ContainerInfo) {
	if old, ok := c.pods[e.info.UID]; ok {
		c.unindexLocked(old)
	}
	c.pods[e.info.UID] = e
	if su := e.info.StaticUID; su != "" {
		c.static[su] = e.info.UID
	}
	e.ids = make([]string, 0, len(e.info.Containers)+len(extra))
	for i := range e.info.Containers {
		ci := &e.info.Containers[i]
		c.containers[ci.ID] = containerEntry{pod: e.info, container: ci}
		e.ids = append(e.ids, ci.ID)
	}
	for _, ci := range extra {
		if _, taken := c.containers[ci.ID]; taken {
			continue
		}
		c.containers[ci.ID] = containerEntry{pod: e.info, container: ci}
		e.ids = append(e.ids, ci.ID)
	}
}

func (c *podCache) resolveLocked(namespace string, owner controllerRef) (kind, name string) {
	switch owner.kind {
	case KindDaemonSet, KindStatefulSet:
		return owner.kind, owner.name
	case KindReplicaSet:
		if o, ok := c.owners[objectKey{namespace, owner.name}]; ok && o.kind == KindDeployment {
			return KindDeployment, o.name
		}
		return KindReplicaSet, owner.name
	case KindJob:
		if o, ok := c.owners[objectKey{namespace, owner.name}]; ok && o.kind == KindCronJob {
			return KindCronJob, o.name
		}
		return KindJob, owner.name
	default:
		return "", ""
	}
}

// buildLocked turns a pod record into its PodInfo and the previous instances of its
// containers. The PodInfo shares the record's (immutable) container slice and maps.
func (c *podCache) buildLocked(rec *podRecord) (*PodInfo, []*ContainerInfo) {
	info := &PodInfo{
		UID:         string(rec.UID),
		Name:        rec.Name,
		Namespace:   rec.Namespace,
		NodeName:    rec.NodeName,
		Labels:      rec.Labels,
		Annotations: rec.Annotations,
		Containers:  rec.Containers,
		StaticUID:   rec.Annotations[mirrorAnnotation],
	}
	info.WorkloadKind, info.WorkloadName = c.resolveLocked(rec.Namespace, rec.Owner)
	var extra []*ContainerInfo
	for i := range rec.Previous {
		extra = append(extra, &rec.Previous[i])
	}
	return info, extra
}

// mirrorAnnotation marks the API's mirror of a static pod; its value is the kubelet's
// UID of the static pod.
const mirrorAnnotation = "kubernetes.io/config.mirror"

// controllerOf returns the controlling owner reference (or the first one when none is marked
// as controller).
func controllerOf(refs []metav1.OwnerReference) controllerRef {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return controllerRef{kind: refs[i].Kind, name: refs[i].Name}
		}
	}
	if len(refs) > 0 {
		return controllerRef{kind: refs[0].Kind, name: refs[0].Name}
	}
	return controllerRef{}
}
