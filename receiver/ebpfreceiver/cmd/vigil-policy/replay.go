package main

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
)

// maxEventLine bounds one line of an events file (one OTLP JSON export).
const maxEventLine = 16 << 20

// replay loads the rules files of paths and evaluates them on every record of
// an events file (the file exporter's OTLP JSON lines), with the receiver's
// rule stage. It prints each match and returns the exit code.
func replay(paths []string, eventsPath string, stdout, stderr io.Writer) int {
	set := policy.LoadLinked(paths, policy.TypicalCapabilities(), rulestage.Linker{})
	code := 0
	for _, f := range set.Files {
		if f.Err != nil {
			fmt.Fprintln(stderr, f.Err)
			code = 1
		}
	}
	rf := set.RulesFiles()
	if len(rf) == 0 && len(set.Policies) == 0 {
		fmt.Fprintln(stderr, "vigil-policy: no policy or rules file loaded from the paths")
		return 1
	}
	l := rulestage.LoadFilesWith(rulestage.PolicyDefs(set.Policies), rf, policy.MaxPolicies-len(set.Policies))
	for _, p := range l.Problems {
		fmt.Fprintln(stderr, p)
	}
	f, err := os.Open(eventsPath)
	if err != nil {
		fmt.Fprintf(stderr, "vigil-policy: %v\n", err)
		return 1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	var st rulestage.Stage
	var pms []policyMatch
	var un plog.JSONUnmarshaler
	records, matches, line := 0, 0, 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		logs, err := un.UnmarshalLogs([]byte(text))
		if err != nil {
			fmt.Fprintf(stderr, "%s:%d: not an OTLP JSON logs export: %v\n", eventsPath, line, err)
			code = 1
			continue
		}
		for i := 0; i < logs.ResourceLogs().Len(); i++ {
			rl := logs.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					ev := eventOf(rl.Resource().Attributes(), lrs.At(k))
					if ev == nil {
						continue
					}
					records++
					pms = matchPolicies(set.Policies, &st, ev, pms[:0])
					for _, m := range pms {
						matches++
						where := "kernel"
						if m.rule.Cond.UserSpace() {
							where = "condition in user space"
						}
						fmt.Fprintf(stdout, "%s:%d: %s pid %d: policy %s rule %s (%s, %s, %s)", eventsPath, line, ev.Name, ev.Proc.PID,
							m.policy.Name, m.rule.Name, m.rule.EffectiveAction, m.policy.Mode, where)
						if m.body != "" {
							fmt.Fprintf(stdout, ": %s", m.body)
						}
						fmt.Fprintln(stdout)
					}
					for _, m := range st.Match(l.Set, ev, nil) {
						matches++
						fmt.Fprintf(stdout, "%s:%d: %s pid %d: rule %q (%s) %s: %s\n", eventsPath, line, ev.Name, ev.Proc.PID,
							m.Rule, m.Policy, m.SeverityText, m.Body)
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(stderr, "%s:%d: %v\n", eventsPath, line+1, err)
		code = 1
	}
	pols := ""
	if len(set.Policies) > 0 {
		pols = plural(len(set.Policies), "policy") + ", "
	}
	fmt.Fprintf(stdout, "%d records, %d rule matches (%s%d rules loaded, %d skipped)\n", records, matches, pols, l.Loaded, l.Skipped)
	return code
}

// eventOf turns a record the receiver emitted back into the typed event the rule
// stage evaluates; nil for a record it did not emit (no event name). A policy
// match record carries a process summary only: fields it lacks are missing.
func eventOf(res pcommon.Map, lr plog.LogRecord) *event.Event {
	a := lr.Attributes()
	name := lr.EventName()
	if name == "" {
		return nil
	}
	s := func(k string) string {
		if v, ok := a.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	n := func(k string) int64 {
		if v, ok := a.Get(k); ok {
			return v.Int()
		}
		return 0
	}
	p := &event.Process{
		ExecID: s("vigil.exec_id"), PID: uint32(n("process.pid")), PPID: uint32(n("process.parent_pid")),
		Executable: s("process.executable.path"), CommandLine: s("process.command_line"), Cwd: s("process.working_directory"),
		EUID: uint32(n("process.user.id")), UID: uint32(n("process.real_user.id")),
		EGID: uint32(n("process.group.id")), GID: uint32(n("process.real_group.id")),
	}
	if v, ok := a.Get("vigil.exec_into_container"); ok && v.Type() == pcommon.ValueTypeBool {
		p.ExecIntoContainer = v.Bool()
	}
	if v, ok := res.Get("container.id"); ok {
		p.ContainerID = v.AsString()
	}
	if v, ok := a.Get("process.command_args"); ok && v.Type() == pcommon.ValueTypeSlice {
		for i := 0; i < v.Slice().Len(); i++ {
			p.Args = append(p.Args, v.Slice().At(i).AsString())
		}
	} else if p.CommandLine != "" {
		p.Args = strings.Fields(p.CommandLine)
	}
	ev := &event.Event{Name: name, Proc: p, Cred: event.Cred{UID: p.UID, EUID: p.EUID}}
	if exe := s("vigil.parent.executable.path"); exe != "" {
		cmd := s("vigil.parent.command_line")
		ev.Parent = &event.Process{Executable: exe, CommandLine: cmd, Args: strings.Fields(cmd), ExecID: s("vigil.parent.exec_id")}
	}
	if v, ok := a.Get("vigil.ancestors.executable.path"); ok && v.Type() == pcommon.ValueTypeSlice {
		ids, _ := a.Get("vigil.ancestors.exec_id")
		for i := 0; i < v.Slice().Len(); i++ {
			an := event.Ancestor{Executable: v.Slice().At(i).AsString()}
			if ids.Type() == pcommon.ValueTypeSlice && i < ids.Slice().Len() {
				an.ExecID = ids.Slice().At(i).AsString()
			}
			ev.Ancestors = append(ev.Ancestors, an)
		}
	}
	// The syscall-kind events' syscall: number and arguments as recorded.
	var sc event.Syscall
	sc.Nr = uint32(n("vigil.syscall.number"))
	if v, ok := a.Get("vigil.syscall.args"); ok && v.Type() == pcommon.ValueTypeSlice {
		for i := 0; i < v.Slice().Len() && i < len(sc.Args); i++ {
			sc.Args[i] = uint64(v.Slice().At(i).Int())
		}
	}
	ev.Compat = s("vigil.syscall.abi") == "ia32"
	switch {
	case name == event.ProcessExec:
		ev.Detail = &event.Exec{}
	case name == event.FileLink:
		ev.Detail = &event.Link{Syscall: sc, Old: s("vigil.file.link.old_path"), New: s("file.path")}
	case name == event.FileSymlink:
		ev.Detail = &event.Link{Syscall: sc, Old: s("file.symbolic_link.target_path"), New: s("file.path")}
	case name == event.NetworkSocket:
		ev.Detail = &event.Socket{Syscall: sc, Family: uint16(sc.Args[0]), Type: uint32(sc.Args[1]), Protocol: uint16(sc.Args[2])}
	case name == event.FdDup:
		d := &event.Dup{Syscall: sc, OldFD: n("vigil.fd.old"), NewFD: n("vigil.fd.new"), Flags: sc.Args[2]}
		switch s("network.type") {
		case "ipv4":
			d.Family = 2
		case "ipv6":
			d.Family = 10
		default:
			for f := uint16(0); f < 64; f++ {
				if event.SocketFamilyName(f) == s("vigil.socket.family") {
					d.Family = f
					break
				}
			}
		}
		switch s("network.transport") {
		case "tcp":
			d.Protocol = 6
		case "udp":
			d.Protocol = 17
		}
		if addr, err := netip.ParseAddr(s("network.peer.address")); err == nil {
			d.Peer = netip.AddrPortFrom(addr, uint16(n("network.peer.port")))
		}
		local, err := netip.ParseAddr(s("network.local.address"))
		if err != nil && d.Family == 10 {
			local = netip.IPv6Unspecified()
		} else if err != nil {
			local = netip.IPv4Unspecified()
		}
		d.Local = netip.AddrPortFrom(local, uint16(n("network.local.port")))
		ev.Detail = d
	case name == event.ProcessExit:
		ev.Detail = event.Exit{Status: uint32(n("process.exit.code")&0xff) << 8}
	case name == event.ProcessFork:
		ev.Detail = event.Fork{}
	case strings.HasPrefix(name, "file."):
		f := &event.File{Path: s("file.path")}
		switch s("vigil.file.access") {
		case "write":
			f.Access = event.AccessWrite
		case "read_write":
			f.Access = event.AccessReadWrite
		}
		ev.Detail = f
	case strings.HasPrefix(name, "network."):
		d := &event.Network{Family: 2}
		if s("network.type") == "ipv6" {
			d.Family = 10
		}
		switch s("network.transport") {
		case "tcp":
			d.Transport = 6
		case "udp":
			d.Transport = 17
		}
		side := "network.peer."
		switch name {
		case event.NetworkListen:
			d.Direction, side = event.Listening, "network.local."
		case event.NetworkAccept:
			d.Direction = event.Inbound
		}
		if addr, err := netip.ParseAddr(s(side + "address")); err == nil {
			ap := netip.AddrPortFrom(addr, uint16(n(side+"port")))
			if d.Direction == event.Listening {
				d.Local = ap
			} else {
				d.Peer = ap
			}
		}
		ev.Detail = d
	case name == event.ProcessPtrace:
		ev.Detail = &event.Ptrace{Syscall: sc, Request: sc.Args[0], TargetPID: uint64(n("vigil.target.pid"))}
	case name == event.KernelModuleLoad:
		ev.Detail = &event.Module{Path: s("file.path")}
	case name == event.PrivilegeChange:
		ev.Detail = &event.Privilege{}
	case name == event.NamespaceChange:
		ev.Detail = &event.Namespace{}
	case name == event.BPFLoad:
		ev.Detail = &event.BPF{}
	default:
		return nil
	}
	return ev
}
