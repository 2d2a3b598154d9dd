//go:build linux

package trigger

import (
	"strconv"
	"strings"
)

// Event is the shape of one event an action produces, as the rule engine sees it: Falco
// field names and values, "field=value". proc.aname lists the ancestors space separated,
// the process itself first; fd.net and fd.ip the client then the server.
type Event struct {
	Kind   string
	Fields []string
	// Fires are the rules this event must fire; none for the others.
	Fires []string
}

// proc is a process of an event shape.
type proc struct {
	name, exepath, exe, args, cwd string
	uid                           int
	parent                        *proc
	container                     bool
	privileged                    bool
	durNs                         int64
	extra                         []string
}

const (
	shapeHelperDir = "/run/vigil-trigger-1"
	shapeTmpDir    = "/tmp/vigil-trigger-1"
	shapeContainer = "c0ffee123456"
)

var (
	shapeSystemd = &proc{name: "systemd", exepath: "/usr/lib/systemd/systemd", args: "--system"}
	shapeSSHD    = &proc{name: "sshd", exepath: "/usr/sbin/sshd", args: "-D", parent: shapeSystemd}
	shapeBash    = &proc{name: "bash", exepath: "/usr/bin/bash", parent: shapeSSHD}
	// shapeTrigger is vigil-trigger run from a login shell.
	shapeTrigger = &proc{name: "vigil-trigger", exepath: "/usr/local/bin/vigil-trigger", args: "--run all", parent: shapeBash}
	// shapeShim is the container runtime's shim, the parent of a container's first process.
	shapeShim = &proc{name: "containerd-shim", exepath: "/usr/bin/containerd-shim-runc-v2", args: "-namespace k8s.io", parent: shapeSystemd}
	// shapeCtrTrigger is vigil-trigger run as a container's process.
	shapeCtrTrigger = &proc{name: "vigil-trigger", exepath: "/usr/local/bin/vigil-trigger", args: "--run all", parent: shapeShim, container: true}
)

// helperProc is a helper copy named name started by parent.
func helperProc(name, args string, parent *proc) *proc {
	return &proc{name: name, exepath: shapeHelperDir + "/" + name, args: args, parent: parent,
		container: parent.container, privileged: parent.privileged}
}

// child is a program started by parent.
func child(name, exepath, args string, parent *proc) *proc {
	return &proc{name: name, exepath: exepath, args: args, parent: parent,
		container: parent.container, privileged: parent.privileged}
}

func (p *proc) cmdline() string {
	if p.args == "" {
		return p.name
	}
	return p.name + " " + p.args
}

// fields are the process fields of an event of p.
func (p *proc) fields() []string {
	exe := p.exe
	if exe == "" {
		exe = p.exepath
	}
	cwd := p.cwd
	if cwd == "" {
		cwd = "/root/"
	}
	dur := p.durNs
	if dur == 0 {
		dur = 20_000_000 // 20 ms
	}
	var anames []string
	for a := p; a != nil; a = a.parent {
		anames = append(anames, a.name)
	}
	ctr := "host"
	if p.container {
		ctr = shapeContainer
	}
	f := []string{
		"proc.name=" + p.name, "proc.exe=" + exe, "proc.exepath=" + p.exepath,
		"proc.cmdline=" + p.cmdline(), "proc.args=" + p.args, "proc.cwd=" + cwd,
		"proc.pid=4242", "proc.tty=0", "proc.duration=" + strconv.FormatInt(dur, 10),
		"proc.aname=" + strings.Join(anames, " "),
		"user.uid=" + strconv.Itoa(p.uid), "group.gid=" + strconv.Itoa(p.uid),
		"container.id=" + ctr,
		"proc.is_exe_from_memfd=false", "proc.is_exe_upper_layer=false",
	}
	if p.parent != nil {
		f = append(f, "proc.pname="+p.parent.name, "proc.pexepath="+p.parent.exepath,
			"proc.pexe="+p.parent.exepath, "proc.pcmdline="+p.parent.cmdline(), "proc.ppid=4241")
	}
	if p.container {
		f = append(f, "container.privileged="+strconv.FormatBool(p.privileged),
			"container.image.repository=docker.io/vigilsec/vigil-trigger", "k8s.ns.name=default")
		if p.privileged {
			f = append(f, "thread.cap_effective=CAP_CHOWN CAP_DAC_OVERRIDE CAP_NET_RAW CAP_SYS_ADMIN CAP_SYS_MODULE")
		} else {
			f = append(f, "thread.cap_effective=CAP_CHOWN CAP_DAC_OVERRIDE CAP_NET_RAW")
		}
	}
	return append(f, p.extra...)
}

// ev is an event of kind by p with more fields; fires are the rules it must fire.
func ev(kind string, p *proc, more []string, fires ...string) Event {
	return Event{Kind: kind, Fields: append(p.fields(), more...), Fires: fires}
}

// execEv is p's exec.
func execEv(p *proc, fires ...string) Event {
	return ev("process.exec", p, []string{"evt.type=execve"}, fires...)
}

// openEv is an open of path by p.
func openEv(p *proc, path, raw string, read, write bool, flags string, fires ...string) Event {
	dir, file := path[:strings.LastIndexByte(path, '/')], path[strings.LastIndexByte(path, '/')+1:]
	if dir == "" {
		dir = "/"
	}
	return ev("file.open", p, []string{"evt.type=openat", "fd.name=" + path, "fd.nameraw=" + raw,
		"fd.directory=" + dir, "fd.filename=" + file, "fd.typechar=f", "fd.type=file", "fd.num=3",
		"evt.is_open_read=" + strconv.FormatBool(read), "evt.is_open_write=" + strconv.FormatBool(write),
		"evt.arg.flags=" + flags, "evt.res=SUCCESS", "evt.failed=false"}, fires...)
}

// connectEv is a TCP connect by p from 127.0.0.1 to ip:port.
func connectEv(p *proc, ip string, port int, fires ...string) Event {
	return ev("network.connect", p, []string{"evt.type=connect", "fd.sip=" + ip, "fd.snet=" + ip,
		"fd.sport=" + strconv.Itoa(port), "fd.cip=127.0.0.1", "fd.cnet=127.0.0.1", "fd.cport=40000",
		"fd.net=127.0.0.1 " + ip, "fd.ip=127.0.0.1 " + ip, "fd.l4proto=tcp", "fd.typechar=4", "fd.type=ipv4",
		"fd.name=127.0.0.1:40000->" + ip + ":" + strconv.Itoa(port)}, fires...)
}

// dupEv is a dup3 by p of a descriptor of type fdType onto newfd.
func dupEv(p *proc, fdType string, newfd int, fires ...string) Event {
	tc := map[string]string{"ipv4": "4", "pipe": "p"}[fdType]
	return ev("fd.dup", p, []string{"evt.type=dup3", "fd.type=" + fdType, "fd.typechar=" + tc,
		"evt.rawres=" + strconv.Itoa(newfd), "evt.arg.newfd=" + strconv.Itoa(newfd), "evt.arg.fd=7", "fd.num=7"}, fires...)
}
