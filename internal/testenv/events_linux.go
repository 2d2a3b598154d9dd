//go:build linux

package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// eventAction does the helper actions of the link, symlink, socket, dup and
// ptrace events; ok is false for any other action. Actions with an argument
// are "NAME:ARG".
func eventAction(act string) (ok bool, err error) {
	name, arg, _ := strings.Cut(act, ":")
	switch name {
	case "link": // ARG/orig hard-linked as ARG/hard (link) and ARG/hard2 (linkat, relative to ARG's descriptor)
		return true, linkFiles(arg)
	case "symlink": // ARG/sym -> /etc/shadow (symlink), ARG/sym2 -> /etc/hostname (symlinkat, relative)
		return true, symlinkFiles(arg)
	case "symlink-long": // ARG/long -> a 600-byte target (a symlink's target need not exist)
		return true, os.Symlink("/"+strings.Repeat("t", 599), filepath.Join(arg, "long"))
	case "sockets": // AF_PACKET raw and AF_INET raw (reported), TCP, UDP, unix and netlink (not)
		return true, makeSockets(false)
	case "sockets-everyday": // TCP, UDP, unix and netlink only: what no network.socket rule names
		return true, makeSockets(true)
	case "dups": // a TCP socket onto fd 0 four ways (reported); onto a spare fd above 2, and a pipe onto fd 0 (not)
		return true, nativeABI().dupSockets()
	case "ptrace-requests": // ATTACH, POKEDATA, SETREGSET (reported); PEEKDATA, GETREGS, DETACH (not)
		return true, withSleepingChild(ptraceRequests)
	case "traceme":
		return true, nativeABI().traceme()
	}
	return false, nil
}

func linkFiles(dir string) error {
	orig := filepath.Join(dir, "orig")
	if err := os.WriteFile(orig, []byte("x"), 0o600); err != nil {
		return err
	}
	o, h := append([]byte(orig), 0), append([]byte(filepath.Join(dir, "hard")), 0)
	if err := rawErr(unix.Syscall(unix.SYS_LINK, uintptr(unsafe.Pointer(&o[0])), uintptr(unsafe.Pointer(&h[0])), 0)); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	d, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	return unix.Linkat(d, "orig", d, "hard2", 0)
}

func symlinkFiles(dir string) error {
	t, l := append([]byte("/etc/shadow"), 0), append([]byte(filepath.Join(dir, "sym")), 0)
	if err := rawErr(unix.Syscall(unix.SYS_SYMLINK, uintptr(unsafe.Pointer(&t[0])), uintptr(unsafe.Pointer(&l[0])), 0)); err != nil {
		return fmt.Errorf("symlink: %w", err)
	}
	d, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(d)
	return unix.Symlinkat("/etc/hostname", d, "sym2")
}

func makeSockets(everydayOnly bool) error {
	socks := [][3]int{
		{unix.AF_PACKET, unix.SOCK_RAW, 0x0300}, // ETH_P_ALL in network order
		{unix.AF_INET, unix.SOCK_RAW | unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP},
		{unix.AF_INET, unix.SOCK_STREAM, 0},
		{unix.AF_INET6, unix.SOCK_DGRAM, 0},
		{unix.AF_UNIX, unix.SOCK_STREAM, 0},
		{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE},
	}
	if everydayOnly {
		socks = socks[2:]
	}
	for _, s := range socks {
		fd, err := unix.Socket(s[0], s[1], s[2])
		if errors.Is(err, unix.EAFNOSUPPORT) && s[0] != unix.AF_INET {
			// A kernel without that family (a module not loaded in a bare VM): the
			// call was still made, and the hooks see it before the family lookup.
			continue
		}
		if err != nil {
			return fmt.Errorf("socket(%d, %d, %d): %w", s[0], s[1], s[2], err)
		}
		unix.Close(fd)
	}
	return nil
}

// tracemeQuiet does PTRACE_TRACEME (through do) with every signal blocked on
// this thread (helperDo locked it), until the helper exits. Once traced, any
// signal to the thread (the runtime's preemption SIGURG, sent when a goroutine
// runs 10 ms, as it can on an emulated CPU) stops it for its tracer, the test,
// which only waits for exits: the helper would hang there for good.
func tracemeQuiet(do func() error) error {
	var all unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^all.Val[i]
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, nil); err != nil {
		return fmt.Errorf("blocking signals: %w", err)
	}
	return do()
}

// spareFD opens /dev/null and returns its descriptor, above 2, for a dup onto a
// descriptor that is not 0, 1 or 2. A fixed number would not do: the descriptor
// may be the Go runtime's own (its epoll instance is 5 in some runs), and a
// socket put there makes the runtime's next epoll_wait fail, which it treats as
// fatal (exit status 2).
func spareFD() (int, error) {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening /dev/null: %w", err)
	}
	if fd <= 2 {
		unix.Close(fd)
		return -1, fmt.Errorf("/dev/null opened as descriptor %d: 0, 1 and 2 should be taken", fd)
	}
	return fd, nil
}

// ptraceRequests traces pid, a child of the helper's own.
func ptraceRequests(pid int) error {
	if err := syscall.PtraceAttach(pid); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, syscall.WALL, nil); err != nil {
		return fmt.Errorf("waiting for the stop: %w", err)
	}
	var regs syscall.PtraceRegs
	if err := syscall.PtraceGetRegs(pid, &regs); err != nil {
		return fmt.Errorf("getregs: %w", err)
	}
	word := make([]byte, 8)
	at := uintptr(regs.Rip) &^ 7 // aligned: one PEEKDATA and one POKEDATA per word
	if _, err := syscall.PtracePeekData(pid, at, word); err != nil {
		return fmt.Errorf("peekdata: %w", err)
	}
	if _, err := syscall.PtracePokeData(pid, at, word); err != nil { // the same bytes back
		return fmt.Errorf("pokedata: %w", err)
	}
	if err := syscall.PtraceSetRegs(pid, &regs); err != nil { // the same registers back
		return fmt.Errorf("setregs: %w", err)
	}
	return syscall.PtraceDetach(pid)
}
