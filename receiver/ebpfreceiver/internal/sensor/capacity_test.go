//go:build linux

package sensor

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// manyPaths is a file.open policy watching n distinct exact paths under dir.
func manyPaths(name, dir string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nrules:\n  - event: file.open\n    paths:\n", name)
	for i := range n {
		fmt.Fprintf(&b, "      - %s/f%05d\n", dir, i)
	}
	return b.String()
}

func mustParse(t *testing.T, file, src string) *policy.Policy {
	t.Helper()
	p, err := policy.ParseBytes(file, []byte(src))
	require.NoError(t, err)
	require.NoError(t, p.CheckCapabilities(policy.Capabilities{CgroupSockAddr: true, SendSignal: true}))
	return p
}

var testCapacity = Capacity{MapFilePaths: 8192, MapTopDirs: 1024, MapExecBinaries: 4096, MapSelUID: 4096,
	MapSelBinary: 4096, MapSelCgroup: 16384, MapNetCIDR4: 4096, MapNetCIDR6: 4096, MapNetPorts: 4096}

// A policy that does not fit is refused with its file, key and the room left;
// the policies admitted before it keep their room, a later one that fits is
// admitted, and shared entries count once.
func TestUsageAdmit(t *testing.T) {
	u := NewUsage(testCapacity)
	small := mustParse(t, "policies/small.yaml", manyPaths("small", "/srv/a", 10))
	big := mustParse(t, "policies/big.yaml", manyPaths("big", "/srv/b", 10000))
	same := mustParse(t, "policies/same.yaml", manyPaths("same", "/srv/a", 10)) // the same 10 keys
	require.NoError(t, u.Admit(small, nil))
	err := u.Admit(big, nil)
	require.Error(t, err)
	assert.Equal(t, "policies/big.yaml: paths: 10000 entries exceed the file path map's remaining capacity of 8182 (file_paths holds 8192, 10 used by other policies): policy not loaded, the other policies run", err.Error())
	require.NoError(t, u.Admit(same, nil), "shared entries take no room")

	// Three policies of 3,000 paths: the first two fit (6,010 entries), the third does not.
	var errs []error
	for i := range 3 {
		p := mustParse(t, fmt.Sprintf("policies/p%d.yaml", i), manyPaths(fmt.Sprintf("p%d", i), fmt.Sprintf("/srv/p%d", i), 3000))
		errs = append(errs, u.Admit(p, nil))
	}
	assert.NoError(t, errs[0])
	assert.NoError(t, errs[1])
	require.Error(t, errs[2])
	assert.Contains(t, errs[2].Error(), "policies/p2.yaml: paths: 3000 entries exceed the file path map's remaining capacity of 2182")
}

// The names of the task keys fill task_names, one entry per name, key and
// rule kind: a policy that does not fit is refused naming its file, the keys
// and the room left; the same name on another kind is another entry, the same
// name again in another policy is not.
func TestUsageAdmitTaskNames(t *testing.T) {
	names := func(name, event string, n int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "name: %s\nrules:\n", name)
		for r := 0; r*policy.MaxNames < n; r++ {
			fmt.Fprintf(&b, "  - event: %s\n    process_names:\n", event)
			for i := r * policy.MaxNames; i < n && i < (r+1)*policy.MaxNames; i++ {
				fmt.Fprintf(&b, "      - n%05d\n", i)
			}
		}
		return b.String()
	}
	u := NewUsage(Capacity{MapTaskNames: 1000})
	require.NoError(t, u.Admit(mustParse(t, "a.yaml", names("a", "file.open", 600)), nil))
	require.NoError(t, u.Admit(mustParse(t, "same.yaml", names("same", "file.unlink", 600)), nil), "file kinds share the entries")
	err := u.Admit(mustParse(t, "net.yaml", names("net", "network.connect", 600)), nil)
	require.Error(t, err)
	assert.Equal(t, "net.yaml: process_names/parent_names/ancestor_names (one entry per name and rule kind): 600 entries exceed the process name map's remaining capacity of 400 (task_names holds 1000, 600 used by other policies): policy not loaded, the other policies run", err.Error())
	require.NoError(t, u.Admit(mustParse(t, "net2.yaml", names("net2", "network.connect", 400)), nil))
}

// The suffix map and the substring tables are admitted like the other maps:
// a policy whose patterns do not fit is refused with its file, key and the
// room left; shared patterns count once.
func TestUsageNameKeys(t *testing.T) {
	u := NewUsage(Capacity{MapFileSuffixes: 3, MapNameContains: 16, MapRawContains: 16})
	pats := func(name string, from, n int) string {
		var ps []string
		for i := range n {
			ps = append(ps, fmt.Sprintf("%q", fmt.Sprintf("r%d", from+i)))
		}
		return fmt.Sprintf("name: %s\nrules:\n  - event: file.open\n    raw_contains: [%s]\n", name, strings.Join(ps, ", "))
	}
	require.NoError(t, u.Admit(mustParse(t, "a.yaml", pats("a", 0, 8)), nil))
	require.NoError(t, u.Admit(mustParse(t, "b.yaml", pats("b", 4, 8)), nil), "4 shared: 12 of 16")
	err := u.Admit(mustParse(t, "c.yaml", pats("c", 100, 5)), nil)
	require.Error(t, err)
	assert.Equal(t, "c.yaml: raw_contains: 5 entries exceed the raw path pattern table's remaining capacity of 4 (file_substrs[raw] holds 16, 12 used by other policies): policy not loaded, the other policies run", err.Error())
	require.NoError(t, u.Admit(mustParse(t, "d.yaml", pats("d", 100, 4)), nil))
	err = u.Admit(mustParse(t, "e.yaml", "name: e\nrules:\n  - event: file.open\n    name_suffixes: [a, b, c, d]\n"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "e.yaml: name_suffixes: 4 entries exceed the file name suffix map's remaining capacity of 3")
}

// The suffix trie's closure: a longer suffix's key carries the rules of the
// suffixes it ends with, as an LPM lookup returns only the longest match.
func TestCloseSuffixes(t *testing.T) {
	out := map[processNameKey]uint64{}
	closeSuffixes(map[string]uint64{".so": 1, "x.so": 2, "/x.so": 4, "/release_agent": 8, "o": 16}, out)
	assert.Equal(t, uint64(1|16), out[suffixKey(".so")])
	assert.Equal(t, uint64(1|2|16), out[suffixKey("x.so")])
	assert.Equal(t, uint64(1|2|4|16), out[suffixKey("/x.so")])
	assert.Equal(t, uint64(8), out[suffixKey("/release_agent")])
	k := suffixKey("/x.so")
	assert.Equal(t, uint32(5*8), k.Prefixlen)
	assert.Equal(t, "os.x/", string([]byte{byte(k.Rname[0]), byte(k.Rname[1]), byte(k.Rname[2]), byte(k.Rname[3]), byte(k.Rname[4])}))
	tb := substrTable(map[string]uint64{"../": 1, "/proc/se": 2})
	assert.Equal(t, uint32(2), tb.Count)
	assert.Equal(t, processSubstrPat{Val: uint64('.') | uint64('.')<<8 | uint64('/')<<16, Rules: 1, Shift: 40}, tb.Pats[0])
	assert.Equal(t, uint32(0), tb.Pats[1].Shift, "8 bytes: the whole window")
}

// More top directories than top_dirs holds drop the pre-filter instead of
// rejecting the policy: it is an optimisation, not a decision.
func TestUsageTopDirsOverflowDropsPreFilter(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: tops\nrules:\n  - event: file.open\n    paths:\n")
	for i := range 1100 {
		fmt.Fprintf(&b, "      - /top%04d/\n", i)
	}
	u := NewUsage(testCapacity)
	p := mustParse(t, "tops.yaml", b.String())
	require.NoError(t, u.Admit(p, nil))
	assert.True(t, u.TopDirsDropped)
	c, err := Compile([]*policy.Policy{p}, map[string]int{"tops": 0}, nil)
	require.NoError(t, err)
	require.Error(t, testCapacity.Check(c.Image), "the full image overflows top_dirs")
	c.DropTopFilter()
	require.NoError(t, testCapacity.Check(c.Image))
	assert.Zero(t, c.Image.selector.TopFilter)
	assert.Len(t, c.Image.filePaths, 1100, "every path is still filtered")

	few := NewUsage(testCapacity)
	require.NoError(t, few.Admit(mustParse(t, "few.yaml", manyPaths("few", "/srv", 3)), nil))
	assert.False(t, few.TopDirsDropped)
}

// More rules of a kind than the kernel's 64 slots: the policy that overflows
// is refused, not every policy.
func TestUsageRuleSlots(t *testing.T) {
	rules := func(name string, n int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "name: %s\nrules:\n", name)
		for i := range n {
			fmt.Fprintf(&b, "  - name: r%d\n    event: bpf.load\n", i)
		}
		return b.String()
	}
	u := NewUsage(testCapacity)
	require.NoError(t, u.Admit(mustParse(t, "a.yaml", rules("a", 32)), nil))
	require.NoError(t, u.Admit(mustParse(t, "b.yaml", rules("b", 30)), nil))
	err := u.Admit(mustParse(t, "c.yaml", rules("c", 3)), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "c.yaml: rules: 3 syscall-kind rules exceed the 2 rule slots left of 64")
	require.NoError(t, u.Admit(mustParse(t, "d.yaml", rules("d", 2)), nil))
}

// The footprint Admit counts is exactly what Compile writes, map by map.
func TestFootprintMatchesCompile(t *testing.T) {
	src := `name: mix
selector:
  uids: [0, 1000]
  binaries: [/usr/bin/curl]
  binary_prefixes: [/opt/]
rules:
  - event: file.open
    paths: [/etc/shadow, /etc/, /var/lib/x/]
  - event: file.write
    paths: [/etc/passwd, /etc/]
  - event: process.exec
    binaries: [/usr/bin/nc, /bin/nc]
  - event: network.connect
    cidrs: [10.0.0.0/8, 10.1.0.0/16, "fd00::/8"]
    ports: [22, 443]
    process_names: [curl, wget]
    parent_names: [sh, curl]
  - event: file.unlink
    process_names: [curl]
    tty: true
    capabilities: [CAP_SYS_ADMIN]
  - event: file.open
    paths: [/tmp/]
    name_suffixes: [.so, /x.so]
    name_contains: [.so.]
    raw_contains: [../, /./]
  - event: file.write
    paths: [/tmp/]
    name_suffixes: [.so]
    name_contains: [.so.]
`
	p := mustParse(t, "mix.yaml", src)
	c, err := Compile([]*policy.Policy{p}, map[string]int{"mix": 0}, nil)
	require.NoError(t, err)
	f := footprint(p, nil)
	for name, n := range c.Image.Entries() {
		if name == "exec_inodes" {
			// One entry per binary path that exists on this machine (the kernel-matrix
			// guests have a busybox nc): admission counts the paths, which bound it.
			assert.LessOrEqual(t, n, len(f.keys["exec_binaries"]), name)
			continue
		}
		assert.Equal(t, n, len(f.keys[name]), name)
	}
}

// dumpMaps reads every policy map, to compare the kernel state before and after.
func dumpMaps(t *testing.T, p *Process) map[string]string {
	t.Helper()
	m := p.objs.processMaps
	out := map[string]string{}
	dumpHash := func(name string, mp *ebpf.Map, k, v any) {
		var lines []string
		it := mp.Iterate()
		for it.Next(k, v) {
			lines = append(lines, fmt.Sprintf("%v=%v", reflect.ValueOf(k).Elem(), reflect.ValueOf(v).Elem()))
		}
		require.NoError(t, it.Err(), name)
		sort.Strings(lines)
		out[name] = strings.Join(lines, "\n")
	}
	var bk processBinKey
	var u64 uint64
	var u32 uint32
	var n4 processNet4Key
	var n6 processNet6Key
	var port uint16
	var top processTopKey
	dumpHash("sel_uid", m.SelUid, &u32, &u64)
	dumpHash("sel_cgroup", m.SelCgroup, &u64, new(uint64))
	dumpHash("sel_binary", m.SelBinary, &bk, &u64)
	dumpHash("file_paths", m.FilePaths, &bk, &u64)
	dumpHash("exec_binaries", m.ExecBinaries, &bk, &u64)
	dumpHash("net_cidr4", m.NetCidr4, &n4, &u64)
	dumpHash("net_cidr6", m.NetCidr6, &n6, &u64)
	dumpHash("net_ports", m.NetPorts, &port, &u64)
	dumpHash("top_dirs", m.TopDirs, &top, new(uint64))
	dumpHash(MapTopBuckets, m.TopBuckets, &u32, new(uint64))
	dumpHash(MapFileIDBits, m.FileIdBits, &u32, new(uint64))
	var fid processFileId
	dumpHash("file_ids", m.FileIds, &fid, new(uint64))
	var rule processRuleCfg
	dumpHash("rules", m.Rules, &u32, &rule)
	dumpHash("event_rules", m.EventRules, &u32, &u64)
	dumpHash("net_any_port", m.NetAnyPort, &u32, &u64)
	var sel processSelectorCfg
	dumpHash("selector", m.Selector, &u32, &sel)
	return out
}

// A map write that fails in the middle of an apply is undone: every policy map
// holds exactly what it held before, the old policy still matches, the new one
// does not, and the next apply (without the failure) goes through.
func TestApplyRollsBackOnWriteFailure(t *testing.T) {
	r := newPolicyRig(t)
	dir := t.TempDir()
	oldDir, newDir := filepath.Join(dir, "old")+"/", filepath.Join(dir, "new")+"/"
	require.NoError(t, os.Mkdir(oldDir, 0o700))
	require.NoError(t, os.Mkdir(newDir, 0o700))
	// An exact file of the test's own (not a system file: the kernel-matrix
	// guests boot a bare initramfs).
	exact := filepath.Join(dir, "exact")
	require.NoError(t, os.WriteFile(exact, []byte("x"), 0o600))
	r.apply(t, "name: old\nrules:\n  - event: file.open\n    paths: ["+oldDir+", "+exact+"]\n")
	before := dumpMaps(t, r.proc)
	require.NotEmpty(t, before["file_paths"])

	newPol := mustParse(t, "new.yaml", "name: new\nselector:\n  uids: [0]\nrules:\n  - event: file.open\n    paths: ["+newDir+"]\n  - event: network.connect\n    cidrs: [127.0.0.9/32]\n")
	c, err := Compile([]*policy.Policy{newPol}, map[string]int{"new": 1}, nil)
	require.NoError(t, err)
	require.NoError(t, r.pol.Ensure(c.Plan))
	// Fail the n-th write, for every n until the apply has no write left to
	// fail: each failed apply leaves the maps exactly as before.
	total := 0
	for n := 1; total == 0; n++ {
		require.LessOrEqual(t, n, 100, "the apply kept failing")
		var written []string
		r.proc.beforeWrite = func(name string) error {
			written = append(written, name)
			if len(written) == n {
				return fmt.Errorf("injected failure writing %s", name)
			}
			return nil
		}
		err := r.proc.Apply(c.Image, false)
		if len(written) < n {
			require.NoError(t, err) // no write left to fail: the new image is in
			total = len(written)
			break
		}
		require.Error(t, err, "write %d", n)
		assert.Regexp(t, `^(writing|deleting from) policy map `+written[n-1]+`: injected failure`, err.Error())
		assert.Contains(t, err.Error(), "rolled back: the maps hold the previous policies")
		require.Equal(t, before, dumpMaps(t, r.proc), "failure at write %d (%s): maps as before", n, written[n-1])
		if n == 1 || n == 7 {
			// The kernel agrees: the old policy still matches, the new one does not.
			_, _ = os.ReadFile(exact)
			require.NoError(t, os.WriteFile(filepath.Join(newDir, "f"), []byte("x"), 0o600))
			got := r.alerts(t, 300*time.Millisecond, func(a *Alert) bool {
				return a.TGID == uint32(os.Getpid()) && (a.Path == exact || strings.HasPrefix(a.Path, newDir))
			})
			require.Len(t, got, 1)
			assert.Equal(t, exact, got[0].Path)
		}
	}
	r.proc.beforeWrite = nil
	assert.Greater(t, total, 7, "the image takes several writes (deletions, puts, selector)")

	// The apply that had no failure left replaced the old image.
	after := dumpMaps(t, r.proc)
	assert.NotEqual(t, before["file_paths"], after["file_paths"])
	_, _ = os.ReadFile(exact)
	require.NoError(t, os.WriteFile(filepath.Join(newDir, "g"), []byte("x"), 0o600))
	got := r.alerts(t, 300*time.Millisecond, func(a *Alert) bool {
		return a.TGID == uint32(os.Getpid()) && (a.Path == exact || strings.HasPrefix(a.Path, newDir))
	})
	require.Len(t, got, 1)
	assert.Equal(t, filepath.Join(newDir, "g"), got[0].Path)
}

// An image larger than a map is refused before anything is written.
func TestApplyRefusesOversizedImage(t *testing.T) {
	r := newPolicyRig(t)
	r.apply(t, "name: old\nrules:\n  - event: file.open\n    paths: [/etc/hostname]\n")
	before := dumpMaps(t, r.proc)
	big := mustParse(t, "big.yaml", manyPaths("big", "/srv/big", 9000))
	c, err := Compile([]*policy.Policy{big}, map[string]int{"big": 0}, nil)
	require.NoError(t, err)
	err = r.proc.Apply(c.Image, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "file_paths: 9000 entries, room for 8192")
	assert.Equal(t, before, dumpMaps(t, r.proc))
	assert.Equal(t, 8192, r.proc.Capacity()[MapFilePaths], "capacity read from the loaded map")
}
