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

// The sizes of top_buckets and file_id_bits (bpf/headers/policy.h).
const (
	topBuckets = 4096
	idBits     = 65536
	hashMul    = 0x9E3779B97F4A7C15
)

// topBucket is the kernel's top_bucket of a top_dirs name (at most 15 bytes):
// a multiplicative hash of its first 8 bytes (the first lowest) plus its
// length.
func topBucket(k processTopKey) uint32 {
	var w, n uint64
	for i, c := range k.Name {
		if c == 0 {
			break
		}
		if i < 8 {
			w |= uint64(uint8(c)) << (8 * i)
		}
		n++
	}
	return uint32(((w + n) * hashMul) >> 52)
}

// idBit is the kernel's id_bit of a file identity.
func idBit(k processFileId) uint32 {
	return uint32(((k.Ino ^ uint64(k.Dev)<<32) * hashMul) >> 48)
}

// summaries returns top_buckets (each bucket the OR of the masks of the
// top_dirs names hashed there) and file_id_bits (a bit set per file_ids
// identity): the kernel's one-load answer for the names and files no rule
// names, exact maps deciding the rest.
func (m *MapImage) summaries() (buckets, bits []uint64) {
	buckets = make([]uint64, topBuckets)
	for k, mask := range m.topDirs {
		buckets[topBucket(k)] |= mask
	}
	bits = make([]uint64, idBits/64)
	for k := range m.fileIDs {
		b := idBit(k)
		bits[b/64] |= 1 << (b % 64)
	}
	return buckets, bits
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
