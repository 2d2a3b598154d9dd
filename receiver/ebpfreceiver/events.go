package ebpfreceiver

import (
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/metadata"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/proctree"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// Event names: the LogRecord event_name field.
const (
	eventExec = "process.exec"
	eventExit = "process.exit"
	eventFork = "process.fork"
	// eventAlert labels policy matches in the received-records metric.
	eventAlert = "policy.match"
)

// maxBodyCommand bounds the command line quoted in a record's body.
const maxBodyCommand = 256

type ancestor struct{ execID, path string }

// event is one thing to emit, with a copy of its process as it was then.
type event struct {
	name      string
	ktime     uint64
	observed  time.Time
	proc      *proctree.Process // immutable cache entry
	parent    *proctree.Process
	ancestors []ancestor // beyond the parent
	exitCode  uint32
	match     *match        // the policy rule that matched, if any
	alert     *sensor.Alert // file, network and syscall policy events
}

// buildLogs groups events into one ResourceLogs per container (host processes
// share one host resource) and turns each into a LogRecord.
func (r *logsReceiver) buildLogs(events []*event) plog.Logs {
	logs := plog.NewLogs()
	scopes := map[string]plog.ScopeLogs{}
	offset := r.bootOffset.Load()
	for _, e := range events {
		key := e.proc.ContainerID
		sl, ok := scopes[key]
		if !ok {
			rl := logs.ResourceLogs().AppendEmpty()
			res := rl.Resource().Attributes()
			res.PutStr("host.name", r.hostname)
			if e.proc.ContainerID != "" {
				res.PutStr("container.id", e.proc.ContainerID)
				if e.proc.Runtime != "" {
					res.PutStr("container.runtime.name", e.proc.Runtime)
				}
				if e.proc.PodUID != "" {
					res.PutStr("k8s.pod.uid", e.proc.PodUID)
				}
			}
			sl = rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(metadata.ScopeName)
			scopes[key] = sl
		}
		r.fillRecord(sl.LogRecords().AppendEmpty(), e, offset)
	}
	return logs
}

func (r *logsReceiver) fillRecord(lr plog.LogRecord, e *event, bootOffset int64) {
	lr.SetEventName(e.name)
	lr.SetTimestamp(pcommon.Timestamp(int64(e.ktime) + bootOffset))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(e.observed))
	a := lr.Attributes()
	p := e.proc
	summary := e.match != nil && e.alert != nil
	if summary {
		a.EnsureCapacity(17)
	} else {
		a.EnsureCapacity(26) // one allocation for the usual attribute set
	}
	a.PutInt("process.pid", int64(p.PID))
	a.PutInt("process.parent_pid", int64(p.PPID))
	a.PutStr("vigil.exec_id", p.ExecID)
	if p.ParentExecID != "" {
		a.PutStr("vigil.parent.exec_id", p.ParentExecID)
	}
	if p.Executable != "" {
		a.PutStr("process.executable.path", p.Executable)
	}
	if summary {
		// Policy matches carry a process summary; the full process (arguments,
		// directory, ancestry) is on its process.exec record, joined by vigil.exec_id.
		if len(p.Args) > 0 {
			a.PutStr("process.command_line", p.CommandLine)
		}
		a.PutInt("process.user.id", int64(e.alert.EUID))
		a.PutInt("process.real_user.id", int64(e.alert.UID))
		fillMatch(lr, e)
		return
	}
	if p.Executable != "" {
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
	if e.name != eventExit || p.Executable != "" {
		a.PutInt("process.user.id", int64(p.EUID))
		a.PutInt("process.real_user.id", int64(p.UID))
		a.PutInt("process.group.id", int64(p.EGID))
		a.PutInt("process.real_group.id", int64(p.GID))
	}
	if p.StartBoottime != 0 {
		a.PutStr("process.creation.time", time.Unix(0, int64(p.StartBoottime)+bootOffset).UTC().Format(time.RFC3339Nano))
	}
	if p.CgroupID != 0 {
		a.PutInt("vigil.cgroup.id", int64(p.CgroupID))
	}
	if e.parent != nil {
		if e.parent.Executable != "" {
			a.PutStr("vigil.parent.executable.path", e.parent.Executable)
		}
		if len(e.parent.Args) > 0 {
			a.PutStr("vigil.parent.command_line", e.parent.CommandLine)
		}
	}
	if len(e.ancestors) > 0 {
		ids := a.PutEmptySlice("vigil.ancestors.exec_id")
		paths := a.PutEmptySlice("vigil.ancestors.executable.path")
		for _, an := range e.ancestors {
			ids.AppendEmpty().SetStr(an.execID)
			paths.AppendEmpty().SetStr(an.path)
		}
	}

	exe := p.Executable
	if exe == "" {
		exe = "pid " + strconv.FormatUint(uint64(p.PID), 10)
	}
	if e.match != nil {
		fillMatch(lr, e)
		return
	}
	switch e.name {
	case eventExec:
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		if len(cmdline) > maxBodyCommand {
			cmdline = cmdline[:maxBodyCommand] + "..."
		}
		lr.Body().SetStr("exec " + cmdline)
		if cmdline == "" {
			lr.Body().SetStr("exec " + exe)
		}
	case eventFork:
		lr.SetSeverityNumber(plog.SeverityNumberDebug)
		lr.SetSeverityText("DEBUG")
		lr.Body().SetStr("fork " + exe)
	case eventExit:
		status, sig := int(e.exitCode>>8)&0xff, int(e.exitCode&0x7f)
		if sig != 0 {
			name := unix.SignalName(unix.Signal(sig))
			if name == "" {
				name = "signal " + strconv.Itoa(sig)
			}
			a.PutInt("process.exit.code", int64(128+sig))
			a.PutStr("vigil.exit.signal", name)
			if e.exitCode&0x80 != 0 {
				a.PutBool("vigil.exit.core_dumped", true)
			}
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARN")
			lr.Body().SetStr("exit " + exe + " killed by " + name)
		} else {
			a.PutInt("process.exit.code", int64(status))
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
			lr.Body().SetStr("exit " + exe + " code " + strconv.Itoa(status))
		}
	}
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// severities maps the policy's severity names to OTLP severity numbers.
var severities = map[policy.Severity]plog.SeverityNumber{
	policy.SeverityDebug: plog.SeverityNumberDebug,
	policy.SeverityInfo:  plog.SeverityNumberInfo,
	policy.SeverityWarn:  plog.SeverityNumberWarn,
	policy.SeverityError: plog.SeverityNumberError,
	policy.SeverityFatal: plog.SeverityNumberFatal,
}

// fillMatch writes a policy match: the rule, the action and its outcome, what the
// event was about, a sentence for the body, and the rule's severity.
func fillMatch(lr plog.LogRecord, e *event) {
	m := e.match
	a := lr.Attributes()
	a.PutStr("security_rule.name", m.ref.Rule)
	a.PutStr("security_rule.ruleset.name", m.ref.Policy)
	a.PutStr("vigil.policy.action", string(m.ref.Action))
	mode := "monitor"
	if m.ref.Enforce {
		mode = "enforce"
	}
	a.PutStr("vigil.policy.mode", mode)
	a.PutBool("vigil.policy.applied", m.applied)
	sev := severities[m.ref.Severity]
	if sev == plog.SeverityNumberUnspecified {
		sev = plog.SeverityNumberInfo
	}
	lr.SetSeverityNumber(sev)
	lr.SetSeverityText(strings.ToUpper(string(m.ref.Severity)))

	what := ""
	if al := e.alert; al != nil {
		switch al.Kind {
		case sensor.KindFile:
			a.PutStr("file.path", al.Path)
			switch m.ref.Event {
			case policy.EventFileOpen, policy.EventFileWrite:
				a.PutStr("vigil.file.access", accessName(al.Access))
			case policy.EventFileChmod:
				a.PutStr("vigil.file.mode", "0"+strconv.FormatUint(uint64(al.Access&0o7777), 8))
			case policy.EventFileRename:
				side := "from" // file.path is the old name
				if al.Access == 1 {
					side = "to" // file.path is the new name
				}
				a.PutStr("vigil.file.rename_side", side)
			}
			what = al.Path
		case sensor.KindNet:
			// listen reports the local address; connect and accept the peer.
			side := "network.peer."
			if m.ref.Event == policy.EventNetworkListen {
				side = "network.local."
			}
			a.PutStr(side+"address", al.Peer.Addr().String())
			a.PutInt(side+"port", int64(al.Peer.Port()))
			a.PutStr("network.transport", transportName(al.Protocol))
			if al.Peer.Addr().Is4() {
				a.PutStr("network.type", "ipv4")
			} else {
				a.PutStr("network.type", "ipv6")
			}
			what = al.Peer.String()
		case sensor.KindExec:
			// Denied by BPF LSM before the exec: the process is still the caller.
			a.PutStr("vigil.exec.path", al.Path)
			what = al.Path
		case sensor.KindSys:
			a.PutInt("vigil.syscall.number", int64(al.Access))
			args := a.PutEmptySlice("vigil.syscall.args")
			for _, v := range al.Args[:3] {
				args.AppendEmpty().SetInt(int64(v))
			}
			switch m.ref.Event {
			case policy.EventProcessPtrace:
				a.PutInt("vigil.target.pid", int64(al.Args[1]))
				what = "of pid " + strconv.FormatUint(al.Args[1], 10)
			case policy.EventKernelModuleLoad:
				if al.Path != "" {
					a.PutStr("file.path", al.Path)
					what = al.Path
				}
			case policy.EventBPFLoad:
				if al.Flags&(sensor.FlagLSM|sensor.FlagFmodRet) != 0 {
					a.PutInt("vigil.bpf.program_type", int64(al.Args[1]))
				}
			}
		}
		if al.Flags&sensor.FlagCompat != 0 {
			// A 32-bit syscall: vigil.syscall.number is its ia32 number.
			a.PutStr("vigil.syscall.abi", "ia32")
		}
		if al.Flags&sensor.FlagIOUring != 0 {
			a.PutBool("vigil.io_uring", true) // done by an io_uring request, not a syscall
		}
		if al.Flags&sensor.FlagLSM != 0 {
			a.PutStr("vigil.hook", "lsm")
		} else if al.Flags&sensor.FlagFmodRet != 0 {
			a.PutStr("vigil.hook", "fmod_ret")
		} else if al.Kind == sensor.KindFile || al.Kind == sensor.KindSys {
			a.PutStr("vigil.hook", "syscall")
		}
	} else if e.name == eventExec {
		what = e.proc.Executable
	}
	var verb string
	switch {
	case m.applied && m.ref.Action == policy.ActionDeny:
		verb = "denied"
	case m.applied && m.ref.Action == policy.ActionKill:
		verb = "killed"
	case !m.ref.Enforce && (m.ref.Action == policy.ActionDeny || m.ref.Action == policy.ActionKill):
		verb = "would " + string(m.ref.Action) + " (monitor)"
	case m.ref.Action == policy.ActionDeny || m.ref.Action == policy.ActionKill:
		verb = string(m.ref.Action) + " not applied"
	default:
		verb = "matched"
	}
	body := verb + " " + e.name
	if what != "" {
		body += " " + what
	}
	if e.proc.Executable != "" {
		body += " by " + e.proc.Executable
	}
	lr.Body().SetStr(body + " [" + m.ref.Policy + "/" + m.ref.Rule + "]")
}

func accessName(flags uint32) string {
	switch flags & 3 {
	case 1:
		return "write"
	case 2:
		return "read_write"
	}
	return "read"
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
