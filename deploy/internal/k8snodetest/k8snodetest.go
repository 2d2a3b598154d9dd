//go:build linux

// Package k8snodetest runs a real single-node Kubernetes cluster on 127.0.0.1 for tests:
// etcd, kube-apiserver, kube-controller-manager and kube-scheduler, a private containerd
// with its CRI plugin and a kubelet (cgroupfs driver, static pods from a temporary
// directory). Only hostNetwork pods are meant to run on it: there is no pod network, so no
// pod traffic can leave the machine.
//
// The binaries come from the environment (see Binaries). Close removes everything the node
// created: processes (by pid), containers and their shims, mounts, the kubelet's files
// outside its root directory, cgroups and the iptables chains the kubelet adds.
package k8snodetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/testkit/containerd"
	"github.com/vigilsec/vigil/internal/testkit/kubeapiserver"
)

// Environment variables naming the binaries.
const (
	EnvKubeAPIServer         = "VIGIL_KUBE_APISERVER"
	EnvEtcd                  = "VIGIL_ETCD"
	EnvKubelet               = "VIGIL_KUBELET"
	EnvKubeControllerManager = "VIGIL_KUBE_CONTROLLER_MANAGER"
	EnvKubeScheduler         = "VIGIL_KUBE_SCHEDULER"
)

// NodeName is the node's name (the kubelet's --hostname-override): kube-apiserver reaches
// the kubelet by it, on loopback.
const NodeName = "localhost"

// PauseImage is the sandbox image the harness's containerd uses; the caller imports it
// (ImportImage) before pods start.
const PauseImage = "vigil.local/pause:test"

// Time bounds.
const (
	startTimeout   = 90 * time.Second
	commandTimeout = 60 * time.Second
	stopTimeout    = 10 * time.Second
)

const token = "vigil-node-test-token"

// Binaries are the programs the node runs.
type Binaries struct {
	APIServer, Etcd, Kubelet, ControllerManager, Scheduler string
	Containerd, Ctr                                        string
}

// TB is the part of testing.TB the harness uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Logf(format string, args ...any)
}

// LookupBinaries reads the binaries from the environment. It skips the test when they are
// missing, or fails it when CI=true (CI never passes without the node test).
func LookupBinaries(t TB) Binaries {
	t.Helper()
	b := Binaries{
		APIServer: os.Getenv(EnvKubeAPIServer), Etcd: os.Getenv(EnvEtcd), Kubelet: os.Getenv(EnvKubelet),
		ControllerManager: os.Getenv(EnvKubeControllerManager), Scheduler: os.Getenv(EnvKubeScheduler),
	}
	var why []string
	for env, p := range map[string]string{EnvKubeAPIServer: b.APIServer, EnvEtcd: b.Etcd, EnvKubelet: b.Kubelet,
		EnvKubeControllerManager: b.ControllerManager, EnvKubeScheduler: b.Scheduler} {
		if p == "" {
			why = append(why, env+" is unset")
		} else if _, err := os.Stat(p); err != nil {
			why = append(why, env+": "+err.Error())
		}
	}
	for _, tool := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "runc"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			why = append(why, tool+" not found (Debian: apt-get install containerd runc)")
		}
		switch tool {
		case "containerd":
			b.Containerd = p
		case "ctr":
			b.Ctr = p
		}
	}
	if os.Geteuid() != 0 {
		why = append(why, "needs root")
	}
	if len(why) == 0 {
		return b
	}
	sort.Strings(why)
	msg := "real-node test: " + strings.Join(why, "; ") + " (.ci/k8s/build-kube-node.sh builds the Kubernetes binaries)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s, and CI=true forbids skipping it", msg)
	}
	t.Skipf("%s", msg)
	return b
}

// Node is a running single-node cluster.
type Node struct {
	bin       Binaries
	dir       string
	procs     []*proc // started processes, in start order
	crioSock  string
	etcdURL   string
	apiPort   int
	chains    map[string]bool // iptables chains present before the kubelet started
	kubepods  bool            // a kubepods cgroup existed before
	closeOnce sync.Once

	// URL is the API server's https URL; Kubeconfig a kubeconfig file for it (token auth).
	URL        string
	Kubeconfig string
	Token      string
	// StaticPodDir is the kubelet's staticPodPath.
	StaticPodDir string
	// Dir is the node's temporary directory.
	Dir string
}

type proc struct {
	name   string
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
}

// Start starts the cluster. The caller must call Close (also on failure paths: Start
// cleans up itself when it fails).
func Start(t TB, bin Binaries) (*Node, error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "vigil-node-")
	if err != nil {
		return nil, fmt.Errorf("node harness: %w", err)
	}
	n := &Node{bin: bin, dir: dir, Dir: dir, Token: token, StaticPodDir: filepath.Join(dir, "manifests")}
	n.chains = iptablesChains()
	_, err = os.Stat("/sys/fs/cgroup/unified/kubepods")
	n.kubepods = err == nil
	if err := n.start(t); err != nil {
		return nil, errors.Join(err, n.Close())
	}
	return n, nil
}

func (n *Node) start(t TB) error {
	for _, d := range []string{"etcd", "certs", "manifests", "kubelet", "containerd/root", "containerd/state", "cni/conf", "cni/bin", "pod-logs"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o700); err != nil {
			return fmt.Errorf("node harness: %w", err)
		}
	}
	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	etcdPeer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	n.etcdURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	if err := n.run("etcd", n.bin.Etcd, kubeapiserver.EtcdArgs(n.dir, n.etcdURL, etcdPeer)...); err != nil {
		return err
	}
	if err := n.waitHTTP("etcd", n.etcdURL+"/health", false); err != nil {
		return err
	}

	if err := kubeapiserver.WriteAuth(n.dir, token); err != nil {
		return fmt.Errorf("node harness: %w", err)
	}
	n.apiPort = ports[2]
	n.URL = "https://127.0.0.1:" + strconv.Itoa(n.apiPort)
	n.Kubeconfig = filepath.Join(n.dir, "kubeconfig")
	if err := writeFile(n.Kubeconfig, n.KubeconfigText()); err != nil {
		return err
	}
	if err := n.run("kube-apiserver", n.bin.APIServer, kubeapiserver.APIServerArgs(n.dir, n.etcdURL, n.apiPort,
		"--allow-privileged=true",
		// kubectl exec / logs reach the kubelet by the node's name (localhost), on loopback.
		"--kubelet-preferred-address-types=Hostname",
	)...); err != nil {
		return err
	}
	if err := n.waitHTTP("kube-apiserver", n.URL+"/readyz", true); err != nil {
		return err
	}
	if err := n.run("kube-controller-manager", n.bin.ControllerManager,
		"--kubeconfig="+n.Kubeconfig, "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[3]),
		"--leader-elect=false", "--controllers=daemonset,garbagecollector,namespace,podgc",
		"--use-service-account-credentials=false"); err != nil {
		return err
	}
	if err := n.run("kube-scheduler", n.bin.Scheduler,
		"--kubeconfig="+n.Kubeconfig, "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[4]),
		"--leader-elect=false"); err != nil {
		return err
	}

	// containerd with its CRI plugin. A CNI configuration makes the runtime report its
	// network ready; it is never used, as only hostNetwork pods run here.
	if err := writeFile(filepath.Join(n.dir, "cni/conf/10-vigil.conflist"),
		`{"cniVersion":"0.4.0","name":"vigil-unused","plugins":[{"type":"loopback"}]}`); err != nil {
		return err
	}
	n.crioSock = filepath.Join(n.dir, "containerd.sock")
	conf := containerd.Config{Root: filepath.Join(n.dir, "containerd/root"), State: filepath.Join(n.dir, "containerd/state"),
		Socket: n.crioSock, Plugins: fmt.Sprintf(`[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # This machine withholds CAP_SYS_RESOURCE: lowering oom_score_adj would fail every sandbox.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
`, PauseImage, filepath.Join(n.dir, "cni/bin"), filepath.Join(n.dir, "cni/conf"))}.TOML()
	if err := writeFile(filepath.Join(n.dir, "containerd.toml"), conf); err != nil {
		return err
	}
	if err := n.run("containerd", n.bin.Containerd, "--config", filepath.Join(n.dir, "containerd.toml")); err != nil {
		return err
	}
	if err := n.waitFor("containerd", func() error {
		_, err := n.Ctr("version")
		return err
	}); err != nil {
		return err
	}
	t.Logf("node: control plane and containerd up")
	return nil
}

// StartKubelet starts the kubelet, once the images it needs (PauseImage) are imported, and
// waits for the node to be Ready.
func (n *Node) StartKubelet() error {
	kcfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
staticPodPath: %q
podLogsDir: %q
containerRuntimeEndpoint: unix://%s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {"memory.available": "1Mi", "nodefs.available": "1%%", "imagefs.available": "1%%"}
resolvConf: ""
syncFrequency: 5s
fileCheckFrequency: 2s
`, mustFreePort(), n.StaticPodDir, filepath.Join(n.dir, "pod-logs"), n.crioSock)
	cfgPath := filepath.Join(n.dir, "kubelet.yaml")
	if err := writeFile(cfgPath, kcfg); err != nil {
		return err
	}
	if err := n.run("kubelet", n.bin.Kubelet, "--config="+cfgPath, "--kubeconfig="+n.Kubeconfig,
		"--root-dir="+filepath.Join(n.dir, "kubelet"), "--cert-dir="+filepath.Join(n.dir, "kubelet", "pki"),
		"--hostname-override="+NodeName, "--v=1"); err != nil {
		return err
	}
	return nil
}

// KubeconfigText is a kubeconfig for the API server (token auth, no CA check).
func (n *Node) KubeconfigText() string { return kubeapiserver.Kubeconfig(n.URL, token) }

// Ctr runs ctr in containerd's k8s.io namespace (the CRI's).
func (n *Node) Ctr(args ...string) (string, error) {
	return containerd.Ctr(n.bin.Ctr, n.crioSock, "k8s.io", commandTimeout, args...)
}

// ImportImage imports an image archive (docker or OCI) into the CRI's image store.
func (n *Node) ImportImage(path string) error {
	_, err := n.Ctr("image", "import", "--no-unpack=false", path)
	return err
}

// Kubectl runs kubectl against the API server.
func (n *Node) Kubectl(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", n.Kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Log returns the tail of one component's log (etcd, kube-apiserver, kubelet, ...).
func (n *Node) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(n.dir, name+".log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// Exited reports a component that is no longer running, "" when all run.
func (n *Node) Exited() string {
	for _, p := range n.procs {
		select {
		case <-p.exited:
			return p.name
		default:
		}
	}
	return ""
}

func (n *Node) run(name, bin string, args ...string) error {
	log, err := os.Create(filepath.Join(n.dir, name+".log"))
	if err != nil {
		return fmt.Errorf("node harness: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so that nothing it starts outlives Close.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("node harness: starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	n.procs = append(n.procs, p)
	return nil
}

func (n *Node) waitHTTP(name, url string, auth bool) error {
	client := kubeapiserver.Client()
	defer client.CloseIdleConnections()
	bearer := ""
	if auth {
		bearer = token
	}
	return n.waitFor(name, func() error { return kubeapiserver.Healthy(client, url, bearer) })
}

// waitFor polls check until it succeeds, a component exits or startTimeout passes.
func (n *Node) waitFor(what string, check func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if name := n.Exited(); name != "" {
			return fmt.Errorf("node harness: %s exited while waiting for %s:\n%s", name, what, n.Log(name))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node harness: waiting for %s: %w", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Close stops everything and removes what the node created. Safe to call more than once.
func (n *Node) Close() error {
	var errs []error
	n.closeOnce.Do(func() { errs = n.close() })
	return errors.Join(errs...)
}

func (n *Node) close() []error {
	var errs []error
	stop := func(name string) {
		for _, p := range n.procs {
			if p.name != name {
				continue
			}
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(stopTimeout):
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.exited
			}
			_ = p.log.Close()
		}
	}
	// The kubelet first (it would restart what we stop), then the containers through
	// containerd, then containerd and the control plane.
	stop("kubelet")
	containers := n.containerIDs()
	if n.running("containerd") {
		for _, id := range containers {
			_, _ = n.Ctr("task", "kill", "-s", "SIGKILL", id)
		}
		for _, id := range containers {
			n.deleteTask(id)
			_, _ = n.Ctr("container", "delete", id)
		}
	}
	// Whatever survived: processes in the pods' cgroups, and our shims, by pid.
	for _, pid := range n.podPIDs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range n.shimPIDs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, name := range []string{"containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		stop(name)
	}
	for _, id := range containers {
		_ = os.RemoveAll(filepath.Join("/run/containerd/io.containerd.runtime.v2.task/k8s.io", id))
	}
	for _, id := range containers {
		_ = os.Remove(n.shimSocket(id))
	}
	if err := n.removePodCgroups(); err != nil {
		errs = append(errs, err)
	}
	if err := containerd.UnmountUnder(n.dir); err != nil {
		errs = append(errs, fmt.Errorf("node harness: %w", err))
	}
	// What the kubelet writes outside its root directory.
	for _, d := range []string{"/var/lib/kubelet/pki", "/var/lib/kubelet/device-plugins", "/var/lib/kubelet/plugins_registry",
		"/var/lib/kubelet/plugins", "/var/lib/kubelet/pod-resources", "/var/log/pods"} {
		_ = os.RemoveAll(d)
	}
	_ = os.Remove("/var/lib/kubelet")
	if ents, err := os.ReadDir("/var/log/containers"); err == nil {
		for _, e := range ents {
			if l, err := os.Readlink(filepath.Join("/var/log/containers", e.Name())); err == nil &&
				(strings.HasPrefix(l, n.dir) || strings.HasPrefix(l, "/var/log/pods/")) {
				_ = os.Remove(filepath.Join("/var/log/containers", e.Name()))
			}
		}
		_ = os.Remove("/var/log/containers")
	}
	errs = append(errs, n.removeIptablesChains()...)
	if err := os.RemoveAll(n.dir); err != nil {
		errs = append(errs, fmt.Errorf("node harness: removing %s: %w", n.dir, err))
	}
	return errs
}

func (n *Node) running(name string) bool {
	for _, p := range n.procs {
		if p.name == name {
			select {
			case <-p.exited:
				return false
			default:
				return true
			}
		}
	}
	return false
}

func (n *Node) containerIDs() []string {
	if !n.running("containerd") {
		return nil
	}
	out, err := n.Ctr("container", "ls", "-q")
	if err != nil {
		return nil
	}
	return strings.Fields(out)
}

func (n *Node) deleteTask(id string) {
	deadline := time.Now().Add(stopTimeout)
	for time.Now().Before(deadline) {
		_, err := n.Ctr("task", "delete", id)
		if err == nil || strings.Contains(err.Error(), "not found") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shimSocket is where containerd puts the shim socket of a container.
func (n *Node) shimSocket(id string) string { return containerd.ShimSocket(n.crioSock, "k8s.io", id) }

// shimPIDs finds this containerd's shims by its socket (k8s.io is any CRI's namespace).
func (n *Node) shimPIDs() []int { return containerd.ShimPIDs(n.crioSock, "") }

// kubepodsDirs are the kubelet's pod cgroup roots in every mounted hierarchy.
func kubepodsDirs() []string {
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("/sys/fs/cgroup", e.Name(), "kubepods"))
		}
	}
	return append(dirs, "/sys/fs/cgroup/kubepods")
}

func (n *Node) podPIDs() []int {
	if n.kubepods {
		return nil // not ours to empty: a kubelet ran here before
	}
	var pids []int
	for _, root := range kubepodsDirs() {
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil //nolint:nilerr // gone
			}
			b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			if err != nil {
				return nil //nolint:nilerr // gone
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 && !slices.Contains(pids, pid) {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// removePodCgroups removes the kubelet's cgroup trees (deepest first), with bounded retries
// while killed processes leave them.
func (n *Node) removePodCgroups() error {
	if n.kubepods {
		return nil
	}
	var last error
	for _, root := range kubepodsDirs() {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := containerd.RemoveCgroup(d); err != nil {
				last = fmt.Errorf("node harness: %w", err)
			}
		}
	}
	return last
}

// The iptables chains the kubelet adds, in the tables it adds them to.
var kubeletChains = []string{"KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"}

func iptablesTools() []string {
	var tools []string
	for _, t := range []string{"iptables", "ip6tables"} {
		if p, err := exec.LookPath(t); err == nil {
			tools = append(tools, p)
		}
	}
	return tools
}

// iptablesChains lists the kubelet's chains that exist now ("tool table chain").
func iptablesChains() map[string]bool {
	have := map[string]bool{}
	for _, tool := range iptablesTools() {
		for _, table := range []string{"filter", "nat", "mangle"} {
			out, err := exec.Command(tool, "-w", "5", "-t", table, "-S").Output()
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) == 2 && f[0] == "-N" && slices.Contains(kubeletChains, f[1]) {
					have[tool+" "+table+" "+f[1]] = true
				}
			}
		}
	}
	return have
}

// removeIptablesChains removes the kubelet's chains that were not there before: first the
// rules jumping to them, then their rules, then the chains.
func (n *Node) removeIptablesChains() []error {
	var errs []error
	for key := range iptablesChains() {
		if n.chains[key] {
			continue
		}
		f := strings.Fields(key)
		tool, table, chain := f[0], f[1], f[2]
		out, _ := exec.Command(tool, "-w", "5", "-t", table, "-S").Output()
		for _, line := range strings.Split(string(out), "\n") {
			r := strings.Fields(line)
			if len(r) > 2 && r[0] == "-A" && slices.Contains(r, "-j") && r[slices.Index(r, "-j")+1] == chain {
				del := append([]string{"-w", "5", "-t", table, "-D"}, r[1:]...)
				if o, err := exec.Command(tool, del...).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("node harness: %s %v: %w: %s", tool, del, err, o))
				}
			}
		}
		for _, op := range []string{"-F", "-X"} {
			if o, err := exec.Command(tool, "-w", "5", "-t", table, op, chain).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("node harness: %s -t %s %s %s: %w: %s", tool, table, op, chain, err, o))
			}
		}
	}
	return errs
}

func writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("node harness: writing %s: %w", path, err)
	}
	return nil
}

func freePorts(k int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range k {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("node harness: finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func mustFreePort() int {
	p, err := freePorts(1)
	if err != nil {
		return 10250
	}
	return p[0]
}
