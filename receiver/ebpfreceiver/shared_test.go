package ebpfreceiver

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
)

// fakeSignal stands in for the kernel-backed receiver: it counts its starts and
// shutdowns and reports a status from Start, as the policy controller does.
type fakeSignal struct {
	starts, stops int
	logs          consumer.Logs
	metrics       consumer.Metrics
}

func (f *fakeSignal) Start(_ context.Context, host component.Host) error {
	f.starts++
	componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(errors.New("policy rejected")))
	return nil
}
func (f *fakeSignal) Shutdown(context.Context) error { f.stops++; return nil }
func (f *fakeSignal) setLogs(n consumer.Logs)        { f.logs = n }
func (f *fakeSignal) setMetrics(n consumer.Metrics)  { f.metrics = n }

type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

// The registry without a kernel: one instance per ID, started and shut down
// once, its status reported to every pipeline's host, a second ID refused.
func TestInstancesRegistry(t *testing.T) {
	var made []*fakeSignal
	reg := newInstances(func(receiver.Settings, *Config) (signalReceiver, error) {
		f := &fakeSignal{}
		made = append(made, f)
		return f, nil
	})
	cfg := createDefaultConfig()
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.NewID(metadata.Type)
	logs, err := reg.createLogs(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	metrics, err := reg.createMetrics(context.Background(), set, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.Len(t, made, 1, "one instance for both signals")
	f := made[0]
	assert.NotNil(t, f.logs)
	assert.NotNil(t, f.metrics)

	hostA := &statusHost{Host: componenttest.NewNopHost()}
	hostB := &statusHost{Host: componenttest.NewNopHost()}
	require.NoError(t, logs.Start(context.Background(), hostA))
	require.NoError(t, metrics.Start(context.Background(), hostB))
	assert.Equal(t, 1, f.starts)
	require.Len(t, hostA.events, 1)
	require.Len(t, hostB.events, 1, "the metrics pipeline's host gets the status reported before it joined")
	assert.Equal(t, componentstatus.StatusRecoverableError, hostB.events[0].Status())

	set2 := receivertest.NewNopSettings(metadata.Type)
	set2.ID = component.NewIDWithName(metadata.Type, "2")
	other, err := reg.createLogs(context.Background(), set2, cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.Len(t, made, 2)
	require.EqualError(t, other.Start(context.Background(), hostA), "only one ebpf receiver may run per collector: ebpf is already running")
	assert.Zero(t, made[1].starts, "the refused receiver never started")
	require.NoError(t, other.Shutdown(context.Background()))

	require.NoError(t, logs.Shutdown(context.Background()))
	require.NoError(t, metrics.Shutdown(context.Background()))
	assert.Equal(t, 1, f.stops, "shut down once")
	assert.Empty(t, reg.byID, "forgotten after shutdown")
	assert.Nil(t, reg.running)
}
