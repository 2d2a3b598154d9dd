package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}

func simple(name string) string {
	return "name: " + name + "\nrules:\n  - event: bpf.load\n"
}

func policyNames(ps []*Policy) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestLoadPathsFilesAndDirs(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "b.yaml"), simple("b"))
	writeFile(t, filepath.Join(dir, "a.yml"), simple("a"))
	writeFile(t, filepath.Join(dir, "c.txt"), simple("c"))
	writeFile(t, filepath.Join(dir, ".hidden.yaml"), simple("hidden"))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o700))
	require.NoError(t, os.Symlink(filepath.Join(dir, "c.txt"), filepath.Join(dir, "link.yaml")))
	extra := filepath.Join(t.TempDir(), "explicit.conf")
	writeFile(t, extra, simple("explicit"))

	pols, errs := LoadPaths([]string{dir, extra, filepath.Join(dir, "b.yaml")})
	require.Empty(t, errs)
	assert.Equal(t, []string{"a", "b", "c", "explicit"}, policyNames(pols), "sorted, symlinks followed, explicit files taken whatever their name, duplicates once")
	assert.Equal(t, filepath.Join(dir, "link.yaml"), pols[2].Source)
}

func TestLoadPathsErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), simple("same"))
	writeFile(t, filepath.Join(dir, "b.yaml"), simple("same"))
	writeFile(t, filepath.Join(dir, "c.yaml"), "name: c\n")
	writeFile(t, filepath.Join(dir, "d.yaml"), simple("d"))
	missing := filepath.Join(dir, "missing")

	pols, errs := LoadPaths([]string{missing, dir})
	assert.Equal(t, []string{"same", "d"}, policyNames(pols))
	require.Len(t, errs, 3)
	assert.Equal(t, missing+": cannot stat: no such file or directory", errs[0].Error())
	assert.Equal(t, filepath.Join(dir, "b.yaml")+`:1: name: duplicate policy name "same", already loaded from `+filepath.Join(dir, "a.yaml"), errs[1].Error())
	assert.Equal(t, filepath.Join(dir, "c.yaml")+":1: rules: at least one rule is required", errs[2].Error())
}

func TestLoadPolicyLimit(t *testing.T) {
	dir := t.TempDir()
	for i := range MaxPolicies + 2 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("p%03d.yaml", i)), simple(fmt.Sprintf("p%03d", i)))
	}
	pols, errs := LoadPaths([]string{dir})
	assert.Len(t, pols, MaxPolicies)
	require.Len(t, errs, 2)
	assert.Equal(t, filepath.Join(dir, "p064.yaml")+":1: name: too many policies: at most 64 can be loaded at once", errs[0].Error())
}

func TestLoadChecksCapabilities(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), "name: a\nrules:\n  - event: file.open\n    action: deny\n")
	writeFile(t, filepath.Join(dir, "b.yaml"), "name: b\nrules:\n  - event: file.open\n    action: deny\n    fallback: kill\n")
	s := Load([]string{dir}, Capabilities{SendSignal: true})
	assert.Equal(t, []string{"b"}, policyNames(s.Policies))
	assert.Equal(t, ActionKill, s.Policies[0].Rules[0].EffectiveAction)
	require.Len(t, s.Errors(), 1)
	assert.Contains(t, s.Errors()[0].Error(), "a.yaml:4: rules[0].action: deny for file.open needs BPF LSM or fmod_ret")
}

func TestLoaderKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeFile(t, a, simple("a"))
	writeFile(t, b, simple("b"))
	l := &loader{caps: &Capabilities{}}

	s := l.load([]string{dir})
	require.Empty(t, s.Errors())
	firstA := s.Policies[0]

	// A bad edit keeps the last good version running, marked stale.
	writeFile(t, a, "name: a\nrules:\n  - event: nope\n")
	s = l.load([]string{dir})
	assert.Equal(t, []string{"a", "b"}, policyNames(s.Policies))
	assert.Same(t, firstA, s.Policies[0])
	require.Len(t, s.Files, 2)
	assert.True(t, s.Files[0].Stale)
	assert.ErrorContains(t, s.Files[0].Err, `rules[0].event: unknown event "nope"`)
	assert.False(t, s.Files[1].Stale)

	// Still bad on the next reload: still kept.
	s = l.load([]string{dir})
	assert.Equal(t, []string{"a", "b"}, policyNames(s.Policies))

	// Fixed: the new version replaces it.
	writeFile(t, a, "name: a\nmode: enforce\nrules:\n  - event: bpf.load\n")
	s = l.load([]string{dir})
	require.Empty(t, s.Errors())
	assert.Equal(t, ModeEnforce, s.Policies[0].Mode)

	// Deleted: gone.
	require.NoError(t, os.Remove(a))
	s = l.load([]string{dir})
	assert.Equal(t, []string{"b"}, policyNames(s.Policies))

	// Re-created broken: nothing to keep.
	writeFile(t, a, "name: a\n")
	s = l.load([]string{dir})
	assert.Equal(t, []string{"b"}, policyNames(s.Policies))
	assert.Len(t, s.Errors(), 1)
}

func TestLoaderIncumbentKeepsName(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), simple("web"))
	l := &loader{}
	s := l.load([]string{dir})
	require.Empty(t, s.Errors())

	// A new file sorting earlier with the same name must not take over.
	writeFile(t, filepath.Join(dir, "a.yaml"), simple("web"))
	s = l.load([]string{dir})
	require.Len(t, s.Policies, 1)
	assert.Equal(t, filepath.Join(dir, "m.yaml"), s.Policies[0].Source)
	errs := s.Errors()
	require.Len(t, errs, 1)
	assert.Equal(t, filepath.Join(dir, "a.yaml")+`:1: name: duplicate policy name "web", already loaded from `+filepath.Join(dir, "m.yaml"), errs[0].Error())

	// Renaming a running policy onto a taken name keeps its old version.
	writeFile(t, filepath.Join(dir, "a.yaml"), simple("other"))
	s = l.load([]string{dir})
	require.Empty(t, s.Errors())
	writeFile(t, filepath.Join(dir, "a.yaml"), simple("web"))
	s = l.load([]string{dir})
	assert.Equal(t, []string{"other", "web"}, policyNames(s.Policies))
	require.Len(t, s.Errors(), 1)
	assert.True(t, s.Files[0].Stale)
	assert.True(t, strings.HasSuffix(s.Errors()[0].Error(), `already loaded from `+filepath.Join(dir, "m.yaml")))
}

// A file whose top level is a list is a rules file: carried, not parsed as a
// policy, and not an error; policies beside it load as before.
func TestRulesFilesAreCarried(t *testing.T) {
	dir := t.TempDir()
	rules := "- list: shells\n  items: [sh]\n- rule: R\n  condition: proc.name in (shells)\n"
	writeFile(t, filepath.Join(dir, "a.yaml"), simple("a"))
	writeFile(t, filepath.Join(dir, "falco.yaml"), rules)
	writeFile(t, filepath.Join(dir, "z.yaml"), "# comment\n---\n- rule: other\n")
	s := Load([]string{dir}, Capabilities{LSM: true, Fentry: true, Kprobe: true, CgroupSockAddr: true, SendSignal: true})
	assert.Empty(t, s.Errors())
	assert.Equal(t, []string{"a"}, policyNames(s.Policies))
	rf := s.RulesFiles()
	require.Len(t, rf, 2)
	assert.Equal(t, filepath.Join(dir, "falco.yaml"), rf[0].Path)
	assert.Equal(t, rules, string(rf[0].Rules))
	assert.Nil(t, rf[0].Policy)
	assert.True(t, IsRulesFile([]byte("[]")))
	for _, notRules := range []string{"name: a\n", "", "- [unclosed\n", "just text"} {
		assert.False(t, IsRulesFile([]byte(notRules)), notRules)
	}
}
