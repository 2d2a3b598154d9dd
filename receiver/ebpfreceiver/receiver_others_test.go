//go:build !linux

package ebpfreceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
)

// Off Linux the factory exists (the distribution builds everywhere) but creating the
// receiver fails and says why.
func TestCreateLogsOffLinux(t *testing.T) {
	f := NewFactory()
	r, err := f.CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type),
		f.CreateDefaultConfig(), consumertest.NewNop())
	require.EqualError(t, err, "ebpf receiver is only supported on linux")
	require.Nil(t, r)
	m, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type),
		f.CreateDefaultConfig(), consumertest.NewNop())
	require.EqualError(t, err, "ebpf receiver is only supported on linux")
	require.Nil(t, m)
}
