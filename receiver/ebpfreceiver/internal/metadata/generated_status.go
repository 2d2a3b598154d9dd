// Package metadata holds the component's type, stability and self-telemetry.
// It follows mdatagen's generated layout from ../../metadata.yaml but is
// maintained by hand: mdatagen is not available from the module proxy we build with.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("ebpf")
	ScopeName = "github.com/vigilsec/vigil/receiver/ebpfreceiver"
)

const (
	LogsStability    = component.StabilityLevelAlpha
	MetricsStability = component.StabilityLevelAlpha
)
