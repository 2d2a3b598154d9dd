//go:build unix

package redact

import (
	"syscall"
	"testing"
	"time"
)

// Typical command lines of a node: most hold no secret.
var (
	benchPlain = [][]string{
		{"/usr/bin/ls", "-la", "/tmp"},
		{"git", "status", "--short"},
		{"/usr/bin/python3", "-m", "http.server", "8000"},
		{"/bin/sh", "-c", "cd /app && ./run.sh --port 8080 | tee /var/log/app.log"},
		{"/usr/local/bin/kubelet", "--config=/var/lib/kubelet/config.yaml", "--kubeconfig=/etc/kubernetes/kubelet.conf", "--container-runtime-endpoint=unix:///run/containerd/containerd.sock"},
		{"curl", "-sS", "https://example.com/api/v1/items?page=2&sort=asc"},
	}
	benchSecret = [][]string{
		{"mysql", "-uroot", "-pS3cr3t", "db"},
		{"sh", "-c", "export TOKEN=S3cr3t; curl -H 'Authorization: Bearer abc' https://api"},
		{"curl", "-u", "alice:S3cr3t", "https://u:p@ss@host/x?access_token=" + jwt},
		{"docker", "login", "-u", "bob", "-p", "S3cr3t", "registry.example.com"},
		{"aws", "configure", "set", "aws_secret_access_key", "x", awsKey},
		{"app", "--password", "-S3cr3t", "--verbose"},
	}
)

func benchArgs(b *testing.B, lines [][]string) {
	r, err := New(true, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := cpuTime(b)
	n := 0
	for ; b.Loop(); n++ {
		r.Args(lines[n%len(lines)])
	}
	// CPU time per command line: on a shared machine ns/op also counts the time
	// the benchmark waited for a CPU.
	b.ReportMetric(float64(cpuTime(b)-start)/float64(n), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkArgsPlain is the cost per command line without a secret.
func BenchmarkArgsPlain(b *testing.B) { benchArgs(b, benchPlain) }

// BenchmarkArgsSecret is the cost per command line with secrets to mask.
func BenchmarkArgsSecret(b *testing.B) { benchArgs(b, benchSecret) }

// BenchmarkArgsWorst is a 4 KiB command line (the receiver's args_max_bytes limit)
// made of secrets and separators: the cost stays linear.
func BenchmarkArgsWorst(b *testing.B) {
	var payload []byte
	for len(payload) < 4000 {
		payload = append(payload, "TOKEN='"+awsKey+" x' --password -p ; curl -u a:b https://u:p@h/?sig=1&key=2 "...)
	}
	benchArgs(b, [][]string{{"sh", "-c", string(payload[:4000])}})
}
