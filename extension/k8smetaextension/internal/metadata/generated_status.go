// This file follows the layout mdatagen generates from metadata.yaml, but it is maintained by
// hand: mdatagen cannot be installed in this project's build environment. Keep it in sync with
// metadata.yaml.

// Package metadata contains the telemetry and build information for the k8s_meta extension.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("k8s_meta")
	ScopeName = "github.com/vigilsec/vigil/extension/k8smetaextension"
)

const (
	ExtensionStability = component.StabilityLevelAlpha
)
