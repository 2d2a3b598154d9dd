package rules

import "net/netip"

// testEvent is an event for tests: values by field id, slices indexed by idx (for
// proc.aname, 0 is the process itself).
type testEvent struct {
	kind  Kind
	str   map[FieldID][]string
	num   map[FieldID][]int64
	bools map[FieldID]bool
	addr  map[FieldID][]netip.Addr
}

func newEvent(k Kind) *testEvent {
	return &testEvent{kind: k, str: map[FieldID][]string{}, num: map[FieldID][]int64{},
		bools: map[FieldID]bool{}, addr: map[FieldID][]netip.Addr{}}
}

func (e *testEvent) s(id FieldID, v ...string) *testEvent        { e.str[id] = v; return e }
func (e *testEvent) n(id FieldID, v ...int64) *testEvent         { e.num[id] = v; return e }
func (e *testEvent) b(id FieldID, v bool) *testEvent             { e.bools[id] = v; return e }
func (e *testEvent) a(id FieldID, v ...netip.Addr) *testEvent    { e.addr[id] = v; return e }
func (e *testEvent) Kind() Kind                                  { return e.kind }
func (e *testEvent) Str(id FieldID, idx int) (string, bool)      { return at(e.str[id], idx) }
func (e *testEvent) Num(id FieldID, idx int) (int64, bool)       { return at(e.num[id], idx) }
func (e *testEvent) Addr(id FieldID, idx int) (netip.Addr, bool) { return at(e.addr[id], idx) }
func (e *testEvent) Bool(id FieldID, _ int) (bool, bool)         { v, ok := e.bools[id]; return v, ok }

func at[T any](v []T, i int) (T, bool) {
	if i < 0 || i >= len(v) {
		var zero T
		return zero, false
	}
	return v[i], true
}

// execEvent is "bash -c id" run by node, itself run by containerd-shim.
func execEvent() *testEvent {
	return newEvent(ProcessExec).
		s(FieldEvtType, "execve").
		s(FieldProcName, "bash").s(FieldProcExepath, "/usr/bin/bash").s(FieldProcExe, "/bin/bash").
		s(FieldProcCmdline, "bash -c id").s(FieldProcArgs, "-c id").s(FieldProcCwd, "/app/").
		s(FieldProcPname, "node").s(FieldProcAname, "bash", "node", "containerd-shim", "systemd").
		n(FieldProcPid, 4242).n(FieldProcTty, 0).n(FieldUserUID, 0).s(FieldUserName, "root").
		n(FieldProcDuration, 2_000_000_000).
		s(FieldContainerID, "0123456789ab").s(FieldContainerImageRepository, "docker.io/library/node").
		b(FieldContainerPrivileged, false).b(FieldProcIsExeUpperLayer, true).b(FieldProcIsContainerExec, false).
		s(FieldThreadCapEffective, "CAP_CHOWN CAP_SYS_ADMIN")
}

func openEvent(path string) *testEvent {
	return newEvent(FileOpen).
		s(FieldEvtType, "openat").s(FieldProcName, "cat").s(FieldProcPname, "bash").
		s(FieldProcAname, "cat", "bash", "sshd").
		s(FieldFdName, path).s(FieldFdNameraw, path).s(FieldFdTypechar, "f").n(FieldFdNum, 3).
		b(FieldEvtIsOpenRead, true).b(FieldEvtIsOpenWrite, false).s(FieldEvtArgFlags, "O_RDONLY|O_CLOEXEC")
}

func connectEvent(ip string, port int64) *testEvent {
	return newEvent(NetworkConnect).
		s(FieldEvtType, "connect").s(FieldProcName, "ssh").s(FieldProcExe, "/usr/bin/ssh").
		a(FieldFdSip, netip.MustParseAddr(ip)).a(FieldFdSnet, netip.MustParseAddr(ip)).
		a(FieldFdNet, netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr(ip)).
		a(FieldFdIP, netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr(ip)).
		n(FieldFdSport, port).s(FieldFdL4proto, "tcp").s(FieldFdTypechar, "4")
}
