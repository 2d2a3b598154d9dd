// Package otlplogs turns typed events into OTLP logs: one ResourceLogs per
// container (host processes share one host resource), one LogRecord per event.
// It knows events, not kernel records: golden files test it without a kernel.
package otlplogs

import (
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
)

// maxBodyCommand bounds the command line quoted in a record's body.
const maxBodyCommand = 256

// ServiceNamespace is the service.namespace of every resource.
const ServiceNamespace = "vigil"

// HostServiceName is the service.name of the resource of host processes.
const HostServiceName = "vigil-host"

// Builder builds OTLP logs from events. Secrets are already redacted in the
// events' processes (the tracker masks them once, when it caches a process).
type Builder struct {
	// HostName is the host.name of every resource.
	HostName string
	// NodeName, when set, is the k8s.node.name of every resource.
	NodeName string
	// Scope is the instrumentation scope name of the records.
	Scope string

	// created remembers the last process.creation.time strings (formatting one
	// costs an allocation and a tenth of a microsecond; a storm's records are
	// of a few processes). Build is not called concurrently.
	created [8]createdTime
}

type createdTime struct {
	start, offset int64
	s             string
}

// creationTime is the RFC 3339 time of a boot-clock start time.
func (b *Builder) creationTime(start uint64, bootOffset int64) string {
	c := &b.created[start%uint64(len(b.created))]
	if c.s == "" || c.start != int64(start) || c.offset != bootOffset {
		*c = createdTime{int64(start), bootOffset, time.Unix(0, int64(start)+bootOffset).UTC().Format(time.RFC3339Nano)}
	}
	return c.s
}

// Build groups events into resources and turns each into a LogRecord.
// bootOffset is the wall clock minus the boot clock in ns: kernel times are
// boot-clock times.
func (b *Builder) Build(events []*event.Event, bootOffset int64) plog.Logs {
	logs := plog.NewLogs()
	scopes := map[string]plog.ScopeLogs{}
	for _, e := range events {
		key := e.Proc.ContainerID
		sl, ok := scopes[key]
		if !ok {
			rl := logs.ResourceLogs().AppendEmpty()
			res := rl.Resource().Attributes()
			res.PutStr("host.name", b.HostName)
			// Every Vigil resource, host or container, is in one service
			// namespace: a cheap, Vigil-only stream selector in backends that
			// index it (Loki does by default: {service_namespace="vigil"}).
			res.PutStr("service.namespace", ServiceNamespace)
			if b.NodeName != "" {
				res.PutStr("k8s.node.name", b.NodeName)
			}
			if e.Proc.ContainerID == "" {
				// Host processes: one service per node, so that backends that
				// index service.name and service.instance.id (Loki does by
				// default) keep each node's host events in its own stream.
				res.PutStr("service.name", HostServiceName)
				res.PutStr("service.instance.id", b.HostName)
			}
			if e.Proc.ContainerID != "" {
				res.PutStr("container.id", e.Proc.ContainerID)
				if e.Proc.Runtime != "" {
					res.PutStr("container.runtime.name", e.Proc.Runtime)
				}
				if e.Proc.PodUID != "" {
					res.PutStr("k8s.pod.uid", e.Proc.PodUID)
				}
			}
			sl = rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(b.Scope)
			scopes[key] = sl
		}
		b.fillRecord(sl.LogRecords().AppendEmpty(), e, bootOffset)
	}
	return logs
}

// policyRecord reports whether an event came from a policy sensor (file,
// network, exec attempt, syscall kinds) rather than from the process sensor.
func policyRecord(d event.Detail) bool {
	switch d.(type) {
	case nil, *event.Exec, event.Exit, event.Fork:
		return false
	}
	return true
}

func (b *Builder) fillRecord(lr plog.LogRecord, e *event.Event, bootOffset int64) {
	lr.SetEventName(e.Name)
	lr.SetTimestamp(pcommon.Timestamp(int64(e.KTime) + bootOffset))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(e.Observed))
	a := lr.Attributes()
	p := e.Proc
	// Every record, a policy match too, carries the full process, its parent
	// and its ancestors: an alert needs no join with its process.exec record.
	a.EnsureCapacity(48) // one allocation for the usual attribute set (about 40 on an alert)
	a.PutInt("process.pid", int64(p.PID))
	a.PutInt("process.parent_pid", int64(p.PPID))
	a.PutStr("vigil.exec_id", p.ExecID)
	if p.ParentExecID != "" {
		a.PutStr("vigil.parent.exec_id", p.ParentExecID)
	}
	if p.Executable != "" {
		a.PutStr("process.executable.path", p.Executable)
	}
	if p.ExecIntoContainer {
		// Only when true: absent means a host process or a container's own.
		a.PutBool("vigil.exec_into_container", true)
	}
	switch {
	case p.Name != "":
		a.PutStr("process.executable.name", p.Name) // the kernel's task name (comm)
	case p.Executable != "":
		a.PutStr("process.executable.name", baseName(p.Executable))
	}
	args := p.Args // already redacted when cached
	cmdline := p.CommandLine
	if len(args) > 0 {
		a.PutStr("process.command_line", cmdline)
		s := a.PutEmptySlice("process.command_args")
		s.EnsureCapacity(len(args))
		for _, arg := range args {
			s.AppendEmpty().SetStr(arg)
		}
	}
	if p.Redacted {
		a.PutBool("vigil.redacted", true)
	}
	if p.ArgsTruncated {
		a.PutBool("vigil.args_truncated", true)
	}
	if p.Cwd != "" {
		a.PutStr("process.working_directory", p.Cwd)
	}
	switch {
	case policyRecord(e.Detail):
		// The credentials the kernel read with the event (the process may
		// have changed them since its exec).
		a.PutInt("process.user.id", int64(e.Cred.EUID))
		a.PutInt("process.real_user.id", int64(e.Cred.UID))
		if p.Executable != "" {
			a.PutInt("process.group.id", int64(p.EGID))
			a.PutInt("process.real_group.id", int64(p.GID))
		}
	case e.Name != event.ProcessExit || p.Executable != "":
		a.PutInt("process.user.id", int64(p.EUID))
		a.PutInt("process.real_user.id", int64(p.UID))
		a.PutInt("process.group.id", int64(p.EGID))
		a.PutInt("process.real_group.id", int64(p.GID))
	}
	if p.UserName != "" && (!policyRecord(e.Detail) || e.Cred.EUID == p.EUID) {
		a.PutStr("process.user.name", p.UserName)
	}
	fillExecAttrs(a, p, e.Name == event.ProcessExec)
	if p.StartBoottime != 0 {
		a.PutStr("process.creation.time", b.creationTime(p.StartBoottime, bootOffset))
	}
	if p.CgroupID != 0 {
		a.PutInt("vigil.cgroup.id", int64(p.CgroupID))
	}
	if e.Parent != nil {
		if e.Parent.Executable != "" {
			a.PutStr("vigil.parent.executable.path", e.Parent.Executable)
		}
		switch {
		case e.Parent.Name != "":
			a.PutStr("vigil.parent.executable.name", e.Parent.Name)
		case e.Parent.Executable != "":
			a.PutStr("vigil.parent.executable.name", baseName(e.Parent.Executable))
		}
		if len(e.Parent.Args) > 0 {
			a.PutStr("vigil.parent.command_line", e.Parent.CommandLine)
		}
	}
	if len(e.Ancestors) > 0 {
		ids := a.PutEmptySlice("vigil.ancestors.exec_id")
		paths := a.PutEmptySlice("vigil.ancestors.executable.path")
		names := a.PutEmptySlice("vigil.ancestors.executable.name")
		for _, an := range e.Ancestors {
			ids.AppendEmpty().SetStr(an.ExecID)
			paths.AppendEmpty().SetStr(an.Executable)
			n := an.Name
			if n == "" {
				n = baseName(an.Executable)
			}
			names.AppendEmpty().SetStr(n)
		}
	}

	if x, ok := e.Detail.(*event.Exec); ok && x.LoaderProgram != "" {
		a.PutStr("vigil.exec.loader_program", x.LoaderProgram)
	}
	exe := p.Executable
	if exe == "" {
		exe = "pid " + strconv.FormatUint(uint64(p.PID), 10)
	}
	if e.Match != nil {
		fillMatch(lr, e)
		return
	}
	switch d := e.Detail.(type) {
	case *event.Exec:
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		if len(cmdline) > maxBodyCommand {
			cmdline = cmdline[:maxBodyCommand] + "..."
		}
		lr.Body().SetStr("exec " + cmdline)
		if cmdline == "" {
			lr.Body().SetStr("exec " + exe)
		}
	case event.Fork:
		lr.SetSeverityNumber(plog.SeverityNumberDebug)
		lr.SetSeverityText("DEBUG")
		lr.Body().SetStr("fork " + exe)
	case event.Exit:
		if sig := d.Signal(); sig != 0 {
			name := linuxSignalName(sig)
			if name == "" {
				name = "signal " + strconv.Itoa(sig)
			}
			a.PutInt("process.exit.code", int64(128+sig))
			a.PutStr("vigil.exit.signal", name)
			if d.CoreDumped() {
				a.PutBool("vigil.exit.core_dumped", true)
			}
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARN")
			lr.Body().SetStr("exit " + exe + " killed by " + name)
		} else {
			a.PutInt("process.exit.code", int64(d.Code()))
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
			lr.Body().SetStr("exit " + exe + " code " + strconv.Itoa(d.Code()))
		}
	}
}

// fillExecAttrs writes what the kernel read at exec beyond the image: the
// terminal, the login uid, the capability sets and the executable's flags.
// Flags are written only when true. The capability sets are on the exec record
// only (caps): as names a full set is about 600 bytes, which on every alert of a
// storm was a third of each record's size and of the export's cost; an alert
// links to its exec record by vigil.exec_id, and rule conditions read the sets
// from the process cache.
func fillExecAttrs(a pcommon.Map, p *event.Process, caps bool) {
	if !p.ExecAttrs {
		return
	}
	a.PutInt("vigil.process.tty", int64(p.TTY))
	login := int64(p.LoginUID)
	if p.LoginUID == event.NoLoginUID {
		login = -1
	}
	a.PutInt("vigil.user.loginuid", login)
	if caps {
		a.PutStr("vigil.process.cap_effective", event.CapNames(p.CapEffective))
		a.PutStr("vigil.process.cap_permitted", event.CapNames(p.CapPermitted))
	}
	for _, fl := range [...]struct {
		f   event.ExeFlags
		key string
	}{
		{event.ExeMemfd, "vigil.exe.memfd"}, {event.ExeUpperLayer, "vigil.exe.upper_layer"},
		{event.ExeSetuid, "vigil.exe.setuid"}, {event.ExeSetgid, "vigil.exe.setgid"},
	} {
		if p.Exe.Flags&fl.f != 0 {
			a.PutBool(fl.key, true)
		}
	}
	if p.Privileged {
		a.PutBool("vigil.container.privileged", true)
	}
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// severities maps the policy's severity names to OTLP severity numbers.
var severities = map[string]plog.SeverityNumber{
	"debug": plog.SeverityNumberDebug,
	"info":  plog.SeverityNumberInfo,
	"warn":  plog.SeverityNumberWarn,
	"error": plog.SeverityNumberError,
	"fatal": plog.SeverityNumberFatal,
}

// fillMatch writes a policy match: the rule, the action and its outcome, what the
// event was about, a sentence for the body, and the rule's severity.
func fillMatch(lr plog.LogRecord, e *event.Event) {
	m := e.Match
	a := lr.Attributes()
	a.PutStr("security_rule.name", m.Rule)
	a.PutStr("security_rule.ruleset.name", m.Policy)
	a.PutStr("vigil.policy.action", m.Action)
	mode := "monitor"
	if m.Enforce {
		mode = "enforce"
	}
	a.PutStr("vigil.policy.mode", mode)
	a.PutBool("vigil.policy.applied", m.Applied)
	sev := severities[m.Severity]
	if sev == plog.SeverityNumberUnspecified {
		sev = plog.SeverityNumberInfo
	}
	lr.SetSeverityNumber(sev)
	lr.SetSeverityText(severityText(m.Severity))
	if m.SeverityNumber != 0 {
		lr.SetSeverityNumber(plog.SeverityNumber(m.SeverityNumber))
		lr.SetSeverityText(m.SeverityText)
	}

	what := ""
	if policyRecord(e.Detail) {
		what = fillDetail(a, e)
		switch e.Hook {
		case event.HookLSM:
			a.PutStr("vigil.hook", "lsm")
		case event.HookFmodRet:
			a.PutStr("vigil.hook", "fmod_ret")
		case event.HookSyscall:
			a.PutStr("vigil.hook", "syscall")
		}
		if e.Compat {
			// A 32-bit syscall: vigil.syscall.number is its ia32 number.
			a.PutStr("vigil.syscall.abi", "ia32")
		}
		if e.IOUring {
			a.PutBool("vigil.io_uring", true) // done by an io_uring request, not a syscall
		}
	} else if e.Name == event.ProcessExec {
		what = e.Proc.Executable
	}
	if m.UserSpace && m.Body != "" {
		lr.Body().SetStr(m.Body)
		return
	}
	lr.Body().SetStr(matchBody(m, e.Name, what, e.Proc.Executable))
}

// matchBody is a match's sentence, "<verb> <event>[ <what>][ by <exe>]
// [<policy>/<rule>]", built in one allocation (one per record of a storm).
func matchBody(m *event.Match, name, what, exe string) string {
	var verb, verb2 string // the verb is verb + m.Action + verb2 when verb2 is set
	denyOrKill := m.Action == event.ActionDeny || m.Action == event.ActionKill
	switch {
	case m.Applied && m.Action == event.ActionDeny:
		verb = "denied"
	case m.Applied && m.Action == event.ActionKill:
		verb = "killed"
	case !m.Enforce && denyOrKill:
		verb, verb2 = "would ", " (monitor)"
	case denyOrKill:
		verb2 = " not applied"
	default:
		verb = "matched"
	}
	n := len(verb) + 1 + len(name) + len(" [/]") + len(m.Policy) + len(m.Rule)
	if verb2 != "" {
		n += len(m.Action) + len(verb2)
	}
	if what != "" {
		n += 1 + len(what)
	}
	if exe != "" {
		n += len(" by ") + len(exe)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(verb)
	if verb2 != "" {
		b.WriteString(m.Action)
		b.WriteString(verb2)
	}
	b.WriteByte(' ')
	b.WriteString(name)
	if what != "" {
		b.WriteByte(' ')
		b.WriteString(what)
	}
	if exe != "" {
		b.WriteString(" by ")
		b.WriteString(exe)
	}
	b.WriteString(" [")
	b.WriteString(m.Policy)
	b.WriteByte('/')
	b.WriteString(m.Rule)
	b.WriteByte(']')
	return b.String()
}

// severityText is the upper-case severity text of a policy severity name,
// without an allocation for the names policies use.
func severityText(s string) string {
	switch s {
	case "debug":
		return "DEBUG"
	case "info":
		return "INFO"
	case "warn":
		return "WARN"
	case "error":
		return "ERROR"
	case "fatal":
		return "FATAL"
	}
	return strings.ToUpper(s)
}

// fillDetail writes what a policy event was about and returns it for the body.
func fillDetail(a pcommon.Map, e *event.Event) string {
	switch d := e.Detail.(type) {
	case *event.File:
		a.PutStr("file.path", d.Path)
		if d.Truncated {
			a.PutBool("vigil.file.path_truncated", true)
		}
		if d.SubtreeMount {
			if d.Canonical != "" {
				a.PutStr("vigil.file.canonical_path", d.Canonical)
			} else {
				a.PutBool("vigil.file.canonical_path_unresolved", true)
			}
		}
		if d.Ino != 0 {
			a.PutStr("file.inode", strconv.FormatUint(d.Ino, 10))
			a.PutStr("vigil.file.device", strconv.FormatUint(uint64(d.Dev>>20), 10)+":"+strconv.FormatUint(uint64(d.Dev&0xfffff), 10))
		}
		if d.IDMatch {
			a.PutStr("vigil.file.matched_by", "identity")
			if d.PolicyPath != "" {
				a.PutStr("vigil.file.policy_path", d.PolicyPath)
			}
		}
		switch e.Name {
		case event.FileOpen, event.FileWrite:
			a.PutStr("vigil.file.access", d.Access.String())
			a.PutStr("vigil.file.flags", string(event.AppendOpenFlags(nil, d.OpenFlags)))
			if d.Raw != "" {
				a.PutStr("vigil.file.path_raw", d.Raw)
			}
			if d.Failed {
				a.PutInt("vigil.file.result", int64(d.Res))
				a.PutStr("error.type", errnoName(d.Res))
			}
		case event.FileChmod:
			a.PutStr("vigil.file.mode", "0"+strconv.FormatUint(uint64(d.Mode), 8))
		case event.FileRename:
			side := "from" // file.path is the old name
			if d.Side == event.RenameTo {
				side = "to" // file.path is the new name
			}
			a.PutStr("vigil.file.rename_side", side)
		}
		return d.Path
	case *event.Network:
		// listen reports the local address; connect and accept the peer.
		side := "network.peer."
		if d.Direction == event.Listening {
			side = "network.local."
		}
		addr := d.Addr()
		a.PutStr(side+"address", addr.Addr().String())
		a.PutInt(side+"port", int64(addr.Port()))
		a.PutStr("network.transport", transportName(d.Transport))
		if addr.Addr().Is4() {
			a.PutStr("network.type", "ipv4")
		} else {
			a.PutStr("network.type", "ipv6")
		}
		return addr.String()
	case *event.ExecAttempt:
		// Denied by the security hook before the exec: the process is still the caller.
		a.PutStr("vigil.exec.path", d.Path)
		return d.Path
	}
	s, ok := event.SyscallOf(e.Detail)
	if !ok {
		return ""
	}
	a.PutInt("vigil.syscall.number", int64(s.Nr))
	args := a.PutEmptySlice("vigil.syscall.args")
	for _, v := range s.Args {
		args.AppendEmpty().SetInt(int64(v))
	}
	switch d := e.Detail.(type) {
	case *event.Ptrace:
		a.PutInt("vigil.target.pid", int64(d.TargetPID))
		return "of pid " + strconv.FormatUint(d.TargetPID, 10)
	case *event.Module:
		if d.Path != "" {
			a.PutStr("file.path", d.Path)
			return d.Path
		}
	case *event.BPF:
		if d.ProgTypeKnown {
			a.PutInt("vigil.bpf.program_type", int64(d.ProgType))
		}
	case *event.Link:
		// Both paths as the process passed them.
		a.PutStr("file.path", d.New)
		if e.Name == event.FileSymlink {
			a.PutStr("file.symbolic_link.target_path", d.Old)
			return d.New + " -> " + d.Old
		}
		a.PutStr("vigil.file.link.old_path", d.Old)
		return d.New + " = " + d.Old
	case *event.Socket:
		fam, typ := event.SocketFamilyName(d.Family), event.SocketTypeName(d.Type&0xf)
		a.PutStr("vigil.socket.family", fam)
		a.PutStr("vigil.socket.type", typ)
		a.PutInt("vigil.socket.protocol", int64(d.Protocol))
		return fam + " " + typ
	case *event.Dup:
		a.PutInt("vigil.fd.old", d.OldFD)
		a.PutInt("vigil.fd.new", d.NewFD)
		what := "fd " + strconv.FormatInt(d.OldFD, 10) + " onto " + strconv.FormatInt(d.NewFD, 10)
		switch d.Family {
		case 2, 10:
			if d.Family == 2 {
				a.PutStr("network.type", "ipv4")
			} else {
				a.PutStr("network.type", "ipv6")
			}
			a.PutStr("network.transport", transportName(d.Protocol))
			if d.Peer.Addr().IsValid() {
				a.PutStr("network.peer.address", d.Peer.Addr().String())
				a.PutInt("network.peer.port", int64(d.Peer.Port()))
				what += " (socket to " + d.Peer.String() + ")"
			}
			if d.Local.Addr().IsValid() && !d.Local.Addr().IsUnspecified() {
				a.PutStr("network.local.address", d.Local.Addr().String())
			}
			a.PutInt("network.local.port", int64(d.Local.Port()))
		default:
			a.PutStr("vigil.socket.family", event.SocketFamilyName(d.Family))
		}
		return what
	}
	return ""
}

func transportName(proto uint8) string {
	switch proto {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	}
	return strconv.Itoa(int(proto))
}

// linuxSignals names the signals the kernel reports (Linux numbering, whatever
// the platform this package is built for).
var linuxSignals = [...]string{1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP",
	6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
	13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT",
	19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU",
	25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS"}

func linuxSignalName(sig int) string {
	if sig > 0 && sig < len(linuxSignals) {
		return linuxSignals[sig]
	}
	return ""
}

// errnoName names a negative errno as Falco's evt.res does (ENOENT, EACCES, ...).
func errnoName(res int32) string {
	if n := event.ErrnoName(-res); n != "" {
		return n
	}
	return "E" + strconv.Itoa(int(-res))
}
