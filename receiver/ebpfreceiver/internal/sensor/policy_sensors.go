//go:build linux

package sensor

import (
	"errors"
	"fmt"
	"maps"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/catalog"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// Policy holds the policy-driven sensors (file, network, syscalls). They share
// the process sensor's maps, and each hook is attached only while a rule needs it.
type Policy struct {
	file fileObjects
	net  netObjects
	sys  sysObjects
	// lsm are the in-kernel hooks on the security functions: BPF LSM programs,
	// or (fmodRet) the same programs built as fmod_ret on security_* where BPF
	// LSM is not active. nil when neither loaded.
	lsm     *lsmObjects
	fmodRet bool
	closed  bool
	links   map[string]link.Link
	// setidFallback: why the set*id tracepoints did not attach (privilegeHooks).
	setidFallback error
	// tracepoint attaches a per-syscall tracepoint (link.Tracepoint; a test
	// makes it fail to run the fallback where tracefs exists).
	tracepoint func(group, name string, prog *ebpf.Program, opts *link.TracepointOptions) (link.Link, error)
	direct     map[string]bool // sensors loaded in their direct-load build
	// slowWhy says why a sensor's direct-load build was refused (it runs the
	// helper-call build): logged, since that build costs more per event.
	slowWhy map[string]error
	// CgroupRoot is where cgroup/connect programs are attached (the cgroup2 root).
	cgroupRoot string
	mounts     *mountRefresh
}

// Hooks says which in-kernel hooks on the kernel's security functions to try.
type Hooks struct {
	LSM     bool // BPF LSM programs attach and run
	FmodRet bool // fmod_ret programs attach (BPF trampolines: the fentry capability)
}

// LoadPolicy loads the file, network and syscall sensors, sharing p's maps, and
// the in-kernel hooks on the kernel's security functions: the BPF LSM build
// where BPF LSM works, else the fmod_ret build where trampolines work. Both
// report and deny alike. A hook sensor that does not load is left out and its
// error returned in hookErr: the other sensors work without it.
func LoadPolicy(p *Process, wakeupBytes uint64, cgroupRoot string, hooks Hooks) (s *Policy, hookErr error, err error) {
	s, err = loadPolicy(p, wakeupBytes, cgroupRoot)
	if err != nil {
		return s, nil, err
	}
	var objs lsmObjects
	if hooks.LSM {
		if s.direct["lsm"], hookErr = loadFastOrSlow(p, "BPF LSM", loadLsmFast, loadLsm, wakeupBytes, &objs, s.slowWhy); hookErr == nil {
			s.lsm = &objs
			return s, nil, nil
		}
	}
	if hooks.FmodRet {
		var ferr error
		if s.direct["lsm"], ferr = loadFastOrSlow(p, "fmod_ret", loadFmodretFast, loadFmodret, wakeupBytes, &objs, s.slowWhy); ferr == nil {
			s.lsm, s.fmodRet = &objs, true
			return s, hookErr, nil
		}
		hookErr = errors.Join(hookErr, ferr)
	}
	return s, hookErr, nil
}

// SecurityHooks names the in-kernel hook sensor: "bpf_lsm", "fmod_ret" or "".
func (s *Policy) SecurityHooks() string {
	switch {
	case s.lsm == nil:
		return ""
	case s.fmodRet:
		return "fmod_ret"
	}
	return "bpf_lsm"
}

// loadFastOrSlow loads the direct-load build of a sensor (VIGIL_CORE_CAST: needs
// the bpf_rdonly_cast kfunc, 6.2+) and, where it does not load, the helper-call
// build of the same source. Both have the same maps and programs, so both
// assign to the same objects struct.
// why, when not nil, gets the direct-load build's error when the other one loads.
func loadFastOrSlow(p *Process, name string, fast, slow func() (*ebpf.CollectionSpec, error), wakeupBytes uint64, to any, why map[string]error) (direct bool, err error) {
	spec, err := fast()
	fastErr := loadShared(p, name, spec, err, wakeupBytes, to)
	if fastErr == nil {
		return true, nil
	}
	spec, err = slow()
	if err := loadShared(p, name, spec, err, wakeupBytes, to); err != nil {
		return false, err
	}
	if why != nil {
		why[name] = fastErr
	}
	return false, nil
}

// HelperCallBuilds says, per sensor running its helper-call build, why the
// direct-load build was refused: the missing bpf_rdonly_cast kfunc before
// Linux 6.2 is expected; anything else (a verifier limit) is a defect to
// report, as that build costs more per event.
func (s *Policy) HelperCallBuilds() map[string]error { return maps.Clone(s.slowWhy) }

// DirectLoads lists the sensors ("file", "lsm": the security hooks) loaded in their direct-load
// build (kernels with bpf_rdonly_cast), for logs and tests.
func (s *Policy) DirectLoads() []string {
	var out []string
	for _, n := range []string{"file", "lsm"} {
		if s.direct[n] {
			out = append(out, n)
		}
	}
	return out
}

// HasLSM reports whether the in-kernel hooks on the security functions are
// loaded (BPF LSM, or its fmod_ret build): they carry the file and syscall-kind
// rules and can deny.
func (s *Policy) HasLSM() bool { return s.lsm != nil }

// loadShared loads one sensor object with the process sensor's maps.
func loadShared(p *Process, name string, spec *ebpf.CollectionSpec, err error, wakeupBytes uint64, to any) error {
	if err != nil {
		return fmt.Errorf("reading %s sensor object: %w", name, err)
	}
	if v, ok := spec.Variables["wakeup_bytes"]; ok {
		if err := v.Set(wakeupBytes); err != nil {
			return err
		}
	}
	shared := p.sharedMaps()
	repl := map[string]*ebpf.Map{}
	for n, ms := range spec.Maps {
		if m, ok := shared[n]; ok {
			ms.MaxEntries = m.MaxEntries() // the ring buffer is sized at load time
			repl[n] = m
		}
	}
	if err := spec.LoadAndAssign(to, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		return fmt.Errorf("loading %s sensor into the kernel: %w", name, explainLoadError(err))
	}
	return nil
}

func loadPolicy(p *Process, wakeupBytes uint64, cgroupRoot string) (*Policy, error) {
	s := &Policy{links: map[string]link.Link{}, cgroupRoot: cgroupRoot, direct: map[string]bool{}, slowWhy: map[string]error{},
		tracepoint: link.Tracepoint}
	load := func(name string, spec *ebpf.CollectionSpec, err error, to any) error {
		return loadShared(p, name, spec, err, wakeupBytes, to)
	}
	var err error
	if s.direct["file"], err = loadFastOrSlow(p, "file", loadFileFast, loadFile, wakeupBytes, &s.file, s.slowWhy); err != nil {
		return nil, err
	}
	ns, err := loadNet()
	if err := load("network", ns, err, &s.net); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	ss, err := loadSys()
	if err := load("syscall", ss, err, &s.sys); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.mounts = startMountRefresh(p, HostMountinfo, MountRefreshInterval)
	return s, nil
}

// secHook returns the program of one in-kernel hook (LSM hook name): lsm/NAME,
// or fmod_ret/security_NAME in the fmod_ret build.
func (s *Policy) secHook(name string) lsmHook {
	o := s.lsm
	prog := map[string]*ebpf.Program{
		"file_open": o.LsmFileOpen, "file_permission": o.LsmFilePermission,
		"path_unlink": o.LsmPathUnlink, "path_rename": o.LsmPathRename, "path_chmod": o.LsmPathChmod,
		"bprm_check_security": o.LsmBprmCheck,
		"task_fix_setuid":     o.LsmTaskFixSetuid, "task_fix_setgid": o.LsmTaskFixSetgid, "capset": o.LsmCapset,
		"kernel_read_file": o.LsmKernelReadFile, "kernel_load_data": o.LsmKernelLoadData,
		"bpf": o.LsmBpf, "ptrace_access_check": o.LsmPtraceAccessCheck, "ptrace_traceme": o.LsmPtraceTraceme,
		"socket_create": o.LsmSocketCreate,
	}[name]
	if !s.fmodRet {
		return lsmHook{"lsm/" + name, prog}
	}
	fn := "security_" + name
	if name == "bprm_check_security" {
		fn = "security_bprm_check"
	}
	return lsmHook{"fmod_ret/" + fn, prog}
}

type lsmHook struct {
	name string
	prog *ebpf.Program
}

// lsmHooks attaches BPF LSM or fmod_ret programs that are not attached yet.
func (s *Policy) lsmHooks(hooks ...lsmHook) error {
	var errs []error
	for _, h := range hooks {
		if _, ok := s.links[h.name]; ok {
			continue
		}
		var l link.Link
		var err error
		if s.fmodRet {
			l, err = link.AttachTracing(link.TracingOptions{Program: h.prog})
		} else {
			l, err = link.AttachLSM(link.LSMOptions{Program: h.prog})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("attaching %s: %w", h.name, err))
			continue
		}
		s.links[h.name] = l
	}
	return errors.Join(errs...)
}

// Ensure attaches the hooks an attach plan needs. Hooks stay attached once
// used (an idle hook costs a map lookup per event); Close detaches everything.
func (s *Policy) Ensure(c *AttachPlan) error {
	var errs []error
	if c.Kinds[KindFile] && !c.fileLSM {
		errs = append(errs, s.sysExit(), s.ioUring("file_io_uring_complete", s.file.FileIoUringComplete))
	}
	inKernel := s.HasLSM()
	if c.NeedsLSM && !inKernel {
		errs = append(errs, errors.New("a rule needs the BPF LSM (or fmod_ret) sensor, which is not loaded"))
	}
	if inKernel && c.fileOpenOnLSM() {
		// (Attached once; from then on file rules move between hooks with map updates.)
		errs = append(errs, s.lsmHooks(s.secHook("file_open")))
	}
	if inKernel && c.ExecLSM {
		errs = append(errs, s.lsmHooks(s.secHook("bprm_check_security")))
	}
	if inKernel {
		for ev := range c.PathEvents {
			for _, name := range securityHooks(ev) {
				errs = append(errs, s.lsmHooks(s.secHook(name)))
			}
		}
	}
	if inKernel && c.writeOnLSM() {
		errs = append(errs, s.lsmHooks(s.secHook("file_permission")))
	}
	for ev := range c.SysLSM {
		if !inKernel {
			errs = append(errs, fmt.Errorf("%s rules need the BPF LSM (or fmod_ret) sensor, which is not loaded", ev))
			continue
		}
		for _, name := range securityHooks(ev) {
			errs = append(errs, s.lsmHooks(s.secHook(name)))
		}
	}
	if c.NetEvents[policy.EventNetworkConnect] {
		// connect, and the unconnected datagrams that never pass connect.
		errs = append(errs, s.cgroup("connect4", s.net.NetConnect4, ebpf.AttachCGroupInet4Connect),
			s.cgroup("connect6", s.net.NetConnect6, ebpf.AttachCGroupInet6Connect),
			s.cgroup("sendmsg4", s.net.NetSendmsg4, ebpf.AttachCGroupUDP4Sendmsg),
			s.cgroup("sendmsg6", s.net.NetSendmsg6, ebpf.AttachCGroupUDP6Sendmsg))
	}
	if c.NetEvents[policy.EventNetworkAccept] || c.NetEvents[policy.EventNetworkListen] {
		errs = append(errs, s.ioUring("net_io_uring_complete", s.net.NetIoUringComplete))
	}
	// The syscall-kind events on the syscall hooks, told which by sys_hooked (an
	// event whose rules all moved to the security hooks drops out of it):
	// privilege.change on the one program on syscall entry, the others on the
	// syscall sensor's exit handler, which the sys_exit dispatcher tail-calls.
	var hooked uint64
	enter, exit := false, false
	for ev := range c.SysEvents {
		if !c.sysOnTracepoints(ev) {
			continue // all on LSM hooks
		}
		id, _, _ := kernelEvent(ev)
		hooked |= 1 << id
		if ev == policy.EventPrivilegeChange {
			enter = true
		} else {
			exit = true
		}
	}
	if err := s.sys.SysHooked.Update(uint32(0), hooked, ebpf.UpdateAny); err != nil {
		errs = append(errs, fmt.Errorf("updating sys_hooked: %w", err))
	}
	if enter {
		errs = append(errs, s.privilegeHooks())
	}
	exits := s.file.SysExitTails
	if exit {
		errs = append(errs, s.placeHandler(exits, s.file.SysExitTailsOn, s.sys.SysExitAll, sysExitSlots), s.sysExit())
	}
	// accept and listen, x86_64 and ia32: the network sensor's exit handler. The
	// ia32 socketcall slot is the syscall sensor's (socket()), which passes the
	// other calls on to the network sensor's (sys_exit_next).
	accept, listen := c.NetEvents[policy.EventNetworkAccept], c.NetEvents[policy.EventNetworkListen]
	if accept || listen {
		var slots []uint32
		if accept {
			slots = append(slots, unix.SYS_ACCEPT, unix.SYS_ACCEPT4, dispatchNR+nr32Accept4)
		}
		if listen {
			slots = append(slots, unix.SYS_LISTEN, dispatchNR+nr32Listen)
		}
		errs = append(errs, s.placeHandler(exits, s.file.SysExitTailsOn, s.net.NetSysExit, slots),
			s.placeHandler(exits, s.file.SysExitTailsOn, s.sys.SysExitAll, []uint32{dispatchNR + nr32Socketcall}),
			s.placeHandler(s.sys.SysExitNext, s.sys.SysExitNextOn, s.net.NetSysExit, []uint32{dispatchNR + nr32Socketcall}),
			s.sysExit())
	}
	return errors.Join(errs...)
}

// The syscall numbers the network and syscall sensors' handlers are placed at
// in the sys_exit dispatcher's program array (bpf/dispatch.h): x86_64 slots are
// the number, ia32 slots dispatchNR + the ia32 number (syscall_32.tbl). These
// are the numbers of bpf/sys.h, bpf/compat.h and bpf/net.bpf.c.
const (
	dispatchNR     = 512
	nr32Socketcall = 102
	nr32Listen     = 363
	nr32Accept4    = 364
)

// sysExitSlots are the syscalls the syscall sensor decides on exit: every
// syscall-kind event's but privilege.change's (x86_64 set*id and capset: on
// entry; their ia32 twins, ia32SetidSlots, are placed with those hooks).
var sysExitSlots = append([]uint32{
	unix.SYS_SETNS, unix.SYS_UNSHARE, unix.SYS_CLONE, unix.SYS_CLONE3, unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE,
	unix.SYS_BPF, unix.SYS_PTRACE, unix.SYS_LINK, unix.SYS_LINKAT, unix.SYS_SYMLINK, unix.SYS_SYMLINKAT,
	unix.SYS_SOCKET, unix.SYS_DUP, unix.SYS_DUP2, unix.SYS_DUP3, unix.SYS_FCNTL,
},
	// ia32: link 9, linkat 303, symlink 83, symlinkat 304, socket 359, socketcall 102,
	// dup 41, dup2 63, dup3 330, fcntl 55, fcntl64 221, ptrace 26, unshare 310,
	// setns 346, clone 120, clone3 435, init_module 128, finit_module 350, bpf 357.
	ia32Slots(9, 303, 83, 304, 359, nr32Socketcall, 41, 63, 330, 55, 221, 26, 310, 346, 120, 435, 128, 350, 357)...)

func ia32Slots(nrs ...uint32) []uint32 {
	out := make([]uint32, len(nrs))
	for i, nr := range nrs {
		out[i] = dispatchNR + nr
	}
	return out
}

// setidSyscalls are the x86_64 syscalls of privilege.change, each with its own
// syscalls/sys_enter_NAME tracepoint: the catalog's syscall-entry hooks of the
// event, so that what is attached is what the catalog documents.
func setidSyscalls() []string {
	row, _ := catalog.Lookup(string(policy.EventPrivilegeChange))
	var out []string
	for _, h := range row.HooksOf(catalog.HookSyscallEnter) {
		out = append(out, h.Name)
	}
	return out
}

// ia32SetidSlots are the ia32 twins of setidSyscalls (16-bit setuid 23, setgid
// 46, setreuid 70, setregid 71, setfsuid 138, setfsgid 139, setresuid 164,
// setresgid 170; capset 185; setreuid32 203, setregid32 204, setresuid32 208,
// setresgid32 210, setuid32 213, setgid32 214, setfsuid32 215, setfsgid32 216),
// which those tracepoints never see: decided on exit.
var ia32SetidSlots = ia32Slots(23, 46, 70, 71, 138, 139, 164, 170, 185, 203, 204, 208, 210, 213, 214, 215, 216)

// privilegeHooks attaches privilege.change's syscall hooks: the syscall
// sensor's sys_enter_setid on the nine x86_64 syscalls' own tracepoints (a
// program there runs only on those syscalls) and its exit handler at the ia32
// twins' dispatch slots. Where the per-syscall tracepoints cannot attach (no
// tracefs, or a kernel without syscall tracepoints), sys_enter_all on the raw
// sys_enter tracepoint decides both ABIs instead, at the cost of a program run
// on every syscall of every task. Once one of the two is attached it stays.
func (s *Policy) privilegeHooks() error {
	if _, ok := s.links["sys_enter_all"]; ok {
		return nil
	}
	syscalls := setidSyscalls()
	if _, ok := s.links[setidLink(syscalls[0])]; ok {
		return nil
	}
	var tpErr error
	for _, name := range syscalls {
		l, err := s.tracepoint("syscalls", "sys_enter_"+name, s.sys.SysEnterSetid, nil)
		if err != nil {
			tpErr = fmt.Errorf("attaching tracepoint syscalls/sys_enter_%s: %w", name, err)
			break
		}
		s.links[setidLink(name)] = l
	}
	if tpErr == nil {
		return errors.Join(s.placeHandler(s.file.SysExitTails, s.file.SysExitTailsOn, s.sys.SysExitAll, ia32SetidSlots), s.sysExit())
	}
	for _, name := range syscalls {
		if l, ok := s.links[setidLink(name)]; ok {
			_ = l.Close()
			delete(s.links, setidLink(name))
		}
	}
	s.setidFallback = tpErr
	return s.rawTracepoint("sys_enter_all", s.sys.SysEnterAll)
}

// setidLink names the link of a set*id syscall's tracepoint.
func setidLink(syscall string) string { return "sys_enter_setid:" + syscall }

// PrivilegeFallback says why privilege.change is on the raw sys_enter
// tracepoint instead of the set*id syscalls' own (nil: it is not).
func (s *Policy) PrivilegeFallback() error { return s.setidFallback }

// sysExit attaches the one program on the raw sys_exit tracepoint, the file
// sensor's: it decides opens and writes and tail-calls the other sensors'
// handlers (dispatch.h), so it is attached for them too.
func (s *Policy) sysExit() error { return s.rawTracepoint("sys_exit", s.file.FileSysExit) }

// placeHandler puts a handler program in a dispatcher's program array at each
// slot and turns the array on. Handlers stay placed once used, like attached
// hooks: each decides with its own maps whether a rule wants the syscall.
func (s *Policy) placeHandler(tails, on *ebpf.Map, prog *ebpf.Program, slots []uint32) error {
	for _, slot := range slots {
		if err := tails.Update(slot, prog, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("placing a syscall handler at dispatch slot %d: %w", slot, err)
		}
	}
	if err := on.Update(uint32(0), uint32(1), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("turning the syscall dispatch on: %w", err)
	}
	return nil
}

// ioUring attaches a program to the io_uring/io_uring_complete tracepoint
// under name: requests that open files or accept connections without a
// syscall. Kernels without io_uring (or with its tracepoints off) have nothing
// to watch.
func (s *Policy) ioUring(name string, prog *ebpf.Program) error {
	if _, ok := s.links[name]; ok {
		return nil
	}
	if _, err := os.Stat("/sys/kernel/tracing/events/io_uring/io_uring_complete"); err != nil {
		return nil
	}
	l, err := link.Tracepoint("io_uring", "io_uring_complete", prog, nil)
	if err != nil {
		return fmt.Errorf("attaching tracepoint io_uring/io_uring_complete: %w", err)
	}
	s.links[name] = l
	return nil
}

// rawTracepoint attaches a tp_btf program (sys_enter or sys_exit) under name.
func (s *Policy) rawTracepoint(name string, prog *ebpf.Program) error {
	if _, ok := s.links[name]; ok {
		return nil
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("attaching tp_btf %s: %w", name, err)
	}
	s.links[name] = l
	return nil
}

func (s *Policy) cgroup(name string, prog *ebpf.Program, at ebpf.AttachType) error {
	if _, ok := s.links[name]; ok {
		return nil
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: s.cgroupRoot, Attach: at, Program: prog})
	if err != nil {
		return fmt.Errorf("attaching cgroup/%s to %s: %w", name, s.cgroupRoot, err)
	}
	s.links[name] = l
	return nil
}

// Attached lists the attached hooks, for logs and tests.
func (s *Policy) Attached() []string {
	out := make([]string, 0, len(s.links))
	for n := range s.links {
		out = append(out, n)
	}
	return out
}

// Close detaches every hook and frees the programs (the shared maps belong to
// the process sensor).
func (s *Policy) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.mounts != nil {
		s.mounts.stop()
	}
	var errs []error
	for n, l := range s.links {
		errs = append(errs, l.Close())
		delete(s.links, n)
	}
	errs = append(errs, s.file.Close(), s.net.Close(), s.sys.Close())
	if s.lsm != nil {
		errs = append(errs, s.lsm.Close())
	}
	return errors.Join(errs...)
}

// EnsureTracefs mounts tracefs when it is not mounted: tracepoint hooks need it.
func EnsureTracefs() error {
	if _, err := os.Stat("/sys/kernel/tracing/events"); err == nil {
		return nil
	}
	if err := mountTracefs(); err != nil {
		return fmt.Errorf("tracefs is not mounted at /sys/kernel/tracing and mounting it failed (%w): mount it (mount -t tracefs tracefs /sys/kernel/tracing) or give the collector CAP_SYS_ADMIN", err)
	}
	return nil
}
