package kubeapiserver

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteAuth(t *testing.T) {
	dir := t.TempDir()
	if err := WriteAuth(dir, "tok"); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(dir, "sa.key"))
	if err != nil || !strings.Contains(string(key), "PRIVATE KEY") {
		t.Fatalf("sa.key: %v %.40q", err, key)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "sa.pub"))
	if err != nil || !strings.Contains(string(pub), "BEGIN PUBLIC KEY") {
		t.Fatalf("sa.pub: %v %.40q", err, pub)
	}
	tokens, err := os.ReadFile(filepath.Join(dir, "tokens.csv"))
	if err != nil || string(tokens) != "tok,vigil-admin,vigil-admin,system:masters\n" {
		t.Fatalf("tokens.csv: %v %q", err, tokens)
	}
	if err := WriteAuth(filepath.Join(dir, "missing"), "tok"); err == nil || !strings.Contains(err.Error(), "openssl") {
		t.Fatalf("a directory that does not exist: %v, want openssl's failure", err)
	}
}

func TestArgs(t *testing.T) {
	e := EtcdArgs("/d", "http://127.0.0.1:1", "http://127.0.0.1:2")
	for _, want := range []string{"--data-dir=/d/etcd", "--listen-client-urls=http://127.0.0.1:1", "--initial-cluster=vigil=http://127.0.0.1:2"} {
		if !slices.Contains(e, want) {
			t.Errorf("etcd args lack %s: %v", want, e)
		}
	}
	a := APIServerArgs("/d", "http://127.0.0.1:1", 6443, "--allow-privileged=true")
	for _, want := range []string{"--etcd-servers=http://127.0.0.1:1", "--secure-port=6443", "--bind-address=127.0.0.1",
		"--token-auth-file=/d/tokens.csv", "--service-account-key-file=/d/sa.pub", "--service-account-signing-key-file=/d/sa.key"} {
		if !slices.Contains(a, want) {
			t.Errorf("kube-apiserver args lack %s: %v", want, a)
		}
	}
	if a[len(a)-1] != "--allow-privileged=true" {
		t.Errorf("extra flags not last: %v", a)
	}
	if slices.Contains(APIServerArgs("/d", "u", 1), "--allow-privileged=true") {
		t.Error("an extra flag leaked into another call's arguments")
	}
}

func TestKubeconfig(t *testing.T) {
	k := Kubeconfig("https://127.0.0.1:6443", "tok")
	for _, want := range []string{`server: "https://127.0.0.1:6443"`, `token: "tok"`, "insecure-skip-tls-verify: true", "current-context: it"} {
		if !strings.Contains(k, want) {
			t.Errorf("kubeconfig lacks %s:\n%s", want, k)
		}
	}
}

func TestHealthy(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	c := Client()
	defer c.CloseIdleConnections()
	if err := Healthy(c, srv.URL+"/readyz", "tok"); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	if err := Healthy(c, srv.URL+"/readyz", ""); err == nil || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("without the token: %v, want status 401", err)
	}
	if err := Healthy(c, srv.URL+"/health", ""); err != nil {
		t.Fatalf("no token needed: %v", err)
	}
	srv.Close()
	if err := Healthy(c, srv.URL+"/health", ""); err == nil {
		t.Fatal("a closed server is healthy")
	}
}
