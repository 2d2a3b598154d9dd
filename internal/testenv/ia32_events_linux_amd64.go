package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ia32 numbers of the link, symlink, socket and dup calls.
const (
	ia32Link      = 9
	ia32Dup       = 41
	ia32Dup2      = 63
	ia32Symlink   = 83
	ia32Fcntl64   = 221
	ia32Linkat    = 303
	ia32Symlinkat = 304
	ia32Dup3      = 330
	ia32Socket    = 359

	sysSocket = 1 // socketcall's socket
	atFdcwd32 = 0xffffff9c
)

// ia32EventAction does the ia32-ACT helper actions of the link, symlink, socket,
// dup and ptrace events; ok is false for any other.
func ia32EventAction(name, arg string) (ok bool, err error) {
	switch name {
	case "links": // link, linkat, symlink and symlinkat in ARG
		return true, ia32Links(arg)
	case "sockets": // AF_PACKET by socket, raw AF_INET by socketcall (reported); TCP by socket (not)
		return true, ia32Sockets()
	case "dups": // a TCP socket onto fd 0 by dup2, dup3, fcntl64 and dup (reported); onto a spare fd above 2, and a pipe onto 0 (not)
		return true, ia32ABI().dupSockets()
	case "traceme":
		return true, ia32ABI().traceme()
	}
	return false, nil
}

func ia32Links(dir string) error {
	var strs [6][]byte
	for i, s := range []string{filepath.Join(dir, "orig"), filepath.Join(dir, "hard"), filepath.Join(dir, "hard2"),
		"/etc/shadow", filepath.Join(dir, "sym"), filepath.Join(dir, "sym2")} {
		b, err := lowString(s)
		if err != nil {
			return err
		}
		strs[i] = b
	}
	if err := os.WriteFile(filepath.Join(dir, "orig"), []byte("x"), 0o600); err != nil {
		return err
	}
	steps := []struct {
		what                   string
		nr, bx, cx, dx, si, di uintptr
	}{
		{"link", ia32Link, addr(strs[0]), addr(strs[1]), 0, 0, 0},
		{"linkat", ia32Linkat, atFdcwd32, addr(strs[0]), atFdcwd32, addr(strs[2]), 0},
		{"symlink", ia32Symlink, addr(strs[3]), addr(strs[4]), 0, 0, 0},
		{"symlinkat", ia32Symlinkat, addr(strs[3]), atFdcwd32, addr(strs[5]), 0, 0},
	}
	for _, s := range steps {
		if r := int64(int32(int80(s.nr, s.bx, s.cx, s.dx, s.si, s.di))); r < 0 {
			return fmt.Errorf("ia32 %s: %w", s.what, unix.Errno(-r))
		}
	}
	return nil
}

func ia32Sockets() error {
	fd, err := sys32(ia32Socket, unix.AF_PACKET, unix.SOCK_RAW, 0x0300, 0)
	switch {
	case errors.Is(err, unix.EAFNOSUPPORT): // no AF_PACKET in this kernel: the call was still made
	case err != nil:
		return fmt.Errorf("socket AF_PACKET: %w", err)
	default:
		unix.Close(int(fd))
	}
	args, err := low32(16)
	if err != nil {
		return err
	}
	*(*[3]uint32)(unsafe.Pointer(&args[0])) = [3]uint32{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP}
	if fd, err = sys32(ia32Socketcall, sysSocket, addr(args), 0, 0); err != nil {
		return fmt.Errorf("socketcall socket: %w", err)
	}
	unix.Close(int(fd))
	if fd, err = sys32(ia32Socket, unix.AF_INET, unix.SOCK_STREAM, 0, 0); err != nil {
		return fmt.Errorf("socket AF_INET: %w", err)
	}
	return unix.Close(int(fd))
}
