//go:build linux

package sensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
)

// Op says what a record reports.
type Op uint8

// Record opcodes, mirrored from enum vigil_op in bpf/headers/common.h.
const (
	OpExec  = Op(processVigilOpOP_EXEC)
	OpExit  = Op(processVigilOpOP_EXIT)
	OpFork  = Op(processVigilOpOP_FORK)
	OpIter  = Op(processVigilOpOP_ITER)
	OpAlert = Op(processVigilOpOP_ALERT)
)

// Flags on process records, mirrored from enum vigil_flags.
const (
	FlagTruncPath = uint32(processVigilFlagsFLAG_TRUNC_PATH)
	FlagTruncArgs = uint32(processVigilFlagsFLAG_TRUNC_ARGS)
	FlagTruncCwd  = uint32(processVigilFlagsFLAG_TRUNC_CWD)
	FlagKthread   = uint32(processVigilFlagsFLAG_KTHREAD)
	FlagNoMM      = uint32(processVigilFlagsFLAG_NO_MM)
	FlagLSM       = uint32(processVigilFlagsFLAG_LSM)
	FlagFmodRet   = uint32(processVigilFlagsFLAG_FMOD_RET)
	// FlagCompat marks an alert from a 32-bit (ia32) syscall: Access holds its
	// ia32 syscall number (syscall_32.tbl) for the syscall-kind events.
	FlagCompat = uint32(processVigilFlagsFLAG_COMPAT)
	// FlagIOUring marks an alert from an io_uring request's completion (an open
	// or accept done without its syscall).
	FlagIOUring = uint32(processVigilFlagsFLAG_IO_URING)
	// FlagIDMatch marks a file record a rule matched by the file's identity
	// (device, inode) and not by its path: a hard link or a bind mount.
	FlagIDMatch = uint32(processVigilFlagsFLAG_ID_MATCH)
	// FlagOpenFailed marks a failed open: there is no file, Raw is the path
	// the caller passed and Res the negative errno.
	FlagOpenFailed = uint32(processVigilFlagsFLAG_OPEN_FAILED)
	// FlagSubtreeMount marks a file record whose path crossed a mount showing
	// a subtree of its file system (a bind mount): Canonical is the file's path
	// in the host's mount namespace, also looked up in the rules, or "" when it
	// could not be resolved (then every prefix rule was a candidate).
	FlagSubtreeMount = uint32(processVigilFlagsFLAG_SUBTREE_MOUNT)
)

// Kernel counters, mirrored from enum vigil_counter.
const (
	CounterRingbufFull = int(processVigilCounterCNT_RINGBUF_FULL)
	CounterScratchMiss = int(processVigilCounterCNT_SCRATCH_MISS)
	CounterArgsFault   = int(processVigilCounterCNT_ARGS_FAULT)
	numCounters        = int(processVigilCounterCNT_MAX)
)

// rawProc is the kernel's record layout, generated from struct vigil_proc.
type rawProc = processVigilProc

const rawProcSize = int(unsafe.Sizeof(rawProc{}))

// ProcessOptions tune the process sensor at load time.
type ProcessOptions struct {
	// RingBufferSize is the ring buffer size in bytes: a power of two multiple of the page size.
	RingBufferSize int
	// ArgsMax bounds the argument bytes captured per exec (<= MaxArgsBytes).
	ArgsMax uint32
	// WakeupBytes: the kernel wakes the reader only when this many bytes are pending
	// (0 wakes it for every record). The reader must then poll with a deadline.
	WakeupBytes uint64
}

// Process is the loaded process sensor: exec, exit and fork hooks plus a task iterator.
type Process struct {
	objs  processObjects
	links []link.Link
	gen   uint32 // policy generation written to the selector
	// beforeWrite, when set, runs before each policy map write of Apply and
	// fails it by returning an error (a test seam for the rollback).
	beforeWrite func(mapName string) error
}

// LoadProcess loads the process sensor's programs and maps into the kernel,
// without attaching them.
func LoadProcess(o ProcessOptions) (*Process, error) {
	if err := checkRingSize(o.RingBufferSize); err != nil {
		return nil, err
	}
	if o.ArgsMax == 0 || o.ArgsMax > uint32(MaxArgsBytes) {
		return nil, fmt.Errorf("args max %d out of range 1..%d", o.ArgsMax, MaxArgsBytes)
	}
	spec, err := loadProcess()
	if err != nil {
		return nil, fmt.Errorf("reading process sensor object: %w", err)
	}
	spec.Maps[processMapEvents].MaxEntries = uint32(o.RingBufferSize)
	if err := spec.Variables["args_max"].Set(o.ArgsMax); err != nil {
		return nil, fmt.Errorf("setting args_max: %w", err)
	}
	if err := spec.Variables["wakeup_bytes"].Set(o.WakeupBytes); err != nil {
		return nil, fmt.Errorf("setting wakeup_bytes: %w", err)
	}
	p := &Process{}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("loading process sensor into the kernel: %w", explainLoadError(err))
	}
	return p, nil
}

// Attach attaches the exec, exit and fork hooks. Events start flowing into the ring buffer.
func (p *Process) Attach() error {
	for _, prog := range []*ebpf.Program{p.objs.HandleExec, p.objs.HandleExit, p.objs.HandleFork} {
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			return fmt.Errorf("attaching %s: %w", prog, err)
		}
		p.links = append(p.links, l)
	}
	return nil
}

// Events returns the ring buffer map the sensor writes to.
func (p *Process) Events() *ebpf.Map { return p.objs.Events }

// Counters returns the kernel's counters summed over CPUs, and the ring buffer
// loss per CPU.
func (p *Process) Counters() (sum [numCounters]uint64, ringFullPerCPU []uint64, err error) {
	return readCounters(p.objs.Counters)
}

// Snapshot runs the task iterator and calls fn for every process running now.
// The record passed to fn is reused between calls.
func (p *Process) Snapshot(fn func(*ProcEvent)) error {
	it, err := link.AttachIter(link.IterOptions{Program: p.objs.IterTasks})
	if err != nil {
		return fmt.Errorf("attaching task iterator: %w", err)
	}
	defer it.Close()
	rc, err := it.Open()
	if err != nil {
		return fmt.Errorf("opening task iterator: %w", err)
	}
	defer rc.Close()
	// Records are the fixed head up to the arguments, then args_len bytes.
	const argsOff = int(unsafe.Offsetof(rawProc{}.Args))
	const argsLenOff = int(unsafe.Offsetof(rawProc{}.ArgsLen))
	buf := make([]byte, rawProcSize)
	var ev ProcEvent
	for {
		if _, err := io.ReadFull(rc, buf[:argsOff]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading task iterator: %w", err)
		}
		n := int(binary.NativeEndian.Uint16(buf[argsLenOff:]))
		if n > MaxArgsBytes {
			return fmt.Errorf("task iterator record with %d argument bytes", n)
		}
		if _, err := io.ReadFull(rc, buf[argsOff:argsOff+n]); err != nil {
			return fmt.Errorf("reading task iterator: %w", err)
		}
		if err := DecodeProc(buf[:argsOff+n], &ev); err != nil {
			return err
		}
		fn(&ev)
	}
}

// Close detaches every hook and releases programs and maps. Nothing is pinned.
func (p *Process) Close() error {
	var errs []error
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	p.links = nil
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}

// ProcEvent is a decoded process record.
type ProcEvent struct {
	Op                   Op
	Flags                uint32
	KTime                uint64 // boot clock ns when the kernel saw it
	PID, TGID, PPID      uint32
	UID, GID, EUID, EGID uint32
	ExitCode             uint32 // raw wait status: exit status << 8 | terminating signal
	CgroupID             uint64
	StartBoottime        uint64
	ParentStartBoottime  uint64
	CgroupName           string
	CgroupParent         string
	Path                 string
	Cwd                  string
	Args                 []string
	// Exec records: the process.exec rules that matched (Match.Rules != 0).
	Match ExecMatch
	// Exec and iterator records: capability sets, audit login uid, controlling
	// terminal (tty_nr encoding), and the executable's identity and flags.
	CapEffective, CapPermitted, CapBounding uint64
	LoginUID, TTY                           uint32
	ExeDev, ExeFlags                        uint32
	ExeIno                                  uint64
	// Comm is the task name (exec and iterator records).
	Comm string
}

// Offsets into struct vigil_proc, from the generated layout.
var (
	offHead    = int(unsafe.Offsetof(rawProc{}.CgroupName)) // exit and fork records stop here
	offArgs    = int(unsafe.Offsetof(rawProc{}.Args))
	offCgName  = int(unsafe.Offsetof(rawProc{}.CgroupName))
	offCgPar   = int(unsafe.Offsetof(rawProc{}.CgroupParent))
	offPath    = int(unsafe.Offsetof(rawProc{}.Path))
	offComm    = int(unsafe.Offsetof(rawProc{}.Comm))
	lenComm    = len(rawProc{}.Comm)
	offCwd     = int(unsafe.Offsetof(rawProc{}.Cwd))
	lenCgName  = len(rawProc{}.CgroupName)
	lenPathBuf = len(rawProc{}.Path)
)

// DecodeProc decodes one process record from the ring buffer or the iterator.
// Records carry only the used part of the argument buffer; exit and fork records
// stop before the cgroup names. Only the fixed head is read through the generated
// struct; strings are cut straight from the record.
func DecodeProc(b []byte, ev *ProcEvent) error {
	if len(b) < offHead {
		return fmt.Errorf("process record too short: %d bytes", len(b))
	}
	var head rawProc
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&head)), offHead), b[:offHead])
	*ev = ProcEvent{
		Op: Op(head.Hdr.Op), Flags: head.Hdr.Flags, KTime: head.Hdr.Ktime,
		PID: head.Pid, TGID: head.Tgid, PPID: head.Ppid,
		UID: head.Uid, GID: head.Gid, EUID: head.Euid, EGID: head.Egid,
		ExitCode: head.ExitCode, CgroupID: head.CgroupId,
		StartBoottime: head.StartBoottime, ParentStartBoottime: head.ParentStartBoottime,
	}
	if head.Matched != 0 {
		ev.Match = ExecMatch{Rules: head.Rules, Action: head.Action, Applied: head.Applied != 0}
	}
	if len(b) == offHead {
		return nil
	}
	if len(b) < offArgs {
		return fmt.Errorf("process record truncated: %d bytes", len(b))
	}
	// The fixed fields between the cgroup names and the strings.
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&head)), offPath)[offHead:], b[offHead:offPath])
	ev.CapEffective, ev.CapPermitted, ev.CapBounding = head.CapEffective, head.CapPermitted, head.CapBset
	ev.LoginUID, ev.TTY = head.Loginuid, head.Tty
	ev.ExeDev, ev.ExeFlags, ev.ExeIno = head.ExeDev, head.ExeFlags, head.ExeIno
	ev.Comm = cstr(b[offComm : offComm+lenComm])
	ev.CgroupName = cstr(b[offCgName : offCgName+lenCgName])
	ev.CgroupParent = cstr(b[offCgPar : offCgPar+lenCgName])
	ev.Path = cstr(b[offPath : offPath+min(int(head.PathLen), lenPathBuf)])
	ev.Cwd = cstr(b[offCwd : offCwd+min(int(head.CwdLen), lenPathBuf)])
	n := min(int(head.ArgsLen), len(b)-offArgs)
	ev.Args = splitArgs(b[offArgs : offArgs+n])
	return nil
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// splitArgs splits a NUL-separated argument vector. A truncated last argument is kept.
func splitArgs(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}

func checkRingSize(n int) error {
	page := os.Getpagesize()
	if n < page || n%page != 0 || (n/page)&(n/page-1) != 0 {
		return fmt.Errorf("ring buffer size %d is not a power of two number of %d-byte pages", n, page)
	}
	return nil
}

func readCounters(m *ebpf.Map) (sum [numCounters]uint64, ringFullPerCPU []uint64, err error) {
	for i := range numCounters {
		var per []uint64
		if err := m.Lookup(uint32(i), &per); err != nil {
			return sum, nil, fmt.Errorf("reading counter %d: %w", i, err)
		}
		for _, v := range per {
			sum[i] += v
		}
		if i == CounterRingbufFull {
			ringFullPerCPU = per
		}
	}
	return sum, ringFullPerCPU, nil
}

// NewReader opens a ring buffer reader on a sensor's event map.
func NewReader(m *ebpf.Map) (*ringbuf.Reader, error) { return ringbuf.NewReader(m) }

// explainLoadError turns the kernel's refusals into a sentence. A verifier log is
// kept, wrapped, for those who need it.
func explainLoadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("the kernel's verifier rejected a sensor program (kernel too old or unsupported configuration): %w", err)
	}
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("the kernel refused to load eBPF programs (missing CAP_BPF/CAP_PERFMON, or a lockdown/LSM policy forbids it): %w", err)
	}
	return err
}
