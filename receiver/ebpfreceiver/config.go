package ebpfreceiver

import (
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/redact"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// Defaults.
const (
	defaultRingBufferSize  = 4 << 20
	defaultQueueSize       = 16384
	defaultBatchSize       = 1024
	defaultFlushInterval   = 200 * time.Millisecond
	defaultPollInterval    = 100 * time.Millisecond
	defaultArgsMaxBytes    = 4096
	defaultMaxProcesses    = 65536
	defaultMaxExited       = 4096
	defaultAncestorDepth   = 3
	defaultMetricsInterval = 30 * time.Second
)

// Upper bounds of the configurable sizes. Each protects the node: the ring buffer
// is locked kernel memory, the queue and the batch hold decoded events in the
// collector's heap, the process cache holds one entry per process.
const (
	maxRingBufferSize = 256 << 20
	maxQueueSize      = 1 << 20
	maxBatchSize      = 65536
	maxFlushInterval  = time.Minute
	maxProcesses      = 4 << 20 // the kernel's PID_MAX_LIMIT
	maxExited         = 1 << 20
	maxExtraPatterns  = 64
	maxPolicyPaths    = 256
	// The metrics signal: at least 1s (each emission reads every kernel rule
	// counter), at most 10m (a longer gap looks like a dead node).
	minMetricsInterval = time.Second
	maxMetricsInterval = 10 * time.Minute
)

// Config configures the ebpf receiver.
type Config struct {
	// RingBufferSize is the kernel ring buffer size in bytes; a power of two number of pages.
	RingBufferSize int `mapstructure:"ring_buffer_size"`
	// QueueSize bounds the events waiting between the ring buffer reader and the pipeline;
	// when full, events are dropped and counted (the kernel is never blocked).
	QueueSize int `mapstructure:"queue_size"`
	// BatchSize is the most log records sent to the pipeline at once.
	BatchSize int `mapstructure:"batch_size"`
	// FlushInterval is the longest an event waits for its batch to fill.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// PollInterval is the longest a record waits in the ring buffer: the kernel wakes
	// the reader only once a quarter of the ring (at most 256 KiB) is pending.
	PollInterval time.Duration `mapstructure:"poll_interval"`
	// ArgsMaxBytes bounds the argument bytes captured per exec (at most 4096).
	ArgsMaxBytes int `mapstructure:"args_max_bytes"`
	// ProcessCache bounds the process cache.
	ProcessCache ProcessCacheConfig `mapstructure:"process_cache"`
	// Redaction masks secrets in command lines.
	Redaction RedactionConfig `mapstructure:"redaction"`
	// PolicyPaths are policy files or directories of *.yaml files, watched for changes.
	PolicyPaths []string `mapstructure:"policy_paths"`
	// K8sMetadata names a k8s_meta extension; policies with selector.namespaces or
	// selector.pod_labels need it (their pods become cgroup-id sets in the kernel).
	K8sMetadata *component.ID `mapstructure:"k8s_metadata"`
	// FilterInUserSpace is a debug and benchmark option: the kernel emits every
	// file.open and the receiver applies the policies in user space. Never use it in
	// production: it is what in-kernel filtering exists to avoid.
	FilterInUserSpace bool `mapstructure:"filter_in_user_space"`
	// NodeName is the name of the node this collector watches, on Kubernetes the
	// pod's spec.nodeName from the downward API (node_name: ${env:K8S_NODE_NAME}).
	// It becomes host.name and k8s.node.name of every record, so that a node's
	// events are told apart even when the collector's pod has its own host name.
	// Empty: host.name is the machine's host name and k8s.node.name is not set.
	NodeName string `mapstructure:"node_name"`
	// EmitForks also emits a process.fork record for every new process (forks update the
	// process cache either way).
	EmitForks bool `mapstructure:"emit_forks"`
	// Metrics configures the metrics signal (the receiver in a metrics pipeline).
	Metrics MetricsConfig `mapstructure:"metrics"`

	// btfPath and procStatus are overridden in tests of the preflight checks.
	btfPath    string
	procStatus string
}

// ProcessCacheConfig bounds the process cache.
type ProcessCacheConfig struct {
	// MaxProcesses is the most live processes kept.
	MaxProcesses int `mapstructure:"max_processes"`
	// MaxExited is how many exited processes are kept for late events and ancestry.
	MaxExited int `mapstructure:"max_exited"`
	// AncestorDepth is how many ancestors each event names (0 disables).
	AncestorDepth int `mapstructure:"ancestor_depth"`
}

// MetricsConfig configures the metrics signal.
type MetricsConfig struct {
	// Interval is how often the counts are sent to the metrics pipeline.
	Interval time.Duration `mapstructure:"interval"`
}

// RedactionConfig configures secret masking in command lines.
type RedactionConfig struct {
	// Enabled masks values of password/token/key options, URL credentials and bearer tokens.
	Enabled bool `mapstructure:"enabled"`
	// ExtraPatterns are regular expressions; the first capture group (or the whole match) is masked.
	ExtraPatterns []string `mapstructure:"extra_patterns"`
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		RingBufferSize: defaultRingBufferSize,
		QueueSize:      defaultQueueSize,
		BatchSize:      defaultBatchSize,
		FlushInterval:  defaultFlushInterval,
		PollInterval:   defaultPollInterval,
		ArgsMaxBytes:   defaultArgsMaxBytes,
		ProcessCache: ProcessCacheConfig{
			MaxProcesses:  defaultMaxProcesses,
			MaxExited:     defaultMaxExited,
			AncestorDepth: defaultAncestorDepth,
		},
		Redaction: RedactionConfig{Enabled: true},
		Metrics:   MetricsConfig{Interval: defaultMetricsInterval},
	}
}

// Validate checks the configuration; errors name the key.
func (c *Config) Validate() error {
	var errs []error
	page := os.Getpagesize()
	switch n := c.RingBufferSize; {
	case n < page || n%page != 0 || (n/page)&(n/page-1) != 0:
		errs = append(errs, fmt.Errorf("ring_buffer_size must be a power of two number of %d-byte pages, got %d", page, n))
	case n > maxRingBufferSize:
		errs = append(errs, fmt.Errorf("ring_buffer_size must be at most %d (256 MiB of locked kernel memory), got %d", maxRingBufferSize, n))
	}
	if c.QueueSize <= 0 || c.QueueSize > maxQueueSize {
		errs = append(errs, fmt.Errorf("queue_size must be between 1 and %d (each queued event is held in memory), got %d", maxQueueSize, c.QueueSize))
	}
	if c.BatchSize <= 0 || c.BatchSize > maxBatchSize {
		errs = append(errs, fmt.Errorf("batch_size must be between 1 and %d, got %d", maxBatchSize, c.BatchSize))
	}
	if c.FlushInterval <= 0 || c.FlushInterval > maxFlushInterval {
		errs = append(errs, fmt.Errorf("flush_interval must be between 0 and %s, got %s", maxFlushInterval, c.FlushInterval))
	}
	if c.PollInterval <= 0 || c.PollInterval > 10*time.Second {
		errs = append(errs, errors.New("poll_interval must be between 0 and 10s"))
	}
	if c.ArgsMaxBytes <= 0 || c.ArgsMaxBytes > sensor.MaxArgsBytes {
		errs = append(errs, fmt.Errorf("args_max_bytes must be between 1 and %d", sensor.MaxArgsBytes))
	}
	if c.ProcessCache.MaxProcesses <= 0 || c.ProcessCache.MaxProcesses > maxProcesses {
		errs = append(errs, fmt.Errorf("process_cache.max_processes must be between 1 and %d (the kernel's pid limit), got %d", maxProcesses, c.ProcessCache.MaxProcesses))
	}
	if c.ProcessCache.MaxExited < 0 || c.ProcessCache.MaxExited > maxExited {
		errs = append(errs, fmt.Errorf("process_cache.max_exited must be between 0 and %d, got %d", maxExited, c.ProcessCache.MaxExited))
	}
	if c.ProcessCache.AncestorDepth < 0 || c.ProcessCache.AncestorDepth > 32 {
		errs = append(errs, errors.New("process_cache.ancestor_depth must be between 0 and 32"))
	}
	if c.Metrics.Interval < minMetricsInterval || c.Metrics.Interval > maxMetricsInterval {
		errs = append(errs, fmt.Errorf("metrics.interval must be between %s and %s, got %s", minMetricsInterval, maxMetricsInterval, c.Metrics.Interval))
	}
	if n := len(c.Redaction.ExtraPatterns); n > maxExtraPatterns {
		errs = append(errs, fmt.Errorf("redaction.extra_patterns must hold at most %d patterns (each runs on every argument), got %d", maxExtraPatterns, n))
	}
	if n := len(c.PolicyPaths); n > maxPolicyPaths {
		errs = append(errs, fmt.Errorf("policy_paths must hold at most %d paths, got %d", maxPolicyPaths, n))
	}
	if _, err := redact.New(c.Redaction.Enabled, c.Redaction.ExtraPatterns); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
