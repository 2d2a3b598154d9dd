// Package ebpfreceiver is an OpenTelemetry Collector receiver that loads Vigil's
// eBPF security sensors into the kernel and turns what they report into OTLP logs.
// Policies are filtered inside the kernel: only matching events reach user space.
package ebpfreceiver // import "github.com/vigilsec/vigil/receiver/ebpfreceiver"
