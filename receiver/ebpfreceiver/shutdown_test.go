//go:build linux

package ebpfreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Records the kernel wrote before Shutdown are read and exported, not lost with
// the ring buffer: a rolling update must not drop its last events. Before the
// drain, 0 of 5 opens made just before Shutdown reached the consumer.
func TestShutdownDrainsTheRing(t *testing.T) {
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policies")
	watched := filepath.Join(dir, "watched") + "/"
	require.NoError(t, os.Mkdir(pdir, 0o755))
	require.NoError(t, os.Mkdir(watched, 0o755))
	writePolicy(t, pdir, "a.yaml", filePolicy("drain", watched))
	// A long poll interval: without the drain, records below the wakeup
	// threshold would wait for the next deadline, which never comes.
	s := startReceiver(t, func(c *Config) {
		c.PolicyPaths = []string{pdir}
		c.PollInterval = 5 * time.Second
		c.FlushInterval = 5 * time.Second
	}, nil)

	probe := filepath.Join(watched, "probe")
	require.Eventually(t, func() bool {
		touchAndRead(t, probe)
		return len(recordsWhere(s.sink, "file.open", "file.path", probe)) > 0
	}, 20*time.Second, 200*time.Millisecond, "the policy applies")

	const n = 5
	files := make([]string, n)
	for i := range files {
		files[i] = filepath.Join(watched, fmt.Sprint("last-", i))
		touchAndRead(t, files[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, s.r.Shutdown(ctx))
	t.Logf("shutdown with a drain took %s", time.Since(start))
	assert.Less(t, time.Since(start), drainTimeout+discardTimeout+time.Second, "the drain is bounded")
	for _, f := range files {
		// touchAndRead opens each file twice (write, then read).
		assert.Len(t, recordsWhere(s.sink, "file.open", "file.path", f), 2, "%s: opened just before Shutdown, must be exported", f)
	}
	assert.Zero(t, sumMetric(t, s.tel, "otelcol_ebpf_events_dropped", func(a map[string]string) bool { return a["reason"] == "shutdown" }),
		"a drain within its time drops nothing")
}
