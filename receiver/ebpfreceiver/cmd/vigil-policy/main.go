// Command vigil-policy checks Vigil policy files offline, with the same
// parser, validation and error messages as the ebpf receiver.
//
//	vigil-policy check [--explain] [--lsm] [--no-lsm] [--no-cgroup-sock-addr] [--no-send-signal] FILE|DIR...
//
// It prints "ok FILE (NAME, N rules)" for each good file and the receiver's
// "file:line: key: reason" errors for the others, and exits 1 if any file
// has an error or a rule of a rules file does not load, 2 on a usage error.
// Rules files (Falco's format) are loaded together, as the receiver loads
// them; --explain prints, per rule, what runs in the kernel and what in user
// space. By default it assumes a kernel with BPF LSM, cgroup socket programs
// and bpf_send_signal; the flags emulate less.
//
//	vigil-policy test RULES|DIR... --events FILE
//
// replays recorded events (the file exporter's OTLP JSON lines) through the
// receiver's rule stage and prints which rules of the rules files fire.
//
//	vigil-policy convert [--mode monitor|enforce] [--skip-unsupported] [-o PATH] FILE...
//
// converts Tetragon TracingPolicy files into Vigil policies (check loads them
// directly too: a TracingPolicy in policy_paths is converted on load).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: vigil-policy check [flags] FILE|DIR...

Checks policy files and rules files (and the *.yaml and *.yml files of
directories) as the ebpf receiver would load them, against the capabilities
of a kernel.

flags:
  --explain              for each rule with a condition (policy or rules file), what runs in the kernel and what in user space
  --lsm                  assume BPF LSM (or fmod_ret on the security functions) is available (default)
  --no-lsm               assume neither: deny works only for network.connect
  --no-cgroup-sock-addr  assume no cgroup/connect programs
  --no-send-signal       assume no bpf_send_signal: kill is impossible

       vigil-policy test RULES|DIR... --events FILE

Replays recorded events (the file exporter's OTLP JSON lines) through the
receiver's evaluation (policies' rules with their conditions, and rules
files' rules) and prints each rule that fires on each record.

       vigil-policy convert [--mode monitor|enforce] [--skip-unsupported] [-o PATH] FILE...

Converts Tetragon TracingPolicy files into Vigil policies.
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
	if args[0] == "test" {
		return runTest(args[1:], stdout, stderr)
	}
	if args[0] == "convert" {
		return runConvert(args[1:], stdout, stderr)
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
	explain := false
	fs.BoolFunc("explain", "", setter(&explain, true))

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

	set := policy.LoadLinked(paths, caps, rulestage.Linker{})
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
		if f.Rules != nil {
			continue // below, all rules files together
		}
		p := f.Policy
		// What this version's sensors implement, as the receiver checks it.
		if err := p.CheckImplemented(caps.LSM); err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "ok %s (%s, %s)\n", f.Path, p.Name, plural(len(p.Rules), "rule"))
		for _, n := range f.Notes {
			fmt.Fprintln(stdout, "note: "+n)
		}
		for i := range p.Rules {
			r := &p.Rules[i]
			if r.EffectiveAction != r.Action {
				fmt.Fprintf(stdout, "  rule %s: %s is not possible here, %s instead\n", r.Name, r.Action, r.EffectiveAction)
			}
			if explain && r.Cond != nil {
				explainPolicyRule(stdout, p, r)
			}
		}
		for _, w := range p.Warnings() {
			fmt.Fprintln(stdout, "note: "+w)
		}
	}
	if rf := set.RulesFiles(); len(rf) > 0 && checkRules(rulestage.PolicyDefs(set.Policies), rf, policy.MaxPolicies-len(set.Policies), explain, stdout, stderr) {
		code = 1
	}
	return code
}

// checkRules loads the rules files together, as the receiver does, and reports
// each file, each rule that did not load and, with explain, each rule's split.
// It returns true when a rule did not load.
func checkRules(defs *rules.Defs, files []policy.FileResult, room int, explain bool, stdout, stderr io.Writer) bool {
	l := rulestage.LoadFilesWith(defs, files, room)
	for _, f := range files {
		loaded, skipped, disabled := 0, 0, 0
		for _, r := range l.Rules {
			if r.Path == f.Path {
				loaded++
			}
		}
		for _, s := range l.SkippedRules {
			switch {
			case s.File != f.Path:
			case s.Disabled:
				disabled++
			default:
				skipped++
			}
		}
		extra := ""
		if disabled > 0 {
			extra = fmt.Sprintf(", %d disabled", disabled)
		}
		fmt.Fprintf(stdout, "ok %s (rules file, %s loaded, %d skipped%s)\n", f.Path, plural(loaded, "rule"), skipped, extra)
		if explain {
			for _, r := range l.Rules {
				if r.Path == f.Path {
					explainRule(stdout, r)
				}
			}
		}
	}
	for _, p := range l.Problems {
		fmt.Fprintln(stderr, p)
	}
	for _, w := range l.Warnings {
		fmt.Fprintln(stdout, "note: "+w)
	}
	return len(l.Problems) > 0
}

// explainRule prints where a rule's condition runs.
func explainRule(w io.Writer, r rulestage.LoadedRule) {
	fmt.Fprintf(w, "  rule %q (%s):\n", r.Rule.Name, r.Plan.Kinds)
	if r.Plan.Always != 0 {
		fmt.Fprintf(w, "    kernel: nothing to add for %s: these events always reach user space\n", r.Plan.Always)
	}
	for _, f := range r.Plan.Filters {
		sensed := false
		if r.Kernel != nil {
			for _, kr := range r.Kernel.Rules {
				if string(kr.Event) == f.Kind.String() {
					sensed = true
				}
			}
		}
		switch {
		case !sensed:
			fmt.Fprintf(w, "    kernel: %s is not sensed by this version: the rule cannot fire on it\n", f.Kind)
		case f.Narrow():
			fmt.Fprintf(w, "    kernel: %s %s (policy %q)\n", f.Kind, f, r.Kernel.Name)
		default:
			fmt.Fprintf(w, "    kernel: %s, not narrowed: every %s event reaches user space (policy %q)\n", f.Kind, f.Kind, r.Kernel.Name)
		}
	}
	if len(r.Plan.Residual) == 0 {
		fmt.Fprintln(w, "    user space: nothing the kernel does not decide (the condition is re-checked on what passes)")
		return
	}
	fmt.Fprintln(w, "    user space: the full condition on what passes; the kernel does not decide:")
	for _, t := range r.Plan.Residual {
		fmt.Fprintf(w, "      %s\n", t)
	}
}

// explainPolicyRule prints where a policy rule with a condition runs.
func explainPolicyRule(w io.Writer, p *policy.Policy, r *policy.Rule) {
	c := r.Cond
	fmt.Fprintf(w, "  rule %s (%s, %s):\n", r.Name, r.Event, r.EffectiveAction)
	sel := ""
	if p.Selector.Containers != policy.ContainersAny || len(p.Selector.Binaries)+len(p.Selector.BinaryPrefixes)+len(p.Selector.UIDs)+len(p.Selector.Namespaces)+len(p.Selector.PodLabels) > 0 {
		sel = " (and the policy's selector)"
	}
	switch {
	case c.Kernel.Narrow():
		fmt.Fprintf(w, "    kernel: %s%s\n", c.Kernel, sel)
	case r.Event == policy.EventProcessExec:
		fmt.Fprintf(w, "    kernel: every process.exec event%s (exec events always reach user space)\n", sel)
	default:
		fmt.Fprintf(w, "    kernel: not narrowed: every %s event%s\n", r.Event, sel)
	}
	if !c.UserSpace() {
		fmt.Fprintf(w, "    user space: nothing: the kernel decides the rule and applies %s\n", r.EffectiveAction)
		return
	}
	fmt.Fprintln(w, "    user space: the full condition on what the kernel passes; the kernel does not decide:")
	for _, t := range c.Residual {
		fmt.Fprintf(w, "      %s\n", t)
	}
	switch r.EffectiveAction {
	case policy.ActionKill:
		fmt.Fprintln(w, "    action: the kernel posts; the receiver sends SIGKILL when the condition holds (after the fact: the operation has happened)")
	case policy.ActionCount:
		fmt.Fprintln(w, "    action: the kernel posts; each event crosses the ring buffer and the receiver counts the matches")
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// runTest parses "test PATH... --events FILE".
func runTest(args []string, stdout, stderr io.Writer) int {
	var paths []string
	events := ""
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--events" || a == "-events":
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "vigil-policy: --events needs a FILE\n%s", usage)
				return 2
			}
			events = args[i+1]
			i++
		case strings.HasPrefix(a, "--events="):
			events = strings.TrimPrefix(a, "--events=")
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(stderr, "vigil-policy: unknown flag %s\n%s", a, usage)
			return 2
		default:
			paths = append(paths, a)
		}
	}
	if len(paths) == 0 || events == "" {
		fmt.Fprintf(stderr, "vigil-policy: test needs policy or rules files and --events FILE\n%s", usage)
		return 2
	}
	return replay(paths, events, stdout, stderr)
}
