package k8smetaextension // import "github.com/vigilsec/vigil/extension/k8smetaextension"

import "strings"

// parseImage splits an image reference such as "registry:5000/team/app:1.2@sha256:..." into
// its name ("registry:5000/team/app") and tag ("1.2"). A reference with neither tag nor digest
// has the implicit tag "latest"; a digest-only reference has no tag.
func parseImage(ref string) (name, tag string) {
	name = ref
	hasDigest := false
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
		hasDigest = true
	}
	// A ':' after the last '/' separates the tag; one before it belongs to a registry port.
	if i := strings.LastIndexByte(name, ':'); i >= 0 && i > strings.LastIndexByte(name, '/') {
		return name[:i], name[i+1:]
	}
	if hasDigest || name == "" {
		return name, ""
	}
	return name, "latest"
}

// bareContainerID strips the runtime prefix kubelet puts in pod status ("containerd://",
// "cri-o://", "docker://", or any other "<scheme>://") from a container id.
// runtimeOfContainerID names the runtime of a pod status container id from its scheme
// ("containerd://...", "cri-o://...", "docker://..."), as OpenTelemetry's
// container.runtime.name; "" without a scheme.
func runtimeOfContainerID(id string) string {
	i := strings.Index(id, "://")
	if i <= 0 {
		return ""
	}
	return id[:i]
}

func bareContainerID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}
