//go:build linux

package sensor

import (
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// fileRule compiles a file.* rule's paths and access modes and returns the
// rule's access bits (1 read, 2 write; 0 either).
func (c *compiler) fileRule(r *policy.Rule, act policy.Action, rs ruleSlot, slot int) uint8 {
	var access uint8
	for _, a := range r.Access {
		switch a {
		case policy.AccessRead:
			access |= 1
		case policy.AccessWrite:
			access |= 2
		}
	}
	if len(r.Paths) == 0 {
		// No path: any file, whatever its top directory (the name filters,
		// tested first, may still reject it).
		c.img.selector.AnyFilter[KindFile] |= rs.bit
		c.img.selector.NontopRules |= rs.bit
	}
	for _, path := range r.Paths {
		if top, ok := topComponent(path); ok {
			c.img.topDirs[top] |= rs.bit
		} else {
			c.img.selector.NontopRules |= rs.bit
		}
	}
	pathEvent := securityHookOnly(r.Event)
	if pathEvent || act == policy.ActionDeny {
		// Path events and denies are only possible with BPF LSM
		// (CheckImplemented, CheckCapabilities): the LSM hooks own them.
		c.onLSM(rs)
	}
	if pathEvent {
		c.plan.PathEvents[r.Event] = true
		c.plan.pathRules |= rs.bit
	}
	if r.Event == policy.EventFileWrite {
		c.plan.writeRules |= rs.bit
	}
	sel := &c.img.selector
	for _, path := range r.Paths {
		if strings.HasSuffix(path, "/") {
			sel.PrefixRules |= rs.bit // an unresolvable path is a candidate (fail closed)
		}
	}
	if r.RawPath {
		sel.RawRules |= rs.bit
	}
	if len(r.NameSuffixes) > 0 {
		sel.SuffixRules |= rs.bit
		for _, sfx := range r.NameSuffixes {
			c.suffixEntries[sfx] |= rs.bit
		}
	}
	if len(r.NameContains) > 0 {
		sel.NameSubRules |= rs.bit
		for _, p := range r.NameContains {
			c.substrs[substrName][p] |= rs.bit
		}
	}
	if len(r.RawContains) > 0 {
		// The records carry the raw path the kernel tested (read already).
		sel.RawSubRules |= rs.bit
		sel.RawRules |= rs.bit
		for _, p := range r.RawContains {
			c.substrs[substrRaw][p] |= rs.bit
		}
	}
	if r.FailedOpens {
		sel.FailedRules |= rs.bit
		c.plan.failedRules |= rs.bit
	}
	c.plan.fileRules |= rs.bit
	ur := userFileRule{slot: rs.slot, policy: slot, access: access, oflags: r.OpenFlagMask(), task: taskTestOf(r),
		suffixes: r.NameSuffixes, nameContains: r.NameContains}
	for _, path := range r.Paths {
		e := filePathEntry(path, rs.bit)
		c.fileEntries = append(c.fileEntries, e)
		ur.paths = append(ur.paths, e)
		if e.exact {
			if id, ok := c.identity(path, rs.bit); ok {
				ur.ids = append(ur.ids, id)
			}
		} else {
			ur.prefix = true
		}
	}
	c.rules.userFile = append(c.rules.userFile, ur)
	return access
}

// openStatics records a file.open rule's static filters in the selector, for
// the kernel to drop an open no rule's access mode or open flags admit before
// any path work (match_step tests each rule again, exactly).
func (c *compiler) openStatics(ev policy.Event, access uint8, oflags uint32, bit uint64) {
	if ev != policy.EventFileOpen {
		return
	}
	sel := &c.img.selector
	switch access {
	case 1:
		sel.ReadRules |= bit
	case 2:
		sel.WriteRules |= bit
	}
	if oflags != 0 {
		sel.OflagRules |= bit
		sel.OflagsAny |= oflags
	}
}

// filePathEntry is a rule path's filter entry: a path ending in / matches
// everything below it, any other path only itself.
func filePathEntry(path string, mask uint64) pathEntry {
	return pathEntry{path, !strings.HasSuffix(path, "/"), mask}
}

// topComponent returns the kernel's top_dirs key for a rule path: its first
// component, truncated to 15 bytes (the kernel truncates the same way).
func topComponent(path string) (processTopKey, bool) {
	var k processTopKey
	rest := strings.TrimPrefix(path, "/")
	first, _, _ := strings.Cut(rest, "/")
	if first == "" {
		return k, false // "/" matches everything: no pre-filter
	}
	for i := 0; i < len(first) && i < len(k.Name)-1; i++ {
		k.Name[i] = int8(first[i])
	}
	return k, true
}

// FileID is the identity of a file as the kernel sees it: the inode number and
// the device number of its superblock in the kernel's encoding
// (MAJOR << 20 | MINOR, not stat's st_dev encoding).
type FileID struct {
	Dev uint32
	Ino uint64
}

// kernelDev converts a stat device number to the kernel's internal encoding.
func kernelDev(dev uint64) uint32 {
	return unix.Major(dev)<<20 | unix.Minor(dev)&0xfffff
}

// statID returns the identity of the file a path names now (following
// symlinks, as an open does).
func statID(path string) (FileID, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return FileID{}, false
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return FileID{}, false // an exact path names a file; a directory is not opened as one
	}
	return FileID{Dev: kernelDev(st.Dev), Ino: st.Ino}, true
}

// identity resolves an exact rule path to its file's identity, now: a hard
// link to it or a bind mount of it opens the same identity under another path.
// A path that does not exist yet has none (its path entry still matches); a
// file replaced later (a new inode) is matched by path, and by identity again
// from the next policy apply, which resolves every path anew.
func (c *compiler) identity(path string, mask uint64) (FileID, bool) {
	id, ok := statID(path)
	if !ok {
		return id, false
	}
	c.img.fileIDs[processFileId{Ino: id.Ino, Dev: id.Dev}] |= mask
	c.rules.idPaths[id] = appendUnique(c.rules.idPaths[id], path)
	c.img.selector.IdFilter = 1
	return id, true
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// The targets of the substring patterns (index of file_substrs).
const (
	substrName = 0 // name_contains: the final path component
	substrRaw  = 1 // raw_contains: the path as the caller passed it
)

// nameKeyLen is how many bytes of a file name's end the kernel reads (NAME_KEY).
const nameKeyLen = len(processNameKey{}.Rname)

// suffixKey is the file_suffixes key of a name suffix: its bytes reversed, so
// that the kernel's prefix match on the reversed name is a suffix match.
func suffixKey(sfx string) processNameKey {
	var k processNameKey
	n := min(len(sfx), len(k.Rname))
	for i := 0; i < n; i++ {
		k.Rname[i] = int8(sfx[len(sfx)-1-i])
	}
	k.Prefixlen = uint32(n * 8)
	return k
}

// closeSuffixes writes each suffix's key with the masks of every suffix it
// ends with: an LPM lookup returns only the longest match ("x.so" must carry
// the rules of ".so" and of "o").
func closeSuffixes(entries map[string]uint64, out map[processNameKey]uint64) {
	for sfx := range entries {
		var m uint64
		for i := 0; i < len(sfx); i++ {
			m |= entries[sfx[i:]]
		}
		out[suffixKey(sfx)] = m
	}
}

// nameEndsWith is the kernel's name_suffixes test taken in Go, on a resolved
// path: "/" + its final component ends with one of the suffixes.
func nameEndsWith(path string, suffixes []string) bool {
	name := path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		name = path[i+1:]
	}
	name = "/" + name
	for _, s := range suffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// substrTable is the file_substrs entry of one target: its patterns (at most
// len(Pats), which Capacity checks first) with the rules having each, in
// sorted order so that an unchanged policy set writes nothing.
func substrTable(pats map[string]uint64) processSubstrTable {
	var t processSubstrTable
	keys := make([]string, 0, len(pats))
	for p := range pats {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	for _, p := range keys {
		if int(t.Count) >= len(t.Pats) || p == "" || len(p) > 8 {
			continue
		}
		var v uint64
		for i := len(p) - 1; i >= 0; i-- {
			v = v<<8 | uint64(p[i])
		}
		t.Pats[t.Count] = processSubstrPat{Val: v, Rules: pats[p], Shift: uint32(64 - 8*len(p))}
		t.Count++
	}
	return t
}
