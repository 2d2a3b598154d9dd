package proctree

import (
	"path"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
)

// An exec into a running container (kubectl exec, crictl exec, ctr task exec)
// is `runc exec` underneath: it forks `runc init` (which re-executes itself from
// a memfd copy of runc and clones twice to enter the container), and the last
// clone executes the requested program. A container's entrypoint comes the same
// way from `runc create` (or `runc run`). The parent at the program's exec is no
// help: runc exec --detach may have exited by then and the program be
// reparented to the shim. So the runc step is carried along fork-time ancestry:
// a fork inherits its parent's step and marks, and an exec derives them from
// the image it replaces (deriveExec). Once set, ExecIntoContainer stays on the
// process and every descendant, across their own execs.

// deriveExec sets the runc step and ExecIntoContainer of a new image p from
// prior, the image it replaces (or, when unknown, its parent; nil: none).
func deriveExec(p, prior *Process) {
	from := event.RuncNone
	if prior != nil {
		from = prior.Runc
		p.ExecIntoContainer = prior.ExecIntoContainer
	}
	p.Runc = event.RuncNone
	switch {
	case isRuncInit(p):
		switch from {
		case event.RuncExec, event.RuncInitExec:
			p.Runc = event.RuncInitExec
		case event.RuncCreate, event.RuncInitCreate:
			p.Runc = event.RuncInitCreate
		}
	case isRunc(p):
		switch runcCommand(p.Args) {
		case "exec":
			p.Runc = event.RuncExec
		case "create", "run":
			p.Runc = event.RuncCreate
		}
	case from == event.RuncInitExec:
		// The program runc init of a runc exec started: the exec into the container.
		p.ExecIntoContainer = true
	}
}

// isRunc reports whether the image is runc: by the executable's or argv[0]'s
// name (runc, or a vendor's docker-runc and the like).
func isRunc(p *Process) bool {
	if runcName(path.Base(p.Executable)) {
		return true
	}
	return len(p.Args) > 0 && runcName(path.Base(p.Args[0]))
}

func runcName(base string) bool { return base == "runc" || strings.HasSuffix(base, "-runc") }

// isRuncInit reports whether the image is `runc init`. Its second exec runs a
// memfd copy of runc (the executable path is then the memfd's, not runc's), so
// the argument vector decides: argv[0] names runc and argv[1] is "init".
func isRuncInit(p *Process) bool {
	return len(p.Args) >= 2 && p.Args[1] == "init" && isRunc(p)
}

// runcValueFlag reports whether a global runc option takes a value (given as
// "-name" or "--name").
func runcValueFlag(a string) bool {
	switch strings.TrimLeft(a, "-") {
	case "root", "log", "log-format", "criu", "rootless":
		return true
	}
	return false
}

// runcCommand returns runc's subcommand: the first argument after the global
// options (`runc --root R --log L --log-format json exec ...` is exec).
func runcCommand(args []string) string {
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a
		}
		if !strings.Contains(a, "=") && runcValueFlag(a) {
			i++ // its value
		}
	}
	return ""
}
