package k8smetaextension

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	k8smetadata "k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
)

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

func (h *statusHost) statuses() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []componentstatus.Status
	for _, ev := range h.events {
		out = append(out, ev.Status())
	}
	return out
}

func TestStatusWithoutClient(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.NodeName = testNode
	ext, err := newExtension(cfg, componenttest.NewNopTelemetrySettings(), func(*Config, string) (cache.ListerWatcher, k8smetadata.Interface, error) {
		return nil, nil, errors.New("no in-cluster configuration")
	})
	require.NoError(t, err)
	host := &statusHost{Host: componenttest.NewNopHost()}
	require.NoError(t, ext.Start(context.Background(), host))
	require.NoError(t, ext.Shutdown(context.Background()))
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusPermanentError}, host.statuses())
}

func TestStatusSynced(t *testing.T) {
	f := newFakeCluster(t)
	cfg := createDefaultConfig().(*Config)
	cfg.NodeName = testNode
	ext, err := newExtension(cfg, componenttest.NewNopTelemetrySettings(), f.provider)
	require.NoError(t, err)
	host := &statusHost{Host: componenttest.NewNopHost()}
	require.NoError(t, ext.Start(context.Background(), host))
	require.Eventually(t, func() bool { return len(host.statuses()) == 2 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, ext.Shutdown(context.Background()))
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusStarting, componentstatus.StatusOK}, host.statuses())
}

func TestCountingTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/pods":
			w.WriteHeader(http.StatusInternalServerError)
		case "/apis/apps/v1/replicasets":
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()

	cfg := createDefaultConfig().(*Config)
	ext, err := newExtension(cfg, componenttest.NewNopTelemetrySettings(), nil)
	require.NoError(t, err)
	client := &http.Client{Transport: &countingTransport{next: http.DefaultTransport, m: ext}}
	defer client.CloseIdleConnections()
	for _, p := range []string{"/api/v1/pods", "/apis/apps/v1/replicasets", "/api/v1/namespaces"} {
		resp, err := client.Get(srv.URL + p)
		require.NoError(t, err)
		resp.Body.Close()
	}
	assert.Equal(t, int64(2), ext.APIErrors(), "5xx and 403 count, 200 does not")

	// A refused connection (the API server is down) counts too.
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	_, err = client.Get(url + "/api/v1/pods?watch=true")
	require.Error(t, err)
	assert.Equal(t, int64(3), ext.APIErrors())
}

func TestResourceOf(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/pods":                  "pods",
		"/api/v1/namespaces/x/pods":     "pods",
		"/apis/apps/v1/replicasets":     "replicasets",
		"/apis/batch/v1/jobs":           "jobs",
		"/api/v1/namespaces":            "namespaces",
		"/version":                      "other",
		"/api/v1/namespaces/x/pods/abc": "other",
	} {
		assert.Equal(t, want, resourceOf(path), path)
	}
}
