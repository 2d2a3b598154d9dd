package falco

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
)

// synth is a synthetic event: flat arrays indexed by field id, as an event side would hold
// them, so that reading a field is an index and never allocates.
type synth struct {
	kind      rules.Kind
	s         [rules.NumFields]string
	hasS      [rules.NumFields]bool
	n         [rules.NumFields]int64
	hasN      [rules.NumFields]bool
	b         [rules.NumFields]bool
	hasB      [rules.NumFields]bool
	a         [rules.NumFields]netip.Addr
	aname     []string // 0 is the process itself
	endpoints []netip.Addr
	args      []string
}

func (e *synth) Kind() rules.Kind { return e.kind }

func (e *synth) Str(id rules.FieldID, idx int) (string, bool) {
	switch id {
	case rules.FieldProcAname:
		if idx < len(e.aname) {
			return e.aname[idx], true
		}
		return "", false
	case rules.FieldEvtArg:
		if idx < len(e.args) {
			return e.args[idx], true
		}
		return "", false
	}
	if idx != 0 {
		return "", false
	}
	return e.s[id], e.hasS[id]
}

func (e *synth) Num(id rules.FieldID, idx int) (int64, bool) {
	if idx != 0 {
		return 0, false
	}
	return e.n[id], e.hasN[id]
}

func (e *synth) Bool(id rules.FieldID, _ int) (bool, bool) { return e.b[id], e.hasB[id] }

func (e *synth) Addr(id rules.FieldID, idx int) (netip.Addr, bool) {
	if id == rules.FieldFdNet || id == rules.FieldFdIP {
		if idx < len(e.endpoints) {
			return e.endpoints[idx], true
		}
		return netip.Addr{}, false
	}
	if idx != 0 || !e.a[id].IsValid() {
		return netip.Addr{}, false
	}
	return e.a[id], true
}

// ev builds an event from "field=value" pairs (Falco field names; proc.aname takes the
// ancestors space separated, self first; fd.net the client and server).
func ev(kind string, kv ...string) *synth {
	k, ok := rules.KindByName(kind)
	if !ok {
		panic("unknown kind " + kind)
	}
	e := &synth{kind: k}
	for _, p := range kv {
		name, v, _ := strings.Cut(p, "=")
		fi, ok := rules.LookupField(name)
		if !ok {
			panic("unknown field " + name)
		}
		switch {
		case fi.ID == rules.FieldProcAname:
			e.aname = strings.Fields(v)
		case fi.ID == rules.FieldFdNet || fi.ID == rules.FieldFdIP:
			e.endpoints = nil
			for _, a := range strings.Fields(v) {
				e.endpoints = append(e.endpoints, netip.MustParseAddr(a))
			}
		case fi.Type == rules.TypeString:
			e.s[fi.ID], e.hasS[fi.ID] = v, true
		case fi.Type == rules.TypeNumber:
			var x int64
			if _, err := fmt.Sscan(v, &x); err != nil {
				panic(p)
			}
			e.n[fi.ID], e.hasN[fi.ID] = x, true
		case fi.Type == rules.TypeBool:
			e.b[fi.ID], e.hasB[fi.ID] = v == "true", true
		default:
			e.a[fi.ID] = netip.MustParseAddr(v)
		}
	}
	return e
}

// proc returns the process fields of a typical containerised process.
func proc(name, cmdline string, more ...string) []string {
	args := ""
	if _, rest, ok := strings.Cut(cmdline, " "); ok {
		args = rest
	}
	base := []string{
		"proc.name=" + name, "proc.exe=/usr/bin/" + name, "proc.exepath=/usr/bin/" + name,
		"proc.cmdline=" + cmdline, "proc.args=" + args, "proc.cwd=/app/", "proc.pid=4242", "proc.tty=0",
		"proc.pname=node", "proc.pexe=/usr/local/bin/node", "proc.pcmdline=node server.js",
		"proc.aname=" + name + " node containerd-shim systemd", "proc.duration=60000000000",
		"user.uid=1000", "user.name=app", "container.id=0123456789ab", "container.image.repository=docker.io/acme/web",
		"container.privileged=false", "proc.is_exe_upper_layer=false", "proc.is_exe_from_memfd=false",
		"k8s.ns.name=shop", "k8s.pod.name=web-1", "thread.cap_effective=CAP_CHOWN CAP_NET_BIND_SERVICE", "evt.num=7",
	}
	return append(base, more...)
}

func exec(name, cmdline string, more ...string) *synth {
	return ev("process.exec", append(proc(name, cmdline, "evt.type=execve"), more...)...)
}

func open(name, path string, write bool, more ...string) *synth {
	dir, file := path[:strings.LastIndexByte(path, '/')], path[strings.LastIndexByte(path, '/')+1:]
	if dir == "" {
		dir = "/"
	}
	kv := proc(name, name+" "+path, "evt.type=openat", "fd.name="+path, "fd.nameraw="+path, "fd.directory="+dir,
		"fd.filename="+file, "fd.typechar=f", "fd.type=file", "fd.num=3", "evt.res=SUCCESS", "evt.rawres=3",
		fmt.Sprintf("evt.is_open_read=%v", !write), fmt.Sprintf("evt.is_open_write=%v", write))
	if write {
		kv = append(kv, "evt.arg.flags=O_WRONLY|O_CREAT")
	} else {
		kv = append(kv, "evt.arg.flags=O_RDONLY")
	}
	return ev("file.open", append(kv, more...)...)
}

func connect(name, cmdline, ip string, port int, more ...string) *synth {
	kv := proc(name, cmdline, "evt.type=connect", "fd.typechar=4", "fd.type=ipv4", "fd.l4proto=tcp",
		"fd.sip="+ip, "fd.snet="+ip, "fd.cip=10.1.2.3", "fd.net=10.1.2.3 "+ip, "fd.ip=10.1.2.3 "+ip,
		fmt.Sprintf("fd.sport=%d", port), "fd.cport=40000", "fd.num=5")
	return ev("network.connect", append(kv, more...)...)
}
