package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func int80(nr, bx, cx, dx, si, di uintptr) uintptr

// ia32 syscall numbers (arch/x86/entry/syscalls/syscall_32.tbl).
const (
	ia32Write       = 4
	ia32Open        = 5
	ia32Getpid      = 20
	ia32Setuid16    = 23
	ia32Ptrace      = 26
	ia32Socketcall  = 102
	ia32Setresuid32 = 208
	ia32Setuid32    = 213
	ia32Setfsuid32  = 215
	ia32Openat      = 295
	ia32Unshare     = 310
	ia32Listen      = 363
	ia32Accept4     = 364

	sysListen = 4 // socketcall calls
	sysAccept = 5
)

const unchanged32 = 0xffffffff // -1 as a 32-bit id: unchanged

// sys32 issues an ia32 syscall and returns its result or its errno.
func sys32(nr, bx, cx, dx, di uintptr) (uintptr, error) {
	r := int64(int32(int80(nr, bx, cx, dx, 0, di)))
	if r < 0 && r > -4096 {
		return 0, syscall.Errno(-r)
	}
	return uintptr(r), nil
}

// ia32ABI makes the shared helper actions' calls through int $0x80.
func ia32ABI() abi {
	call := func(nr uintptr) func(bx, cx, dx uintptr) (uintptr, error) {
		return func(bx, cx, dx uintptr) (uintptr, error) { return sys32(nr, bx, cx, dx, 0) }
	}
	errOnly := func(nr uintptr) func(bx, cx, dx uintptr) error {
		return func(bx, cx, dx uintptr) error { _, err := sys32(nr, bx, cx, dx, 0); return err }
	}
	return abi{
		name:      "ia32 ",
		keepID:    unchanged32,
		setresuid: errOnly(ia32Setresuid32),
		unshare:   func(flags uintptr) error { return errOnly(ia32Unshare)(flags, 0, 0) },
		ptrace:    func(req, pid uintptr) error { return errOnly(ia32Ptrace)(req, pid, 0) },
		dup2:      func(old, new uintptr) (uintptr, error) { return call(ia32Dup2)(old, new, 0) },
		dup3:      call(ia32Dup3),
		dupfd:     func(fd, lowest uintptr) (uintptr, error) { return call(ia32Fcntl64)(fd, unix.F_DUPFD, lowest) },
		dup:       func(fd uintptr) (uintptr, error) { return call(ia32Dup)(fd, 0, 0) },
		fcntl:     "fcntl64",
	}
}

// low32 returns memory below 4 GiB (MAP_32BIT), which a 32-bit syscall can
// address: its pointer arguments are cut to 32 bits.
func low32(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_32BIT)
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

// lowString copies s, NUL-terminated, into memory a 32-bit syscall can read.
func lowString(s string) ([]byte, error) {
	b, err := low32(len(s) + 1)
	if err != nil {
		return nil, fmt.Errorf("mapping low memory: %w", err)
	}
	copy(b, s)
	return b, nil
}

// ia32Do runs the helper actions named ia32-ACT: each does its syscall
// through int $0x80.
func ia32Do(act string) error {
	name, arg, _ := strings.Cut(act, ":")
	switch name {
	case "open", "openat": // open PATH read-only and close it
		p, err := lowString(arg)
		if err != nil {
			return err
		}
		var fd uintptr
		if name == "open" {
			fd, err = sys32(ia32Open, addr(p), unix.O_RDONLY, 0, 0)
		} else {
			atFdcwd := uintptr(uint32(0xffffff9c)) // AT_FDCWD (-100) as a 32-bit word
			fd, err = sys32(ia32Openat, atFdcwd, addr(p), unix.O_RDONLY, 0)
		}
		if err != nil {
			return err
		}
		return unix.Close(int(fd))
	case "write": // one byte written to PATH (opened by a 64-bit open) by an ia32 write
		f, err := os.OpenFile(arg, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := lowString("x")
		if err != nil {
			return err
		}
		// di holds no descriptor: only ebx names the file.
		_, err = sys32(ia32Write, f.Fd(), addr(b), 1, ^uintptr(0))
		return err
	case "getpid-fd": // ia32 getpid (20, x86_64 writev) with a descriptor of PATH open for writing in rdi
		f, err := os.OpenFile(arg, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		for range 3 {
			pid, err := sys32(ia32Getpid, 0, 0, 0, f.Fd())
			if err != nil {
				return err
			}
			if int(pid) != os.Getpid() {
				return fmt.Errorf("ia32 getpid returned %d, not %d", pid, os.Getpid())
			}
		}
		return nil
	case "setresuid-raise": // euid 0 -> 65534 -> 0 by setresuid32
		return ia32ABI().setresuidRaise()
	case "setuid16-raise": // euid 65534 -> 0 by the 16-bit setuid, asking for 0x10000 (0 in 16 bits)
		if err := ia32ABI().dropEUID(); err != nil {
			return err
		}
		_, err := sys32(ia32Setuid16, 0x10000, 0, 0, 0)
		return err
	case "setfsuid-root": // root's setfsuid32(0): asks for 0, gains nothing (the euid is 0 already)
		_, err := sys32(ia32Setfsuid32, 0, 0, 0, 0)
		return err
	case "setuid-denied": // every uid 65534 (native setresuid), then setuid32(0): refused with EPERM
		if err := rawErr(unix.RawSyscall(unix.SYS_SETRESUID, 65534, 65534, 65534)); err != nil {
			return fmt.Errorf("dropping: %w", err)
		}
		if _, err := sys32(ia32Setuid32, 0, 0, 0, 0); !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("setuid32(0) as uid 65534: %v, not EPERM", err)
		}
		return nil
	case "setuid-root": // root's setuid32(0): succeeds, gains nothing
		_, err := sys32(ia32Setuid32, 0, 0, 0, 0)
		return err
	case "unshare":
		return ia32ABI().unshareUTS()
	case "ptrace": // attach to a child of our own
		return ia32ABI().ptraceAttach()
	case "listen-accept", "socketcall-listen-accept": // a listener on 127.0.0.1 and one accepted connection
		return ia32ListenAccept(name == "socketcall-listen-accept")
	}
	if ok, err := ia32EventAction(name, arg); ok {
		return err
	}
	return fmt.Errorf("unknown ia32 helper action %q", act)
}

func ia32ListenAccept(socketcall bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	args, err := low32(16) // socketcall's argument words
	if err != nil {
		return err
	}
	words := (*[4]uint32)(unsafe.Pointer(&args[0]))
	if socketcall {
		*words = [4]uint32{uint32(fd), 1}
		_, err = sys32(ia32Socketcall, sysListen, addr(args), 0, 0)
	} else {
		_, err = sys32(ia32Listen, uintptr(fd), 1, 0, 0)
	}
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return err
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port))
	if err != nil {
		return err
	}
	defer c.Close()
	var nfd uintptr
	if socketcall {
		*words = [4]uint32{uint32(fd), 0, 0}
		nfd, err = sys32(ia32Socketcall, sysAccept, addr(args), 0, 0)
	} else {
		nfd, err = sys32(ia32Accept4, uintptr(fd), 0, 0, 0)
	}
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	return unix.Close(int(nfd))
}
