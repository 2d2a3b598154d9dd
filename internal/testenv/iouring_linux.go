package testenv

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A minimal io_uring (raw syscalls, one request at a time) for tests of what
// io_uring does without the syscalls it replaces.

const (
	sysIOUringSetup = 425
	sysIOUringEnter = 426

	ioringOffSQRing = 0
	ioringOffCQRing = 0x8000000
	ioringOffSQEs   = 0x10000000

	ioringEnterGetEvents = 1

	ioringOpAccept = 13
	ioringOpOpenat = 18
)

type ioSQOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

type ioCQOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, CQEs, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

type ioUringParams struct {
	SQEntries, CQEntries, Flags, SQThreadCPU, SQThreadIdle, Features, WQFd uint32
	Resv                                                                   [3]uint32
	SQOff                                                                  ioSQOffsets
	CQOff                                                                  ioCQOffsets
}

// ioSQE is struct io_uring_sqe (64 bytes) with the fields these tests use.
type ioSQE struct {
	Opcode    uint8
	Flags     uint8
	Ioprio    uint16
	Fd        int32
	Off       uint64
	Addr      uint64
	Len       uint32
	OpFlags   uint32 // open_flags, accept_flags
	UserData  uint64
	BufIndex  uint16
	Persona   uint16
	FileIndex uint32
	Addr3     uint64
	Pad       uint64
}

type ioUring struct {
	fd         int
	sq, cq     []byte
	sqes       []byte
	p          ioUringParams
	closeFuncs []func() error
}

func newIOUring() (*ioUring, error) {
	u := &ioUring{}
	fd, _, errno := unix.Syscall(sysIOUringSetup, 4, uintptr(unsafe.Pointer(&u.p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	u.fd = int(fd)
	mm := func(off int64, n int) ([]byte, error) {
		b, err := unix.Mmap(u.fd, off, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return nil, fmt.Errorf("mapping io_uring at %#x: %w", off, err)
		}
		u.closeFuncs = append(u.closeFuncs, func() error { return unix.Munmap(b) })
		return b, nil
	}
	var err error
	if u.sq, err = mm(ioringOffSQRing, int(u.p.SQOff.Array+u.p.SQEntries*4)); err != nil {
		return nil, errors.Join(err, u.close())
	}
	if u.cq, err = mm(ioringOffCQRing, int(u.p.CQOff.CQEs+u.p.CQEntries*16)); err != nil {
		return nil, errors.Join(err, u.close())
	}
	if u.sqes, err = mm(ioringOffSQEs, int(u.p.SQEntries*64)); err != nil {
		return nil, errors.Join(err, u.close())
	}
	return u, nil
}

func (u *ioUring) close() error {
	var errs []error
	for _, f := range u.closeFuncs {
		errs = append(errs, f())
	}
	return errors.Join(append(errs, unix.Close(u.fd))...)
}

func u32(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// do submits one request and waits for its completion; it returns the
// completion's result (a descriptor) or its errno.
func (u *ioUring) do(sqe ioSQE) (int, error) {
	tail := atomic.LoadUint32(u32(u.sq, u.p.SQOff.Tail))
	idx := tail & *u32(u.sq, u.p.SQOff.RingMask)
	*(*ioSQE)(unsafe.Pointer(&u.sqes[idx*64])) = sqe
	*u32(u.sq, u.p.SQOff.Array+idx*4) = idx
	atomic.StoreUint32(u32(u.sq, u.p.SQOff.Tail), tail+1)
	if _, _, errno := unix.Syscall6(sysIOUringEnter, uintptr(u.fd), 1, 1, ioringEnterGetEvents, 0, 0); errno != 0 {
		return 0, fmt.Errorf("io_uring_enter: %w", errno)
	}
	head := atomic.LoadUint32(u32(u.cq, u.p.CQOff.Head))
	if head == atomic.LoadUint32(u32(u.cq, u.p.CQOff.Tail)) {
		return 0, errors.New("io_uring: no completion")
	}
	off := u.p.CQOff.CQEs + (head&*u32(u.cq, u.p.CQOff.RingMask))*16
	res := int32(*u32(u.cq, off+8))
	atomic.StoreUint32(u32(u.cq, u.p.CQOff.Head), head+1)
	if res < 0 {
		return 0, syscall.Errno(-res)
	}
	return int(res), nil
}

// iouringDo runs the helper actions named iouring-ACT.
func iouringDo(act string) error {
	u, err := newIOUring()
	if err != nil {
		return err
	}
	defer u.close()
	name, arg, _ := strings.Cut(act, ":")
	switch name {
	case "openat": // IORING_OP_OPENAT of PATH read-only
		p := append([]byte(arg), 0)
		atFdcwd := int32(-100)
		fd, err := u.do(ioSQE{Opcode: ioringOpOpenat, Fd: atFdcwd, Addr: uint64(uintptr(unsafe.Pointer(&p[0]))), OpFlags: unix.O_RDONLY | unix.O_CLOEXEC})
		runtime.KeepAlive(p)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	case "accept": // a listener on 127.0.0.1 and one IORING_OP_ACCEPT
		lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(lfd)
		if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return err
		}
		if err := unix.Listen(lfd, 1); err != nil {
			return err
		}
		sa, err := unix.Getsockname(lfd)
		if err != nil {
			return err
		}
		cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(cfd)
		if err := unix.Connect(cfd, sa); err != nil {
			return err
		}
		fd, err := u.do(ioSQE{Opcode: ioringOpAccept, Fd: int32(lfd)})
		if err != nil {
			return err
		}
		return unix.Close(fd)
	}
	return fmt.Errorf("unknown io_uring helper action %q", act)
}
