//go:build linux

package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// HelperEnv makes a test binary a helper that does one privileged operation and
// prints its outcome: "ok", or the errno's number. Tests run a copy of their own
// binary (CopyTestBinary) so that a policy can select the helper by its path
// while the test process itself stays unselected.
const HelperEnv = "VIGIL_TEST_HELPER"

// RunHelperIfAsked is called first in a TestMain: in a helper run it does the
// operation, prints its outcome and exits.
func RunHelperIfAsked() {
	act := os.Getenv(HelperEnv)
	if act == "" {
		return
	}
	err := helperDo(act)
	var errno syscall.Errno
	switch {
	case err == nil:
		fmt.Print("ok")
	case errors.As(err, &errno):
		fmt.Print(int(errno))
	default:
		fmt.Print("error: ", err)
	}
	os.Exit(0)
}

// CopyTestBinary copies the running test binary into dir (a new temporary
// directory when dir is "") and returns the copy's path.
func CopyTestBinary(t testing.TB, dir string) string {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "vigil-helper")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// A helper runs its action on the thread-group leader: locking the OS thread in
// init keeps the main goroutine (TestMain, then helperDo) on the main thread.
// PTRACE_TRACEME from another thread makes that thread the test's tracee, and a
// traced thread other than the leader stays a zombie at exit until its tracer
// reaps it with __WALL, which os/exec never does: the helper's exit was never
// reported, SIGKILL or not (RunHelper waited 9 minutes in a CI run).
func init() {
	if os.Getenv(HelperEnv) != "" {
		runtime.LockOSThread()
	}
}

// helperTimeout bounds one helper run. An action takes milliseconds on a host
// and seconds under the kernel matrix's emulated CPUs; a hung helper fails its
// test with its stacks instead of running into the package's timeout.
const helperTimeout = 2 * time.Minute

// RunHelper runs bin as the helper for one action and returns its outcome; a
// helper killed by a signal returns "killed: SIGNAL".
func RunHelper(t testing.TB, bin, act string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), HelperEnv+"="+act)
	// A helper still running at the timeout gets SIGQUIT: the Go runtime prints
	// every goroutine's stack to stderr (where it hangs) and exits; SIGKILL
	// follows if it does not.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if ctx.Err() != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("helper %s %s did not finish within %v (stdout %q); its stacks: %s", bin, act, helperTimeout, out, stderr)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed: " + ws.Signal().String()
		}
	}
	if err != nil {
		// The helper's stderr says why (a Go runtime throw exits with status 2).
		var stderr []byte
		if ee != nil {
			stderr = ee.Stderr
		}
		if len(stderr) > 8<<10 { // the start names the cause; a goroutine dump follows
			stderr = stderr[:8<<10]
		}
		t.Fatalf("helper %s %s: %v (stdout %q, stderr %q)", bin, act, err, out, stderr)
	}
	return strings.TrimSpace(string(out))
}

// helperDo does one operation on the calling thread only (raw syscalls: Go's
// own set*id calls would change, and report, every thread).
func helperDo(act string) error {
	runtime.LockOSThread()
	keep := ^uintptr(0) // -1: unchanged id
	if inner, ok := strings.CutPrefix(act, "ia32-"); ok {
		// The action as a 32-bit syscall (int $0x80) from this 64-bit process.
		return ia32Do(inner)
	}
	if inner, ok := strings.CutPrefix(act, "iouring-"); ok {
		// The action as an io_uring request.
		return iouringDo(inner)
	}
	if spec, ok := strings.CutPrefix(act, "bind-open:"); ok {
		// In a new private mount namespace of its own (the caller's mounts are
		// not touched), bind-mount and open: see bindOpen.
		if err := nativeABI().unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNS): %w", err)
		}
		return bindOpen(spec)
	}
	if spec, ok := strings.CutPrefix(act, "userns-bind-open:"); ok {
		// The same as an unprivileged user (65534) in a new user namespace, root
		// only there (unshare -Urm): a child, as a user namespace needs one thread.
		return runUserns("bind-open-here:" + spec)
	}
	if spec, ok := strings.CutPrefix(act, "bind-open-here:"); ok {
		return bindOpen(spec)
	}
	if inner, ok := strings.CutPrefix(act, "in-pidns:"); ok {
		// The action in a child in a new pid namespace: a "container" process.
		return runSelf(inner, syscall.CLONE_NEWPID)
	}
	switch act {
	case "noop":
		return nil
	case "setuid-lower": // euid 0 -> 65534: no privilege gained
		return rawErr(unix.RawSyscall(unix.SYS_SETRESUID, keep, 65534, keep))
	case "setuid-raise": // euid 0 -> 65534 -> 0: the second call gains privilege
		return nativeABI().setresuidRaise()
	case "setgid-raise": // egid 0 -> 65534 -> 0
		if err := rawErr(unix.RawSyscall(unix.SYS_SETRESGID, keep, 65534, keep)); err != nil {
			return fmt.Errorf("dropping: %w", err)
		}
		return rawErr(unix.RawSyscall(unix.SYS_SETRESGID, keep, 0, keep))
	case "unshare":
		return nativeABI().unshareUTS()
	case "clone-newuts": // a child in a new UTS namespace (clone with CLONE_NEWUTS)
		return runSelf("noop", syscall.CLONE_NEWUTS)
	case "ptrace": // attach to a child of our own
		return nativeABI().ptraceAttach()
	case "bpf": // BPF_PROG_LOAD of "r0 = 0; exit" as a socket filter
		insns := [2]uint64{0xb7, 0x95}
		license := []byte("GPL\x00")
		var attr [128]byte
		*(*uint32)(unsafe.Pointer(&attr[0])) = unix.BPF_PROG_TYPE_SOCKET_FILTER
		*(*uint32)(unsafe.Pointer(&attr[4])) = 2
		*(*uint64)(unsafe.Pointer(&attr[8])) = uint64(uintptr(unsafe.Pointer(&insns[0])))
		*(*uint64)(unsafe.Pointer(&attr[16])) = uint64(uintptr(unsafe.Pointer(&license[0])))
		fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr[0])), unsafe.Sizeof(attr))
		runtime.KeepAlive(&insns)
		runtime.KeepAlive(license)
		if errno != 0 {
			return errno
		}
		return unix.Close(int(fd))
	case "module-file": // finit_module of a file that is no module (ENOEXEC unless refused first)
		f, err := os.CreateTemp("", "vigil-not-a-module-*.ko")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		_, err = f.Write(make([]byte, 4096))
		if err := errors.Join(err, f.Close()); err != nil {
			return err
		}
		// Read-only: a file open for writing anywhere is refused with ETXTBSY.
		ro, err := os.Open(f.Name())
		if err != nil {
			return err
		}
		defer ro.Close()
		return unix.FinitModule(int(ro.Fd()), "", 0)
	case "module-mem": // init_module of bytes that are no module
		return unix.InitModule(make([]byte, 4096), "")
	case "connect-imds": // the cloud metadata endpoint, over HTTP
		c, err := net.DialTimeout("tcp", "169.254.169.254:80", time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
	if ok, err := eventAction(act); ok {
		return err
	}
	return fmt.Errorf("unknown helper action %q", act)
}

// runSelf runs this binary as the helper for act in a child with clone flags,
// and returns the child's outcome as an error (nil for "ok").
func runSelf(act string, cloneFlags uintptr) error {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), HelperEnv+"="+act)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneFlags}
	out, err := cmd.Output()
	if err != nil {
		return err
	}
	if s := strings.TrimSpace(string(out)); s != "ok" {
		var n int
		if _, err := fmt.Sscanf(s, "%d", &n); err == nil {
			return syscall.Errno(n)
		}
		return errors.New(s)
	}
	return nil
}

// BindOpen is the helper action that, in a private mount namespace of its own,
// mounts each "mount" (a tmpfs at a directory: "tmpfs=DIR"; a bind mount:
// "SRC=DST"), in order, then opens and reads FILE: "bind-open:" + BindOpen(...).
func BindOpen(file string, mounts ...string) string {
	return "bind-open:" + strings.Join(append(mounts, file), "|")
}

// UsernsBindOpen is BindOpen as an unprivileged user in a new user namespace.
func UsernsBindOpen(file string, mounts ...string) string {
	return "userns-" + BindOpen(file, mounts...)
}

// bindOpen does a BindOpen spec in the calling thread's (new) mount namespace.
// A tmpfs mount gets a directory "d" holding a file "f" (to bind from).
func bindOpen(spec string) error {
	parts := strings.Split(spec, "|")
	if len(parts) < 2 {
		return fmt.Errorf("bind-open %q: want mounts then a file", spec)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the mounts private: %w", err)
	}
	for _, m := range parts[:len(parts)-1] {
		src, dst, ok := strings.Cut(m, "=")
		if !ok {
			return fmt.Errorf("bind-open mount %q: want SRC=DST", m)
		}
		if src == "tmpfs" {
			if err := unix.Mount("tmpfs", dst, "tmpfs", 0, "size=64k"); err != nil {
				return fmt.Errorf("tmpfs on %s: %w", dst, err)
			}
			if err := os.Mkdir(filepath.Join(dst, "d"), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dst, "d", "f"), []byte("t"), 0o644); err != nil {
				return err
			}
			continue
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount of %s on %s: %w", src, dst, err)
		}
	}
	fd, err := unix.Open(parts[len(parts)-1], unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var b [16]byte
	_, err = unix.Read(fd, b[:])
	return errors.Join(err, unix.Close(fd))
}

// runUserns runs act in a child in new user and mount namespaces, as host uid
// and gid 65534 mapped to root in the namespace.
func runUserns(act string) error {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), HelperEnv+"="+act)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 65534, Size: 1}},
		// Become the namespace's root, that is host uid 65534: a child of root
		// keeps root's host uid, unmapped in the namespace, until it does.
		Credential: &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return fmt.Errorf("killed: %s", ws.Signal())
			}
		}
		return fmt.Errorf("user namespace child: %w", err)
	}
	if s := strings.TrimSpace(string(out)); s != "ok" {
		var n int
		if _, err := fmt.Sscanf(s, "%d", &n); err == nil {
			return syscall.Errno(n)
		}
		return errors.New(s)
	}
	return nil
}

func rawErr(_, _ uintptr, errno syscall.Errno) error {
	if errno != 0 {
		return errno
	}
	return nil
}
