package rulestage

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

// defaultPack loads the default detection pack as the receiver does: the policy
// set with its conditions linked, then its rules files with the policies' lists
// and macros.
func defaultPack(tb testing.TB) Loaded {
	tb.Helper()
	set := policy.LoadLinked([]string{"../../../../rules"}, policy.TypicalCapabilities(), Linker{})
	require.Empty(tb, set.Errors())
	files := set.RulesFiles()
	require.NotEmpty(tb, files)
	l := LoadFilesWith(PolicyDefs(set.Policies), files, policy.MaxPolicies-len(set.Policies))
	require.Empty(tb, l.Problems)
	require.Positive(tb, l.Loaded)
	return l
}

// benignExec is what an exec storm is made of: a program no exec rule is about,
// in a container, under the container's shim.
func benignExec() *event.Event {
	ev := execEv()
	ev.Proc.Executable, ev.Proc.Args, ev.Proc.CommandLine = "/usr/bin/ls", []string{"ls", "-la", "/app"}, "ls -la /app"
	ev.Parent.Executable, ev.Parent.Args, ev.Parent.CommandLine = "/usr/bin/containerd-shim", []string{"containerd-shim"}, "containerd-shim"
	return ev
}
