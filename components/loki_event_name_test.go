package components

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"
	"sigs.k8s.io/yaml"
)

// The Loki 3.7 example's transform, run by the distribution's own transform processor on
// the receiver's golden records: every record gets a log attribute event_name equal to its
// event_name field (what Loki 3.7 stores as structured metadata), and nothing else changes.
func TestLoki37EventNameTransform(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "config", "examples", "loki-3.7-event-name.yaml"))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	procs := doc["processors"].(map[string]any)
	id := component.MustNewIDWithName("transform", "loki_event_name")
	section, ok := procs[id.String()].(map[string]any)
	require.True(t, ok, "the example defines %s", id)

	factories, err := Components()
	require.NoError(t, err)
	factory, ok := factories.Processors[id.Type()]
	require.True(t, ok, "transform is in the distribution")
	cfg := factory.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(section).Unmarshal(cfg))
	sink := new(consumertest.LogsSink)
	settings := processortest.NewNopSettings(id.Type())
	settings.ID = id
	p, err := factory.CreateLogs(context.Background(), settings, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), nil))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })

	golden, err := filepath.Glob(filepath.Join("..", "receiver", "ebpfreceiver", "internal", "otlplogs", "testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, golden)
	var u plog.JSONUnmarshaler
	records := 0
	for _, f := range golden {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		in, err := u.UnmarshalLogs(raw)
		require.NoError(t, err, f)
		want := plog.NewLogs()
		in.CopyTo(want)
		sink.Reset()
		require.NoError(t, p.ConsumeLogs(context.Background(), in))
		require.Len(t, sink.AllLogs(), 1, f)
		got := sink.AllLogs()[0]
		require.Equal(t, want.LogRecordCount(), got.LogRecordCount(), f)
		for i := 0; i < got.ResourceLogs().Len(); i++ {
			gr, wr := got.ResourceLogs().At(i), want.ResourceLogs().At(i)
			require.Equal(t, wr.Resource().Attributes().AsRaw(), gr.Resource().Attributes().AsRaw(), f)
			for j := 0; j < gr.ScopeLogs().Len(); j++ {
				for k := 0; k < gr.ScopeLogs().At(j).LogRecords().Len(); k++ {
					g := gr.ScopeLogs().At(j).LogRecords().At(k)
					w := wr.ScopeLogs().At(j).LogRecords().At(k)
					require.NotEmpty(t, w.EventName(), f)
					v, ok := g.Attributes().Get("event_name")
					require.True(t, ok, "%s: record %d has the event_name attribute", f, k)
					require.Equal(t, w.EventName(), v.Str(), f)
					require.Equal(t, w.EventName(), g.EventName(), "%s: the field stays", f)
					g.Attributes().Remove("event_name")
					require.Equal(t, w.Attributes().AsRaw(), g.Attributes().AsRaw(), "%s: no other attribute changes", f)
					records++
				}
			}
		}
	}
	require.Greater(t, records, 20)
}
