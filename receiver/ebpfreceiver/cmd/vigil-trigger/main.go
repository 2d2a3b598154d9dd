//go:build linux

// Command vigil-trigger proves a Vigil deployment detects: for each rule of the default
// detection pack it runs a safe, bounded action that must fire the rule, and optionally a
// benign look-alike that must fire nothing. Every action cleans up after itself and uses
// only the loopback network.
//
//	vigil-trigger --list
//	vigil-trigger --run NAME|all [--lookalikes]
//
// Run the built binary from a shell, not under `go run` or `go test`: the default pack
// does not report what descends from the Go tool. Most actions need root.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/trigger"
)

func main() {
	if ok, code := trigger.RunHelper(); ok {
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: vigil-trigger --list
       vigil-trigger --run NAME|all [--lookalikes]

--list         the triggers: name, the rule each must fire, whether it needs a container
--run NAME     run one trigger (or all) and print the rule it must have fired
--lookalikes   also (after each trigger) run its benign look-alike, which must fire nothing
--only-lookalikes
               run the look-alikes and not the triggers (to watch them alone)
--detach FILE  run in a new session adopted by init (so that nothing descends from the
               caller, a test runner for example), writing the report to FILE; the last
               line is "done N" with N the exit code
`

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vigil-trigger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	list := fs.Bool("list", false, "list the triggers")
	name := fs.String("run", "", "run the trigger NAME, or all")
	looks := fs.Bool("lookalikes", false, "also run the look-alikes")
	onlyLooks := fs.Bool("only-lookalikes", false, "run the look-alikes only")
	detach := fs.String("detach", "", "run detached, reporting to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *list == (*name != "") || (*detach != "" && *list) || (*looks && *onlyLooks) {
		fs.Usage()
		return 2
	}
	mode := ""
	switch {
	case *looks:
		mode = "--lookalikes"
	case *onlyLooks:
		mode = "--only-lookalikes"
	}
	if *detach != "" {
		return startDetached(*detach, *name, mode, stderr)
	}
	if p := os.Getenv(detachedEnv); p != "" {
		return runDetached(p, *name, mode)
	}
	cases := trigger.Cases()
	if *list {
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TRIGGER\tRULE\tCONTAINER\tDOES")
		for _, c := range cases {
			ctr := "no"
			if c.Container {
				ctr = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.Name, c.Rule, ctr, c.Does)
		}
		_ = w.Flush()
		return 0
	}
	var sel []trigger.Case
	for _, c := range cases {
		if *name == "all" || c.Name == *name {
			sel = append(sel, c)
		}
	}
	if len(sel) == 0 {
		fmt.Fprintf(stderr, "vigil-trigger: no trigger %q (see --list)\n", *name)
		return 2
	}
	env, err := trigger.NewEnv("")
	if err != nil {
		fmt.Fprintf(stderr, "vigil-trigger: %v\n", err)
		return 1
	}
	defer env.Close()
	failed := 0
	for _, c := range sel {
		if !*onlyLooks {
			failed += report(stdout, c, "trigger", "expect alert: "+c.Rule, c.Action(env), c.Manual)
		}
		if *looks || *onlyLooks {
			failed += report(stdout, c, "look-alike", "expect no alert", c.LookAlike(env), c.LookAlikeManual)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "vigil-trigger: %d action(s) failed\n", failed)
		return 1
	}
	return 0
}

// report prints one action's outcome and returns 1 when it failed.
func report(w io.Writer, c trigger.Case, what, expect string, err error, manual string) int {
	switch {
	case err == nil:
		fmt.Fprintf(w, "ran     %-28s %-10s %s\n", c.Name, what, expect)
	case errors.Is(err, trigger.ErrExternal):
		fmt.Fprintf(w, "manual  %-28s %-10s run: %s\n", c.Name, what, manual)
	case errors.Is(err, trigger.ErrNeedsContainer), errors.Is(err, trigger.ErrUnsupported):
		fmt.Fprintf(w, "skipped %-28s %-10s %s\n", c.Name, what, firstLine(err))
	default:
		fmt.Fprintf(w, "FAILED  %-28s %-10s %s\n", c.Name, what, firstLine(err))
		return 1
	}
	return 0
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// detachedEnv carries, to the detached copy, its report file and the pid it must outlive.
const detachedEnv = "VIGIL_TRIGGER_DETACHED"

// startDetached starts a copy of vigil-trigger in a new session and returns at once; the copy
// waits until it is orphaned, then runs the triggers.
func startDetached(out, name, mode string, stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "vigil-trigger: %v\n", err)
		return 1
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "vigil-trigger: %v\n", err)
		return 1
	}
	defer f.Close()
	args := []string{"--run", name}
	if mode != "" {
		args = append(args, mode)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), detachedEnv+"="+out+":"+strconv.Itoa(os.Getpid()))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "vigil-trigger: %v\n", err)
		return 1
	}
	// Not waited for: this process exits and the copy is adopted.
	_ = cmd.Process.Release()
	return 0
}

// runDetached is the detached copy: it waits to be orphaned, runs, and appends "done N".
func runDetached(spec, name, mode string) int {
	_, parent, _ := strings.Cut(spec, ":")
	ppid, _ := strconv.Atoi(parent)
	if err := trigger.WaitOrphaned(ppid, 5*time.Second); err != nil {
		fmt.Fprintf(os.Stdout, "vigil-trigger: %v\ndone 1\n", err)
		return 1
	}
	os.Unsetenv(detachedEnv)
	fmt.Fprintf(os.Stdout, "ancestors %s\n", strings.Join(trigger.Ancestors(), " "))
	args := []string{"--run", name}
	if mode != "" {
		args = append(args, mode)
	}
	code := run(args, os.Stdout, os.Stdout)
	fmt.Fprintf(os.Stdout, "done %d\n", code)
	return code
}
