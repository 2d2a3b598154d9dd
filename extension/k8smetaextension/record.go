package k8smetaextension // import "github.com/vigilsec/vigil/extension/k8smetaextension"

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// podRecord is what the pod informer stores instead of a *corev1.Pod (its transform turns
// each pod into one): a few hundred bytes instead of the kilobytes of a full, or even an
// emptied, corev1.Pod, whose spec and status structs are large even when zero. It keeps
// only what the cache reads.
type podRecord struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	NodeName string
	Owner    controllerRef
	// Containers are the containers with an id in the pod status (regular, init, ephemeral);
	// Previous the previous, terminated instances of restarted containers.
	Containers []ContainerInfo
	Previous   []ContainerInfo
}

var _ runtime.Object = (*podRecord)(nil)

// DeepCopyObject implements runtime.Object.
func (r *podRecord) DeepCopyObject() runtime.Object {
	cp := *r
	r.ObjectMeta.DeepCopyInto(&cp.ObjectMeta)
	cp.Containers = slices.Clone(r.Containers)
	cp.Previous = slices.Clone(r.Previous)
	return &cp
}

// toPodRecord is the pod informer's transform.
func toPodRecord(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // already a record, or a deletion tombstone
	}
	rec := &podRecord{
		ObjectMeta: metav1.ObjectMeta{
			Name:            pod.Name,
			Namespace:       pod.Namespace,
			UID:             pod.UID,
			ResourceVersion: pod.ResourceVersion,
			Labels:          pod.Labels,
			Annotations:     pod.Annotations,
		},
		NodeName: pod.Spec.NodeName,
		Owner:    controllerOf(pod.OwnerReferences),
	}
	n := len(pod.Status.ContainerStatuses) + len(pod.Status.InitContainerStatuses) + len(pod.Status.EphemeralContainerStatuses)
	if n > 0 {
		rec.Containers = make([]ContainerInfo, 0, n)
	}
	add := func(statuses []corev1.ContainerStatus, image func(name string) string) {
		for i := range statuses {
			st := &statuses[i]
			ref := image(st.Name)
			if ref == "" {
				ref = st.Image
			}
			imgName, imgTag := parseImage(ref)
			if st.ContainerID != "" {
				rec.Containers = append(rec.Containers, ContainerInfo{
					ID: bareContainerID(st.ContainerID), Name: st.Name, ImageName: imgName, ImageTag: imgTag,
					Runtime: runtimeOfContainerID(st.ContainerID),
				})
			}
			// Events of a container that just restarted can still arrive under its old id.
			if t := st.LastTerminationState.Terminated; t != nil && t.ContainerID != "" {
				rec.Previous = append(rec.Previous, ContainerInfo{
					ID: bareContainerID(t.ContainerID), Name: st.Name, ImageName: imgName, ImageTag: imgTag,
					Runtime: runtimeOfContainerID(t.ContainerID),
				})
			}
		}
	}
	add(pod.Status.ContainerStatuses, func(name string) string {
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == name {
				return pod.Spec.Containers[i].Image
			}
		}
		return ""
	})
	add(pod.Status.InitContainerStatuses, func(name string) string {
		for i := range pod.Spec.InitContainers {
			if pod.Spec.InitContainers[i].Name == name {
				return pod.Spec.InitContainers[i].Image
			}
		}
		return ""
	})
	add(pod.Status.EphemeralContainerStatuses, func(name string) string {
		for i := range pod.Spec.EphemeralContainers {
			if pod.Spec.EphemeralContainers[i].Name == name {
				return pod.Spec.EphemeralContainers[i].Image
			}
		}
		return ""
	})
	return rec, nil
}
