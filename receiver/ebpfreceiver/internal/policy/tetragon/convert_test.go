package tetragon_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy/tetragon"
)

const head = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n"

// kprobe builds a one-kprobe policy: call, args (index:type, ...) and the
// selectors' YAML, indented under "selectors:".
func kprobe(call, args, selectors string) string {
	var b strings.Builder
	b.WriteString(head + "  kprobes:\n  - call: " + call + "\n    syscall: false\n")
	if args != "" {
		b.WriteString("    args:\n")
		for _, a := range strings.Split(args, ",") {
			i, typ, _ := strings.Cut(strings.TrimSpace(a), ":")
			b.WriteString("    - index: " + i + "\n      type: " + typ + "\n")
		}
	}
	if selectors != "" {
		b.WriteString("    selectors:\n")
		for _, l := range strings.Split(strings.TrimRight(selectors, "\n"), "\n") {
			b.WriteString("    " + l + "\n")
		}
	}
	return b.String()
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opt  tetragon.Options
		want string // Vigil policy; "" when err is set
		err  string // the whole error, file "t.yaml"
	}{
		{
			name: "two filters on one path argument",
			in: kprobe("security_file_open", "0:file", `- matchArgs:
  - index: 0
    operator: Equal
    values: [/etc/shadow]
  - index: 0
    operator: Prefix
    values: [/root/.ssh/]
  matchBinaries:
  - operator: In
    values: [/usr/bin/cat]
  matchActions:
  - action: Sigkill`),
			err: "t.yaml:17: spec.kprobes[0].selectors[0].matchArgs[1]: a second filter on argument 0 (their intersection) is not supported",
		},
		{
			name: "selectors with different matchBinaries",
			in: kprobe("security_file_open", "0:file", `- matchArgs:
  - index: 0
    operator: Prefix
    values: [/etc/ssl/private, /root/.ssh/]
  matchBinaries:
  - operator: In
    values: [/usr/bin/cat, /usr/bin/less]
  matchActions:
  - action: Sigkill
- matchArgs:
  - index: 0
    operator: Equal
    values: [/etc/shadow]`),
			err: "t.yaml:22: selectors with different matchBinaries (lines 18 and 22) cannot share one Vigil policy: its selector applies to every rule; split the TracingPolicy",
		},
		{
			name: "operator Mask",
			in: kprobe("security_file_permission", "0:file,1:int", `- matchArgs:
  - index: 1
    operator: Mask
    values: ["2"]`),
			err: "t.yaml:16: spec.kprobes[0].selectors[0].matchArgs[0]: operator Mask is not supported on the access mask: only Equal 4 (MAY_READ) and 2 (MAY_WRITE)",
		},
		{
			name: "Postfix on a path is the file name's end",
			in: kprobe("fd_install", "0:int,1:file", `- matchArgs:
  - index: 1
    operator: Postfix
    values: [.pem, /release_agent]`),
			want: `name: t
rules:
  - name: fd_install
    event: file.open
    name_suffixes: [.pem, /release_agent]
`,
		},
		{
			name: "Postfix with a directory part",
			in: kprobe("fd_install", "0:int,1:file", `- matchArgs:
  - index: 1
    operator: Postfix
    values: [ssh/id_rsa]`),
			err: "t.yaml:18: spec.kprobes[0].selectors[0].matchArgs[0].values: \"ssh/id_rsa\": a Postfix must end a file name (no directory part except a leading /)",
		},
		{
			name: "NotPostfix on a path",
			in: kprobe("fd_install", "0:int,1:file", `- matchArgs:
  - index: 1
    operator: NotPostfix
    values: [.pem]`),
			err: "t.yaml:16: spec.kprobes[0].selectors[0].matchArgs[0]: operator NotPostfix is not supported on a path: Vigil's kernel path filter takes exact paths (Equal), directories (Prefix) and file name ends (Postfix)",
		},
		{
			name: "fd_install write watch, monitor mode option, Override is deny",
			in: strings.Replace(kprobe("security_file_permission", "0:file,1:int", `- matchArgs:
  - index: 0
    operator: Prefix
    values: [/etc/]
  - index: 1
    operator: Equal
    values: ["2"]
  matchActions:
  - action: Override
    argError: -1`), "spec:\n", "spec:\n  options:\n  - name: policy-mode\n    value: monitor\n", 1),
			want: `name: t
mode: monitor
rules:
  - name: security_file_permission
    event: file.write
    paths: [/etc/]
    action: deny
`,
		},
		{
			name: "exec of a binary, Post, lsm hook",
			in: head + `  lsmhooks:
  - hook: bprm_check_security
    args:
    - index: 0
      type: linux_binprm
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: [/usr/bin/nc, /usr/bin/ncat]
`,
			want: `name: t
rules:
  - name: bprm_check_security
    event: process.exec
    binaries: [/usr/bin/nc, /usr/bin/ncat]
`,
		},
		{
			name: "matchBinaries on exec",
			in: kprobe("security_bprm_check", "0:linux_binprm", `- matchBinaries:
  - operator: In
    values: [/usr/bin/bash]`),
			err: "t.yaml:14: spec.kprobes[0].selectors[0].matchBinaries: on security_bprm_check, matchBinaries names the program calling execve; a Vigil policy's selector sees the program executed",
		},
		{
			name: "connect DAddr and DPort, syscall kprobe",
			in: head + `  kprobes:
  - call: sys_connect
    syscall: true
    args:
    - index: 0
      type: int
    - index: 1
      type: sockaddr
    selectors:
    - matchArgs:
      - index: 1
        operator: DAddr
        values: [169.254.169.254, "fd00::/8"]
      - index: 1
        operator: DPort
        values: ["80"]
`,
			want: `name: t
rules:
  - name: sys_connect
    event: network.connect
    cidrs: [169.254.169.254/32, "fd00::/8"]
    ports: [80]
`,
		},
		{
			name: "tcp_connect DAddr and Sigkill",
			in: kprobe("tcp_connect", "0:sock", `- matchArgs:
  - index: 0
    operator: DAddr
    values: [169.254.169.254, "10.0.0.0/8"]
  matchActions:
  - action: Sigkill`),
			want: `name: t
mode: enforce
rules:
  - name: tcp_connect
    event: network.connect
    cidrs: [169.254.169.254/32, 10.0.0.0/8]
    action: kill
`,
		},
		{
			name: "NotIn binaries",
			in: kprobe("security_file_open", "0:file", `- matchBinaries:
  - operator: NotIn
    values: [/usr/bin/sshd]`),
			err: "t.yaml:14: spec.kprobes[0].selectors[0].matchBinaries[0]: operator NotIn is not supported: a Vigil policy selects binaries by exact path (In) or directory (Prefix), it cannot exclude them",
		},
		{
			name: "Override on a namespace change",
			in:   head + "  kprobes:\n  - call: sys_unshare\n    syscall: true\n    selectors:\n    - matchActions:\n      - action: Override\n",
			err:  "t.yaml:10: spec.kprobes[0].selectors[0]: Override on sys_unshare: Vigil cannot refuse namespace.change (a BPF hook that can refuse setns, unshare and clone (no kernel has one yet))",
		},
		{
			name: "wider event with Sigkill",
			in:   kprobe("create_user_ns", "", "- matchActions:\n  - action: Sigkill"),
			err:  "t.yaml:10: spec.kprobes[0].selectors[0]: create_user_ns with kill: Vigil reports every namespace change (unshare, setns, clone with CLONE_NEW*), not user namespaces only, so the action would apply to more than the hook sees",
		},
		{
			name: "kernel_read_file needs the module id",
			in:   kprobe("security_kernel_read_file", "0:file,1:int", ""),
			err:  "t.yaml:7: spec.kprobes[0]: security_kernel_read_file needs matchArgs index 1 Equal 2 (READING_MODULE): without it the hook also sees firmware, kexec images and IMA policies",
		},
		{
			name: "namespaced policy with a pod selector, tracepoint, ptrace",
			in: `apiVersion: cilium.io/v1alpha1
kind: TracingPolicyNamespaced
metadata:
  name: shop-ptrace
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: cart
  tracepoints:
  - subsystem: syscalls
    event: sys_enter_ptrace
  kprobes:
  - call: security_ptrace_access_check
    syscall: false
`,
			want: `name: shop-ptrace
selector:
  namespaces: [shop]
  pod_labels: {app: cart}
rules:
  - name: syscalls.sys_enter_ptrace
    event: process.ptrace
`,
		},
		{
			name: "unsupported selector and action, unknown key, all reported",
			in: kprobe("security_file_open", "0:file", `- matchPIDs:
  - operator: In
    values: [1]
  matchActions:
  - action: GetUrl
  matchFoo: 1`),
			err: "t.yaml:13: spec.kprobes[0].selectors[0].matchPIDs: matchPIDs is not supported\n" +
				"t.yaml:17: spec.kprobes[0].selectors[0].matchActions[0]: action GetUrl is not supported (Post, Sigkill, Signal 9, Override)\n" +
				"t.yaml:18: spec.kprobes[0].selectors[0].matchFoo: unknown key",
		},
		{
			name: "mode flag overrides",
			in:   kprobe("bpf_check", "", "- matchActions:\n  - action: Sigkill"),
			opt:  tetragon.Options{Mode: "monitor"},
			want: "name: t\nmode: monitor\nrules:\n  - name: bpf_check\n    event: bpf.load\n    action: kill\n",
		},
		{
			name: "not a policy name Vigil accepts",
			in:   strings.Replace(kprobe("bpf_check", "", ""), "name: t", "name: Bad.Name", 1),
			err:  "t.yaml:4: name: \"Bad.Name\" must be 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
		},
		{
			name: "duplicate key",
			in:   kprobe("bpf_check", "", "") + "  kprobes: []\n",
			err:  "t.yaml:9: spec.kprobes: duplicate key (first at line 6)",
		},
		{
			name: "two documents",
			in:   kprobe("bpf_check", "", "") + "---\n" + kprobe("bpf_check", "", ""),
			err:  "t.yaml:9: more than one YAML document; put one TracingPolicy per file",
		},
		{
			name: "syscall tracepoint arguments are not the call's",
			in: head + `  tracepoints:
  - subsystem: syscalls
    event: sys_enter_setuid
    args:
    - index: 5
      type: int
    selectors:
    - matchArgs:
      - index: 5
        operator: Equal
        values: ["0"]
`,
			err: "t.yaml:14: spec.tracepoints[0].selectors[0].matchArgs[0]: a filter on argument 5 of syscalls/sys_enter_setuid is not supported (privilege.change has no such filter)",
		},
		{
			name: "security_file_permission without a mask: opens for reading and writes",
			in: kprobe("security_file_permission", "0:file,1:int", `- matchArgs:
  - index: 0
    operator: Equal
    values: [/etc/passwd]`),
			want: `name: t
rules:
  - name: security_file_permission-read
    event: file.open
    paths: [/etc/passwd]
    access: [read]
  - name: security_file_permission-write
    event: file.write
    paths: [/etc/passwd]
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _, err := policy.ParseTracingPolicy("t.yaml", []byte(tc.in), tc.opt)
			if tc.err != "" {
				require.Error(t, err)
				assert.Equal(t, tc.err, err.Error())
				return
			}
			require.NoError(t, err)
			exp, err := policy.ParseBytes("want", []byte(tc.want))
			require.NoError(t, err)
			assert.Equal(t, exp.Name, p.Name)
			assert.Equal(t, exp.Mode, p.Mode)
			assert.Equal(t, exp.Selector, p.Selector)
			assert.Equal(t, exp.Rules, p.Rules)
		})
	}
}

func TestIsTracingPolicy(t *testing.T) {
	assert.True(t, tetragon.IsTracingPolicy([]byte(head+"  kprobes: []\n")))
	assert.False(t, tetragon.IsTracingPolicy([]byte("name: x\nrules: []\n")), "a Vigil policy")
	assert.False(t, tetragon.IsTracingPolicy([]byte("- rule: x\n")), "a Falco rules file")
	assert.False(t, tetragon.IsTracingPolicy([]byte("apiVersion: v1\nkind: ConfigMap\n")))
}
