// Command vigil-policy checks Vigil policy files offline, with the same
// parser, validation and error messages as the ebpf receiver.
//
//	vigil-policy check [--lsm] [--no-lsm] [--no-cgroup-sock-addr] [--no-send-signal] FILE|DIR...
//
// It prints "ok FILE (NAME, N rules)" for each good file and the receiver's
// "file:line: key: reason" errors for the others, and exits 1 if any file
// has an error, 2 on a usage error. By default it assumes a kernel with BPF
// LSM, cgroup socket programs and bpf_send_signal; the flags emulate less.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: vigil-policy check [flags] FILE|DIR...

Checks policy files (and the *.yaml and *.yml files of directories) as the
ebpf receiver would load them, against the capabilities of a kernel.

flags:
  --lsm                  assume BPF LSM (or fmod_ret on the security functions) is available (default)
  --no-lsm               assume neither: deny works only for network.connect
  --no-cgroup-sock-addr  assume no cgroup/connect programs
  --no-send-signal       assume no bpf_send_signal: kill is impossible
`

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "check" {
		fmt.Fprintf(stderr, "vigil-policy: unknown command %q\n%s", args[0], usage)
		return 2
	}
	caps := policy.TypicalCapabilities()
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	setter := func(dst *bool, v bool) func(string) error {
		return func(string) error { *dst = v; return nil }
	}
	fs.BoolFunc("lsm", "", setter(&caps.LSM, true))
	fs.BoolFunc("no-lsm", "", setter(&caps.LSM, false))
	fs.BoolFunc("no-cgroup-sock-addr", "", setter(&caps.CgroupSockAddr, false))
	fs.BoolFunc("no-send-signal", "", setter(&caps.SendSignal, false))

	// Flags may come before, between or after the paths.
	var paths []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stderr, usage)
				return 0
			}
			fmt.Fprintf(stderr, "vigil-policy: %v\n%s", err, usage)
			return 2
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		paths = append(paths, rest[0])
		rest = rest[1:]
	}
	if len(paths) == 0 {
		fmt.Fprintf(stderr, "vigil-policy: no FILE or DIR to check\n%s", usage)
		return 2
	}

	set := policy.Load(paths, caps)
	if len(set.Files) == 0 {
		fmt.Fprintln(stderr, "vigil-policy: no policy files found")
		return 1
	}
	code := 0
	for _, f := range set.Files {
		if f.Err != nil {
			fmt.Fprintln(stderr, f.Err)
			code = 1
			continue
		}
		p := f.Policy
		// What this version's sensors implement, as the receiver checks it.
		if err := p.CheckImplemented(caps.LSM); err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "ok %s (%s, %s)\n", f.Path, p.Name, plural(len(p.Rules), "rule"))
		for _, r := range p.Rules {
			if r.EffectiveAction != r.Action {
				fmt.Fprintf(stdout, "  rule %s: %s is not possible here, %s instead\n", r.Name, r.Action, r.EffectiveAction)
			}
		}
	}
	return code
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
