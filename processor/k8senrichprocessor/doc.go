// Package k8senrichprocessor implements the k8s_enrich processor: it adds Kubernetes pod,
// namespace, workload and container attributes to every resource (logs and metrics) that
// carries container.id or k8s.pod.uid, using the node-local cache of the k8s_meta extension.
//
// A container seen before the cache knows its pod (the start-up race) is held for up to
// wait_for_metadata in a bounded queue and looked up again; then it is sent unenriched and
// counted as a miss. Nothing is dropped and the pipeline never blocks.
//
// The component type is k8s_enrich, distinct from contrib's k8s_attributes, so that both can
// be built into one distribution.
//
// internal/metadata follows mdatagen's generated layout but is maintained by hand, because
// mdatagen cannot be installed in this project's build environment.
package k8senrichprocessor // import "github.com/vigilsec/vigil/processor/k8senrichprocessor"
