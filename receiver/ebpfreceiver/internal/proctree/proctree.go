// Package proctree keeps the process cache: every live process with its exec id,
// parent and image, so each event can carry its process and ancestry. It is
// bounded: exited processes are kept in a short FIFO (late events still resolve,
// and a child whose parent just exited still finds it), and past the limit the
// least recently started live entries are evicted and counted.
//
// Each entry also carries marks derived from its fork-time ancestry (lineage.go):
// whether it was started by an exec into a running container.
package proctree

import (
	"container/list"
	"strconv"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
)

// Process is one process image (a fork, or an exec replacing it, is a new
// image). The type is the event model's, so events carry cache entries as they are.
type Process = event.Process

// ExecID builds a per-boot unique id from a boot-clock time and a pid.
func ExecID(ktime uint64, pid uint32) string {
	b := make([]byte, 0, 24)
	b = strconv.AppendUint(b, ktime, 16)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(pid), 10)
	return string(b)
}

// Stats are counters for self-telemetry.
type Stats struct {
	Live, Exited int
	Evicted      uint64 // live entries evicted because the cache was full
}

// Cache is the process cache. It is not safe for concurrent use: one goroutine
// (the ring buffer reader) owns it. Entries are immutable once Put (an exec or a
// fork puts a new one), so events may keep pointers to them.
type Cache struct {
	maxLive    int
	maxExited  int
	live       map[uint32]*list.Element // pid -> element of order
	order      *list.List               // live entries, oldest first
	exited     *list.List               // exited entries, oldest first
	exitedByID map[string]*list.Element
	// exitedByPID is the most recently exited entry of each pid among the exited.
	exitedByPID map[uint32]*list.Element
	evicted     uint64
}

// New returns a cache holding at most maxLive live and maxExited exited processes.
func New(maxLive, maxExited int) *Cache {
	return &Cache{
		maxLive: maxLive, maxExited: maxExited,
		live: map[uint32]*list.Element{}, order: list.New(),
		exited: list.New(), exitedByID: map[string]*list.Element{}, exitedByPID: map[uint32]*list.Element{},
	}
}

// Put inserts or replaces the live process with p.PID: a new image (an exec, or
// a process seen at start-up). When p.ParentExecID is empty it is filled from
// the parent, live or just exited (parentStart, the parent's start time, tells
// a reused pid apart; 0 when unknown). Before p is stored, its fork-time marks
// are derived from the image it replaces (the same process before its exec),
// or from the parent when that image is unknown.
func (c *Cache) Put(p *Process, parentStart uint64) {
	parent, hasParent := c.parentByPID(p.PPID, parentStart)
	if p.ParentExecID == "" && hasParent {
		p.ParentExecID = parent.ExecID
	}
	el, replacing := c.live[p.PID]
	var prior *Process
	if replacing && el.Value.(*Process).StartBoottime == p.StartBoottime {
		prior = el.Value.(*Process)
	} else if hasParent {
		prior = parent
	}
	deriveExec(p, prior)
	c.insertLive(p)
}

// parentByPID finds a parent by pid: the live process, else the one that
// exited last (a parent's exit can be read before its child's exec). A known
// start time must match.
func (c *Cache) parentByPID(ppid uint32, start uint64) (*Process, bool) {
	if p, ok := c.Get(ppid); ok && (start == 0 || p.StartBoottime == start) {
		return p, true
	}
	if el, ok := c.exitedByPID[ppid]; ok {
		if p := el.Value.(*Process); start == 0 || p.StartBoottime == start {
			return p, true
		}
	}
	return nil, false
}

// Fork records a new process created by fork: it runs its parent's image until it
// execs, so it inherits image, cwd, cgroup and fork-time marks from the parent
// when known. The fork record's parent is the task that called fork: alive (its
// exit record comes after this one), so only the live entry is looked up.
func (c *Cache) Fork(pid, ppid uint32, start uint64, cgroupID uint64, uid, gid, euid, egid uint32) *Process {
	p := &Process{PID: pid, PPID: ppid, StartBoottime: start, ExecID: ExecID(start, pid), CgroupID: cgroupID,
		UID: uid, GID: gid, EUID: euid, EGID: egid}
	if parent, ok := c.Get(ppid); ok {
		p.ParentExecID = parent.ExecID
		p.Executable, p.Args, p.CommandLine, p.Cwd = parent.Executable, parent.Args, parent.CommandLine, parent.Cwd
		p.ContainerID, p.PodUID, p.Runtime = parent.ContainerID, parent.PodUID, parent.Runtime
		p.ArgsTruncated, p.Redacted = parent.ArgsTruncated, parent.Redacted
		p.Runc, p.ExecIntoContainer = parent.Runc, parent.ExecIntoContainer
		// A fork runs the same image with the same terminal, login and
		// capabilities (until it execs or changes them).
		p.Name, p.TTY, p.LoginUID, p.Exe, p.Privileged = parent.Name, parent.TTY, parent.LoginUID, parent.Exe, parent.Privileged
		p.CapEffective, p.CapPermitted, p.CapBounding, p.ExecAttrs = parent.CapEffective, parent.CapPermitted, parent.CapBounding, parent.ExecAttrs
		if parent.EUID == euid {
			p.UserName = parent.UserName
		}
	}
	c.insertLive(p)
	return p
}

// insertLive stores a live entry, evicting the oldest past maxLive.
func (c *Cache) insertLive(p *Process) {
	if el, ok := c.live[p.PID]; ok {
		el.Value = p
		c.order.MoveToBack(el)
		return
	}
	c.live[p.PID] = c.order.PushBack(p)
	for c.order.Len() > c.maxLive {
		oldest := c.order.Front()
		delete(c.live, oldest.Value.(*Process).PID)
		c.order.Remove(oldest)
		c.evicted++
	}
}

// Get returns the live process with this pid.
func (c *Cache) Get(pid uint32) (*Process, bool) {
	el, ok := c.live[pid]
	if !ok {
		return nil, false
	}
	return el.Value.(*Process), true
}

// Replace stores q in place of the live entry old (same pid and exec id: the same
// image, with fields re-read, such as the container identity of a process that
// moved to another cgroup). It reports false, storing nothing, when old is not the
// live entry of its pid any more.
func (c *Cache) Replace(old, q *Process) bool {
	el, ok := c.live[old.PID]
	if !ok || el.Value.(*Process) != old || q.PID != old.PID || q.ExecID != old.ExecID {
		return false
	}
	el.Value = q
	return true
}

// ByExecID finds a process, live or recently exited, by exec id.
func (c *Cache) ByExecID(id string) (*Process, bool) {
	if el, ok := c.exitedByID[id]; ok {
		return el.Value.(*Process), true
	}
	// Live lookups by exec id are rare (ancestry walks use the pid first).
	for el := c.order.Back(); el != nil; el = el.Prev() {
		if p := el.Value.(*Process); p.ExecID == id {
			return p, true
		}
	}
	return nil, false
}

// Exit removes a live process and keeps it among the recently exited. It returns
// the process, or false when it was never seen.
func (c *Cache) Exit(pid uint32) (*Process, bool) {
	el, ok := c.live[pid]
	if !ok {
		return nil, false
	}
	p := el.Value.(*Process)
	delete(c.live, pid)
	c.order.Remove(el)
	ex := c.exited.PushBack(p)
	c.exitedByID[p.ExecID] = ex
	c.exitedByPID[p.PID] = ex
	for c.exited.Len() > c.maxExited {
		oldest := c.exited.Front()
		op := oldest.Value.(*Process)
		delete(c.exitedByID, op.ExecID)
		if c.exitedByPID[op.PID] == oldest {
			delete(c.exitedByPID, op.PID)
		}
		c.exited.Remove(oldest)
	}
	return p, true
}

// Parent returns the parent of p: the live process with p.PPID when its exec id
// matches, else the recently exited one.
func (c *Cache) Parent(p *Process) (*Process, bool) {
	if p.ParentExecID == "" {
		return nil, false
	}
	if parent, ok := c.Get(p.PPID); ok && parent.ExecID == p.ParentExecID {
		return parent, true
	}
	if el, ok := c.exitedByID[p.ParentExecID]; ok {
		return el.Value.(*Process), true
	}
	return nil, false
}

// Ancestors returns up to depth ancestors of p, nearest first.
func (c *Cache) Ancestors(p *Process, depth int) []*Process {
	var out []*Process
	for cur := p; len(out) < depth; {
		parent, ok := c.Parent(cur)
		if !ok || parent == cur {
			break
		}
		out = append(out, parent)
		cur = parent
	}
	return out
}

// Stats returns sizes and eviction count.
func (c *Cache) Stats() Stats {
	return Stats{Live: c.order.Len(), Exited: c.exited.Len(), Evicted: c.evicted}
}

// SetCaps replaces the capability sets of the live process p (a capset the
// kernel committed): the cache entry is copied, since entries are immutable,
// and the copy returned. It returns p unchanged when p is not the live entry
// of its pid.
func (c *Cache) SetCaps(p *Process, effective, permitted uint64) *Process {
	el, ok := c.live[p.PID]
	if !ok || el.Value.(*Process) != p {
		return p
	}
	cp := *p
	cp.CapEffective, cp.CapPermitted, cp.ExecAttrs = effective, permitted, true
	el.Value = &cp
	return &cp
}
