//go:build linux

// Package features probes, at start-up, which optional eBPF capabilities the
// running kernel really offers. Each probe loads AND attaches a minimal program
// (bpf/probes.bpf.c), then detaches it: a program type the kernel knows can still
// be refused at load (a sandbox allowing it only to PID 1), or load but fail to
// attach (no kprobe PMU), or attach without effect (the BPF LSM built in but not
// in the active LSM list). Sensors pick their hooks from the result, and the
// result is reported once in the log and as a metric.
package features

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/cgroups"
)

// Capability names: the keys of Set.Reasons and MetricValues, and the values of
// the "capability" attribute of the capability metric.
const (
	CapLSM            = "lsm"
	CapFentry         = "fentry"
	CapKprobe         = "kprobe"
	CapKprobeMulti    = "kprobe_multi"
	CapCgroupSockAddr = "cgroup_sock_addr"
	CapSendSignal     = "send_signal"
	CapRingBuf        = "ringbuf"
	CapBPFLoop        = "bpf_loop"
	CapTaskIter       = "task_iter"
)

// Set is what Probe found. A capability is true only when a program using it was
// loaded and attached. Reasons holds one sentence for each missing capability,
// keyed by its Cap* name.
type Set struct {
	LSM            bool // BPF LSM programs load, attach, and the BPF LSM is active
	Fentry         bool // fentry/fexit (BPF trampolines)
	Kprobe         bool // kprobes
	KprobeMulti    bool // kprobe.multi links (fprobe)
	CgroupSockAddr bool // cgroup/connect4 and friends, attached to the cgroup2 root
	SendSignal     bool // the bpf_send_signal helper
	RingBuf        bool // BPF ring buffer maps
	BPFLoop        bool // the bpf_loop helper
	TaskIter       bool // iter/task programs
	Reasons        map[string]string
}

// Names returns the capability names in a fixed order.
func Names() []string {
	return []string{CapLSM, CapFentry, CapKprobe, CapKprobeMulti, CapCgroupSockAddr,
		CapSendSignal, CapRingBuf, CapBPFLoop, CapTaskIter}
}

// Has reports whether the named capability (a Cap* name) is available.
func (s Set) Has(name string) bool {
	switch name {
	case CapLSM:
		return s.LSM
	case CapFentry:
		return s.Fentry
	case CapKprobe:
		return s.Kprobe
	case CapKprobeMulti:
		return s.KprobeMulti
	case CapCgroupSockAddr:
		return s.CgroupSockAddr
	case CapSendSignal:
		return s.SendSignal
	case CapRingBuf:
		return s.RingBuf
	case CapBPFLoop:
		return s.BPFLoop
	case CapTaskIter:
		return s.TaskIter
	}
	return false
}

// MetricValues returns, for every capability name (the "capability" metric
// attribute), 1 when it is available and 0 when not.
func (s Set) MetricValues() map[string]int64 {
	m := make(map[string]int64, len(Names()))
	for _, n := range Names() {
		if s.Has(n) {
			m[n] = 1
		} else {
			m[n] = 0
		}
	}
	return m
}

// String is one log line: the available capabilities, then each missing one with
// its reason.
func (s Set) String() string {
	var have, missing []string
	for _, n := range Names() {
		if s.Has(n) {
			have = append(have, n)
			continue
		}
		r := s.Reasons[n]
		if r == "" {
			r = "not probed"
		}
		missing = append(missing, n+" ("+r+")")
	}
	if len(have) == 0 {
		have = []string{"none"}
	}
	out := "eBPF capabilities: " + strings.Join(have, ", ")
	if len(missing) > 0 {
		out += "; missing: " + strings.Join(missing, "; ")
	}
	return out
}

// Where Probe looks on the running system.
const (
	lsmListPath   = "/sys/kernel/security/lsm"
	mountinfoPath = "/proc/self/mountinfo"
	kprobePMUPath = "/sys/bus/event_source/devices/kprobe"
	// kprobeSymbol is a kernel function every supported kernel has and no
	// compiler inlines away; the fentry probe uses security_file_open (its section).
	kprobeSymbol = "do_unlinkat"
)

// system names the files Probe reads, so tests can substitute them.
type system struct {
	lsmList   string
	mountinfo string
	kprobePMU string
}

// Probe loads, attaches and detaches one minimal program per capability and
// reports what worked. It needs the privileges of the collector (CAP_BPF,
// CAP_PERFMON, CAP_NET_ADMIN, or root) and takes tens of milliseconds. It never
// fails: whatever cannot be probed is reported as missing, with its reason.
func Probe() Set {
	return probe(system{lsmList: lsmListPath, mountinfo: mountinfoPath, kprobePMU: kprobePMUPath})
}

func probe(sys system) Set {
	s := Set{Reasons: make(map[string]string)}
	record := func(name string, ok *bool, err error) {
		if err == nil {
			*ok = true
			return
		}
		s.Reasons[name] = err.Error()
	}

	// Map-only capability: creating the map is the whole test.
	record(CapRingBuf, &s.RingBuf, probeRingBuf())

	spec, err := loadProbes()
	if err != nil {
		err = fmt.Errorf("the embedded probe object cannot be parsed: %w", err)
		for _, n := range Names() {
			if n != CapRingBuf {
				s.Reasons[n] = err.Error()
			}
		}
		return s
	}

	record(CapLSM, &s.LSM, probeLSM(spec, sys.lsmList))
	record(CapFentry, &s.Fentry, loadAndAttach(spec, probesProgProbeFentry, func(p *ebpf.Program) (link.Link, error) {
		return link.AttachTracing(link.TracingOptions{Program: p})
	}))
	record(CapKprobe, &s.Kprobe, probeKprobe(spec, sys.kprobePMU))
	record(CapKprobeMulti, &s.KprobeMulti, probeKprobeMulti(spec))
	record(CapCgroupSockAddr, &s.CgroupSockAddr, probeCgroupSockAddr(spec, sys.mountinfo))
	record(CapSendSignal, &s.SendSignal, loadAndAttach(spec, probesProgProbeSendSignal, attachSysEnter))
	record(CapBPFLoop, &s.BPFLoop, loadAndAttach(spec, probesProgProbeBpfLoop, attachSysEnter))
	record(CapTaskIter, &s.TaskIter, loadAndAttach(spec, probesProgProbeTaskIter, runTaskIter))
	return s
}

func attachSysEnter(p *ebpf.Program) (link.Link, error) {
	return link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: p})
}

// runTaskIter attaches the iterator and runs it once over every task.
func runTaskIter(p *ebpf.Program) (link.Link, error) {
	it, err := link.AttachIter(link.IterOptions{Program: p})
	if err != nil {
		return nil, err
	}
	rd, err := it.Open()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("running the iterator: %w", err), it.Close())
	}
	_, err = io.Copy(io.Discard, rd)
	if err = errors.Join(err, rd.Close()); err != nil {
		return nil, errors.Join(fmt.Errorf("reading the iterator: %w", err), it.Close())
	}
	return it, nil
}

func probeRingBuf() error {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "vigil_probe_rb",
		Type:       ebpf.RingBuf,
		MaxEntries: uint32(os.Getpagesize()),
	})
	if err != nil {
		return loadReason("creating a ring buffer map", err)
	}
	return closeReason(m.Close())
}

func probeLSM(spec *ebpf.CollectionSpec, lsmList string) error {
	if err := loadAndAttach(spec, probesProgProbeLsm, func(p *ebpf.Program) (link.Link, error) {
		return link.AttachLSM(link.LSMOptions{Program: p})
	}); err != nil {
		return err
	}
	// Without "bpf" in the active LSM list the program attaches and never runs.
	raw, err := os.ReadFile(lsmList)
	if err != nil {
		return fmt.Errorf("BPF LSM programs load and attach, but whether the BPF LSM is active cannot be told: %w (mount securityfs on /sys/kernel/security)", err)
	}
	list := strings.TrimSpace(string(raw))
	if !hasLSM(list, "bpf") {
		return fmt.Errorf("the BPF LSM is built in but not active: \"bpf\" is missing from the active LSM list %q (add it to the lsm= kernel parameter)", list)
	}
	return nil
}

// hasLSM reports whether the comma-separated LSM list contains name.
func hasLSM(list, name string) bool {
	for _, l := range strings.Split(list, ",") {
		if strings.TrimSpace(l) == name {
			return true
		}
	}
	return false
}

func probeKprobe(spec *ebpf.CollectionSpec, kprobePMU string) error {
	err := loadAndAttach(spec, probesProgProbeKprobe, func(p *ebpf.Program) (link.Link, error) {
		return link.Kprobe(kprobeSymbol, p, nil)
	})
	if err == nil {
		return nil
	}
	// Without the PMU, cilium/ebpf falls back to tracefs and reports a tracefs
	// problem; the kernel lacking kprobes is the cause worth reporting.
	if _, statErr := os.Stat(kprobePMU); errors.Is(statErr, os.ErrNotExist) {
		return fmt.Errorf("not supported by this kernel: there is no kprobe PMU (%s is absent: CONFIG_KPROBES or CONFIG_KPROBE_EVENTS is off)", kprobePMU)
	}
	return err
}

func probeKprobeMulti(spec *ebpf.CollectionSpec) error {
	err := loadAndAttach(spec, probesProgProbeKprobeMulti, func(p *ebpf.Program) (link.Link, error) {
		l, err := link.KprobeMulti(p, link.KprobeMultiOptions{Symbols: []string{kprobeSymbol}})
		if errors.Is(err, ebpf.ErrNotSupported) {
			// cilium/ebpf says "requires >= v5.18" even on newer kernels built without fprobe.
			return nil, fmt.Errorf("kprobe.multi links need CONFIG_FPROBE and Linux 5.18+: %w", err)
		}
		return l, err
	})
	return err
}

func probeCgroupSockAddr(spec *ebpf.CollectionSpec, mountinfo string) error {
	root, err := cgroups.Cgroup2Mount(mountinfo)
	if err != nil {
		return fmt.Errorf("no cgroup2 hierarchy to attach cgroup socket programs to: %w", err)
	}
	return loadAndAttach(spec, probesProgProbeConnect4, func(p *ebpf.Program) (link.Link, error) {
		// Allows every connect (returns 1) for the instant it is attached.
		return link.AttachCgroup(link.CgroupOptions{Path: root, Attach: ebpf.AttachCGroupInet4Connect, Program: p})
	})
}

// loadAndAttach loads the one program name from spec (with the maps it uses),
// attaches it with attach, then detaches and closes everything. The error is the
// reason sentence for the capability.
func loadAndAttach(spec *ebpf.CollectionSpec, name string, attach func(*ebpf.Program) (link.Link, error)) error {
	one := spec.Copy()
	ps, ok := one.Programs[name]
	if !ok {
		return fmt.Errorf("the embedded probe object has no program %q (regenerate it: go generate)", name)
	}
	one.Programs = map[string]*ebpf.ProgramSpec{name: ps}
	coll, err := ebpf.NewCollection(one)
	if err != nil {
		return loadReason("load", err)
	}
	defer coll.Close()
	l, err := attach(coll.Programs[name])
	if err != nil {
		return attachReason(err)
	}
	return closeReason(l.Close())
}

// loadReason turns a load error into the reason sentence. The kernel refusing a
// program type with EPERM is reported as such: cilium/ebpf appends a MEMLOCK hint
// to every EPERM, which misleads on kernels that charge BPF memory to the cgroup.
func loadReason(what string, err error) error {
	var verr *ebpf.VerifierError
	switch {
	case errors.Is(err, unix.EPERM):
		return errors.New("refused by the kernel (EPERM at load): the kernel or its sandbox does not allow this program type here, and the memlock limit is not the cause")
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("not supported by this kernel (%s: %w)", what, err)
	case errors.As(err, &verr):
		return fmt.Errorf("rejected by the verifier (%s: %w)", what, err)
	}
	return fmt.Errorf("could not be loaded (%s: %w)", what, err)
}

func attachReason(err error) error {
	switch {
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("refused by the kernel (EPERM at attach: %w)", err)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("not supported by this kernel (loads, but attach: %w)", err)
	}
	return fmt.Errorf("loads but could not be attached (%w)", err)
}

func closeReason(err error) error {
	if err != nil {
		return fmt.Errorf("worked but could not be detached (%w)", err)
	}
	return nil
}
