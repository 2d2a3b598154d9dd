// Package proctree keeps the process cache: every live process with its exec id,
// parent and image, so each event can carry its process and ancestry. It is
// bounded: exited processes are kept in a short FIFO (late events still resolve),
// and past the limit the least recently started live entries are evicted and counted.
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
	evicted    uint64
}

// New returns a cache holding at most maxLive live and maxExited exited processes.
func New(maxLive, maxExited int) *Cache {
	return &Cache{
		maxLive: maxLive, maxExited: maxExited,
		live: map[uint32]*list.Element{}, order: list.New(),
		exited: list.New(), exitedByID: map[string]*list.Element{},
	}
}

// Put inserts or replaces the live process with p.PID. When p.ParentExecID is
// empty it is filled from the live parent.
func (c *Cache) Put(p *Process) {
	if p.ParentExecID == "" {
		if parent, ok := c.Get(p.PPID); ok {
			p.ParentExecID = parent.ExecID
		}
	}
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

// Fork records a new process created by fork: it runs its parent's image until it
// execs, so it inherits image, cwd and cgroup from the parent when known.
func (c *Cache) Fork(pid, ppid uint32, start uint64, cgroupID uint64, uid, gid, euid, egid uint32) *Process {
	p := &Process{PID: pid, PPID: ppid, StartBoottime: start, ExecID: ExecID(start, pid), CgroupID: cgroupID,
		UID: uid, GID: gid, EUID: euid, EGID: egid}
	if parent, ok := c.Get(ppid); ok {
		p.ParentExecID = parent.ExecID
		p.Executable, p.Args, p.CommandLine, p.Cwd = parent.Executable, parent.Args, parent.CommandLine, parent.Cwd
		p.ContainerID, p.PodUID, p.Runtime = parent.ContainerID, parent.PodUID, parent.Runtime
		p.ArgsTruncated, p.Redacted = parent.ArgsTruncated, parent.Redacted
	}
	c.Put(p)
	return p
}

// Get returns the live process with this pid.
func (c *Cache) Get(pid uint32) (*Process, bool) {
	el, ok := c.live[pid]
	if !ok {
		return nil, false
	}
	return el.Value.(*Process), true
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
	c.exitedByID[p.ExecID] = c.exited.PushBack(p)
	for c.exited.Len() > c.maxExited {
		oldest := c.exited.Front()
		delete(c.exitedByID, oldest.Value.(*Process).ExecID)
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
