// Package kubeapiserver holds the configuration the repository's real control planes
// share: the kube-apiserver integration harness (etcd and kube-apiserver) and the real-node
// harness (the same, plus a controller-manager, a scheduler and a kubelet). Both run etcd
// and kube-apiserver on 127.0.0.1 from a temporary directory, authenticate one static
// token as system:masters, and sign service-account tokens with a key pair made by
// openssl; the harnesses keep their own process handling.
package kubeapiserver

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// WriteAuth writes, under dir, the service-account key pair (sa.key, sa.pub, made with
// openssl as an operator would) and the static token file (tokens.csv) that makes token the
// credential of user vigil-admin in system:masters.
func WriteAuth(dir, token string) error {
	for _, args := range [][]string{
		{"genrsa", "-out", filepath.Join(dir, "sa.key"), "2048"},
		{"rsa", "-in", filepath.Join(dir, "sa.key"), "-pubout", "-out", filepath.Join(dir, "sa.pub")},
	} {
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("openssl %v: %w: %s", args, err, out)
		}
	}
	p := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(p, []byte(token+",vigil-admin,vigil-admin,system:masters\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// EtcdArgs are the arguments of a one-member etcd with its data in dir/etcd, serving
// clients on clientURL and its peer on peerURL (both http://127.0.0.1:PORT).
func EtcdArgs(dir, clientURL, peerURL string) []string {
	return []string{
		"--name=vigil",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=vigil=" + peerURL,
		"--log-level=error",
	}
}

// APIServerArgs are the arguments of a kube-apiserver on https://127.0.0.1:port backed by
// the etcd at etcdURL, with its certificates in dir/certs and the files WriteAuth wrote in
// dir; extra flags follow.
func APIServerArgs(dir, etcdURL string, port int, extra ...string) []string {
	return append([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=AlwaysAllow",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--endpoint-reconciler-type=none",
		// No controller creates the default service accounts in time for the tests' pods.
		"--disable-admission-plugins=ServiceAccount",
		"--enable-priority-and-fairness=false",
	}, extra...)
}

// Kubeconfig is a kubeconfig for the API server at url with token auth and no CA check
// (the server's certificate is self-signed).
func Kubeconfig(url, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: it
  cluster: {server: %q, insecure-skip-tls-verify: true}
users:
- name: it
  user: {token: %q}
contexts:
- name: it
  context: {cluster: it, user: it}
current-context: it
`, url, token)
}

// Client is an HTTP client for the loopback control plane: 2 s per request, no
// certificate check (self-signed test servers on 127.0.0.1).
func Client() *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed test server on loopback
	}}
}

// Healthy GETs url (etcd's /health, kube-apiserver's /readyz) with client, with the
// token as a bearer credential when it is not "", and wants 200.
func Healthy(client *http.Client, url, token string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return nil
}
