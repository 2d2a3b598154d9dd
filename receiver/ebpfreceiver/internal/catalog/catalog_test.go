package catalog

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRowsAreConsistent(t *testing.T) {
	seen := map[string]bool{}
	known := map[string]bool{FilterPaths: true, FilterAccess: true, FilterCIDRs: true, FilterPorts: true, FilterBinaries: true, FilterExeFlags: true}
	for _, e := range All() {
		assert.False(t, seen[e.Name], "duplicate %s", e.Name)
		seen[e.Name] = true
		assert.Regexp(t, `^[a-z]+\.[a-z_]+$`, e.Name)
		assert.NotEmpty(t, e.Hooks, "%s: no hook implements it", e.Name)
		for _, f := range e.Filters {
			assert.True(t, known[f], "%s: unknown filter %s", e.Name, f)
		}
		if !e.Policy {
			assert.Equal(t, KindLifecycle, e.Kind, e.Name)
			assert.Empty(t, e.Filters, e.Name)
			continue
		}
		assert.NotEqual(t, KindLifecycle, e.Kind, e.Name)
		assert.NotEmpty(t, e.Deny.Needs, "%s: a deny error must say what it needs", e.Name)
		assert.NotEmpty(t, e.Attributes, e.Name)
		// A deny hook is one of the event's hooks.
		for _, h := range e.Deny.Hooks {
			assert.Contains(t, e.Hooks, h, e.Name)
		}
		if e.SecurityHookOnly {
			for _, h := range e.Hooks {
				assert.Equal(t, HookLSM, h.Type, "%s is security-hook only", e.Name)
			}
		}
	}
	row, ok := Lookup("file.open")
	require.True(t, ok)
	assert.True(t, row.AllowsFilter(FilterAccess))
	assert.False(t, row.AllowsFilter(FilterCIDRs))
	_, ok = Lookup("file.opn")
	assert.False(t, ok)
}

// Which events can be denied, and with what, is decided here only.
func TestCanDeny(t *testing.T) {
	none := func(Capability) bool { return false }
	lsmOnly := func(c Capability) bool { return c == CapLSM }
	cgroupOnly := func(c Capability) bool { return c == CapCgroupSockAddr }
	want := map[string][3]bool{ // none, lsm, cgroup
		"file.open": {false, true, false}, "file.unlink": {false, true, false}, "process.exec": {false, true, false},
		"network.connect": {false, false, true}, "network.accept": {false, false, false}, "network.listen": {false, false, false},
		"namespace.change": {false, false, false}, "privilege.change": {false, true, false}, "process.ptrace": {false, true, false},
	}
	for name, w := range want {
		row, ok := Lookup(name)
		require.True(t, ok, name)
		assert.Equal(t, w, [3]bool{row.CanDeny(none), row.CanDeny(lsmOnly), row.CanDeny(cgroupOnly)}, name)
	}
	ns, _ := Lookup("namespace.change")
	assert.False(t, ns.DenyPossible(func(Capability) bool { return true }), "no kernel can refuse setns/unshare/clone")
}

// The docs' event table lists exactly the catalog's events. The table is the
// first markdown table (in docs/events.md if it exists, else README.md) whose
// header's first cell is "event" or "event_name" and whose first column names
// events in backticks; a row may list several (`a`, `b`), and patterns such as
// `file.*` are ignored.
func TestDocsEventTableMatchesCatalog(t *testing.T) {
	root := repoRoot(t)
	doc := filepath.Join(root, "docs", "events.md")
	if _, err := os.Stat(doc); err != nil {
		doc = filepath.Join(root, "README.md")
	}
	b, err := os.ReadFile(doc)
	require.NoError(t, err)
	got := eventTable(string(b))
	require.NotEmpty(t, got, "%s has no event table (| event_name | ... | with event names in the first column)", doc)
	var want []string
	for _, e := range All() {
		want = append(want, e.Name)
	}
	sort.Strings(want)
	assert.Equal(t, want, got, "%s: the event table and the catalog differ", doc)
}

var eventNameRe = regexp.MustCompile("`([a-z]+\\.[a-z_]+)`")

// eventTable returns the sorted event names of the largest qualifying table.
func eventTable(md string) []string {
	var best []string
	var cur map[string]bool
	inTable, qualifies := false, false
	flush := func() {
		if qualifies && len(cur) > len(best) {
			best = best[:0]
			for n := range cur {
				best = append(best, n)
			}
			sort.Strings(best)
		}
		inTable, qualifies, cur = false, false, nil
	}
	for _, line := range strings.Split(md, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			flush()
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		first := strings.ToLower(strings.Trim(strings.TrimSpace(cells[0]), "`*"))
		if !inTable {
			inTable, cur = true, map[string]bool{}
			qualifies = first == "event" || first == "event_name" || first == "event name" || first == "events"
			continue
		}
		if strings.Trim(first, "-: ") == "" {
			continue // the separator row
		}
		for _, m := range eventNameRe.FindAllStringSubmatch(cells[0], -1) {
			cur[m[1]] = true
		}
	}
	flush()
	return best
}

func TestEventTableParser(t *testing.T) {
	md := "text\n\n| event | attributes |\n|---|---|\n| `file.open`, `file.write` | x |\n| `file.*` | y |\n\n" +
		"| event_name | when |\n|:--|--|\n| `process.exec` | a |\n| `file.open`, `file.write`, `bpf.load` | b |\n| **`process.exit`** | c |\n"
	assert.Equal(t, []string{"bpf.load", "file.open", "file.write", "process.exec", "process.exit"}, eventTable(md))
	assert.Empty(t, eventTable("| key | default |\n|---|---|\n| `file.open` | x |\n"), "other tables do not count")
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	return filepath.Dir(strings.TrimSpace(string(out)))
}
