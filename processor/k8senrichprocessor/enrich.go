package k8senrichprocessor // import "github.com/vigilsec/vigil/processor/k8senrichprocessor"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/vigilsec/vigil/extension/k8smetaextension"
)

// Resource attribute keys read and written (OpenTelemetry semantic conventions;
// container.image.tags is a string array, the registry's shape since v1.22).
const (
	attrContainerID     = "container.id"
	attrRuntime         = "container.runtime.name"
	attrPodUID          = "k8s.pod.uid"
	attrPodName         = "k8s.pod.name"
	attrNamespace       = "k8s.namespace.name"
	attrContainerName   = "k8s.container.name"
	attrNodeName        = "k8s.node.name"
	attrImageName       = "container.image.name"
	attrImageTags       = "container.image.tags"
	attrDeploymentName  = "k8s.deployment.name"
	attrDaemonSetName   = "k8s.daemonset.name"
	attrStatefulSetName = "k8s.statefulset.name"
	attrReplicaSetName  = "k8s.replicaset.name"
	attrJobName         = "k8s.job.name"
	attrCronJobName     = "k8s.cronjob.name"
	labelPrefix         = "k8s.pod.label."
	annotationPrefix    = "k8s.pod.annotation."
)

func workloadAttr(kind string) string {
	switch kind {
	case k8smetaextension.KindDeployment:
		return attrDeploymentName
	case k8smetaextension.KindDaemonSet:
		return attrDaemonSetName
	case k8smetaextension.KindStatefulSet:
		return attrStatefulSetName
	case k8smetaextension.KindReplicaSet:
		return attrReplicaSetName
	case k8smetaextension.KindJob:
		return attrJobName
	case k8smetaextension.KindCronJob:
		return attrCronJobName
	}
	return ""
}

type outcome int

const (
	outcomeNotApplicable outcome = iota // no container.id nor k8s.pod.uid: not ours
	outcomeEnriched
	outcomeUnknown // has an id the cache does not know (yet)
)

// keyAttr maps an opt-in pod label or annotation key to its attribute name.
type keyAttr struct{ key, attr string }

// enricher adds pod attributes to resources. It never overwrites an attribute already present.
type enricher struct {
	meta        k8smetaextension.Metadata
	labels      []keyAttr
	annotations []keyAttr
}

func newEnricher(cfg *Config) *enricher {
	e := &enricher{}
	for _, k := range cfg.PodLabels {
		e.labels = append(e.labels, keyAttr{k, labelPrefix + k})
	}
	for _, k := range cfg.PodAnnotations {
		e.annotations = append(e.annotations, keyAttr{k, annotationPrefix + k})
	}
	return e
}

// lookupKey returns the id a resource is looked up by, for the pending queue's bookkeeping.
func lookupKey(res pcommon.Resource) (string, bool) {
	attrs := res.Attributes()
	if v, ok := attrs.Get(attrContainerID); ok && v.Str() != "" {
		return v.Str(), true
	}
	if v, ok := attrs.Get(attrPodUID); ok && v.Str() != "" {
		return "pod:" + v.Str(), true
	}
	return "", false
}

// enrich looks a resource up and adds the attributes of its pod and container.
func (e *enricher) enrich(res pcommon.Resource) outcome {
	attrs := res.Attributes()
	var (
		pod       *k8smetaextension.PodInfo
		container *k8smetaextension.ContainerInfo
		found     bool
		has       bool
	)
	if v, ok := attrs.Get(attrContainerID); ok && v.Str() != "" {
		has = true
		pod, container, found = e.meta.LookupContainer(v.Str())
	}
	if !found {
		if v, ok := attrs.Get(attrPodUID); ok && v.Str() != "" {
			has = true
			pod, found = e.meta.LookupPod(v.Str())
		}
	}
	switch {
	case !has:
		return outcomeNotApplicable
	case !found:
		return outcomeUnknown
	}

	attrs.EnsureCapacity(attrs.Len() + 10 + len(e.labels) + len(e.annotations))
	putIfAbsent(attrs, attrNamespace, pod.Namespace)
	putIfAbsent(attrs, attrPodName, pod.Name)
	if v, ok := attrs.Get(attrPodUID); ok && pod.StaticUID != "" && v.Str() == pod.StaticUID {
		// A static pod's cgroups are named after the kubelet's UID of it; the API (and
		// every query by k8s.pod.uid) knows the pod by its mirror's UID.
		v.SetStr(pod.UID)
	}
	putIfAbsent(attrs, attrPodUID, pod.UID)
	putIfAbsent(attrs, attrNodeName, pod.NodeName)
	if k := workloadAttr(pod.WorkloadKind); k != "" {
		putIfAbsent(attrs, k, pod.WorkloadName)
	}
	if container != nil {
		putIfAbsent(attrs, attrContainerName, container.Name)
		// The cgroup path does not always name the runtime (the kubelet's cgroupfs
		// layout does not); the CRI's container id does.
		putIfAbsent(attrs, attrRuntime, container.Runtime)
		putIfAbsent(attrs, attrImageName, container.ImageName)
		if _, ok := attrs.Get(attrImageTags); !ok && container.ImageTag != "" {
			attrs.PutEmptySlice(attrImageTags).AppendEmpty().SetStr(container.ImageTag)
		}
	}
	for _, l := range e.labels {
		if v, ok := pod.Labels[l.key]; ok {
			putIfAbsent(attrs, l.attr, v)
		}
	}
	for _, a := range e.annotations {
		if v, ok := pod.Annotations[a.key]; ok {
			putIfAbsent(attrs, a.attr, v)
		}
	}
	return outcomeEnriched
}

func putIfAbsent(attrs pcommon.Map, key, value string) {
	if value == "" {
		return
	}
	if _, ok := attrs.Get(key); ok {
		return
	}
	attrs.PutStr(key, value)
}
