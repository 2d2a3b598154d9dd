package components

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/internal/testkit/collector"
	"github.com/vigilsec/vigil/internal/testkit/victorialogs"
)

// Loss-free export, for real: the ocb-built distribution runs the shipped
// deploy/config/examples/persistent-queue.yaml (plus testdata/e2e/lossfree-overlay.yaml:
// a policy, loopback ports) with the real ebpf receiver, exporting over OTLP/HTTP to a
// real VictoriaLogs on 127.0.0.1. A bounded loop opens files with a unique name each in
// a watched directory (one file.open record per open); the records are counted back in
// VictoriaLogs by name.

// backend is a VictoriaLogs that can be stopped and started again on the same address
// and data directory (the outage).
type backend struct {
	t *testing.T
	*victorialogs.Server
	addr string
}

func newBackend(t *testing.T) *backend {
	s := victorialogs.NewForTest(t)
	return &backend{t: t, Server: s, addr: s.Addr}
}

func (b *backend) up() {
	b.t.Helper()
	require.NoError(b.t, b.Start())
}

// down stops the backend (SIGTERM, then SIGKILL after 10 s); the port refuses connections after.
func (b *backend) down() { b.Stop() }

// paths returns how many records VictoriaLogs holds for each file.path containing the
// run's token.
func (b *backend) paths(token string) map[string]int {
	t := b.t
	t.Helper()
	resp, err := http.PostForm("http://"+b.addr+"/select/logsql/query",
		url.Values{"query": {"file.path:" + token + " | fields file.path"}})
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var row map[string]string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &row))
		out[row["file.path"]]++
	}
	require.NoError(t, sc.Err())
	return out
}

// generator opens files named <dir>/e<n> at a steady rate while running.
type generator struct {
	dir     string
	every   time.Duration
	sent    atomic.Int64
	running atomic.Bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startGenerator(t *testing.T, dir string, every time.Duration) *generator {
	g := &generator{dir: dir, every: every, stop: make(chan struct{})}
	g.running.Store(true)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		// Bounded: at most 20000 opens, and the test's own time.
		for g.sent.Load() < 20000 {
			select {
			case <-g.stop:
				return
			case <-tick.C:
			}
			if !g.running.Load() {
				continue
			}
			n := g.sent.Load()
			if err := os.WriteFile(filepath.Join(g.dir, "e"+strconv.FormatInt(n, 10)), nil, 0o600); err == nil {
				g.sent.Add(1)
			}
		}
	}()
	t.Cleanup(g.end)
	return g
}

func (g *generator) end() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.wg.Wait()
}

// defaultRing is the receiver's default ring_buffer_size.
const defaultRing = 4 << 20

// lossFreeRun is one collector setup of these tests.
type lossFreeRun struct {
	t                   *testing.T
	bin, token, watched string
	env                 []string
	health, metrics     string
	configs             []string
}

// newLossFreeRun sets up a collector with these queue sizes (the receiver's in
// events, the exporter's in batches) and a kernel ring of ringBytes.
func newLossFreeRun(t *testing.T, b *backend, receiverQueue, exporterQueue, ringBytes int) *lossFreeRun {
	t.Helper()
	bin := collectorBinary(t)
	dir := t.TempDir()
	tok := make([]byte, 8)
	_, _ = rand.Read(tok)
	token := "lf" + hex.EncodeToString(tok)
	watched := filepath.Join(dir, token)
	policies := filepath.Join(dir, "policies")
	require.NoError(t, os.Mkdir(watched, 0o755))
	require.NoError(t, os.Mkdir(policies, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(policies, "lossfree.yaml"), []byte(
		"name: lossfree\nrules:\n  - name: marker\n    event: file.open\n    paths: ["+watched+"/]\n"), 0o600))
	health, metrics := freePort(t), freePort(t)
	_, metricsPort, _ := net.SplitHostPort(metrics)
	shipped, err := filepath.Abs(filepath.Join("..", "deploy", "config", "examples", "persistent-queue.yaml"))
	require.NoError(t, err)
	overlay, err := filepath.Abs(filepath.Join("..", "testdata", "e2e", "lossfree-overlay.yaml"))
	require.NoError(t, err)
	return &lossFreeRun{t: t, bin: bin, token: token, watched: watched, health: health, metrics: metrics,
		configs: []string{shipped, overlay},
		env: []string{
			"OTLP_ENDPOINT=http://" + b.addr + "/insert/opentelemetry",
			"VIGIL_QUEUE_DIR=" + filepath.Join(dir, "queue"),
			"POLICY_DIR=" + policies,
			"RECEIVER_QUEUE_SIZE=" + strconv.Itoa(receiverQueue),
			"EXPORTER_QUEUE_SIZE=" + strconv.Itoa(exporterQueue),
			"RING_BUFFER_SIZE=" + strconv.Itoa(ringBytes),
			"HEALTH_ENDPOINT=" + health,
			"METRICS_PORT=" + metricsPort,
		}}
}

// start runs the collector and waits for it to be healthy.
func (r *lossFreeRun) start() *proc {
	t := r.t
	t.Helper()
	p := collector.Start(t, r.bin, r.env, r.configs...)
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + r.health + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond, "collector did not become healthy")
	return p
}

// counter sums the collector's Prometheus self-metric samples whose name starts with
// name and whose labels contain every one of labels.
func (r *lossFreeRun) counter(name string, labels ...string) float64 {
	t := r.t
	t.Helper()
	resp, err := http.Get("http://" + r.metrics + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
lines:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue lines
			}
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		require.NoError(t, err, line)
		sum += v
	}
	return sum
}

// receiverLosses is every event the receiver counted as lost: in the kernel ring buffer,
// and in user space for any reason.
func (r *lossFreeRun) receiverLosses() float64 {
	return r.counter("otelcol_ebpf_kernel_events_lost") + r.counter("otelcol_ebpf_events_dropped")
}

// waitAll waits (at most limit) until the backend holds a record of every open the
// generator made, and returns the distinct paths found, the duplicates and the time taken.
func waitAll(t *testing.T, b *backend, token string, sent int64, limit time.Duration) (int, int, time.Duration) {
	t.Helper()
	start := time.Now()
	var got, dups int
	for time.Since(start) < limit {
		seen := b.paths(token)
		got, dups = len(seen), 0
		for _, n := range seen {
			dups += n - 1
		}
		if int64(got) >= sent {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return got, dups, time.Since(start)
}

const genInterval = 20 * time.Millisecond // 50 opens a second

// (a) The backend is down for 60 s under a steady stream of events, then up: every
// event arrives.
func TestE2ELossFreeBackendOutage(t *testing.T) {
	b := newBackend(t)
	b.up()
	r := newLossFreeRun(t, b, 16384, 100000, defaultRing)
	col := r.start()
	g := startGenerator(t, r.watched, genInterval)

	time.Sleep(5 * time.Second)
	b.down()
	downAt, sentBefore := time.Now(), g.sent.Load()
	time.Sleep(60 * time.Second)
	b.up()
	down := time.Since(downAt)
	sentDuring := g.sent.Load() - sentBefore
	time.Sleep(5 * time.Second)
	g.end()
	sent := g.sent.Load()

	got, dups, drain := waitAll(t, b, r.token, sent, 90*time.Second)
	t.Logf("backend outage: sent %d events (%d while the backend was down for %s), received %d distinct (%d duplicates), all in %s after the last event",
		sent, sentDuring, down.Round(time.Second), got, dups, drain.Round(100*time.Millisecond))
	assert.Greater(t, sentDuring, int64(1000), "the stream is steady through the outage")
	assert.Equal(t, int(sent), got, "every event arrives after the outage")
	assert.Zero(t, r.receiverLosses(), "nothing was lost in the receiver")
	assert.Zero(t, r.counter("otelcol_exporter_send_failed_log_records"), "no batch was given up")
	col.Stop(t)
}

// (b) The collector is stopped (SIGTERM) and started again while the backend is down:
// every event, queued before the restart and after, arrives once the backend is up.
func TestE2ELossFreeRestartDuringOutage(t *testing.T) {
	b := newBackend(t)
	b.up()
	r := newLossFreeRun(t, b, 16384, 100000, defaultRing)
	col := r.start()
	g := startGenerator(t, r.watched, genInterval)

	time.Sleep(3 * time.Second)
	b.down()
	downAt := time.Now()
	time.Sleep(5 * time.Second)
	// No sensor runs while the collector is down: the loop pauses meanwhile.
	g.running.Store(false)
	time.Sleep(200 * time.Millisecond) // let the last opens reach the receiver
	beforeRestart := g.sent.Load()
	col.Stop(t)
	col = r.start()
	g.running.Store(true)
	time.Sleep(5 * time.Second)
	g.end()
	sent := g.sent.Load()
	b.up()
	down := time.Since(downAt)

	got, dups, drain := waitAll(t, b, r.token, sent, 90*time.Second)
	t.Logf("restart during outage: sent %d events (%d before the restart), backend down %s, received %d distinct (%d duplicates) in %s",
		sent, beforeRestart, down.Round(time.Second), got, dups, drain.Round(100*time.Millisecond))
	assert.Greater(t, beforeRestart, int64(100))
	assert.Equal(t, int(sent), got, "every event arrives: the queue on disk survived the restart")
	assert.Zero(t, r.receiverLosses(), "nothing was lost in the receiver after the restart")
	col.Stop(t)
}

// (c) A full persistent queue is counted, never silent: with a queue of 2 batches and the
// backend down, a burst overflows it; the exporter counts its refusals, the receiver holds
// the batch back (back-pressure) and counts what its own bounded queue cannot hold; every
// event missing at the backend afterwards is among the counted losses.
func TestE2ELossFreeFullQueueIsCounted(t *testing.T) {
	b := newBackend(t)
	// A full receiver queue waits while the kernel ring is less than half full
	// (back-pressure, not loss): a 4-page ring makes the burst overflow both, so
	// that the receiver's drops are what is tested.
	r := newLossFreeRun(t, b, 64, 2, 4*os.Getpagesize())
	col := r.start()
	g := startGenerator(t, r.watched, time.Millisecond)
	require.Eventually(t, func() bool { return g.sent.Load() >= 5000 }, 60*time.Second, 100*time.Millisecond)
	g.end()
	sent := g.sent.Load()
	require.Eventually(t, func() bool {
		return r.counter("otelcol_exporter_enqueue_failed_log_records") > 0
	}, 30*time.Second, 200*time.Millisecond, "the full queue's refusals are counted by the exporter")
	time.Sleep(2 * time.Second)
	lost := r.counter("otelcol_ebpf_events_dropped", `reason="queue_full"`)
	refused := r.counter("otelcol_exporter_enqueue_failed_log_records")
	assert.Greater(t, lost, 0.0, "the receiver counts the events its queue could not hold")
	b.up()
	got, _, _ := waitAll(t, b, r.token, sent, 30*time.Second)
	// Nothing more arrives: wait until the count is stable.
	require.Eventually(t, func() bool {
		n := len(b.paths(r.token))
		time.Sleep(3 * time.Second)
		m := len(b.paths(r.token))
		got = m
		return n == m
	}, 60*time.Second, time.Second)
	losses := r.receiverLosses()
	t.Logf("full queue: sent %d, received %d, missing %d; receiver counted %.0f lost (queue_full %.0f), exporter refused %.0f records",
		sent, got, int(sent)-got, losses, lost, refused)
	assert.Less(t, got, int(sent), "a queue of 2 batches cannot hold the burst")
	assert.GreaterOrEqual(t, losses, float64(int(sent)-got), "every missing event is counted")
	col.Stop(t)
}
