package k8smetaextension // import "github.com/vigilsec/vigil/extension/k8smetaextension"

// PodInfo is what the cache knows about one pod of this node. Values handed out by Metadata
// are shared and immutable: callers must not modify them (copy the maps before changing them).
type PodInfo struct {
	UID         string
	Name        string
	Namespace   string
	NodeName    string
	Labels      map[string]string
	Annotations map[string]string
	// WorkloadKind is Deployment, DaemonSet, StatefulSet, Job, CronJob, ReplicaSet (a ReplicaSet
	// not owned by a Deployment, or one whose owner is not known yet) or "" (a bare pod, or a
	// controller kind the extension does not name).
	WorkloadKind string
	WorkloadName string
	// StaticUID is, for the API's mirror of a static pod (a pod the kubelet runs from a
	// manifest file), the kubelet's own UID of that pod (annotation
	// kubernetes.io/config.mirror: 32 hex characters, the hash of the manifest). The
	// pod's cgroups are named after it, not after UID. "" for other pods.
	StaticUID string
	// Containers lists the pod's containers (regular, init and ephemeral) that have a
	// container id in the pod status.
	Containers []ContainerInfo
}

// ContainerInfo describes one container of a pod.
type ContainerInfo struct {
	// ID is the bare container id, without the runtime prefix ("containerd://", ...).
	ID        string
	Name      string
	ImageName string
	ImageTag  string
	// Runtime is the runtime that runs the container, from the scheme of the pod
	// status's container id ("containerd", "cri-o", "docker"); "" when it has none.
	Runtime string
}

// Metadata is the interface other components use, after finding the extension through
// component.Host.GetExtensions().
type Metadata interface {
	// LookupContainer finds a container by its id, with or without a runtime prefix. The id
	// of a container's previous, terminated instance is also found.
	LookupContainer(containerID string) (*PodInfo, *ContainerInfo, bool)
	// LookupPod finds a pod of this node by its UID, or a static pod's mirror by the
	// kubelet's UID of the static pod (PodInfo.StaticUID).
	LookupPod(uid string) (*PodInfo, bool)
	// Subscribe calls fn for every pod added/updated/deleted on this node (deleted=true), and
	// once for each pod already known. Calls are serialized; fn must return quickly and must
	// not call Subscribe itself (it may call the unsubscribe function and the Lookup methods).
	// Returns an unsubscribe func.
	Subscribe(fn func(pod *PodInfo, deleted bool)) func()
}
