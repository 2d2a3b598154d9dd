//go:build linux

package ebpfreceiver

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// The dynamic loader run as a program ("/lib64/ld-linux-x86-64.so.2 PROGRAM")
// loads and runs PROGRAM without an exec of it: the kernel sees only the
// loader's exec, so an exec rule naming PROGRAM does not match in the kernel.
// The receiver finds the program in the loader's arguments and applies the
// exec rules to it: a kill is an after-the-fact SIGKILL from user space (the
// program may run for the time the record takes to reach the receiver), a
// deny cannot be applied and is reported as not applied.

// isLoader reports whether an executable is a dynamic loader (glibc's
// ld-linux*.so*, ld-*.so*, ld64.so*, musl's ld-musl-*.so*).
func isLoader(exe string) bool {
	b := filepath.Base(exe)
	return strings.Contains(b, ".so") && (strings.HasPrefix(b, "ld-") || strings.HasPrefix(b, "ld64.so") || strings.HasPrefix(b, "ld.so"))
}

// loaderValueOptions are the loader options that take the next argument as value.
var loaderValueOptions = map[string]bool{
	"--library-path": true, "--inhibit-rpath": true, "--audit": true, "--preload": true, "--argv0": true,
	"--glibc-hwcaps-prepend": true, "--glibc-hwcaps-mask": true,
}

// maxLoaderArgs bounds the arguments looked at for the program.
const maxLoaderArgs = 64

// loaderProgram returns the program argument of a loader's argument vector:
// the first argument after argv[0] that is not an option or an option's value.
func loaderProgram(args []string) (string, bool) {
	for i := 1; i < len(args) && i < maxLoaderArgs; i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", false
		case loaderValueOptions[a]:
			i++
		case strings.HasPrefix(a, "--"):
		default:
			return a, a != ""
		}
	}
	return "", false
}

// loaderTarget is the program a loader runs, resolved for the exec rules.
type loaderTarget struct {
	path  string // absolute, as the process sees it
	id    sensor.FileID
	flags uint32 // enum vigil_exe_flags bits that user space can tell
}

// resolveLoaderTarget makes the program argument absolute (relative to the
// process's working directory) and reads its identity through the process's
// root (/proc/PID/root), so a container's program is looked up in the
// container. A /proc/self/fd/N argument naming a memfd is flagged as one.
func resolveLoaderTarget(p *event.Process, prog string) loaderTarget {
	path := prog
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.Cwd, path)
	}
	path = filepath.Clean(path)
	pid := strconv.FormatUint(uint64(p.PID), 10)
	inRoot := "/proc/" + pid + "/root" + path
	if rest, ok := strings.CutPrefix(path, "/proc/self/"); ok {
		inRoot = "/proc/" + pid + "/" + rest
	}
	t := loaderTarget{path: path}
	if link, err := os.Readlink(inRoot); err == nil && strings.HasPrefix(link, "/memfd:") {
		t.flags |= uint32(event.ExeMemfd)
		t.path = strings.TrimSuffix(strings.TrimPrefix(link, "/"), " (deleted)")
	}
	if id, ok := sensor.ExeIDOf(inRoot); ok {
		t.id = id
	}
	var st unix.Stat_t
	if unix.Stat(inRoot, &st) == nil {
		if st.Mode&unix.S_ISUID != 0 {
			t.flags |= uint32(event.ExeSetuid)
		}
		if st.Mode&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP {
			t.flags |= uint32(event.ExeSetgid)
		}
	}
	return t
}

// loaderExec applies the exec rules to the program a loader exec runs: it
// sets the event's verdict when a rule matches, and carries out a kill.
func (p *pipeline) loaderExec(ev *event.Event) {
	x, ok := ev.Detail.(*event.Exec)
	if !ok || ev.Kernel.Rules != 0 || !isLoader(ev.Proc.Executable) {
		return
	}
	prog, ok := loaderProgram(ev.Proc.Args)
	if !ok {
		return
	}
	t := resolveLoaderTarget(ev.Proc, prog)
	x.LoaderProgram = t.path
	rt := p.ruleTable()
	if rt == nil {
		return
	}
	proc := p.tracker.fileProcess(ev, ev.Proc.UID)
	mask := rt.MatchExecInUserSpace(t.path, t.id, t.flags, proc)
	if mask == 0 {
		return
	}
	ev.Kernel = event.Verdict{Kind: sensor.KindExec, Rules: mask}
	// The rule that decides is the one kernelMatch takes. A kill is sent here
	// for a rule the keys decide alone; one whose condition user space
	// decides is sent by respond, once kernelMatch found that it holds.
	ref, ok := p.deciding(ev)
	if ok && ref.Action == policy.ActionKill && ref.Enforce && !ref.Cond.UserSpace() {
		ev.Kernel.Applied = p.kill(int(ev.Proc.PID)) == nil
	}
}

// fileProcess is what the rule table's Go decisions need of an event's process:
// its ancestors as far as the kernel's ancestor test reads, from the cache.
func (t *tracker) fileProcess(ev *event.Event, uid uint32) sensor.FileProcess {
	fp := sensor.FileProcess{UID: uid, Executable: ev.Proc.Executable, InContainer: ev.Proc.ContainerID != "",
		Name: ev.Proc.Name, TTY: ev.Proc.TTY != 0, CapEffective: ev.Proc.CapEffective}
	if ev.Parent != nil {
		fp.ParentName = ev.Parent.Name
	}
	anc := t.cache.Ancestors(ev.Proc, policy.MaxAncestorDepth+1)
	fp.AncestorsCut = len(anc) > policy.MaxAncestorDepth
	for _, a := range anc[:min(len(anc), policy.MaxAncestorDepth)] {
		n := a.Name
		if n == "" && a.Executable != "" {
			n = filepath.Base(a.Executable) // as the rule stage names it (proc.aname)
		}
		fp.Ancestors = append(fp.Ancestors, n)
	}
	return fp
}
