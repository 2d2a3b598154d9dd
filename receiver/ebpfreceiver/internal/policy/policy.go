// Package policy parses, validates and watches Vigil security policies: the
// YAML files that say which kernel events matter, for which processes, and
// what to do when one happens (post a log, count it, deny it or kill the
// process). The kernel side compiles a loaded Policy into maps; this package
// is pure user space and holds no global state.
package policy

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/caps"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/catalog"
)

// Limits imposed by the kernel side.
const (
	// MaxPolicies is the number of policies that can be loaded at once: the
	// kernel tracks matches in a 64-bit policy mask.
	MaxPolicies = 64
	// MaxRules is the number of rules one policy may hold.
	MaxRules = 32
	// MaxPathLen is the longest path (in bytes) a path, binary or prefix may
	// have: the size of the kernel's path map keys.
	MaxPathLen = 255
	// MaxNameSuffixes bounds the name_suffixes of one rule, MaxSuffixLen
	// the bytes of each (the kernel tests a name's last MaxSuffixLen bytes).
	MaxNameSuffixes = 64
	MaxSuffixLen    = 64
	// MaxSubstrs bounds the name_contains and the raw_contains patterns of
	// one rule, MaxSubstrLen the bytes of each (one 8-byte window in the
	// kernel).
	MaxSubstrs   = 8
	MaxSubstrLen = 8
)

// Mode says whether actions are applied or only reported.
type Mode string

// Modes.
const (
	// ModeMonitor reports what the actions would do without applying them.
	ModeMonitor Mode = "monitor"
	// ModeEnforce applies deny and kill actions.
	ModeEnforce Mode = "enforce"
)

// Action is what happens when a rule matches.
type Action string

// Actions.
const (
	// ActionPost emits a log record.
	ActionPost Action = "post"
	// ActionCount only increments a metric; nothing crosses the ring buffer.
	ActionCount Action = "count"
	// ActionDeny makes the operation fail (BPF LSM, or cgroup/connect for
	// network.connect) and emits a log record.
	ActionDeny Action = "deny"
	// ActionKill sends SIGKILL to the acting process (bpf_send_signal) and
	// emits a log record.
	ActionKill Action = "kill"
)

// Severity is the OpenTelemetry severity of the log record a rule emits.
type Severity string

// Severities.
const (
	SeverityDebug Severity = "debug"
	SeverityInfo  Severity = "info"
	SeverityWarn  Severity = "warn"
	SeverityError Severity = "error"
	SeverityFatal Severity = "fatal"
)

// DefaultSeverity is the severity of a rule that does not set one: a denial
// is not INFO.
func DefaultSeverity(a Action) Severity {
	switch a {
	case ActionDeny:
		return SeverityWarn
	case ActionKill:
		return SeverityError
	default:
		return SeverityInfo
	}
}

// Containers restricts a policy to processes inside or outside containers.
type Containers string

// Container scopes.
const (
	// ContainersAny matches host and container processes.
	ContainersAny Containers = "any"
	// ContainersOnly matches processes in a container only.
	ContainersOnly Containers = "only"
	// ContainersNone matches host processes only.
	ContainersNone Containers = "none"
)

// Access is a file.open access mode.
type Access string

// Access modes.
const (
	AccessRead  Access = "read"
	AccessWrite Access = "write"
)

// Event names a kernel event a rule matches.
type Event string

// Events.
const (
	EventFileOpen         Event = "file.open"
	EventFileWrite        Event = "file.write"
	EventFileUnlink       Event = "file.unlink"
	EventFileRename       Event = "file.rename"
	EventFileChmod        Event = "file.chmod"
	EventNetworkConnect   Event = "network.connect"
	EventNetworkAccept    Event = "network.accept"
	EventNetworkListen    Event = "network.listen"
	EventProcessExec      Event = "process.exec"
	EventPrivilegeChange  Event = "privilege.change"
	EventNamespaceChange  Event = "namespace.change"
	EventKernelModuleLoad Event = "kernel.module_load"
	EventBPFLoad          Event = "bpf.load"
	EventProcessPtrace    Event = "process.ptrace"
	EventFileLink         Event = "file.link"
	EventFileSymlink      Event = "file.symlink"
	EventNetworkSocket    Event = "network.socket"
	EventFdDup            Event = "fd.dup"
)

// Events lists every event a rule may name, in documentation order (the
// event catalog's policy events).
func Events() []Event {
	rows := catalog.PolicyEvents()
	out := make([]Event, len(rows))
	for i, e := range rows {
		out[i] = Event(e.Name)
	}
	return out
}

// Valid reports whether e is a known event.
func (e Event) Valid() bool {
	row, ok := catalog.Lookup(string(e))
	return ok && row.Policy
}

// allows reports whether a rule on e may use a filter key (catalog.Filter*).
func (e Event) allows(key string) bool {
	row, ok := catalog.Lookup(string(e))
	return ok && row.AllowsFilter(key)
}

// Kind returns e's rule kind in the event catalog ("" when unknown).
func (e Event) Kind() catalog.Kind {
	row, _ := catalog.Lookup(string(e))
	return row.Kind
}

// IsFile reports whether e is one of the file events.
func (e Event) IsFile() bool { return e.Kind() == catalog.KindFile }

// IsNetwork reports whether e is one of the network events.
func (e Event) IsNetwork() bool { return e.Kind() == catalog.KindNetwork }

// Policy is one policy file.
type Policy struct {
	// Name is unique across all loaded policies.
	Name string `yaml:"name"`
	// Mode is monitor (the default) or enforce.
	Mode Mode `yaml:"mode"`
	// Selector restricts the processes the rules apply to.
	Selector Selector `yaml:"selector,omitempty"`
	// Lists are named lists of values for conditions (lists: {NAME: [items]}),
	// shared with every policy and rules file loaded with this one.
	Lists map[string][]string `yaml:"lists,omitempty"`
	// Macros are named conditions (macros: {NAME: "condition"}), shared
	// likewise.
	Macros map[string]string `yaml:"macros,omitempty"`
	// Rules are the events matched and the actions taken; at least one.
	Rules []Rule `yaml:"rules"`

	// Source is the file the policy was read from (or the name given to
	// ParseBytes); errors are reported against it.
	Source string `yaml:"-"`

	// lines maps key paths ("rules[0].cidrs") to the YAML line they were
	// read from, so that validation errors can point at the line.
	lines map[string]int
	// src keeps what maps a condition's offsets back to file lines.
	src *sources
}

// Selector restricts a policy to some processes. Every part that is set must
// hold; an empty selector matches every process.
type Selector struct {
	// Binaries are exact absolute executable paths.
	Binaries []string `yaml:"binaries,omitempty"`
	// BinaryPrefixes are absolute directory prefixes ending in "/".
	BinaryPrefixes []string `yaml:"binary_prefixes,omitempty"`
	// UIDs are real user ids.
	UIDs []uint32 `yaml:"uids,omitempty"`
	// Containers is any (the default), only or none.
	Containers Containers `yaml:"containers,omitempty"`
	// Namespaces are Kubernetes namespaces, resolved to cgroup-id sets by
	// the receiver.
	Namespaces []string `yaml:"namespaces,omitempty"`
	// PodLabels must all be present with equal values on the pod.
	PodLabels map[string]string `yaml:"pod_labels,omitempty"`
}

// Rule matches one event kind and says what to do about it.
type Rule struct {
	// Name defaults to "<event>-<index>".
	Name string `yaml:"name"`
	// Event is the kernel event matched.
	Event Event `yaml:"event"`
	// Paths (file.*): absolute; a trailing "/" is a directory prefix,
	// anything else an exact file.
	Paths []string `yaml:"paths,omitempty"`
	// Access (file.open): read and/or write; empty means either.
	Access []Access `yaml:"access,omitempty"`
	// CIDRs (network.*): IPv4 and IPv6 prefixes of the peer (connect,
	// accept) or local (listen) address.
	CIDRs []netip.Prefix `yaml:"cidrs,omitempty"`
	// Ports (network.*): peer (connect, accept) or local (listen) ports.
	Ports []uint16 `yaml:"ports,omitempty"`
	// Binaries (process.exec): exact paths of the executed file. The file a
	// path names is also matched by identity (device and inode), so a bind
	// mount or another mount of it is the same program.
	Binaries []string `yaml:"binaries,omitempty"`
	// OpenFlags (file.open): the open must ask for at least one of these
	// flags (O_TRUNC, O_CREAT, ...; OpenFlagBits); tested in the kernel.
	OpenFlags []string `yaml:"open_flags,omitempty"`
	// RawPath (file.open): records carry the path as the caller passed it
	// (fd.nameraw), read from the caller's memory after a match.
	RawPath bool `yaml:"raw_path,omitempty"`
	// FailedOpens (file.open): opens that fail are reported too, with the
	// error (evt.res); their path is the caller's, unresolved.
	FailedOpens bool `yaml:"failed_opens,omitempty"`
	// NameSuffixes (file.*): the path ends with one of these, which hold no
	// "/" except as their first byte: ".so" is any name ending in .so,
	// "/release_agent" the name release_agent exactly. Tested in the kernel
	// on the file's final path component.
	NameSuffixes []string `yaml:"name_suffixes,omitempty"`
	// NameContains (file.*): the final path component contains one of these
	// (1 to MaxSubstrLen bytes, no "/").
	NameContains []string `yaml:"name_contains,omitempty"`
	// RawContains (file.open): the path as the caller passed it contains one
	// of these (1 to MaxSubstrLen bytes); where the hook has no such path
	// (io_uring, open_by_handle_at, the security hooks) the rule stays a
	// candidate.
	RawContains []string `yaml:"raw_contains,omitempty"`
	// ExeFlags (process.exec): the executed file has one of these properties
	// (memfd, upper_layer, setuid, setgid). With binaries, both must hold.
	ExeFlags []ExeFlag `yaml:"exe_flags,omitempty"`
	// ProcessNames (every event): the process's name (comm, at most
	// CommLen bytes, as its exec set it) is one of these; tested in the kernel.
	ProcessNames []string `yaml:"process_names,omitempty"`
	// ParentNames (every event): the parent's name is one of these.
	ParentNames []string `yaml:"parent_names,omitempty"`
	// ParentsCond: the parent-name key is a condition's, which user space
	// decides on the parent that forked the process: a process re-parented
	// since (its real_parent is init or a subreaper now) passes it. Only the
	// kernel part of a condition sets it.
	ParentsCond bool `yaml:"-"`
	// AncestorNames (every event): one of the process's first AncestorDepth
	// ancestors (1 its parent, 2 the grandparent, ...; 0 is
	// MaxAncestorDepth) is named one of these.
	AncestorNames []string `yaml:"ancestor_names,omitempty"`
	AncestorDepth int      `yaml:"ancestor_depth,omitempty"`
	// AncestorsOpen: a chain longer than the depth passes too; AncestorsCond:
	// the key is a condition's (user space decides it on the fork-time
	// ancestry), so a chain the kernel cannot follow as user space does (a
	// re-parented process) passes too. Only the kernel part of a condition
	// sets them.
	AncestorsOpen bool `yaml:"-"`
	AncestorsCond bool `yaml:"-"`
	// TTY (every event): true, the process has a controlling terminal;
	// false, it has none; nil, either.
	TTY *bool `yaml:"tty,omitempty"`
	// Capabilities (every event): the process's effective capability set
	// (as at its exec) holds at least one of these (CAP_SYS_ADMIN, ...).
	Capabilities []string `yaml:"capabilities,omitempty"`
	// Condition narrows the event, in Falco's condition syntax.
	Condition string `yaml:"condition,omitempty"`
	// Exceptions exclude events, in Falco's shape.
	Exceptions []Exception `yaml:"-"`
	// Output is a Falco %field format that renders the record's body.
	Output string `yaml:"output,omitempty"`
	// Cond is the compiled condition, exceptions and output, nil when the
	// rule has none of them. Set by a Linker when the policy's set loads.
	Cond *Cond `yaml:"-"`
	// Action defaults to post.
	Action Action `yaml:"action"`
	// Fallback is kill or empty; only with action deny. It is used when the
	// kernel cannot deny.
	Fallback Action `yaml:"fallback,omitempty"`
	// Severity defaults to DefaultSeverity(Action).
	Severity Severity `yaml:"severity"`

	// EffectiveAction is the action this kernel will apply: Action, or
	// Fallback when CheckCapabilities found that Action is not available.
	EffectiveAction Action `yaml:"-"`
}

// Error is one problem in a policy file, printed as "file:line: key: reason".
type Error struct {
	// File is the policy file (or name given to ParseBytes).
	File string
	// Line is the 1-based line, 0 when unknown.
	Line int
	// Key is the path of the offending key, such as "rules[0].cidrs"; empty
	// for problems with the file as a whole.
	Key string
	// Reason says what is wrong.
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// ExeFlag is a property of an executed file a process.exec rule can match.
type ExeFlag string

// Executable flags.
const (
	// ExeMemfd: an anonymous memory file (memfd_create, then execveat or
	// /proc/self/fd/N): fileless execution, which no path can name.
	ExeMemfd ExeFlag = "memfd"
	// ExeUpperLayer: the file is in the upper layer of an overlay mount (in a
	// container: written or copied up after it started).
	ExeUpperLayer ExeFlag = "upper_layer"
	// ExeSetuid and ExeSetgid: a set-user-id or set-group-id file.
	ExeSetuid ExeFlag = "setuid"
	ExeSetgid ExeFlag = "setgid"
)

// Valid reports whether f is one of the flags.
func (f ExeFlag) Valid() bool {
	switch f {
	case ExeMemfd, ExeUpperLayer, ExeSetuid, ExeSetgid:
		return true
	}
	return false
}

// OpenFlagBits are the open(2) flags a file.open rule's open_flags may name
// (x86-64 values). O_RDONLY, O_WRONLY and O_RDWR are the access mode: use
// access for them.
var OpenFlagBits = map[string]uint32{
	"O_CREAT": 0o100, "O_EXCL": 0o200, "O_NOCTTY": 0o400, "O_TRUNC": 0o1000, "O_APPEND": 0o2000,
	"O_NONBLOCK": 0o4000, "O_DSYNC": 0o10000, "O_ASYNC": 0o20000, "O_DIRECT": 0o40000,
	"O_LARGEFILE": 0o100000, "O_DIRECTORY": 0o200000, "O_NOFOLLOW": 0o400000, "O_NOATIME": 0o1000000,
	"O_CLOEXEC": 0o2000000, "O_SYNC": 0o4010000, "O_PATH": 0o10000000, "O_TMPFILE": 0o20200000,
}

// MaxAncestorDepth is how many generations up the process tree the kernel's
// ancestor_names test reads (ANC_DEPTH).
const MaxAncestorDepth = 8

// Depth is how many generations the rule's ancestor key reads: its depth, the
// default filled in; the whole walk for an open key (the kernel passes a
// longer chain only past its whole walk).
func (r *Rule) Depth() int {
	if r.AncestorDepth == 0 || r.AncestorsOpen {
		return MaxAncestorDepth
	}
	return r.AncestorDepth
}

// CommLen is the longest process name the kernel keeps (TASK_COMM_LEN - 1):
// longer names are cut to it.
const CommLen = 15

// CapMask is the kernel mask of a rule's capabilities (0: no capability test).
func (r *Rule) CapMask() uint64 { return CapMaskOf(r.Capabilities) }

// CapMaskOf is the mask of capability names (unknown names are left out:
// validation refuses them).
func CapMaskOf(names []string) uint64 {
	var m uint64
	for _, c := range names {
		if n, ok := CapNumber(c); ok {
			m |= 1 << n
		}
	}
	return m
}

// CapNumber is the number of a capability: its name (CAP_SYS_ADMIN; the
// prefix and case optional) or, for one this version does not name,
// CAP_<number> up to 63, as thread.cap_effective renders it.
func CapNumber(name string) (int, bool) {
	if n, ok := caps.ByName(name); ok {
		return n, true
	}
	if s, ok := strings.CutPrefix(name, "CAP_"); ok {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < 64 && strconv.Itoa(n) == s {
			return n, true
		}
	}
	return 0, false
}

// OpenFlagMask is the kernel mask of a rule's open_flags (0: no flag test).
func (r *Rule) OpenFlagMask() uint32 {
	var m uint32
	for _, f := range r.OpenFlags {
		m |= OpenFlagBits[f]
	}
	return m
}
