//go:build linux

package testenv

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// abi is one way of making the syscalls of the helper actions that exist both as
// native calls and as ia32 calls (int $0x80 from this 64-bit process, "ia32-ACT"):
// the action is written once, over these calls, and the two sets differ only in
// how each call enters the kernel.
type abi struct {
	name   string  // prefix of the actions' error messages ("" or "ia32 ")
	keepID uintptr // a set*id argument that leaves the id unchanged (-1 in the ABI's width)

	setresuid func(r, e, s uintptr) error
	unshare   func(flags uintptr) error
	ptrace    func(req, pid uintptr) error
	// The dup calls return the new descriptor.
	dup2  func(old, new uintptr) (uintptr, error)
	dup3  func(old, new, flags uintptr) (uintptr, error)
	dupfd func(fd, lowest uintptr) (uintptr, error) // fcntl(F_DUPFD), fcntl64 on ia32
	dup   func(fd uintptr) (uintptr, error)
	// getfl is fcntl(F_GETFL), a look-alike fcntl that duplicates nothing; nil: not made.
	getfl func(fd uintptr) error
	// fcntl names the ABI's fcntl call in messages.
	fcntl string
}

// nativeABI makes the calls through the 64-bit syscall table (raw where Go's own
// wrapper would make another call: x/sys's Dup2 is dup3 on linux/amd64, and its
// set*id calls change every thread).
func nativeABI() abi {
	return abi{
		keepID: ^uintptr(0),
		setresuid: func(r, e, s uintptr) error {
			return rawErr(unix.RawSyscall(unix.SYS_SETRESUID, r, e, s))
		},
		unshare: func(flags uintptr) error { return unix.Unshare(int(flags)) },
		ptrace: func(req, pid uintptr) error {
			if req == unix.PTRACE_ATTACH {
				return syscall.PtraceAttach(int(pid))
			}
			return rawErr(unix.RawSyscall(unix.SYS_PTRACE, req, pid, 0))
		},
		dup2: func(old, new uintptr) (uintptr, error) {
			fd, _, errno := unix.RawSyscall(unix.SYS_DUP2, old, new, 0)
			return fd, errnoErr(errno)
		},
		dup3: func(old, new, flags uintptr) (uintptr, error) {
			fd, _, errno := unix.Syscall(unix.SYS_DUP3, old, new, flags)
			return fd, errnoErr(errno)
		},
		dupfd: func(fd, lowest uintptr) (uintptr, error) {
			nfd, err := unix.FcntlInt(fd, unix.F_DUPFD, int(lowest))
			return uintptr(nfd), err
		},
		dup: func(fd uintptr) (uintptr, error) {
			nfd, err := unix.Dup(int(fd))
			return uintptr(nfd), err
		},
		getfl: func(fd uintptr) error {
			_, err := unix.FcntlInt(fd, unix.F_GETFL, 0) // returns O_RDWR (2): no dup
			return err
		},
		fcntl: "fcntl",
	}
}

// dropEUID sets the effective uid to 65534 (root's privilege given up).
func (a abi) dropEUID() error {
	if err := a.setresuid(a.keepID, 65534, a.keepID); err != nil {
		return fmt.Errorf("dropping: %w", err)
	}
	return nil
}

// setresuidRaise takes the euid from 0 to 65534 and back to 0: the second call
// gains privilege.
func (a abi) setresuidRaise() error {
	if err := a.dropEUID(); err != nil {
		return err
	}
	return a.setresuid(a.keepID, 0, a.keepID)
}

// unshareUTS moves the helper into a new UTS namespace.
func (a abi) unshareUTS() error { return a.unshare(unix.CLONE_NEWUTS) }

// ptraceAttach attaches to a child of the helper's own.
func (a abi) ptraceAttach() error {
	return withSleepingChild(func(pid int) error { return a.ptrace(unix.PTRACE_ATTACH, uintptr(pid)) })
}

// traceme is PTRACE_TRACEME with every signal blocked (tracemeQuiet).
func (a abi) traceme() error {
	return tracemeQuiet(func() error { return a.ptrace(unix.PTRACE_TRACEME, 0) })
}

// dupSockets puts a connected TCP socket onto fd 0 four ways (dup2, dup3, the
// fcntl's F_DUPFD and dup: what a reverse shell does), then the look-alikes: a
// fcntl that duplicates nothing (where the ABI has it), a dup onto a spare
// descriptor above 2, and a pipe onto fd 0.
func (a abi) dupSockets() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		return err
	}
	defer f.Close()
	sock := f.Fd()
	var errs []error
	step := func(what string, fd uintptr, err error, want uintptr) {
		if err == nil && fd != want {
			err = fmt.Errorf("got fd %d", fd)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", a.name, what, err))
		}
	}
	fd, err := a.dup2(sock, 0)
	step("dup2 onto 0", fd, err, 0)
	fd, err = a.dup3(sock, 0, unix.O_CLOEXEC)
	step("dup3 onto 0", fd, err, 0)
	step("close 0", 0, unix.Close(0), 0)
	fd, err = a.dupfd(sock, 0)
	step(a.fcntl+" F_DUPFD", fd, err, 0)
	step("close 0", 0, unix.Close(0), 0)
	fd, err = a.dup(sock)
	step("dup", fd, err, 0)
	if a.getfl != nil {
		step(a.fcntl+" F_GETFL", 0, a.getfl(sock), 0)
	}
	if spare, err := spareFD(); err != nil {
		step("a spare descriptor", 0, err, 0)
	} else {
		fd, err = a.dup2(sock, uintptr(spare))
		step("dup2 onto a descriptor above 2", fd, err, uintptr(spare))
	}
	var p [2]int
	step("pipe", 0, unix.Pipe(p[:]), 0)
	fd, err = a.dup2(uintptr(p[0]), 0)
	step("dup2 pipe onto 0", fd, err, 0)
	return errors.Join(errs...)
}

// withSleepingChild starts a child of the helper's own (sleep 5), calls do with
// its pid, and kills and reaps it.
func withSleepingChild(do func(pid int) error) error {
	child := exec.Command("/bin/sleep", "5")
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	return do(child.Process.Pid)
}

func errnoErr(errno syscall.Errno) error {
	if errno != 0 {
		return errno
	}
	return nil
}
