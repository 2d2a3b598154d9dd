//go:build linux

package sensor

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// filter_in_user_space takes the kernel's file.open decisions in Go: identity
// matches of exact files, open_flags, and fail-closed prefix rules on
// unresolved paths, like the kernel (no kernel needed).
func TestMatchFileInUserSpaceIdentityFlagsTruncated(t *testing.T) {
	dir := t.TempDir()
	exact := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(exact, []byte("s"), 0o600))
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(exact, &st))
	id := FileID{Dev: kernelDev(st.Dev), Ino: st.Ino}
	p, err := policy.ParseBytes("p.yaml", []byte(`name: p
rules:
  - name: exact
    event: file.open
    paths: [`+exact+`]
  - name: trunc
    event: file.open
    paths: [/var/log/]
    open_flags: [O_TRUNC]
`))
	require.NoError(t, err)
	c, err := Compile([]*policy.Policy{p}, map[string]int{"p": 0}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint8(1), c.Image.selector.IdFilter)
	assert.Equal(t, uint64(2), c.Image.selector.PrefixRules)
	assert.Equal(t, []string{exact}, c.Rules.IdentityPaths(id))
	proc := FileProcess{UID: 0, Executable: "/bin/cat"}
	m := func(o FileOpen) uint64 { return c.Rules.MatchFileInUserSpace(o, proc) }
	assert.Equal(t, uint64(1), m(FileOpen{Path: exact, ID: id}), "by path")
	assert.Equal(t, uint64(1), m(FileOpen{Path: "/var/tmp/link", ID: id}), "by identity")
	assert.Zero(t, m(FileOpen{Path: "/var/tmp/copy", ID: FileID{Dev: id.Dev, Ino: id.Ino + 1}}), "another inode")
	assert.Equal(t, uint64(2), m(FileOpen{Path: "/var/log/syslog", Flags: 0o1001}), "O_TRUNC")
	assert.Zero(t, m(FileOpen{Path: "/var/log/syslog", Flags: 0o2001}), "O_APPEND only")
	assert.Equal(t, uint64(2), m(FileOpen{Path: "/d47/d48/f", Flags: 0o1001, Truncated: true}), "unresolved: the prefix rule, fail closed")
	assert.Zero(t, m(FileOpen{Path: "/d47/d48/f", Truncated: true}), "unresolved, but the flags still decide")
	// Through a bind mount: the canonical path matches as the path does; an
	// unresolved one fails closed; the path alone decides without one.
	assert.Equal(t, uint64(2), m(FileOpen{Path: "/tmp/x/syslog", Flags: 0o1001, Subtree: true, Canonical: "/var/log/syslog"}), "by canonical path")
	assert.Zero(t, m(FileOpen{Path: "/tmp/x/syslog", Flags: 0o1001, Subtree: true, Canonical: "/srv/syslog"}), "a canonical path no rule names")
	assert.Equal(t, uint64(2), m(FileOpen{Path: "/tmp/x/syslog", Flags: 0o1001, Subtree: true}), "unresolved: fail closed")
	assert.Zero(t, m(FileOpen{Path: "/tmp/x/syslog", Flags: 0o1001}), "no subtree mount: the path alone")
}

// filter_in_user_space takes the name filters like the kernel: the suffix on
// the final component (a suffix starting with / is the whole name), the
// substring on it (a name longer than the kernel reads passes); raw_contains
// cannot be told there and passes.
func TestMatchFileInUserSpaceNameFilters(t *testing.T) {
	p, err := policy.ParseBytes("p.yaml", []byte(`name: p
rules:
  - name: so
    event: file.open
    name_suffixes: [.so, /release_agent]
  - name: ver
    event: file.open
    name_contains: [.so.]
  - name: raw
    event: file.open
    raw_contains: ["../"]
`))
	require.NoError(t, err)
	c, err := Compile([]*policy.Policy{p}, map[string]int{"p": 0}, nil)
	require.NoError(t, err)
	m := func(path string) uint64 {
		return c.Rules.MatchFileInUserSpace(FileOpen{Path: path}, FileProcess{Executable: "/bin/cat"}) &^ 4
	}
	assert.Equal(t, uint64(1), m("/tmp/x.so"))
	assert.Equal(t, uint64(1), m("/sys/fs/cgroup/release_agent"))
	assert.Zero(t, m("/sys/fs/cgroup/my_release_agent"))
	assert.Equal(t, uint64(2), m("/tmp/x.so.1"))
	assert.Zero(t, m("/tmp/x.so.d/y"), "the directory's name is not the file's")
	assert.Equal(t, uint64(2), m("/tmp/"+strings.Repeat("n", 70)), "longer than the kernel reads: a candidate")
	assert.Equal(t, uint64(4), c.Rules.MatchFileInUserSpace(FileOpen{Path: "/etc/x"}, FileProcess{Executable: "/bin/cat"})&4, "raw_contains passes")
}

// Through a bind mount a rule holds on either path, its name filters tested on
// that path's own name: a file bind-mounted under another name matches by its
// canonical path and name, not by one path's directory and the other's name.
func TestMatchFileInUserSpaceBindMountNames(t *testing.T) {
	p, err := policy.ParseBytes("p.yaml", []byte(`name: p
rules:
  - name: conf
    event: file.open
    paths: [/etc/]
    name_suffixes: [.conf]
`))
	require.NoError(t, err)
	c, err := Compile([]*policy.Policy{p}, map[string]int{"p": 0}, nil)
	require.NoError(t, err)
	m := func(o FileOpen) uint64 { return c.Rules.MatchFileInUserSpace(o, FileProcess{}) }
	assert.Equal(t, uint64(1), m(FileOpen{Path: "/tmp/x", Subtree: true, Canonical: "/etc/a.conf"}), "the canonical path and its name")
	assert.Equal(t, uint64(1), m(FileOpen{Path: "/tmp/d/a.conf", Subtree: true, Canonical: "/etc/a.conf"}), "a bind-mounted directory")
	assert.Zero(t, m(FileOpen{Path: "/tmp/y.conf", Subtree: true, Canonical: "/etc/b.txt"}),
		"the opened name with the canonical directory: no path has both")
	assert.Zero(t, m(FileOpen{Path: "/etc/y.txt", Subtree: true, Canonical: "/srv/b.conf"}), "nor the other way round")
	assert.Equal(t, uint64(1), m(FileOpen{Path: "/etc/x.conf", Subtree: true, Canonical: "/srv/b.txt"}), "the path as opened")
}
