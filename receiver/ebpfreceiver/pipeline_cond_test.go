//go:build linux

package ebpfreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/event"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/rulestage"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/sensor"
)

// condRules compiles policy text into the rule table the read path uses.
func condRules(t *testing.T, text string) *sensor.RuleTable {
	t.Helper()
	p, err := rulestage.ParseLinked("p.yaml", []byte(text))
	require.NoError(t, err)
	c, err := sensor.Compile([]*policy.Policy{p}, map[string]int{p.Name: 0}, nil)
	require.NoError(t, err)
	require.True(t, c.Rules.HasConditions())
	return c.Rules
}

// The read path takes the strongest matched rule whose condition holds (a
// condition on the executable's path: on file.open the kernel does not check it): a kill
// whose condition fails falls back to the post rule the kernel also matched;
// when it holds, the receiver kills; a count rule with a residual is counted,
// not emitted; an event no condition holds for is dropped.
func TestPipelinePolicyConditions(t *testing.T) {
	rt := condRules(t, `name: p
mode: enforce
rules:
  - name: kill-vi
    event: file.open
    paths: [/etc/]
    condition: proc.exepath = /usr/bin/vi
    action: kill
    output: "vi opened %fd.name"
  - name: post-etc
    event: file.open
    paths: [/etc/]
  - name: count-less
    event: file.open
    paths: [/var/]
    condition: proc.exepath = /usr/bin/less
    action: count
`)
	p, killed := newTestPipeline(t, nil)
	p.rules = func() ruleTable { return rt }
	require.NotNil(t, p.process(execRecord(40, 1, "/usr/bin/vi")))
	require.NotNil(t, p.process(execRecord(41, 1, "/usr/bin/cat")))
	require.NotNil(t, p.process(execRecord(42, 1, "/usr/bin/less")))
	open := func(pid uint32, path string, rules uint64) *event.Event {
		ev := policyEvent(event.FileOpen, pid, sensor.KindFile, &event.File{Path: path})
		ev.Kernel.Rules = rules
		return ev
	}

	out := p.process(open(41, "/etc/hosts", 0b011))
	require.NotNil(t, out)
	assert.Equal(t, "post-etc", out.Match.Rule, "the kill's condition fails: the post rule decides")
	assert.Empty(t, *killed)

	out = p.process(open(40, "/etc/hosts", 0b011))
	require.NotNil(t, out)
	assert.Equal(t, "kill-vi", out.Match.Rule)
	assert.Equal(t, "kill", out.Match.Action)
	assert.True(t, out.Match.Applied)
	assert.True(t, out.Match.UserSpace)
	assert.Equal(t, "vi opened /etc/hosts", out.Match.Body)
	assert.Equal(t, []int{40}, *killed)

	out = p.process(open(40, "/etc/hosts", 0b001))
	require.NotNil(t, out, "only the kill rule matched, and it holds for vi")
	assert.Equal(t, "kill-vi", out.Match.Rule)
	assert.Equal(t, []int{40, 40}, *killed)

	assert.Nil(t, p.process(open(41, "/etc/hosts", 0b001)), "only the kill rule matched and its condition fails: dropped")
	assert.Nil(t, p.process(open(42, "/var/log/x", 0b100)), "a count rule's match is counted, not emitted")
	assert.Nil(t, p.process(open(41, "/var/log/x", 0b100)), "its condition fails: not counted either")
	var counted int64
	for k, n := range p.counts.actions {
		if k.ref.Rule == "count-less" {
			counted += n.pending
		}
	}
	assert.Equal(t, int64(1), counted)
}

// In monitor mode a kill decided in user space is reported, not sent.
func TestPipelinePolicyConditionMonitor(t *testing.T) {
	rt := condRules(t, `name: p
rules:
  - name: kill-vi
    event: file.open
    paths: [/etc/]
    condition: proc.exepath = /usr/bin/vi
    action: kill
`)
	p, killed := newTestPipeline(t, nil)
	p.rules = func() ruleTable { return rt }
	require.NotNil(t, p.process(execRecord(40, 1, "/usr/bin/vi")))
	ev := policyEvent(event.FileOpen, 40, sensor.KindFile, &event.File{Path: "/etc/hosts"})
	out := p.process(ev)
	require.NotNil(t, out)
	assert.Equal(t, "kill", out.Match.Action)
	assert.False(t, out.Match.Enforce)
	assert.False(t, out.Match.Applied)
	assert.Empty(t, *killed, "monitor mode never kills")
}
