//go:build linux

package trigger

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Case is one detection test: an action that must fire Rule and a look-alike that must fire
// nothing, with the events each produces.
type Case struct {
	Name string
	// Rule is the default-pack rule the action proves.
	Rule string
	// Container: the action only means something inside a container.
	Container bool
	// Does and LooksLike say what the action and the look-alike do.
	Does, LooksLike string
	// Manual and LookAlikeManual, when set, are the steps to run outside vigil-trigger (the
	// action and the look-alike return ErrExternal).
	Manual, LookAlikeManual string
	Action                  func(*Env) error
	LookAlike               func(*Env) error
	// Events and LookAlikeEvents are the events the action and the look-alike produce, each
	// with the rules it fires.
	Events, LookAlikeEvents []Event
}

// actionTimeout bounds the program runs of an action.
const actionTimeout = 15 * time.Second

// run runs a program and waits (a non-zero exit is not an error: grep finding nothing).
func run(dir string, uid int, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if uid > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil && !errors.As(err, new(*exec.ExitError)) {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// withTemp runs f in a fresh directory under the system temporary directory, then removes it.
func withTemp(f func(dir string) error) error {
	dir, err := os.MkdirTemp("", "vigil-trigger-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return f(dir)
}

// listen starts a loopback listener that accepts and closes connections until stopped.
func listen() (addr string, port int, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 64)
			_, _ = c.Read(buf) // until the peer closes or the deadline
			c.Close()
		}
	}()
	return l.Addr().String(), l.Addr().(*net.TCPAddr).Port, func() { l.Close(); <-done }, nil
}

// createFile creates path exclusively (no O_TRUNC) with content.
func createFile(path string, content []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func openFlags(path string, flags int) error {
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

func needContainer(e *Env) error {
	if !e.InContainer {
		return ErrNeedsContainer
	}
	return nil
}

func nul(s ...string) string { return strings.Join(s, argSep) }

// Cases returns the detection tests, one or more per rule of the default pack.
func Cases() []Case {
	trig := shapeTrigger
	tmp := shapeTmpDir
	h := func(name, args string) *proc { return helperProc(name, args, trig) }
	var cs []Case

	// --- the compromised web application -------------------------------------------------
	{
		nginx := h("nginx", "")
		sh := child("sh", "/usr/bin/dash", "-c exit 0", nginx)
		sh.exe = "/bin/sh"
		tru := child("true", "/usr/bin/true", "", nginx)
		cs = append(cs, Case{
			Name: "shell-from-web-server", Rule: "Run shell untrusted",
			Does:      "a helper named nginx runs sh -c 'exit 0'",
			LooksLike: "the same nginx runs /bin/true (a program, not a shell)",
			Action: func(e *Env) error {
				return e.run(helperRun{name: "nginx", op: "exec", arg: nul("/bin/sh", "-c", "exit 0")})
			},
			LookAlike: func(e *Env) error {
				return e.run(helperRun{name: "nginx", op: "exec", arg: "/bin/true"})
			},
			Events:          []Event{execEv(nginx), execEv(sh, "Run shell untrusted")},
			LookAlikeEvents: []Event{execEv(nginx), execEv(tru)},
		})
	}
	{
		node := h("node", "")
		sh := child("sh", "/usr/bin/dash", "-c exit 0", node)
		sh.exe = "/bin/sh"
		tru := child("true", "/usr/bin/true", "", node)
		cs = append(cs, Case{
			Name: "shell-from-node", Rule: "Node.js process spawned a shell",
			Does:      "a helper named node runs sh -c 'exit 0'",
			LooksLike: "the same node runs /bin/true",
			Action: func(e *Env) error {
				return e.run(helperRun{name: "node", op: "exec", arg: nul("/bin/sh", "-c", "exit 0")})
			},
			LookAlike: func(e *Env) error {
				return e.run(helperRun{name: "node", op: "exec", arg: "/bin/true"})
			},
			Events:          []Event{execEv(node), execEv(sh, "Node.js process spawned a shell")},
			LookAlikeEvents: []Event{execEv(node), execEv(tru)},
		})
	}
	{
		const port = 41000
		addr := "127.0.0.1:" + strconv.Itoa(port)
		nginx := h("nginx", "")
		sh := child("sh", "/usr/bin/dash", `-c "$0" "$1"; exit $? `+shapeHelperDir+"/curl "+addr, nginx)
		sh.exe = "/bin/sh"
		curl := child("curl", shapeHelperDir+"/curl", addr, sh)
		nginx2 := h("nginx", "")
		cs = append(cs, Case{
			Name: "web-shell-internal-connect", Rule: "Web application shell connected to an internal service",
			Does:      "a helper named nginx runs a shell that runs a helper named curl, which connects to a listener of vigil-trigger on 127.0.0.1",
			LooksLike: "nginx itself connects to the same listener (a reverse proxy reaching its upstream)",
			Action: func(e *Env) error {
				addr, _, stop, err := listen()
				if err != nil {
					return err
				}
				defer stop()
				curl, err := e.helper("curl")
				if err != nil {
					return err
				}
				return e.run(helperRun{name: "nginx", op: "exec",
					arg: nul("/bin/sh", "-c", `"$0" "$1"; exit $?`, curl, addr),
					env: helperEnvFor("curl", "connect", addr)})
			},
			LookAlike: func(e *Env) error {
				addr, _, stop, err := listen()
				if err != nil {
					return err
				}
				defer stop()
				return e.run(helperRun{name: "nginx", op: "connect", arg: addr})
			},
			Events: []Event{execEv(nginx), execEv(sh, "Run shell untrusted"), execEv(curl),
				connectEv(curl, "127.0.0.1", port, "Web application shell connected to an internal service")},
			LookAlikeEvents: []Event{execEv(nginx2), connectEv(nginx2, "127.0.0.1", port)},
		})
	}
	{
		nginx := h("nginx", "")
		sh := child("sh", "/usr/bin/dash", "-c exit 0", nginx)
		sh.exe = "/bin/sh"
		worker := h("worker", "")
		tru := child("true", "/usr/bin/true", "", worker)
		const rule = "Reverse shell standard input or output on a network socket"
		cs = append(cs, Case{
			Name: "reverse-shell", Rule: rule,
			Does:      "a helper named nginx connects to a listener of vigil-trigger on 127.0.0.1 and runs sh -c 'exit 0' with the connection as its standard input and output",
			LooksLike: "a helper runs /bin/true with a pipe as its standard input",
			Action: func(e *Env) error {
				addr, _, stop, err := listen()
				if err != nil {
					return err
				}
				defer stop()
				return e.run(helperRun{name: "nginx", op: "revshell", arg: addr})
			},
			LookAlike: func(e *Env) error { return e.run(helperRun{name: "worker", op: "pipeshell"}) },
			Events: []Event{execEv(nginx), connectEv(nginx, "127.0.0.1", 41001),
				dupEv(nginx, "ipv4", 0, rule), dupEv(nginx, "ipv4", 1, rule), execEv(sh, "Run shell untrusted")},
			LookAlikeEvents: []Event{execEv(worker), dupEv(worker, "pipe", 0), execEv(tru)},
		})
	}
	{
		nc := h("nc", "-e /bin/true 127.0.0.1 9")
		ncz := h("nc", "-z 127.0.0.1 9")
		cs = append(cs, Case{
			Name: "netcat-exec", Rule: "Netcat with command execution",
			Does:      "a helper named nc is started as `nc -e /bin/true 127.0.0.1 9` (it only exits)",
			LooksLike: "nc -z 127.0.0.1 9 (a port probe)",
			Action: func(e *Env) error {
				return e.run(helperRun{name: "nc", args: []string{"-e", "/bin/true", "127.0.0.1", "9"}, op: "exit"})
			},
			LookAlike: func(e *Env) error {
				return e.run(helperRun{name: "nc", args: []string{"-z", "127.0.0.1", "9"}, op: "exit"})
			},
			Events:          []Event{execEv(nc, "Netcat with command execution")},
			LookAlikeEvents: []Event{execEv(ncz)},
		})
	}

	// --- processes --------------------------------------------------------------------------
	{
		find := child("find", "/usr/bin/find", tmp+" -name id_rsa", trig)
		find2 := child("find", "/usr/bin/find", tmp+" -name notes.txt", trig)
		cs = append(cs, Case{
			Name: "search-private-keys", Rule: "Search Private Keys or Passwords",
			Does: "find TMPDIR -name id_rsa (an empty temporary directory)", LooksLike: "find TMPDIR -name notes.txt",
			Action: func(*Env) error {
				return withTemp(func(d string) error { return run("", 0, "find", d, "-name", "id_rsa") })
			},
			LookAlike: func(*Env) error {
				return withTemp(func(d string) error { return run("", 0, "find", d, "-name", "notes.txt") })
			},
			Events:          []Event{execEv(find, "Search Private Keys or Passwords")},
			LookAlikeEvents: []Event{execEv(find2)},
		})
	}
	{
		grep := child("grep", "/usr/bin/grep", "-r -l aws_secret_access_key "+tmp, trig)
		grep2 := child("grep", "/usr/bin/grep", "-r -l access_key_rotation "+tmp, trig)
		find := child("find", "/usr/bin/find", tmp+" -path */.aws/credentials", trig)
		cs = append(cs, Case{
			Name: "find-aws-credentials", Rule: "Find AWS Credentials",
			Does:      "grep -r -l aws_secret_access_key TMPDIR, then find TMPDIR -path '*/.aws/credentials'",
			LooksLike: "grep -r -l access_key_rotation TMPDIR",
			Action: func(*Env) error {
				return withTemp(func(d string) error {
					if err := run("", 0, "grep", "-r", "-l", "aws_secret_access_key", d); err != nil {
						return err
					}
					return run("", 0, "find", d, "-path", "*/.aws/credentials")
				})
			},
			LookAlike: func(*Env) error {
				return withTemp(func(d string) error { return run("", 0, "grep", "-r", "-l", "access_key_rotation", d) })
			},
			Events:          []Event{execEv(grep, "Find AWS Credentials"), execEv(find, "Find AWS Credentials")},
			LookAlikeEvents: []Event{execEv(grep2)},
		})
	}
	{
		shred := child("shred", "/usr/bin/shred", "-u -n 1 "+tmp+"/data", trig)
		rm := child("rm", "/usr/bin/rm", "-rf "+tmp, trig)
		cs = append(cs, Case{
			Name: "remove-bulk-data", Rule: "Remove Bulk Data from Disk",
			Does: "shred -u -n 1 on a file vigil-trigger created", LooksLike: "rm -rf of a temporary directory",
			Action: func(*Env) error {
				return withTemp(func(d string) error {
					p := filepath.Join(d, "data")
					if err := createFile(p, []byte("vigil-trigger\n"), 0o600); err != nil {
						return err
					}
					return run("", 0, "shred", "-u", "-n", "1", p)
				})
			},
			LookAlike: func(*Env) error {
				d, err := os.MkdirTemp("", "vigil-trigger-")
				if err != nil {
					return err
				}
				return run("", 0, "rm", "-rf", d)
			},
			Events:          []Event{execEv(shred, "Remove Bulk Data from Disk")},
			LookAlikeEvents: []Event{execEv(rm)},
		})
	}
	{
		shm := child("vigil-trigger-1", "/dev/shm/vigil-trigger-1", "", trig)
		tru := child("true", "/usr/bin/true", "", trig)
		tru.cwd = "/dev/shm/"
		cs = append(cs, Case{
			Name: "exec-dev-shm", Rule: "Execution from /dev/shm",
			Does: "copies /bin/true to /dev/shm, runs it, removes it", LooksLike: "runs /bin/true with /dev/shm as its working directory",
			Action: func(*Env) error {
				f, err := os.CreateTemp("/dev/shm", "vigil-trigger-")
				if err != nil {
					return err
				}
				p := f.Name()
				f.Close()
				defer os.Remove(p)
				if err := os.Remove(p); err != nil {
					return err
				}
				if err := copyFile("/bin/true", p, 0o700); err != nil {
					return err
				}
				return run("", 0, p)
			},
			LookAlike:       func(*Env) error { return run("/dev/shm", 0, "/bin/true") },
			Events:          []Event{execEv(shm, "Execution from /dev/shm")},
			LookAlikeEvents: []Event{execEv(tru)},
		})
	}
	{
		launcher := h("launcher", "")
		tt := child("true", tmp+"/true", "", launcher)
		tru := child("true", "/usr/bin/true", "", launcher)
		tru.cwd = "/tmp/"
		cs = append(cs, Case{
			Name: "exec-tmp", Rule: "Binary executed from a temporary directory",
			Does:      "copies /bin/true into a directory under /tmp, a helper runs it, the directory is removed",
			LooksLike: "the helper runs /bin/true with /tmp as its working directory",
			Action: func(e *Env) error {
				return withTemp(func(d string) error {
					p := filepath.Join(d, "true")
					if err := copyFile("/bin/true", p, 0o700); err != nil {
						return err
					}
					return e.run(helperRun{name: "launcher", op: "exec", arg: p})
				})
			},
			LookAlike: func(e *Env) error {
				return e.run(helperRun{name: "launcher", op: "exec", arg: "/bin/true", dir: "/tmp"})
			},
			Events:          []Event{execEv(launcher), execEv(tt, "Binary executed from a temporary directory")},
			LookAlikeEvents: []Event{execEv(launcher), execEv(tru)},
		})
	}
	{
		mem := child("3", "memfd:vigil-trigger", "", trig)
		mem.exe = "/proc/self/fd/3"
		mem.extra = []string{"proc.is_exe_from_memfd=true"}
		tru := child("true", "/usr/bin/true", "", trig)
		cs = append(cs, Case{
			Name: "memfd-exec", Rule: "Fileless execution via memfd_create",
			Does:      "writes /bin/true into a memfd_create file and executes it through /proc/self/fd",
			LooksLike: "writes the same memfd, then runs /bin/true from disk",
			Action:    func(*Env) error { return memfdRun(true) },
			LookAlike: func(*Env) error { return memfdRun(false) },
			Events:    []Event{execEv(mem, "Fileless execution via memfd_create")},
			// The memfd is created but not executed.
			LookAlikeEvents: []Event{execEv(tru)},
		})
	}
	{
		sleep := child("sleep", "/usr/bin/sleep", "5", trig)
		const rule = "PTRACE attached to process"
		cs = append(cs, Case{
			Name: "ptrace-attach", Rule: rule,
			Does:      "starts sleep 5, attaches to it with PTRACE_ATTACH, detaches and kills it",
			LooksLike: "starts sleep 5 and reads /proc/PID/status (inspection without ptrace)",
			Action:    func(*Env) error { return ptraceChild(true) },
			LookAlike: func(*Env) error { return ptraceChild(false) },
			Events: []Event{execEv(sleep),
				ev("process.ptrace", trig, []string{"evt.type=ptrace", "evt.arg.request=PTRACE_ATTACH", "evt.arg.pid=4243"}, rule)},
			LookAlikeEvents: []Event{execEv(sleep), openEv(trig, "/proc/4243/status", "/proc/4243/status", true, false, "O_RDONLY|O_CLOEXEC")},
		})
	}
	{
		worker := h("worker", "")
		const rule = "PTRACE anti-debug attempt"
		cs = append(cs, Case{
			Name: "ptrace-traceme", Rule: rule,
			Does: "a helper calls ptrace(PTRACE_TRACEME) and exits", LooksLike: "the helper reads TracerPid from /proc/self/status",
			Action:    func(e *Env) error { return e.run(helperRun{name: "worker", op: "traceme"}) },
			LookAlike: func(e *Env) error { return e.run(helperRun{name: "worker", op: "tracerpid"}) },
			Events: []Event{execEv(worker),
				ev("process.ptrace", worker, []string{"evt.type=ptrace", "evt.arg.request=PTRACE_TRACEME", "evt.arg.pid=0"}, rule)},
			LookAlikeEvents: []Event{execEv(worker), openEv(worker, "/proc/4242/status", "/proc/self/status", true, false, "O_RDONLY|O_CLOEXEC")},
		})
	}
	{
		worker := h("worker", "")
		su := h("su", "")
		const rule = "Privilege raised to root by an unexpected program"
		setres := []string{"evt.type=setresuid", "evt.arg.uid=0"}
		cs = append(cs, Case{
			Name: "setuid-root", Rule: rule,
			Does:      "a root helper sets its effective uid to nobody (keeping root saved) and takes root back with setresuid",
			LooksLike: "the same calls by a helper named su",
			Action:    func(e *Env) error { return e.run(helperRun{name: "worker", op: "setuid"}) },
			LookAlike: func(e *Env) error { return e.run(helperRun{name: "su", op: "setuid"}) },
			Events: []Event{execEv(worker),
				ev("privilege.change", &proc{name: worker.name, exepath: worker.exepath, parent: trig, uid: 65534}, setres, rule)},
			LookAlikeEvents: []Event{execEv(su),
				ev("privilege.change", &proc{name: su.name, exepath: su.exepath, parent: trig, uid: 65534}, setres)},
		})
	}
	{
		un := child("unshare", "/usr/bin/unshare", "--user /bin/true", trig)
		un.uid = 65534
		tru := child("true", "/usr/bin/true", "", un)
		tru.uid = 65534
		unr := child("unshare", "/usr/bin/unshare", "--uts /bin/true", trig)
		trur := child("true", "/usr/bin/true", "", unr)
		const rule = "User namespace created by an unprivileged process"
		cs = append(cs, Case{
			Name: "userns-unprivileged", Rule: rule,
			Does:      "unshare --user /bin/true as nobody (needs unprivileged user namespaces enabled)",
			LooksLike: "unshare --uts /bin/true as root",
			Action:    func(*Env) error { return run("/", 65534, "unshare", "--user", "/bin/true") },
			LookAlike: func(*Env) error { return run("/", 0, "unshare", "--uts", "/bin/true") },
			Events: []Event{execEv(un),
				ev("namespace.change", un, []string{"evt.type=unshare", "evt.arg.flags=CLONE_NEWUSER"}, rule), execEv(tru)},
			LookAlikeEvents: []Event{execEv(unr),
				ev("namespace.change", unr, []string{"evt.type=unshare", "evt.arg.flags=CLONE_NEWUTS"}), execEv(trur)},
		})
	}
	{
		login := h("login", "")
		login.uid = 65534
		tru := child("true", "/usr/bin/true", "", trig)
		tru.uid = 65534
		cs = append(cs, Case{
			Name: "system-user-login", Rule: "System user interactive",
			Does: "a helper named login runs as nobody (uid 65534) and exits", LooksLike: "/bin/true runs as nobody",
			Action:          func(e *Env) error { return e.run(helperRun{name: "login", op: "exit", uid: 65534}) },
			LookAlike:       func(*Env) error { return run("/", 65534, "/bin/true") },
			Events:          []Event{execEv(login, "System user interactive")},
			LookAlikeEvents: []Event{execEv(tru)},
		})
	}
	{
		// The SSH branch: a helper named sshd takes the audit login uid of nobody
		// (as a login does, through /proc/self/loginuid), then runs /bin/true as
		// nobody; the look-alike runs /bin/true as nobody from the same sshd
		// without a login uid (sudo -u nobody under a daemon).
		sshd := h("sshd", "")
		session := child("true", "/usr/bin/true", "", sshd)
		session.uid = 65534
		session.extra = []string{"user.loginuid=65534"}
		noLogin := child("true", "/usr/bin/true", "", sshd)
		noLogin.uid = 65534
		noLogin.extra = []string{"user.loginuid=-1"}
		cs = append(cs, Case{
			Name: "system-user-ssh-session", Rule: "System user interactive",
			Does:            "a helper named sshd sets its audit login uid to nobody's (65534) and runs /bin/true as nobody",
			LooksLike:       "the same helper runs /bin/true as nobody without setting a login uid",
			Action:          func(e *Env) error { return e.run(helperRun{name: "sshd", op: "login-session", arg: "65534"}) },
			LookAlike:       func(e *Env) error { return e.run(helperRun{name: "sshd", op: "login-session", arg: ""}) },
			Events:          []Event{execEv(sshd), execEv(session, "System user interactive")},
			LookAlikeEvents: []Event{execEv(sshd), execEv(noLogin)},
		})
	}
	{
		sudo := h("sudo", "")
		sudoku := h("sudoku", "")
		cs = append(cs, Case{
			Name: "sudo-invoked", Rule: "sudo invoked",
			Does: "a helper named sudo runs and exits", LooksLike: "a helper named sudoku runs and exits",
			Action:          func(e *Env) error { return e.run(helperRun{name: "sudo", op: "exit"}) },
			LookAlike:       func(e *Env) error { return e.run(helperRun{name: "sudoku", op: "exit"}) },
			Events:          []Event{execEv(sudo, "sudo invoked")},
			LookAlikeEvents: []Event{execEv(sudoku)},
		})
	}

	// --- files ------------------------------------------------------------------------------
	{
		const rule = "Read sensitive file untrusted"
		cs = append(cs, Case{
			Name: "read-shadow", Rule: rule,
			Does: "opens /etc/shadow read-only and closes it", LooksLike: "opens /etc/passwd read-only",
			Action:          func(*Env) error { return openFlags("/etc/shadow", os.O_RDONLY) },
			LookAlike:       func(*Env) error { return openFlags("/etc/passwd", os.O_RDONLY) },
			Events:          []Event{openEv(trig, "/etc/shadow", "/etc/shadow", true, false, "O_RDONLY|O_CLOEXEC", rule)},
			LookAlikeEvents: []Event{openEv(trig, "/etc/passwd", "/etc/passwd", true, false, "O_RDONLY|O_CLOEXEC")},
		})
	}
	{
		const rule = "Read sensitive file trusted after startup"
		late := h("nginx", "")
		late.durNs = 6_000_000_000
		early := h("nginx", "")
		early.durNs = 100_000_000
		cs = append(cs, Case{
			Name: "read-shadow-after-startup", Rule: rule,
			Does:      "a helper named nginx waits 6 s, then opens /etc/shadow read-only",
			LooksLike: "the same nginx opens /etc/shadow at once (a service reading credentials while it starts)",
			Action: func(e *Env) error {
				return e.run(helperRun{name: "nginx", op: "open", arg: "/etc/shadow", delay: "6s"})
			},
			LookAlike: func(e *Env) error { return e.run(helperRun{name: "nginx", op: "open", arg: "/etc/shadow"}) },
			Events: []Event{execEv(h("nginx", "")),
				openEv(late, "/etc/shadow", "/etc/shadow", true, false, "O_RDONLY|O_CLOEXEC", rule)},
			LookAlikeEvents: []Event{execEv(h("nginx", "")),
				openEv(early, "/etc/shadow", "/etc/shadow", true, false, "O_RDONLY|O_CLOEXEC")},
		})
	}
	{
		const rule = "Directory traversal monitored file read"
		worker := h("worker", "")
		raw := shapeHelperDir + "/../../etc/hostname"
		cs = append(cs, Case{
			Name: "directory-traversal", Rule: rule,
			Does:      "a helper opens HELPERDIR/../../etc/hostname (as many ../ as it takes to reach /)",
			LooksLike: "the helper opens /etc/hostname",
			Action: func(e *Env) error {
				depth := strings.Count(strings.Trim(e.Dir, "/"), "/") + 1
				p := e.Dir + strings.Repeat("/..", depth) + "/etc/hostname"
				return e.run(helperRun{name: "worker", op: "open", arg: p})
			},
			LookAlike: func(e *Env) error { return e.run(helperRun{name: "worker", op: "open", arg: "/etc/hostname"}) },
			Events: []Event{execEv(worker),
				openEv(worker, "/etc/hostname", raw, true, false, "O_RDONLY|O_CLOEXEC", rule)},
			LookAlikeEvents: []Event{execEv(worker),
				openEv(worker, "/etc/hostname", "/etc/hostname", true, false, "O_RDONLY|O_CLOEXEC")},
		})
	}
	{
		const rule = "Clear Log Activities"
		p := "/var/log/vigil-trigger-1/vigil-trigger.log"
		q := tmp + "/auth.log"
		cs = append(cs, Case{
			Name: "clear-log", Rule: rule,
			Does:      "creates its own /var/log/vigil-trigger-XXXX/vigil-trigger.log, then opens it with O_TRUNC; the directory is removed (no real log is touched)",
			LooksLike: "opens the same file with O_APPEND, and truncates TMPDIR/auth.log (a log-named file outside /var/log)",
			Action: func(*Env) error {
				return withLogDir(func(d string) error {
					p := filepath.Join(d, "vigil-trigger.log")
					if err := createFile(p, []byte("line\n"), 0o600); err != nil {
						return err
					}
					return openFlags(p, os.O_WRONLY|os.O_TRUNC)
				})
			},
			LookAlike: func(*Env) error {
				err := withLogDir(func(d string) error {
					p := filepath.Join(d, "vigil-trigger.log")
					if err := createFile(p, []byte("line\n"), 0o600); err != nil {
						return err
					}
					return openFlags(p, os.O_WRONLY|os.O_APPEND)
				})
				if err != nil {
					return err
				}
				return withTemp(func(d string) error {
					p := filepath.Join(d, "auth.log")
					if err := createFile(p, []byte("line\n"), 0o600); err != nil {
						return err
					}
					return openFlags(p, os.O_WRONLY|os.O_TRUNC)
				})
			},
			Events: []Event{openEv(trig, p, p, false, true, "O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC"),
				openEv(trig, p, p, false, true, "O_WRONLY|O_TRUNC|O_CLOEXEC", rule)},
			LookAlikeEvents: []Event{openEv(trig, p, p, false, true, "O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC"),
				openEv(trig, p, p, false, true, "O_WRONLY|O_APPEND|O_CLOEXEC"),
				openEv(trig, q, q, false, true, "O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC"),
				openEv(trig, q, q, false, true, "O_WRONLY|O_TRUNC|O_CLOEXEC")},
		})
	}
	{
		const rule = "Create Symlink Over Sensitive Files"
		link := func(target string, fires ...string) Event {
			return ev("file.symlink", trig, []string{"evt.type=symlinkat", "evt.arg.target=" + target,
				"evt.arg.linkpath=" + tmp + "/link", "fd.name=" + tmp + "/link"}, fires...)
		}
		cs = append(cs, Case{
			Name: "symlink-shadow", Rule: rule,
			Does: "creates TMPDIR/link -> /etc/shadow, then removes it", LooksLike: "creates TMPDIR/link -> /etc/hostname",
			Action: func(*Env) error {
				return withTemp(func(d string) error { return os.Symlink("/etc/shadow", filepath.Join(d, "link")) })
			},
			LookAlike: func(*Env) error {
				return withTemp(func(d string) error { return os.Symlink("/etc/hostname", filepath.Join(d, "link")) })
			},
			Events:          []Event{link("/etc/shadow", rule)},
			LookAlikeEvents: []Event{link("/etc/hostname")},
		})
	}
	{
		const rule = "Create Hardlink Over Sensitive Files"
		link := func(old string, fires ...string) Event {
			return ev("file.link", trig, []string{"evt.type=linkat", "evt.arg.oldpath=" + old,
				"evt.arg.newpath=/var/tmp/vigil-trigger-1/link", "fd.name=/var/tmp/vigil-trigger-1/link"}, fires...)
		}
		cs = append(cs, Case{
			Name: "hardlink-shadow", Rule: rule,
			Does:      "creates a hard link to /etc/shadow in a directory on the same file system, then removes the link",
			LooksLike: "hard-links a file vigil-trigger created",
			Action: func(*Env) error {
				return withSameFS("/etc/shadow", func(d string) error { return os.Link("/etc/shadow", filepath.Join(d, "link")) })
			},
			LookAlike: func(*Env) error {
				return withSameFS("/etc/shadow", func(d string) error {
					p := filepath.Join(d, "own")
					if err := createFile(p, nil, 0o600); err != nil {
						return err
					}
					return os.Link(p, filepath.Join(d, "link"))
				})
			},
			Events:          []Event{link("/etc/shadow", rule)},
			LookAlikeEvents: []Event{link("/var/tmp/vigil-trigger-1/own")},
		})
	}
	{
		const rule = "Shared library opened from a temporary directory"
		so, txt := tmp+"/libvigiltrigger.so", tmp+"/vigiltrigger.txt"
		worker := h("worker", "")
		cs = append(cs, Case{
			Name: "shared-library-tmp", Rule: rule,
			Does:      "creates TMPDIR/libvigiltrigger.so; a helper opens it for reading",
			LooksLike: "the same with TMPDIR/vigiltrigger.txt",
			Action:    func(e *Env) error { return createAndRead(e, "libvigiltrigger.so") },
			LookAlike: func(e *Env) error { return createAndRead(e, "vigiltrigger.txt") },
			Events: []Event{openEv(trig, so, so, false, true, "O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC"), execEv(worker),
				openEv(worker, so, so, true, false, "O_RDONLY|O_CLOEXEC", rule)},
			LookAlikeEvents: []Event{openEv(trig, txt, txt, false, true, "O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC"), execEv(worker),
				openEv(worker, txt, txt, true, false, "O_RDONLY|O_CLOEXEC")},
		})
	}

	// --- network ----------------------------------------------------------------------------
	{
		const rule = "Disallowed SSH Connection Non Standard Port"
		ssh := h("ssh", "")
		curl := h("curl", "")
		cs = append(cs, Case{
			Name: "ssh-non-standard-port", Rule: rule,
			Does:            "a helper named ssh connects to a listener of vigil-trigger on 127.0.0.1 (an ephemeral port)",
			LooksLike:       "a helper named curl connects to the same listener",
			Action:          func(e *Env) error { return connectAs(e, "ssh") },
			LookAlike:       func(e *Env) error { return connectAs(e, "curl") },
			Events:          []Event{execEv(ssh), connectEv(ssh, "127.0.0.1", 41002, rule)},
			LookAlikeEvents: []Event{execEv(curl), connectEv(curl, "127.0.0.1", 41002)},
		})
	}
	{
		const rule = "Inbound SSH session accepted"
		sshd := h("sshd", "")
		worker := h("worker", "")
		acc := func(p *proc, fires ...string) Event {
			return ev("network.accept", p, []string{"evt.type=accept4", "fd.sip=127.0.0.1", "fd.sport=41003",
				"fd.cip=127.0.0.1", "fd.cport=40001", "fd.l4proto=tcp", "fd.typechar=4", "fd.type=ipv4"}, fires...)
		}
		cs = append(cs, Case{
			Name: "sshd-accept", Rule: rule,
			Does:            "a helper named sshd listens on 127.0.0.1 and accepts one connection from vigil-trigger",
			LooksLike:       "a helper named worker does the same",
			Action:          func(e *Env) error { return acceptAs(e, "sshd") },
			LookAlike:       func(e *Env) error { return acceptAs(e, "worker") },
			Events:          []Event{execEv(sshd), acc(sshd, rule)},
			LookAlikeEvents: []Event{execEv(worker), acc(worker)},
		})
	}

	// --- kernel -----------------------------------------------------------------------------
	{
		const rule = "Kernel module loaded by an unexpected program"
		worker := h("worker", "")
		modprobe := h("modprobe", "")
		mod := func(p *proc, fires ...string) Event {
			return ev("kernel.module_load", p, []string{"evt.type=finit_module", "fd.name=" + shapeHelperDir + "/not-a-module.ko", "evt.failed=true", "evt.res=ENOEXEC"}, fires...)
		}
		cs = append(cs, Case{
			Name: "kernel-module", Rule: rule,
			Does:            "a helper asks finit_module to load a file that is not a module (the kernel refuses it, or the call on a kernel without module loading; nothing loads)",
			LooksLike:       "the same call by a helper named modprobe",
			Action:          func(e *Env) error { return finitAs(e, "worker") },
			LookAlike:       func(e *Env) error { return finitAs(e, "modprobe") },
			Events:          []Event{execEv(worker), mod(worker, rule)},
			LookAlikeEvents: []Event{execEv(modprobe), mod(modprobe)},
		})
	}
	{
		const rule = "BPF program loaded by an unexpected program"
		worker := h("worker", "")
		bpftool := h("bpftool", "")
		load := func(p *proc, fires ...string) Event {
			return ev("bpf.load", p, []string{"evt.type=bpf"}, fires...)
		}
		cs = append(cs, Case{
			Name: "bpf-load", Rule: rule,
			Does:            "a helper loads a two-instruction socket filter (return 0) and closes it; it is attached nowhere",
			LooksLike:       "the same load by a helper named bpftool",
			Action:          func(e *Env) error { return e.run(helperRun{name: "worker", op: "bpf"}) },
			LookAlike:       func(e *Env) error { return e.run(helperRun{name: "bpftool", op: "bpf"}) },
			Events:          []Event{execEv(worker), load(worker, rule)},
			LookAlikeEvents: []Event{execEv(bpftool), load(bpftool)},
		})
	}

	return append(cs, containerCases()...)
}

// memfdRun writes /bin/true into a memfd and runs it (exec) or runs /bin/true from disk.
func memfdRun(execMemfd bool) error {
	fd, err := unix.MemfdCreate("vigil-trigger", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:vigil-trigger")
	defer f.Close()
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), actionTimeout)
	defer cancel()
	var cmd *exec.Cmd
	if execMemfd {
		cmd = exec.CommandContext(ctx, "/proc/self/fd/3")
		cmd.ExtraFiles = []*os.File{f}
	} else {
		cmd = exec.CommandContext(ctx, "/bin/true")
	}
	return cmd.Run()
}

// ptraceChild starts sleep 5 and attaches to it (or only reads its status), then kills it.
func ptraceChild(attach bool) error {
	errc := make(chan error, 1)
	go func() {
		// ptrace requests must come from the thread that attached.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command("/bin/sleep", "5")
		if err := cmd.Start(); err != nil {
			errc <- err
			return
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		pid := cmd.Process.Pid
		if !attach {
			_, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			errc <- err
			return
		}
		if err := syscall.PtraceAttach(pid); err != nil {
			errc <- fmt.Errorf("PTRACE_ATTACH: %w", err)
			return
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, syscall.WALL, nil); err != nil {
			errc <- err
			return
		}
		errc <- syscall.PtraceDetach(pid)
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(actionTimeout):
		return errors.New("ptrace: timed out")
	}
}

// withSameFS runs f in a fresh directory on the file system of path (hard links cannot
// cross file systems), then removes it.
func withSameFS(path string, f func(dir string) error) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return err
	}
	for _, base := range []string{"/var/tmp", "/var/cache", "/var/lib", os.TempDir(), "/root"} {
		var bs unix.Stat_t
		if unix.Stat(base, &bs) != nil || bs.Dev != st.Dev {
			continue
		}
		d, err := os.MkdirTemp(base, "vigil-trigger-")
		if err != nil {
			continue
		}
		defer os.RemoveAll(d)
		return f(d)
	}
	return fmt.Errorf("no writable directory on the file system of %s", path)
}

// withLogDir runs f in a fresh directory of vigil-trigger's own under /var/log, then removes it.
func withLogDir(f func(dir string) error) error {
	dir, err := os.MkdirTemp("/var/log", "vigil-trigger-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return f(dir)
}

// createAndRead creates TMPDIR/name and has a helper open it for reading.
func createAndRead(e *Env, name string) error {
	return withTemp(func(d string) error {
		p := filepath.Join(d, name)
		if err := createFile(p, []byte("vigil-trigger\n"), 0o600); err != nil {
			return err
		}
		return e.run(helperRun{name: "worker", op: "open", arg: p})
	})
}

func connectAs(e *Env, name string) error {
	addr, _, stop, err := listen()
	if err != nil {
		return err
	}
	defer stop()
	return e.run(helperRun{name: name, op: "connect", arg: addr})
}

// acceptAs runs a helper that accepts one loopback connection, and connects to it.
func acceptAs(e *Env, name string) error {
	portFile := filepath.Join(e.Dir, name+".port")
	defer os.Remove(portFile)
	done := make(chan error, 1)
	go func() { done <- e.run(helperRun{name: name, op: "accept", arg: portFile}) }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(portFile)
		if err == nil && len(b) > 0 {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+string(b), 2*time.Second)
			if err != nil {
				return err
			}
			c.Close()
			return <-done
		}
		select {
		case err := <-done:
			return fmt.Errorf("helper ended before listening: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("helper did not listen within 5 s")
}

func finitAs(e *Env, name string) error {
	p := filepath.Join(e.Dir, "not-a-module.ko")
	if _, err := os.Stat(p); err != nil {
		if err := createFile(p, []byte("this is not a kernel module\n"), 0o600); err != nil {
			return err
		}
	}
	return e.run(helperRun{name: name, op: "finit", arg: p})
}
