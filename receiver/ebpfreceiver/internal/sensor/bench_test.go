//go:build linux

package sensor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/vigilsec/vigil/internal/testenv"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/cgroups"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// openStormPolicy watches files the storm never opens: every open is
// filtered out in the kernel, which is the cost measured.
const openStormPolicy = "name: sensitive\nrules:\n  - event: file.open\n    paths: [/etc/shadow, /root/.ssh/]\n"

// loadOpenStormHook loads the sensors with openStormPolicy on the syscall-exit
// hook (no hooks) or on the in-kernel hook (lsm/file_open, or
// fmod_ret/security_file_open), and returns their closer.
func loadOpenStormHook(hooks Hooks) (func() error, error) {
	return loadStormPolicy(hooks, openStormPolicy)
}

// loadStormPolicy loads the sensors with one policy on the given hooks.
func loadStormPolicy(hooks Hooks, yaml string) (func() error, error) {
	p, err := LoadProcess(ProcessOptions{RingBufferSize: 1 << 22, ArgsMax: 256})
	if err != nil {
		return nil, err
	}
	root, err := cgroups.Cgroup2Mount("/proc/self/mountinfo")
	if err != nil {
		return nil, errors.Join(err, p.Close())
	}
	pol, lsmErr, err := LoadPolicy(p, 0, root, hooks)
	if err = errors.Join(err, lsmErr); err != nil {
		return nil, errors.Join(err, p.Close())
	}
	closeAll := func() error { return errors.Join(pol.Close(), p.Close()) }
	pp, err := policy.ParseBytes("bench.yaml", []byte(yaml))
	if err != nil {
		return nil, errors.Join(err, closeAll())
	}
	c, err := Compile([]*policy.Policy{pp}, map[string]int{pp.Name: 0}, nil)
	if err != nil {
		return nil, errors.Join(err, closeAll())
	}
	if pol.HasLSM() {
		c.UseLSM()
	}
	if err := errors.Join(p.Attach(), pol.Ensure(c.Plan), p.Apply(c.Image, false)); err != nil {
		return nil, errors.Join(err, closeAll())
	}
	return closeAll, nil
}

// loadEmptyHook attaches a program that returns 0 at once to a hook: the hook's
// own cost, the floor under any sensor there.
func loadEmptyHook(lsm bool) (func() error, error) {
	spec := &ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sys_exit",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}, License: "GPL"}
	if lsm {
		spec.Type, spec.AttachType, spec.AttachTo = ebpf.LSM, ebpf.AttachLSMMac, "file_open"
	}
	prog, err := ebpf.NewProgram(spec)
	if err != nil {
		return nil, err
	}
	var l link.Link
	if lsm {
		l, err = link.AttachLSM(link.LSMOptions{Program: prog})
	} else {
		l, err = link.AttachTracing(link.TracingOptions{Program: prog})
	}
	if err != nil {
		return nil, errors.Join(err, prog.Close())
	}
	return func() error { return errors.Join(l.Close(), prog.Close()) }, nil
}

// BenchmarkOpenStormHooks measures, side by side in one run, the cost of
// in-kernel filtering on each file hook: b.N open+close of one file with no
// sensor, with an empty program on each hook (its floor), with the policy on the
// syscall-exit hook, and (where BPF LSM and trampolines work: the kernel
// matrix) on lsm/file_open and fmod_ret/security_file_open, in interleaved rounds. It reports the
// median ratios to no sensor. make bench runs it on every kernel of the matrix.
func BenchmarkOpenStormHooks(b *testing.B) {
	testenv.RequireRoot(b)
	if err := EnsureTracefs(); err != nil {
		b.Fatal(err)
	}
	lsm := os.Getenv("VIGIL_VM_KERNEL") != ""
	target := filepath.Join(b.TempDir(), "file")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	storm := func() time.Duration {
		start := time.Now()
		for range b.N {
			fd, err := syscall.Open(target, syscall.O_RDONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			syscall.Close(fd)
		}
		return time.Since(start)
	}
	type scenario struct {
		name string
		load func() (func() error, error)
	}
	scenarios := []scenario{
		{"no sensor", nil},
		{"empty program on tp_btf/sys_exit (the hook's floor)", func() (func() error, error) { return loadEmptyHook(false) }},
		{"syscall-exit hook (tp_btf/sys_exit), filtered in the kernel", func() (func() error, error) { return loadOpenStormHook(Hooks{}) }},
	}
	if lsm {
		scenarios = append(scenarios,
			scenario{"empty program on lsm/file_open (the hook's floor)", func() (func() error, error) { return loadEmptyHook(true) }},
			scenario{"BPF LSM hook (lsm/file_open), filtered in the kernel", func() (func() error, error) { return loadOpenStormHook(Hooks{LSM: true}) }},
			scenario{"fmod_ret on security_file_open, filtered in the kernel", func() (func() error, error) { return loadOpenStormHook(Hooks{FmodRet: true}) }})
	}
	if b.N < 1000 {
		return // the benchmark framework's calibration run: too short to measure
	}
	const rounds = 3
	times := make([][]time.Duration, len(scenarios))
	b.ResetTimer()
	for range rounds {
		for i, sc := range scenarios {
			closer := func() error { return nil }
			if sc.load != nil {
				b.StopTimer()
				var err error
				if closer, err = sc.load(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			times[i] = append(times[i], storm())
			b.StopTimer()
			if err := closer(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	names := make([]string, len(scenarios))
	for i, sc := range scenarios {
		names[i] = sc.name
	}
	reportStorm(b, "Open storm", rounds, names, times)
}

// nameStormPolicy is the shape of the default pack's shared-library and
// release_agent rules, as their conditions lower: reads under the storm's
// directory, and write opens anywhere; with names, the kernel also tests the
// file name (.so inside it, the exact name release_agent), which the storm's
// file does not have.
func nameStormPolicy(dir string, names bool) string {
	so, agent := "", ""
	if names {
		so, agent = "\n    name_contains: [.so]", "\n    name_suffixes: [/release_agent]"
	}
	return fmt.Sprintf("name: names\nrules:\n  - name: so\n    event: file.open\n    paths: [%s/]\n    access: [read]%s\n"+
		"  - name: agent\n    event: file.open\n    access: [write]%s\n", dir, so, agent)
}

// BenchmarkOpenStormNameFilters: b.N open+close (read) of one file under a
// watched directory, with no sensor, with the rules' kernel part without the
// file-name keys (every open matches in the kernel and is written to the ring
// buffer, which nothing reads here: the kernel's side of the cost only), and
// with them (rejected in the kernel), on the syscall-exit hook, in
// interleaved rounds; the median ratios to no sensor.
func BenchmarkOpenStormNameFilters(b *testing.B) {
	testenv.RequireRoot(b)
	if err := EnsureTracefs(); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	target := filepath.Join(dir, "file")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	storm := func() time.Duration {
		start := time.Now()
		for range b.N {
			fd, err := syscall.Open(target, syscall.O_RDONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			syscall.Close(fd)
		}
		return time.Since(start)
	}
	scenarios := []struct {
		name string
		yaml string
	}{
		{"no sensor", ""},
		{"paths and access only (every open crosses)", nameStormPolicy(dir, false)},
		{"with name_contains and name_suffixes (filtered in the kernel)", nameStormPolicy(dir, true)},
	}
	if b.N < 1000 {
		return
	}
	const rounds = 3
	times := make([][]time.Duration, len(scenarios))
	b.ResetTimer()
	for range rounds {
		for i, sc := range scenarios {
			closer := func() error { return nil }
			if sc.yaml != "" {
				b.StopTimer()
				var err error
				if closer, err = loadStormPolicy(Hooks{}, sc.yaml); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			times[i] = append(times[i], storm())
			b.StopTimer()
			if err := closer(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	names := make([]string, len(scenarios))
	for i, sc := range scenarios {
		names[i] = sc.name
	}
	reportStorm(b, "Open storm with name filters", rounds, names, times)
}

// reportStorm logs the medians of each scenario's storm times (times[0] is the
// baseline) as a table of ratios and reports each ratio as a metric.
func reportStorm(b *testing.B, title string, rounds int, names []string, times [][]time.Duration) {
	med := func(d []time.Duration) time.Duration {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	base := med(times[0])
	out := fmt.Sprintf("\n%s, %d x open+close, %d interleaved rounds, medians\n\n| scenario | wall time | ratio |\n|---|---|---|\n", title, b.N, rounds)
	for i, name := range names {
		m := med(times[i])
		r := float64(m) / float64(base)
		out += fmt.Sprintf("| %s | %s | %.3f (%+.1f%%) |\n", name, m.Round(time.Millisecond), r, (r-1)*100)
		if i > 0 {
			b.ReportMetric(r, fmt.Sprintf("ratio-%d", i))
		}
	}
	b.Log(out)
}
