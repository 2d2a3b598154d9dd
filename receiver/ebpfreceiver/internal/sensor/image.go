//go:build linux

package sensor

import "strings"

// MapImage is what a set of compiled policies writes into the kernel maps:
// the selector, the rule table and every filter map, exactly. Process.Apply
// makes the maps hold it.
type MapImage struct {
	selector  processSelectorCfg
	rules     [numKinds * maxRules]processRuleCfg
	selUID    map[uint32]uint64
	selBinary map[processBinKey]uint64
	filePaths map[processBinKey]uint64
	execBins  map[processBinKey]uint64
	// execInodes are the binaries by identity (the file each path names).
	execInodes map[processExeId]uint64
	net4       map[processNet4Key]uint64
	net6       map[processNet6Key]uint64
	ports      map[uint16]uint64
	anyPort    uint64
	cgroups    map[uint64]uint64
	topDirs    map[processTopKey]uint64
	events     [int(processVigilEventEV_MAX)]uint64
	fileIDs    map[processFileId]uint64
	// suffixes are the name_suffixes trie, substrs the name_contains and
	// raw_contains tables (substrCounts: their distinct patterns, which may
	// exceed a table's room: Capacity refuses the image then).
	suffixes     map[processNameKey]uint64
	substrs      [2]processSubstrTable
	substrCounts [2]int
	// The task keys: rules by key per kind, and the names of the rules.
	taskKeys  processTaskKeyCfg
	taskNames map[processTaskNameKey]uint64
}

func newMapImage() *MapImage {
	return &MapImage{
		selUID: map[uint32]uint64{}, selBinary: map[processBinKey]uint64{},
		filePaths: map[processBinKey]uint64{}, execBins: map[processBinKey]uint64{}, execInodes: map[processExeId]uint64{},
		net4: map[processNet4Key]uint64{}, net6: map[processNet6Key]uint64{},
		ports: map[uint16]uint64{}, cgroups: map[uint64]uint64{}, topDirs: map[processTopKey]uint64{},
		fileIDs: map[processFileId]uint64{}, suffixes: map[processNameKey]uint64{}, taskNames: map[processTaskNameKey]uint64{},
	}
}

// Entries returns the number of entries the image puts into each filter map,
// by map name.
func (m *MapImage) Entries() map[string]int {
	return map[string]int{
		MapSelUID: len(m.selUID), MapSelBinary: len(m.selBinary), MapSelCgroup: len(m.cgroups),
		MapFilePaths: len(m.filePaths), MapExecBinaries: len(m.execBins), MapExecInodes: len(m.execInodes),
		MapNetCIDR4: len(m.net4), MapNetCIDR6: len(m.net6), MapNetPorts: len(m.ports), MapTopDirs: len(m.topDirs),
		MapFileIDs: len(m.fileIDs), MapFileSuffixes: len(m.suffixes), MapTaskNames: len(m.taskNames),
		MapNameContains: m.substrCounts[substrName], MapRawContains: m.substrCounts[substrRaw],
	}
}

// dropTopFilter removes the top-directory pre-filter: every open is then
// resolved and looked up in file_paths. Used when the rules' top directories
// do not fit top_dirs (a pre-filter only: dropping it costs CPU, not matches).
func (m *MapImage) dropTopFilter() {
	m.selector.TopFilter = 0
	clear(m.topDirs)
}

type pathEntry struct {
	path  string
	exact bool
	mask  uint64
}

// key builds the LPM key: exact paths include their NUL so that only the exact
// path matches; directory prefixes do not.
func (e pathEntry) key() processBinKey {
	var k processBinKey
	n := len(e.path)
	for i := 0; i < n && i < binKeyLen; i++ {
		k.Path[i] = int8(e.path[i])
	}
	if e.exact {
		n++
	}
	k.Prefixlen = uint32(min(n, binKeyLen) * 8)
	return k
}

// matches is the kernel's path decision for one entry, taken in Go: the exact
// path, or any path below a prefix. The LPM closure and the user-space filter
// both use it.
func (e pathEntry) matches(path string) bool {
	if e.exact {
		return e.path == path
	}
	return strings.HasPrefix(path, e.path)
}

// covers reports whether e matches every path that o matches.
func (e pathEntry) covers(o pathEntry) bool {
	if e.exact {
		return o.exact && o.path == e.path
	}
	return e.matches(o.path)
}

// closePaths writes each entry's key with the masks of every entry covering it:
// an LPM lookup returns only the longest match, which must carry the shorter
// ones. Directory prefixes (ending in /) are found by looking up each
// directory of the entry's path, so the closure costs entries x depth, not
// entries squared; other prefixes (binary_prefixes without a trailing /) are
// compared with every entry.
func closePaths(entries []pathEntry, out map[processBinKey]uint64) {
	exact := map[string]uint64{}
	dirs := map[string]uint64{}
	var odd []pathEntry
	for _, e := range entries {
		switch {
		case e.exact:
			exact[e.path] |= e.mask
		case strings.HasSuffix(e.path, "/"):
			dirs[e.path] |= e.mask
		default:
			odd = append(odd, e)
		}
	}
	for _, e := range entries {
		m := uint64(0)
		if e.exact {
			m |= exact[e.path]
		}
		for i := 0; i < len(e.path); i++ {
			if e.path[i] == '/' {
				m |= dirs[e.path[:i+1]]
			}
		}
		for _, o := range odd {
			if o.covers(e) {
				m |= o.mask
			}
		}
		out[e.key()] |= m
	}
}
