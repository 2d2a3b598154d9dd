// Package kubeapiservertest starts a real kube-apiserver backed by a real etcd on 127.0.0.1
// for integration tests, and can stop and restart the API server to test outages.
//
// The binaries come from the environment: VIGIL_KUBE_APISERVER (built by
// .ci/k8s/build-kube-apiserver.sh) and VIGIL_ETCD (Debian's etcd-server package installs
// /usr/bin/etcd). When they are unset the tests are skipped, except when CI=true: then they
// fail, so that CI can never pass without running them.
package kubeapiservertest // import "github.com/vigilsec/vigil/extension/k8smetaextension/kubeapiservertest"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/vigilsec/vigil/internal/testkit"
	"github.com/vigilsec/vigil/internal/testkit/kubeapiserver"
)

// Environment variables naming the binaries.
const (
	EnvKubeAPIServer = "VIGIL_KUBE_APISERVER"
	EnvEtcd          = "VIGIL_ETCD"
)

const token = "vigil-integration-token"

// Binaries returns the paths of kube-apiserver and etcd, skipping the test when they are not
// configured, or failing it when CI=true.
func Binaries(t testing.TB) (apiserver, etcd string) {
	t.Helper()
	apiserver, etcd = os.Getenv(EnvKubeAPIServer), os.Getenv(EnvEtcd)
	var reason string
	switch {
	case apiserver == "" || etcd == "":
		reason = fmt.Sprintf("%s and %s must name the kube-apiserver and etcd binaries (see .ci/k8s/integration.sh)", EnvKubeAPIServer, EnvEtcd)
	default:
		for _, b := range []string{apiserver, etcd} {
			if _, err := os.Stat(b); err != nil {
				reason = fmt.Sprintf("integration binary: %v", err)
			}
		}
	}
	if reason == "" {
		return apiserver, etcd
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("Kubernetes integration test cannot run in CI: %s", reason)
	}
	t.Skipf("skipping Kubernetes integration test: %s", reason)
	return "", ""
}

// T is the part of testing.TB the harness uses; programs (the benchmark driver) can provide
// their own.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Server is a running etcd plus kube-apiserver.
type Server struct {
	t            T
	dir          string
	apiserverBin string
	etcdBin      string
	etcdURL      string
	port         int
	etcd         *exec.Cmd
	apiserver    *exec.Cmd
	apiExited    chan struct{}
	apiLog       *testkit.SyncBuffer

	// URL is the API server's https URL; Kubeconfig a kubeconfig file for it.
	URL        string
	Kubeconfig string
}

// Start starts etcd and kube-apiserver on free loopback ports and waits until the API server
// is ready. Both are stopped by t.Cleanup.
func Start(t T, apiserverBin, etcdBin string) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir(), apiserverBin: apiserverBin, etcdBin: etcdBin}
	t.Cleanup(s.stop)

	clientPort, peerPort := freePort(t), freePort(t)
	s.etcdURL = "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	s.etcd = exec.Command(etcdBin, kubeapiserver.EtcdArgs(s.dir, s.etcdURL, peerURL)...)
	s.etcd.Stdout, s.etcd.Stderr = &bytes.Buffer{}, &bytes.Buffer{}
	if err := s.etcd.Start(); err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	client := kubeapiserver.Client()
	defer client.CloseIdleConnections()
	waitFor(t, 30*time.Second, "etcd health", func() error {
		return kubeapiserver.Healthy(client, s.etcdURL+"/health", "")
	})

	// Service-account keys and the token file.
	if err := kubeapiserver.WriteAuth(s.dir, token); err != nil {
		t.Fatalf("kube-apiserver harness: %v", err)
	}

	s.port = freePort(t)
	s.URL = "https://127.0.0.1:" + strconv.Itoa(s.port)
	s.Kubeconfig = filepath.Join(s.dir, "kubeconfig")
	writeFile(t, s.Kubeconfig, kubeapiserver.Kubeconfig(s.URL, token))

	s.StartAPIServer()
	return s
}

// StartAPIServer (re)starts kube-apiserver on the same port and etcd, and waits until ready.
func (s *Server) StartAPIServer() {
	s.t.Helper()
	s.apiLog = &testkit.SyncBuffer{}
	s.apiserver = exec.Command(s.apiserverBin, kubeapiserver.APIServerArgs(s.dir, s.etcdURL, s.port)...)
	s.apiserver.Stdout, s.apiserver.Stderr = s.apiLog, s.apiLog
	if err := s.apiserver.Start(); err != nil {
		s.t.Fatalf("starting kube-apiserver: %v", err)
	}
	exited := make(chan struct{})
	s.apiExited = exited
	go func(cmd *exec.Cmd) {
		_ = cmd.Wait()
		close(exited)
	}(s.apiserver)
	client := kubeapiserver.Client()
	defer client.CloseIdleConnections()
	waitFor(s.t, 90*time.Second, "kube-apiserver /readyz", func() error {
		select {
		case <-exited:
			return errors.New("kube-apiserver exited:\n" + tail(s.apiLog.String()))
		default:
		}
		return kubeapiserver.Healthy(client, s.URL+"/readyz", token)
	})
}

// StopAPIServer kills kube-apiserver (etcd keeps running), as in an API server outage.
func (s *Server) StopAPIServer() {
	if s.apiserver == nil || s.apiserver.Process == nil {
		return
	}
	_ = s.apiserver.Process.Kill()
	<-s.apiExited
	s.apiserver = nil
}

func (s *Server) stop() {
	s.StopAPIServer()
	if s.etcd != nil && s.etcd.Process != nil {
		_ = s.etcd.Process.Kill()
		_ = s.etcd.Wait()
	}
}

// RESTConfig returns a client configuration for the API server.
func (s *Server) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            s.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
	}
}

// Clientset returns a clientset for the API server.
func (s *Server) Clientset() *kubernetes.Clientset {
	s.t.Helper()
	cs, err := kubernetes.NewForConfig(s.RESTConfig())
	if err != nil {
		s.t.Fatalf("creating clientset: %v", err)
	}
	return cs
}

func freePort(t T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}

func waitFor(t T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func tail(s string) string {
	const n = 4000
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
