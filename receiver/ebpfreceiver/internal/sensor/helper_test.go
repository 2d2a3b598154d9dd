package sensor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary a helper that does one privileged operation
// (helperDo) and prints its outcome: "ok" or the errno's number. Tests copy the
// binary to another path so that a policy can select the helper by binary while
// the test process itself stays unselected.
const helperEnv = "VIGIL_SENSOR_HELPER"

func TestMain(m *testing.M) {
	if act := os.Getenv(helperEnv); act != "" {
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
	os.Exit(m.Run())
}

// helperDo does one operation on the calling thread only (raw syscalls: Go's
// own set*id calls would change, and report, every thread).
func helperDo(act string) error {
	runtime.LockOSThread()
	keep := ^uintptr(0) // -1: unchanged id
	switch act {
	case "noop":
		return nil
	case "setuid-lower": // euid 0 -> 65534: no privilege gained
		return rawErr(unix.RawSyscall(unix.SYS_SETRESUID, keep, 65534, keep))
	case "setuid-raise": // euid 0 -> 65534 -> 0: the second call gains privilege
		if err := rawErr(unix.RawSyscall(unix.SYS_SETRESUID, keep, 65534, keep)); err != nil {
			return fmt.Errorf("dropping: %w", err)
		}
		return rawErr(unix.RawSyscall(unix.SYS_SETRESUID, keep, 0, keep))
	case "unshare":
		return unix.Unshare(unix.CLONE_NEWUTS)
	case "clone-newuts": // a child in a new UTS namespace (clone with CLONE_NEWUTS)
		cmd := exec.Command("/proc/self/exe")
		cmd.Env = append(os.Environ(), helperEnv+"=noop")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS}
		return cmd.Run()
	case "ptrace": // attach to a child of our own
		child := exec.Command("/bin/sleep", "10")
		if err := child.Start(); err != nil {
			return err
		}
		defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
		return syscall.PtraceAttach(child.Process.Pid)
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
	}
	return fmt.Errorf("unknown helper action %q", act)
}

func rawErr(_, _ uintptr, errno syscall.Errno) error {
	if errno != 0 {
		return errno
	}
	return nil
}

// runHelper runs bin as the helper for one action and returns its outcome.
func runHelper(t *testing.T, bin, act string) string {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), helperEnv+"="+act)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %s %s: %v (%s)", bin, act, err, out)
	}
	return strings.TrimSpace(string(out))
}
