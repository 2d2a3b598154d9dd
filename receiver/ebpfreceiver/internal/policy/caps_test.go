package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckCapabilities(t *testing.T) {
	typical := TypicalCapabilities()
	noLSM := typical
	noLSM.LSM = false
	noLSMNoCgroup := noLSM
	noLSMNoCgroup.CgroupSockAddr = false
	noSignal := typical
	noSignal.SendSignal = false
	bare := Capabilities{}

	rule := func(ev Event, act, fb Action) string {
		s := "name: caps\nrules:\n  - event: " + string(ev) + "\n    action: " + string(act) + "\n"
		if fb != "" {
			s += "    fallback: " + string(fb) + "\n"
		}
		return s
	}
	tests := []struct {
		name    string
		src     string
		caps    Capabilities
		wantEff Action
		wantErr string
	}{
		{"post needs nothing", rule(EventFileOpen, ActionPost, ""), bare, ActionPost, ""},
		{"count needs nothing", rule(EventNetworkConnect, ActionCount, ""), bare, ActionCount, ""},
		{"deny file with LSM", rule(EventFileOpen, ActionDeny, ""), typical, ActionDeny, ""},
		{"deny file without LSM", rule(EventFileOpen, ActionDeny, ""), noLSM, "",
			"p.yaml:4: rules[0].action: deny for file.open needs BPF LSM or fmod_ret, which this kernel does not offer (add fallback: kill to kill instead)"},
		{"deny file falls back to kill", rule(EventFileOpen, ActionDeny, ActionKill), noLSM, ActionKill, ""},
		{"deny file, fallback kill not possible", rule(EventFileUnlink, ActionDeny, ActionKill), bare, "",
			"p.yaml:4: rules[0].action: deny for file.unlink needs BPF LSM or fmod_ret, which this kernel does not offer, and fallback kill needs bpf_send_signal, which it does not offer either"},
		{"deny exec without LSM", rule(EventProcessExec, ActionDeny, ""), noLSM, "",
			"p.yaml:4: rules[0].action: deny for process.exec needs BPF LSM or fmod_ret, which this kernel does not offer (add fallback: kill to kill instead)"},
		{"deny connect with cgroup only", rule(EventNetworkConnect, ActionDeny, ActionKill), noLSM, ActionDeny, ""},
		{"deny connect with LSM only", rule(EventNetworkConnect, ActionDeny, ""), Capabilities{LSM: true}, ActionDeny, ""},
		{"deny connect with neither", rule(EventNetworkConnect, ActionDeny, ""), noLSMNoCgroup, "",
			"p.yaml:4: rules[0].action: deny for network.connect needs BPF LSM, fmod_ret or cgroup/connect programs, which this kernel does not offer (add fallback: kill to kill instead)"},
		{"deny accept needs LSM", rule(EventNetworkAccept, ActionDeny, ""), noLSM, "",
			"p.yaml:4: rules[0].action: deny for network.accept needs BPF LSM or fmod_ret, which this kernel does not offer (add fallback: kill to kill instead)"},
		{"deny listen falls back", rule(EventNetworkListen, ActionDeny, ActionKill), noLSM, ActionKill, ""},
		{"deny ptrace with LSM ignores fallback", rule(EventProcessPtrace, ActionDeny, ActionKill), typical, ActionDeny, ""},
		{"deny namespace.change even with LSM", rule(EventNamespaceChange, ActionDeny, ""), typical, "",
			"p.yaml:4: rules[0].action: deny for namespace.change needs a BPF hook that can refuse setns, unshare and clone (no kernel has one yet), which this kernel does not offer (add fallback: kill to kill instead)"},
		{"deny namespace.change falls back to kill", rule(EventNamespaceChange, ActionDeny, ActionKill), typical, ActionKill, ""},
		{"kill with signal", rule(EventProcessExec, ActionKill, ""), Capabilities{SendSignal: true}, ActionKill, ""},
		{"kill without signal", rule(EventProcessExec, ActionKill, ""), noSignal, "",
			"p.yaml:4: rules[0].action: kill needs bpf_send_signal, which this kernel does not offer"},
	}
	for _, ev := range []Event{EventPrivilegeChange, EventKernelModuleLoad, EventBPFLoad, EventProcessPtrace, EventFileWrite, EventFileRename, EventFileChmod} {
		tests = append(tests, struct {
			name    string
			src     string
			caps    Capabilities
			wantEff Action
			wantErr string
		}{"deny " + string(ev) + " without LSM", rule(ev, ActionDeny, ""), noLSM, "",
			"p.yaml:4: rules[0].action: deny for " + string(ev) + " needs BPF LSM or fmod_ret, which this kernel does not offer (add fallback: kill to kill instead)"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parse(t, tt.src)
			require.NoError(t, err)
			err = p.CheckCapabilities(tt.caps)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				assert.Equal(t, p.Rules[0].Action, p.Rules[0].EffectiveAction, "unchanged on error")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantEff, p.Rules[0].EffectiveAction)
			assert.NoError(t, p.Validate(), "a checked policy still validates")
		})
	}
}

func TestCheckCapabilitiesIsRepeatable(t *testing.T) {
	p, err := parse(t, "name: a\nmode: enforce\nrules:\n  - event: file.open\n    action: deny\n    fallback: kill\n  - event: bpf.load\n")
	require.NoError(t, err)
	require.NoError(t, p.CheckCapabilities(Capabilities{SendSignal: true}))
	assert.Equal(t, ActionKill, p.Rules[0].EffectiveAction)
	assert.Equal(t, ActionPost, p.Rules[1].EffectiveAction)
	require.NoError(t, p.CheckCapabilities(TypicalCapabilities()))
	assert.Equal(t, ActionDeny, p.Rules[0].EffectiveAction)
}

func TestCheckCapabilitiesMultipleErrors(t *testing.T) {
	p, err := parse(t, "name: a\nrules:\n  - event: file.open\n    action: deny\n  - event: process.exec\n    action: kill\n")
	require.NoError(t, err)
	require.EqualError(t, p.CheckCapabilities(Capabilities{}),
		"p.yaml:4: rules[0].action: deny for file.open needs BPF LSM or fmod_ret, which this kernel does not offer (add fallback: kill to kill instead)\n"+
			"p.yaml:6: rules[1].action: kill needs bpf_send_signal, which this kernel does not offer")
}
