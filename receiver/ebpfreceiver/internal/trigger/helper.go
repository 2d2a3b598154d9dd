//go:build linux

package trigger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A helper is a copy of the running binary under a telling name (nginx, node, ssh, ...), so
// that the kernel reports that name as the process name. The environment says it is a
// helper and what to do: helperEnv=1, opEnv+NAME the operation, argEnv+NAME its argument
// (NAME is the copy's base name). The operation's argument never comes from argv, so a
// helper may be given any command line the rule looks at (nc -e ...).
const (
	helperEnv = "VIGIL_TRIGGER_HELPER"
	opEnv     = "VIGIL_TRIGGER_OP_"
	argEnv    = "VIGIL_TRIGGER_ARG_"
	delayEnv  = "VIGIL_TRIGGER_DELAY_"
)

// argSep separates the words of an exec helper's command (environment values cannot hold NUL).
const argSep = "\x1f"

// exitUnsupported is a helper's exit code when the kernel lacks what the operation needs.
const exitUnsupported = 3

// helperTimeout bounds every helper operation.
const helperTimeout = 10 * time.Second

// A helper's operation runs on the thread-group leader (the main goroutine,
// locked to the main thread from init): after PTRACE_TRACEME the calling thread
// is traced by the parent, and a traced thread other than the leader stays a
// zombie at exit until the tracer reaps it with __WALL, which os/exec does not
// do, so the parent's wait for the helper would never end.
func init() {
	if os.Getenv(helperEnv) == "1" {
		runtime.LockOSThread()
	}
}

// RunHelper runs the helper operation when this process is a helper, and reports whether it
// was one and the exit code to use. Call it first in main (and in TestMain of tests that run
// triggers).
func RunHelper() (bool, int) {
	if os.Getenv(helperEnv) != "1" {
		return false, 0
	}
	name := envKey(filepath.Base(os.Args[0]))
	op := os.Getenv(opEnv + name)
	arg := os.Getenv(argEnv + name)
	if d, err := time.ParseDuration(os.Getenv(delayEnv + name)); err == nil && d > 0 && d < helperTimeout {
		time.Sleep(d)
	}
	if err := helperOp(op, arg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s: %v\n", filepath.Base(os.Args[0]), op, err)
		if errors.Is(err, unix.ENOSYS) {
			return true, exitUnsupported
		}
		return true, 1
	}
	return true, 0
}

// envKey turns a helper name into an environment variable suffix.
func envKey(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
}

func helperOp(op, arg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	switch op {
	case "exit":
		return nil
	case "exec":
		// arg: the program and its arguments, separated by argSep.
		argv := strings.Split(arg, argSep)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		return ignoreExit(cmd.Run())
	case "open":
		f, err := os.Open(arg)
		if err != nil {
			return err
		}
		return f.Close()
	case "connect":
		c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", arg)
		if err != nil {
			return err
		}
		return c.Close()
	case "accept":
		return acceptOne(ctx, arg)
	case "netns-connect":
		return netnsConnect(ctx, arg)
	case "revshell":
		return reverseShell(ctx, arg)
	case "pipeshell":
		cmd := exec.CommandContext(ctx, "/bin/true")
		cmd.Stdin = strings.NewReader("x")
		return cmd.Run()
	case "traceme":
		// Once traced, a signal to this thread (the Go runtime's preemption
		// SIGURG) would stop it for the parent, which only waits for exits:
		// block them all until the helper exits.
		var all unix.Sigset_t
		for i := range all.Val {
			all.Val[i] = ^all.Val[i]
		}
		if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, nil); err != nil {
			return fmt.Errorf("blocking signals: %w", err)
		}
		_, _, e := syscall.RawSyscall(syscall.SYS_PTRACE, syscall.PTRACE_TRACEME, 0, 0)
		if e != 0 {
			return e
		}
		return nil
	case "tracerpid":
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "TracerPid:") {
			return errors.New("no TracerPid in /proc/self/status")
		}
		return nil
	case "finit":
		return finitGarbage(arg)
	case "bpf":
		return loadBPF()
	case "setuid":
		return regainRoot()
	case "login-session":
		return loginSession(ctx, arg)
	case "socket-packet":
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	}
	return fmt.Errorf("unknown helper operation %q", op)
}

// ignoreExit treats a program's non-zero exit (grep finding nothing) as done.
func ignoreExit(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil
	}
	return err
}

// acceptOne listens on 127.0.0.1:0, writes the port to the file arg, accepts one
// connection and closes it.
func acceptOne(ctx context.Context, portFile string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	if err := os.WriteFile(portFile, []byte(strconv.Itoa(l.Addr().(*net.TCPAddr).Port)), 0o600); err != nil {
		return err
	}
	dl, _ := ctx.Deadline()
	_ = l.(*net.TCPListener).SetDeadline(dl)
	c, err := l.Accept()
	if err != nil {
		return err
	}
	return c.Close()
}

// netnsConnect connects to addr (IPv4 address:port) inside a network namespace of its own:
// it leaves the one it is in (unshare(CLONE_NEWNET), on this helper's locked thread), brings
// up the new namespace's loopback with addr's address on it (all of its /8 is then local),
// listens on addr and connects to it. No packet can leave that namespace: it has no other
// interface. Needs CAP_SYS_ADMIN and CAP_NET_ADMIN.
func netnsConnect(ctx context.Context, addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("netns-connect: %q is not an IPv4 address and port", addr)
	}
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNET) (needs CAP_SYS_ADMIN): %w", err)
	}
	if err := loopbackWith(ap.Addr()); err != nil {
		return fmt.Errorf("%w (needs CAP_NET_ADMIN)", err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer l.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			err = c.Close()
		}
		accepted <- err
	}()
	c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if err := c.Close(); err != nil {
		return err
	}
	select {
	case err := <-accepted:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loopbackWith brings up this thread's namespace's loopback and adds ip to it, as the
// address of the alias lo:1 (the netmask of its class: /8 for 10.x).
func loopbackWith(ip netip.Addr) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	lo, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, lo); err != nil {
		return fmt.Errorf("reading lo's flags: %w", err)
	}
	lo.SetUint16(lo.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, lo); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	alias, err := unix.NewIfreq("lo:1")
	if err != nil {
		return err
	}
	if err := alias.SetInet4Addr(ip.AsSlice()); err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFADDR, alias); err != nil {
		return fmt.Errorf("adding %s to lo: %w", ip, err)
	}
	return nil
}

// reverseShell connects to addr and runs a shell whose standard input and output are the
// connection. The shell only exits.
func reverseShell(ctx context.Context, addr string) error {
	c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "exit 0")
	cmd.Stdin, cmd.Stdout = f, f
	return cmd.Run()
}

// finitGarbage asks the kernel to load the file path (which is not a module) with
// finit_module. The kernel reads it and refuses it (ENOEXEC or a signature error), or, built
// without module loading, refuses the call itself (ENOSYS): nothing is loaded either way, and
// the attempt is what the rules detect. Any other outcome is reported.
func finitGarbage(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	switch {
	case err == nil:
		return errors.New("the kernel accepted a file that is not a module")
	case errors.Is(err, unix.ENOEXEC), errors.Is(err, unix.EKEYREJECTED), errors.Is(err, unix.EBADMSG),
		errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOKEY), errors.Is(err, unix.ENOSYS):
		return nil
	}
	return fmt.Errorf("finit_module: %w", err)
}

// loadBPF loads the smallest socket-filter program (r0 = 0; exit) and closes it.
func loadBPF() error {
	insns := [2]uint64{0x00000000000000b7, 0x0000000000000095} // mov64 r0, 0; exit
	license := []byte("GPL\x00")
	var attr [128]byte
	*(*uint32)(unsafe.Pointer(&attr[0])) = unix.BPF_PROG_TYPE_SOCKET_FILTER
	*(*uint32)(unsafe.Pointer(&attr[4])) = uint32(len(insns))
	*(*uint64)(unsafe.Pointer(&attr[8])) = uint64(uintptr(unsafe.Pointer(&insns[0])))
	*(*uint64)(unsafe.Pointer(&attr[16])) = uint64(uintptr(unsafe.Pointer(&license[0])))
	fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr[0])), unsafe.Sizeof(attr))
	runtime.KeepAlive(&insns)
	runtime.KeepAlive(license)
	if e != 0 {
		return fmt.Errorf("bpf(BPF_PROG_LOAD): %w", e)
	}
	return unix.Close(int(fd))
}

// regainRoot drops the effective uid to nobody while keeping root as the real and saved
// uid, then takes root back: a set*id call that gains root, and nothing changes in the end.
func regainRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root")
	}
	if err := unix.Setresuid(0, 65534, 0); err != nil {
		return err
	}
	return unix.Setresuid(0, 0, 0)
}

// loginSession sets the helper's audit login uid to arg (when not empty), as
// a login does once per session, and runs /bin/true as nobody. Without audit
// support (no /proc/self/loginuid) it is unsupported.
func loginSession(ctx context.Context, arg string) error {
	if arg != "" {
		if err := os.WriteFile("/proc/self/loginuid", []byte(arg), 0); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no audit login uid on this kernel: %w", unix.ENOSYS)
			}
			return fmt.Errorf("setting the audit login uid: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, "/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	return cmd.Run()
}
