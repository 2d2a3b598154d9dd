//go:build linux

package sensor

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/cgroups"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// loadPolicyYAML loads the sensors with one policy on the syscall hooks and
// returns their closer.
func loadPolicyYAML(yaml string) (func() error, error) {
	p, err := LoadProcess(ProcessOptions{RingBufferSize: 1 << 22, ArgsMax: 256})
	if err != nil {
		return nil, err
	}
	root, err := cgroups.Cgroup2Mount("/proc/self/mountinfo")
	if err != nil {
		return nil, errors.Join(err, p.Close())
	}
	pol, _, err := LoadPolicy(p, 0, root, Hooks{})
	if err != nil {
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
	if err := errors.Join(p.Attach(), pol.Ensure(c.Plan), p.Apply(c.Image, false)); err != nil {
		return nil, errors.Join(err, closeAll())
	}
	return closeAll, nil
}

// BenchmarkNewEventFilters measures what the fd.dup, network.socket and ptrace
// pre-filters cost the calls they drop in the kernel: a pipe duplicated onto fd 0
// (every shell redirection), fcntl(F_GETFL) returning 2, a unix socket, with
// and without rules on those events (each rule on every process, none matching
// what the loop does).
func BenchmarkNewEventFilters(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		b.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	saved, err := unix.Dup(0)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = unix.Dup2(saved, 0); _ = unix.Close(saved) }()
	ops := map[string]func(){
		"dup2-pipe-onto-0": func() { _, _, _ = unix.RawSyscall(unix.SYS_DUP2, uintptr(p[0]), 0, 0) },
		"fcntl-getfl":      func() { _, _ = unix.FcntlInt(uintptr(p[1]), unix.F_GETFL, 0) },
		"getpid":           func() { _, _, _ = unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0) },
		"socket-unix": func() {
			if fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0); err == nil {
				unix.Close(fd)
			}
		},
	}
	// "before" has the syscall-kind rules the default pack had before these events
	// (ptrace, and an accept rule, whose hooks include a raw sys_exit program);
	// "after" adds rules on the new events. Any syscall tracepoint puts every
	// syscall of every task on the kernel's slow path, which getpid shows.
	policies := map[string]string{
		"before": "name: bench\nrules:\n  - {event: process.ptrace}\n  - {event: network.accept}\n",
		"after": "name: bench\nrules:\n  - {event: process.ptrace}\n  - {event: network.accept}\n  - {event: fd.dup}\n" +
			"  - {event: network.socket}\n  - {event: file.link}\n  - {event: file.symlink}\n",
	}
	for _, rules := range []string{"none", "before", "after"} {
		var closer func() error
		if y, ok := policies[rules]; ok {
			closer, err = loadPolicyYAML(y)
			if err != nil {
				b.Fatal(err)
			}
		}
		for _, name := range []string{"getpid", "dup2-pipe-onto-0", "fcntl-getfl", "socket-unix"} {
			op := ops[name]
			b.Run(rules+"/"+name, func(b *testing.B) {
				for range b.N {
					op()
				}
			})
		}
		if closer != nil {
			if err := closer(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
