// Package k8smetaextension implements the k8s_meta extension: one node-local cache of
// Kubernetes pod metadata per collector, fed by client-go informers restricted to the pods of
// this node, plus metadata-only informers for ReplicaSets, Jobs and Namespaces so that the
// owning workload (Deployment, CronJob, ...) of a pod can be named.
//
// Other components find it through component.Host.GetExtensions() and use the Metadata
// interface: the k8s_enrich processor to add pod attributes to telemetry, the ebpf receiver to
// turn namespace and pod-label policy selectors into cgroup-id sets.
//
// internal/metadata follows mdatagen's generated layout but is maintained by hand, because
// mdatagen cannot be installed in this project's build environment.
package k8smetaextension // import "github.com/vigilsec/vigil/extension/k8smetaextension"
