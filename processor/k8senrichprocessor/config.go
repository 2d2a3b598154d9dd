package k8senrichprocessor // import "github.com/vigilsec/vigil/processor/k8senrichprocessor"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
)

const (
	defaultWaitForMetadata = 2 * time.Second
	defaultMaxPending      = 10000
	maxWaitForMetadata     = time.Minute
	maxMaxPending          = 1_000_000
)

// Config configures the k8s_enrich processor.
type Config struct {
	// Extension is the component ID of the k8s_meta extension providing the metadata.
	// Default k8s_meta.
	Extension component.ID `mapstructure:"extension"`
	// PodLabels lists pod label keys copied to k8s.pod.label.<key> (opt-in; none by default).
	PodLabels []string `mapstructure:"pod_labels"`
	// PodAnnotations lists pod annotation keys copied to k8s.pod.annotation.<key> (opt-in).
	PodAnnotations []string `mapstructure:"pod_annotations"`
	// WaitForMetadata is how long a resource whose container or pod is not yet known is held
	// before it is sent on unenriched. 0 disables holding. Default 2s, at most 1m.
	WaitForMetadata time.Duration `mapstructure:"wait_for_metadata"`
	// MaxPending bounds the number of resources held at once; beyond it resources are sent on
	// unenriched at once (and counted). Default 10000.
	MaxPending int `mapstructure:"max_pending"`
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		Extension:       component.MustNewID("k8s_meta"),
		WaitForMetadata: defaultWaitForMetadata,
		MaxPending:      defaultMaxPending,
	}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	if cfg.Extension.Type().String() == "" {
		return errors.New("extension must name the k8s_meta extension")
	}
	if cfg.WaitForMetadata < 0 || cfg.WaitForMetadata > maxWaitForMetadata {
		return fmt.Errorf("wait_for_metadata must be between 0s and %s, got %s", maxWaitForMetadata, cfg.WaitForMetadata)
	}
	if cfg.MaxPending < 1 || cfg.MaxPending > maxMaxPending {
		return fmt.Errorf("max_pending must be between 1 and %d, got %d", maxMaxPending, cfg.MaxPending)
	}
	for _, k := range cfg.PodLabels {
		if k == "" {
			return errors.New("pod_labels must not contain an empty key")
		}
	}
	for _, k := range cfg.PodAnnotations {
		if k == "" {
			return errors.New("pod_annotations must not contain an empty key")
		}
	}
	return nil
}
