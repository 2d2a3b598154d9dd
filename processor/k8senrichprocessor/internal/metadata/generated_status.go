// This file follows the layout mdatagen generates from metadata.yaml, but it is maintained by
// hand: mdatagen cannot be installed in this project's build environment. Keep it in sync with
// metadata.yaml.

// Package metadata contains the telemetry and build information for the k8s_enrich processor.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("k8s_enrich")
	ScopeName = "github.com/vigilsec/vigil/processor/k8senrichprocessor"
)

const (
	LogsStability    = component.StabilityLevelAlpha
	MetricsStability = component.StabilityLevelAlpha
)
