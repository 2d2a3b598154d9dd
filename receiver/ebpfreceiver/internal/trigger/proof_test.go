//go:build linux

package trigger_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/falco"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/trigger"
)

const packDir = "../../../../rules"

// fake is an event shape as rules.Fields.
type fake struct {
	kind  rules.Kind
	str   map[rules.FieldID][]string
	num   map[rules.FieldID]int64
	bools map[rules.FieldID]bool
	addr  map[rules.FieldID][]netip.Addr
}

func (f *fake) Kind() rules.Kind { return f.kind }
func (f *fake) Str(id rules.FieldID, idx int) (string, bool) {
	v := f.str[id]
	if idx < 0 || idx >= len(v) {
		return "", false
	}
	return v[idx], true
}
func (f *fake) Num(id rules.FieldID, idx int) (int64, bool) {
	v, ok := f.num[id]
	return v, ok && idx == 0
}
func (f *fake) Bool(id rules.FieldID, _ int) (bool, bool) { v, ok := f.bools[id]; return v, ok }
func (f *fake) Addr(id rules.FieldID, idx int) (netip.Addr, bool) {
	v := f.addr[id]
	if idx < 0 || idx >= len(v) {
		return netip.Addr{}, false
	}
	return v[idx], true
}

// toFields builds the fake of an event shape; a field name or value the engine does not
// know fails the test (the table must speak the engine's language).
func toFields(t *testing.T, e trigger.Event) *fake {
	t.Helper()
	k, ok := rules.KindByName(e.Kind)
	require.True(t, ok, "unknown kind %s", e.Kind)
	f := &fake{kind: k, str: map[rules.FieldID][]string{}, num: map[rules.FieldID]int64{},
		bools: map[rules.FieldID]bool{}, addr: map[rules.FieldID][]netip.Addr{}}
	for _, kv := range e.Fields {
		name, v, ok := strings.Cut(kv, "=")
		require.True(t, ok, kv)
		fi, ok := rules.LookupField(name)
		require.True(t, ok, "unknown field %s", name)
		require.True(t, fi.Kinds.Has(k), "field %s does not exist for %s", name, e.Kind)
		switch {
		case fi.ID == rules.FieldProcAname:
			f.str[fi.ID] = strings.Fields(v)
		case fi.Type == rules.TypeString:
			f.str[fi.ID] = []string{v}
		case fi.Type == rules.TypeNumber:
			var n int64
			_, err := fmt.Sscan(v, &n)
			require.NoError(t, err, kv)
			f.num[fi.ID] = n
		case fi.Type == rules.TypeBool:
			require.Contains(t, []string{"true", "false"}, v, kv)
			f.bools[fi.ID] = v == "true"
		default:
			var as []netip.Addr
			for _, a := range strings.Fields(v) {
				as = append(as, netip.MustParseAddr(a))
			}
			f.addr[fi.ID] = as
		}
	}
	// proc.aname[0] is the process itself; without an index the engine reads from 1 up.
	return f
}

func loadPack(t *testing.T) *falco.Result {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(packDir, "*.yaml"))
	require.NoError(t, err)
	slices.Sort(files)
	res := falco.LoadFiles(files...)
	require.Empty(t, res.Errors)
	require.Empty(t, res.Skipped)
	return res
}

func fired(res *falco.Result, f rules.Fields) []string {
	var out []string
	for _, r := range res.Rules {
		if r.Predicate.Eval(f) {
			out = append(out, r.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestEveryRuleHasATrigger: each rule of the default pack is the Rule of at least one case,
// and each case names a rule of the pack.
func TestEveryRuleHasATrigger(t *testing.T) {
	res := loadPack(t)
	names := map[string]bool{}
	for _, r := range res.Rules {
		names[r.Name] = true
	}
	covered := map[string]bool{}
	seen := map[string]bool{}
	for _, c := range trigger.Cases() {
		assert.False(t, seen[c.Name], "case %s twice", c.Name)
		seen[c.Name] = true
		assert.True(t, names[c.Rule], "case %s: no rule %q in the pack", c.Name, c.Rule)
		covered[c.Rule] = true
		assert.NotNil(t, c.Action, c.Name)
		assert.NotNil(t, c.LookAlike, c.Name)
		assert.NotEmpty(t, c.Does, c.Name)
		assert.NotEmpty(t, c.LooksLike, c.Name)
		assert.Equal(t, c.Manual == "", c.LookAlikeManual == "", "case %s: a manual trigger needs a manual look-alike", c.Name)
	}
	for n := range names {
		assert.True(t, covered[n], "rule %q has no trigger", n)
	}
}

// prove checks each case against a loaded rule set and returns the problems: an event of a
// trigger that does not fire exactly the rules the table says, a trigger none of whose events
// fires its rule, a look-alike event that fires anything.
func prove(t *testing.T, res *falco.Result, cs []trigger.Case) []string {
	t.Helper()
	var probs []string
	for _, c := range cs {
		if len(c.Events) == 0 || len(c.LookAlikeEvents) == 0 {
			probs = append(probs, c.Name+": no events")
			continue
		}
		hit := false
		for i, e := range c.Events {
			want := slices.Clone(e.Fires)
			slices.Sort(want)
			got := fired(res, toFields(t, e))
			if !slices.Equal(want, got) {
				probs = append(probs, fmt.Sprintf("%s: trigger event %d (%s) fires %q, want %q", c.Name, i, e.Kind, got, want))
			}
			hit = hit || slices.Contains(got, c.Rule)
		}
		if !hit {
			probs = append(probs, fmt.Sprintf("%s: no trigger event fires %q", c.Name, c.Rule))
		}
		for i, e := range c.LookAlikeEvents {
			if len(e.Fires) > 0 {
				probs = append(probs, fmt.Sprintf("%s: look-alike event %d declares rules", c.Name, i))
			}
			if got := fired(res, toFields(t, e)); len(got) > 0 {
				probs = append(probs, fmt.Sprintf("%s: look-alike event %d (%s) fires %q", c.Name, i, e.Kind, got))
			}
		}
	}
	return probs
}

// TestTriggersFireTheirRule is the offline detection proof: each event a trigger produces
// fires exactly the rules the table says (the case's rule among them), and each event of its
// look-alike fires no rule at all.
func TestTriggersFireTheirRule(t *testing.T) {
	res := loadPack(t)
	for _, c := range trigger.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			assert.Empty(t, prove(t, res, []trigger.Case{c}))
		})
	}
}

// TestProofCatchesBrokenRules: the proof fails when a rule is narrowed until its trigger
// misses, and when a rule is widened until its look-alike matches.
func TestProofCatchesBrokenRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(packDir, "*.yaml"))
	require.NoError(t, err)
	slices.Sort(files)
	var in []falco.File
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		in = append(in, falco.File{Name: f, Data: b})
	}
	broken := func(yaml string) *falco.Result {
		res := falco.Load(append(slices.Clone(in), falco.File{Name: "zz_broken.yaml", Data: []byte(yaml)})...)
		require.Empty(t, res.Errors)
		require.Empty(t, res.Skipped)
		return res
	}
	narrowed := broken(`
- rule: Read sensitive file untrusted
  condition: and fd.name = /etc/gshadow
  override:
    condition: append
`)
	probs := prove(t, narrowed, trigger.Cases())
	assert.Contains(t, probs, `read-shadow: no trigger event fires "Read sensitive file untrusted"`)
	widened := broken(`
- list: vigil_sensitive_files
  items: [/etc/passwd]
  override:
    items: append
`)
	probs = prove(t, widened, trigger.Cases())
	assert.Contains(t, probs, `read-shadow: look-alike event 0 (file.open) fires ["Read sensitive file untrusted"]`)
}

// TestSystemdInternal: systemd's service setup (a fork of the manager named after the unit,
// or systemd-executor) loading a BPF program or reading the PAM configuration is not reported.
func TestSystemdInternal(t *testing.T) {
	res := loadPack(t)
	base := []string{"proc.name=(sshd)", "proc.exepath=/usr/lib/systemd/systemd-executor", "proc.pname=systemd",
		"proc.aname=(sshd) systemd", "user.uid=0", "container.id=host"}
	for _, e := range []trigger.Event{
		{Kind: "bpf.load", Fields: append(slices.Clone(base), "evt.type=bpf")},
		{Kind: "file.open", Fields: append(slices.Clone(base), "evt.type=openat", "fd.name=/etc/pam.d/sshd",
			"fd.directory=/etc/pam.d", "fd.filename=sshd", "evt.is_open_read=true", "evt.is_open_write=false")},
	} {
		assert.Empty(t, fired(res, toFields(t, e)), e.Kind)
		// The same from a program elsewhere is reported.
		other := append(slices.Clone(e.Fields), "proc.exepath=/opt/agent/agent", "proc.name=agent")
		assert.NotEmpty(t, fired(res, toFields(t, trigger.Event{Kind: e.Kind, Fields: other})), e.Kind)
	}
}

// TestPrivilegeDropIsNotAGain: a set*id call that asks for a non-root uid is not reported,
// and one whose uid is not known is (the sensor reports only gains).
func TestPrivilegeDropIsNotAGain(t *testing.T) {
	res := loadPack(t)
	base := []string{"evt.type=setresuid", "proc.name=worker", "proc.aname=worker bash", "user.uid=0", "container.id=host"}
	const rule = "Privilege raised to root by an unexpected program"
	assert.Equal(t, []string{rule}, fired(res, toFields(t, trigger.Event{Kind: "privilege.change", Fields: base})))
	drop := append(slices.Clone(base), "evt.arg.uid=65534")
	assert.Empty(t, fired(res, toFields(t, trigger.Event{Kind: "privilege.change", Fields: drop})))
}

// TestResolvedNames: an event side may name a process by its kernel name (sh, nc) or by its
// resolved executable's base name (dash, nc.openbsd, where the name is a symbolic link); the
// pack gives the same verdict on both.
func TestResolvedNames(t *testing.T) {
	res := loadPack(t)
	resolved := map[string]string{"sh": "dash", "nc": "nc.openbsd"}
	for _, c := range trigger.Cases() {
		for i, e := range append(slices.Clone(c.Events), c.LookAlikeEvents...) {
			f := toFields(t, e)
			want := fired(res, f)
			changed := false
			for _, id := range []rules.FieldID{rules.FieldProcName, rules.FieldProcPname, rules.FieldProcAname} {
				for j, v := range f.str[id] {
					if r, ok := resolved[v]; ok {
						f.str[id][j], changed = r, true
					}
				}
			}
			if changed {
				assert.Equal(t, want, fired(res, f), "%s event %d with resolved names", c.Name, i)
			}
		}
	}
}

// TestExclusions: the pack's tuning by ancestry holds. The trigger's events, moved under the
// Go tool (a `go test` run), fire nothing; under a package manager, the rules that exclude
// maintainer scripts fire nothing either.
func TestExclusions(t *testing.T) {
	res := loadPack(t)
	for _, c := range trigger.Cases() {
		if c.Container {
			continue
		}
		for i, e := range c.Events {
			f := toFields(t, e)
			f.str[rules.FieldProcAname] = append(f.str[rules.FieldProcAname], "go", "make", "bash")
			got := fired(res, f)
			// The SSH audit trail is not tuning: it reports every accepted session.
			got = slices.DeleteFunc(got, func(s string) bool { return s == "Inbound SSH session accepted" })
			assert.Empty(t, got, "%s event %d under go", c.Name, i)
		}
	}
}
