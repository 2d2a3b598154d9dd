package rulestage

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/cond"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rules/lower"
)

// A rules file's parent and ancestor keys are its condition's: the generated
// policy marks them, so that the kernel passes a re-parented process and user
// space decides on its own parent; keys it does not have stay unmarked.
func TestGeneratedPolicyMarksConditionKeys(t *testing.T) {
	plan := func(text string) lower.Plan {
		t.Helper()
		n, err := cond.Parse(text)
		require.NoError(t, err)
		pred, err := rules.Compile(n, &rules.Defs{})
		require.NoError(t, err)
		return lower.Lower(pred.Expr())
	}
	gen, _ := GeneratedPolicy("f.yaml", "r", plan("evt.type = connect and proc.pname = node and proc.aname[3] = nginx"))
	require.NotNil(t, gen)
	require.Len(t, gen.Rules, 1)
	r := gen.Rules[0]
	assert.Equal(t, []string{"node"}, r.ParentNames)
	assert.Equal(t, []string{"nginx"}, r.AncestorNames)
	assert.True(t, r.ParentsCond)
	assert.True(t, r.AncestorsCond)
	gen, _ = GeneratedPolicy("f.yaml", "r", plan("evt.type = connect and proc.name = curl"))
	require.NotNil(t, gen)
	assert.False(t, gen.Rules[0].ParentsCond, "no parent key: no mark")
	assert.False(t, gen.Rules[0].AncestorsCond, "no ancestor key: no mark")
}

// The default pack's rules that name their processes are narrowed in the
// kernel by the task keys: their generated policies carry the names and
// capabilities, and the rules that only exclude processes (not proc.name in)
// carry none.
func TestDefaultPackTaskKeys(t *testing.T) {
	files, err := filepath.Glob("../../../../rules/*.yaml")
	require.NoError(t, err)
	slices.Sort(files)
	require.NotEmpty(t, files)
	var in []policy.FileResult
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		in = append(in, policy.FileResult{Path: f, Rules: b})
	}
	l := LoadFiles(in, policy.MaxPolicies)
	require.Empty(t, l.Problems)
	byName := map[string]LoadedRule{}
	for _, r := range l.Rules {
		byName[r.Rule.Name] = r
	}
	kernelRule := func(name string, k rules.Kind) policy.Rule {
		t.Helper()
		r, ok := byName[name]
		require.True(t, ok, name)
		require.NotNil(t, r.Kernel, name)
		for _, kr := range r.Kernel.Rules {
			if string(kr.Event) == k.String() {
				return kr
			}
		}
		t.Fatalf("%s: no %s kernel rule", name, k)
		return policy.Rule{}
	}
	after := kernelRule("Read sensitive file trusted after startup", rules.FileOpen)
	assert.Contains(t, after.ProcessNames, "nginx")
	assert.Contains(t, after.ProcessNames, "clickhouse-serv", "names are the kernel's 15 bytes")
	assert.NotEmpty(t, after.Paths)
	assert.Equal(t, []string{"ssh"}, kernelRule("Disallowed SSH Connection Non Standard Port", rules.NetworkConnect).ProcessNames)
	assert.Equal(t, []string{"sshd"}, kernelRule("Inbound SSH session accepted", rules.NetworkAccept).ProcessNames)
	assert.Equal(t, []string{"CAP_SYS_ADMIN"}, kernelRule("Detect release_agent File Container Escapes", rules.FileOpen).Capabilities)
	untrusted := kernelRule("Read sensitive file untrusted", rules.FileOpen)
	assert.Nil(t, untrusted.ProcessNames, "not proc.name in (...) does not lower")
}
