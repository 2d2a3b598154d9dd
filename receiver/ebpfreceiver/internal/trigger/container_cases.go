//go:build linux

package trigger

import (
	"os"
	"path/filepath"
	"strings"
)

// containerCases are the tests of the container rules: vigil-trigger runs them inside a
// container (the end-to-end harness starts it in one with containerd); outside one each
// action returns ErrNeedsContainer.
func containerCases() []Case {
	ct := shapeCtrTrigger
	priv := &proc{name: ct.name, exepath: ct.exepath, args: ct.args, parent: shapeShim, container: true, privileged: true}
	h := func(name, args string, parent *proc) *proc { return helperProc(name, args, parent) }
	var cs []Case
	{
		nc := h("nc", "-e /bin/true 127.0.0.1 9", ct)
		ncz := h("nc", "-z 127.0.0.1 9", ct)
		const rule = "Netcat Remote Code Execution in Container"
		cs = append(cs, Case{
			Name: "netcat-exec-container", Rule: rule, Container: true,
			Does:      "in a container, a helper named nc is started as `nc -e /bin/true 127.0.0.1 9` (it only exits)",
			LooksLike: "nc -z 127.0.0.1 9",
			Action: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return e.run(helperRun{name: "nc", args: []string{"-e", "/bin/true", "127.0.0.1", "9"}, op: "exit"})
			},
			LookAlike: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return e.run(helperRun{name: "nc", args: []string{"-z", "127.0.0.1", "9"}, op: "exit"})
			},
			Events:          []Event{execEv(nc, rule)},
			LookAlikeEvents: []Event{execEv(ncz)},
		})
	}
	{
		worker := h("worker", "", ct)
		tru := child("true", "/usr/bin/true", "", worker)
		sh := child("sh", "/usr/bin/dash", "-c exit 0", worker)
		sh.exe = "/bin/sh"
		const rule = "Redirect STDOUT/STDIN to Network Connection in Container"
		cs = append(cs, Case{
			Name: "redirect-socket-container", Rule: rule, Container: true,
			Does:      "in a container, a helper connects to a listener on 127.0.0.1 and runs sh -c 'exit 0' on the connection",
			LooksLike: "the helper runs /bin/true with a pipe as its standard input",
			Action: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				addr, _, stop, err := listen()
				if err != nil {
					return err
				}
				defer stop()
				return e.run(helperRun{name: "worker", op: "revshell", arg: addr})
			},
			LookAlike: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return e.run(helperRun{name: "worker", op: "pipeshell"})
			},
			Events: []Event{execEv(worker), connectEv(worker, "127.0.0.1", 41004),
				dupEv(worker, "ipv4", 0, rule), dupEv(worker, "ipv4", 1, rule), execEv(sh)},
			LookAlikeEvents: []Event{execEv(worker), dupEv(worker, "pipe", 0), execEv(tru)},
		})
	}
	{
		worker := h("worker", "", ct)
		const rule = "Packet socket created in container"
		sock := func(domain string, fires ...string) Event {
			return ev("network.socket", worker, []string{"evt.type=socket", "evt.arg.domain=" + domain,
				"evt.arg.type=SOCK_RAW", "evt.arg.proto=0", "fd.l4proto=raw"}, fires...)
		}
		cs = append(cs, Case{
			Name: "packet-socket-container", Rule: rule, Container: true,
			Does:      "in a container (with CAP_NET_RAW), a helper opens an AF_PACKET socket and closes it",
			LooksLike: "the helper connects to a loopback listener (an ordinary AF_INET socket)",
			Action: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return e.run(helperRun{name: "worker", op: "socket-packet"})
			},
			LookAlike: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return connectAs(e, "worker")
			},
			Events:          []Event{execEv(worker), sock("AF_PACKET", rule)},
			LookAlikeEvents: []Event{execEv(worker), sock("AF_INET"), connectEv(worker, "127.0.0.1", 41005)},
		})
	}
	{
		dbg := h("debugfs", "-R stats /dev/null", priv)
		unpriv := h("debugfs", "-R stats /dev/null", ct)
		const rule = "Debugfs Launched in Privileged Container"
		cs = append(cs, Case{
			Name: "debugfs-privileged-container", Rule: rule, Container: true,
			Does:      "in a privileged container, a helper named debugfs runs and exits (no device is opened)",
			LooksLike: "the same in an unprivileged container",
			Action: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return e.run(helperRun{name: "debugfs", args: []string{"-R", "stats", "/dev/null"}, op: "exit"})
			},
			LookAlike: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return e.run(helperRun{name: "debugfs", args: []string{"-R", "stats", "/dev/null"}, op: "exit"})
			},
			Events:          []Event{execEv(dbg, rule)},
			LookAlikeEvents: []Event{execEv(unpriv)},
		})
	}
	{
		const rule = "Detect release_agent File Container Escapes"
		p := shapeTmpDir + "/release_agent"
		q := shapeTmpDir + "/notify_on_release"
		cs = append(cs, Case{
			Name: "release-agent-container", Rule: rule, Container: true,
			Does:      "in a privileged container, creates TMPDIR/release_agent and opens it for writing (no cgroup file is touched)",
			LooksLike: "the same with TMPDIR/notify_on_release",
			Action: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return createAndWrite("release_agent")
			},
			LookAlike: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return createAndWrite("notify_on_release")
			},
			Events: []Event{openEv(priv, p, p, false, true, "O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC", rule),
				openEv(priv, p, p, false, true, "O_WRONLY|O_CLOEXEC", rule)},
			LookAlikeEvents: []Event{openEv(priv, q, q, false, true, "O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC"),
				openEv(priv, q, q, false, true, "O_WRONLY|O_CLOEXEC")},
		})
	}
	{
		const rule = "Drop and execute new binary in container"
		dropped := child("true", "/var/lib/vigil-trigger-1/true", "", ct)
		dropped.extra = []string{"proc.is_exe_upper_layer=true"}
		img := child("true", "/usr/bin/true", "", ct)
		cs = append(cs, Case{
			Name: "drop-and-execute-container", Rule: rule, Container: true,
			Does:      "in a container, copies /bin/true into a new directory of the container's file system and runs it",
			LooksLike: "runs /bin/true from the image",
			Action: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				d, err := os.MkdirTemp("/var/lib", "vigil-trigger-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				p := filepath.Join(d, "true")
				if err := copyFile("/bin/true", p, 0o700); err != nil {
					return err
				}
				return run("", 0, p)
			},
			LookAlike: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return run("", 0, "/bin/true")
			},
			Events:          []Event{execEv(dropped, rule)},
			LookAlikeEvents: []Event{execEv(img)},
		})
	}
	{
		const rule = "Linux Kernel Module Injection Detected"
		worker := h("worker", "", priv)
		mod := ev("kernel.module_load", worker, []string{"evt.type=finit_module", "fd.name=" + shapeHelperDir + "/not-a-module.ko",
			"evt.failed=true", "evt.res=ENOEXEC"}, rule)
		cs = append(cs, Case{
			Name: "kernel-module-container", Rule: rule, Container: true,
			Does:      "in a container with CAP_SYS_MODULE, a helper asks finit_module to load a file that is not a module (refused, or the call refused on a kernel without module loading; nothing loads)",
			LooksLike: "the helper only reads the file",
			Action: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return finitAs(e, "worker")
			},
			LookAlike: func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				p := filepath.Join(e.Dir, "not-a-module.ko")
				if err := createFile(p, []byte("this is not a kernel module\n"), 0o600); err != nil && !os.IsExist(err) {
					return err
				}
				return e.run(helperRun{name: "worker", op: "open", arg: p})
			},
			Events: []Event{execEv(worker), mod},
			LookAlikeEvents: []Event{execEv(worker), openEv(worker, shapeHelperDir+"/not-a-module.ko",
				shapeHelperDir+"/not-a-module.ko", true, false, "O_RDONLY|O_CLOEXEC")},
		})
	}
	{
		const rule = "Terminal shell in container"
		tty := &proc{name: "bash", exepath: "/usr/bin/bash", args: "", parent: &proc{name: "runc:[2:INIT]", exepath: "/usr/bin/runc", parent: shapeShim}, container: true}
		tty.extra = []string{"proc.tty=34816"}
		entry := &proc{name: "sh", exepath: "/usr/bin/dash", exe: "/bin/sh", args: "-c /entrypoint.sh", parent: shapeShim, container: true}
		cs = append(cs, Case{
			Name: "terminal-shell-container", Rule: rule, Container: true,
			Does:            "an interactive shell exec'd into a running container by the runtime",
			LooksLike:       "the container's entrypoint shell (no terminal)",
			Manual:          "ctr task exec -t --exec-id vigil-trigger CONTAINER sh -c 'exit 0' (or kubectl exec -it POD -- sh -c 'exit 0')",
			LookAlikeManual: "ctr run IMAGE vigil-lookalike sh -c 'exit 0' (a container whose entrypoint is a shell, no terminal)",
			Action:          func(*Env) error { return ErrExternal },
			LookAlike:       func(*Env) error { return ErrExternal },
			Events:          []Event{execEv(tty, rule)},
			LookAlikeEvents: []Event{execEv(entry)},
		})
	}
	{
		const rule = "Contact K8S API Server From Container"
		curlArgs := []string{"-sk", "https://kubernetes.default.svc/version"}
		curl := h("curl", strings.Join(curlArgs, " "), ct)
		const api, other = "10.96.0.1:443", "10.96.0.10:443"
		// connectTo runs the helper named curl connecting to addr in a network namespace of its own.
		connectTo := func(addr string) func(*Env) error {
			return func(e *Env) error {
				if err := needContainer(e); err != nil {
					return err
				}
				return e.run(helperRun{name: "curl", args: curlArgs, op: "netns-connect", arg: addr})
			}
		}
		cs = append(cs, Case{
			Name: "k8s-api-from-container", Rule: rule, Container: true,
			Does: "in a container (with CAP_SYS_ADMIN and CAP_NET_ADMIN), a helper named curl makes a network namespace of its own " +
				"with " + api + " (the kubernetes Service on kubeadm) on its loopback, and connects to it there: no packet leaves that namespace",
			LooksLike:       "the same to " + other + " (another Service on port 443)",
			Action:          connectTo(api),
			LookAlike:       connectTo(other),
			Events:          []Event{execEv(curl), connectEv(curl, "10.96.0.1", 443, rule)},
			LookAlikeEvents: []Event{execEv(curl), connectEv(curl, "10.96.0.10", 443)},
		})
	}
	return cs
}

func createAndWrite(name string) error {
	return withTemp(func(d string) error {
		p := filepath.Join(d, name)
		if err := createFile(p, nil, 0o600); err != nil {
			return err
		}
		return openFlags(p, os.O_WRONLY)
	})
}
