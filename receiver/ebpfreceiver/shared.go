package ebpfreceiver

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

// signalReceiver is one ebpf receiver: one set of kernel programs, serving the
// logs and the metrics signal of the pipelines that name its ID.
type signalReceiver interface {
	component.Component
	setLogs(consumer.Logs)
	setMetrics(consumer.Metrics)
}

// instances holds a factory's receivers: the collector creates one receiver per
// signal and pipeline, and every one created for the same component ID gets the
// same instance (the kernel programs load once). It also lets one instance run
// at a time: a second ID would load a second set of programs, double the
// kernel cost per event and report the same counts twice. It lives in the
// factory's closure (NewFactory), so two factories (two collectors in one
// process, tests) never see each other's receivers.
type instances struct {
	create func(receiver.Settings, *Config) (signalReceiver, error)

	mu      sync.Mutex
	byID    map[component.ID]*sharedReceiver
	running *sharedReceiver // started and not yet shut down
}

func newInstances(create func(receiver.Settings, *Config) (signalReceiver, error)) *instances {
	return &instances{create: create, byID: map[component.ID]*sharedReceiver{}}
}

// sharedReceiver is the instance behind every handle of one component ID.
type sharedReceiver struct {
	reg      *instances
	id       component.ID
	r        signalReceiver
	started  bool
	startErr error
	stopped  bool
	host     *sharedHost // the host the instance started with, reporting to every handle's
}

// sharedHost is the host the shared instance sees: the first handle's, with
// component status reported to the host of every handle started (the
// collector tracks status per pipeline instance); a later handle gets the
// last status on joining.
type sharedHost struct {
	component.Host
	mu    sync.Mutex
	hosts []component.Host
	last  *componentstatus.Event
}

func (h *sharedHost) join(host component.Host) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hosts = append(h.hosts, host)
	if h.last != nil {
		componentstatus.ReportStatus(host, h.last)
	}
}

// Report implements componentstatus.Reporter.
func (h *sharedHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last = ev
	for _, host := range h.hosts {
		componentstatus.ReportStatus(host, ev)
	}
}

// handle is what the factory returns for one signal of one pipeline.
type handle struct{ s *sharedReceiver }

// get returns the instance of set.ID, creating it on first use.
func (reg *instances) get(set receiver.Settings, cfg *Config) (*handle, error) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	s, ok := reg.byID[set.ID]
	if !ok {
		r, err := reg.create(set, cfg)
		if err != nil {
			return nil, err
		}
		s = &sharedReceiver{reg: reg, id: set.ID, r: r}
		reg.byID[set.ID] = s
	}
	return &handle{s: s}, nil
}

func (reg *instances) createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	h, err := reg.get(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	h.s.r.setLogs(next)
	return h, nil
}

func (reg *instances) createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	h, err := reg.get(set, cfg.(*Config))
	if err != nil {
		return nil, err
	}
	h.s.r.setMetrics(next)
	return h, nil
}

// Start starts the instance once; later calls return the first result. An
// instance of another ID already running is refused.
func (h *handle) Start(ctx context.Context, host component.Host) error {
	s := h.s
	reg := s.reg
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if s.started {
		if s.host != nil {
			s.host.join(host)
		}
		return s.startErr
	}
	if reg.running != nil && reg.running != s {
		return fmt.Errorf("only one ebpf receiver may run per collector: %s is already running", reg.running.id)
	}
	s.started = true
	s.host = &sharedHost{Host: host, hosts: []component.Host{host}}
	if s.startErr = s.r.Start(ctx, s.host); s.startErr == nil {
		reg.running = s
	}
	return s.startErr
}

// Shutdown shuts the instance down on the first call (from either signal's
// pipeline) and forgets it: a new pipeline graph, after a reload, creates a new
// one. The first call, not the last: the collector shuts its components down
// in data-flow order, so when the first of the instance's pipelines stops,
// the exporters of all of them still run and take the final counts; by the
// last call, some of them may have stopped.
func (h *handle) Shutdown(ctx context.Context) error {
	s := h.s
	reg := s.reg
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	if reg.byID[s.id] == s {
		delete(reg.byID, s.id)
	}
	if reg.running == s {
		reg.running = nil
	}
	return s.r.Shutdown(ctx)
}
