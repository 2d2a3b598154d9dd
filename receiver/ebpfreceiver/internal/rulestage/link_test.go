package rulestage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy"
)

func TestConditionGood(t *testing.T) {
	cases := []struct {
		name     string
		yaml     string
		kernel   string
		residual []string
		action   policy.Action
	}{
		{"exec name and parent", `
name: p
lists:
  shells: [sh, bash]
macros:
  from_node: proc.pname = node
rules:
  - event: process.exec
    condition: proc.name in (shells) and from_node
`, "process_names: [sh, bash] parent_names: [node]", []string{"proc.pname = node"}, policy.ActionPost},
		{"names, tty and capabilities in the kernel", `
name: p
rules:
  - event: file.open
    paths: [/etc/]
    tty: true
    condition: fd.name = /etc/shadow and proc.name in (cat, a_very_long_process_name) and thread.cap_effective contains CAP_DAC_OVERRIDE
`, "paths: [/etc/shadow] process_names: [cat, a_very_long_pro] tty: true capabilities: [CAP_DAC_OVERRIDE]",
			[]string{"proc.name in (cat, a_very_long_process_name)", "thread.cap_effective contains CAP_DAC_OVERRIDE"}, policy.ActionPost},
		{"paths narrowed by the condition", `
name: p
rules:
  - event: file.open
    paths: [/etc/]
    condition: fd.name startswith /etc/ssl/ and not proc.name in (cat)
    action: kill
`, "paths: [/etc/ssl/]", []string{"not proc.name in (cat)"}, policy.ActionKill},
		{"deny decided in the kernel", `
name: p
rules:
  - event: file.open
    paths: [/etc/]
    condition: fd.name in (/etc/shadow, /tmp/x) and evt.is_open_read = true
    action: deny
`, "paths: [/etc/shadow] access: [read]", nil, policy.ActionDeny},
		{"deny on exec by executable", `
name: p
rules:
  - event: process.exec
    condition: proc.exepath in (/usr/bin/nc, /bin/nc)
    action: deny
`, "binaries: [/usr/bin/nc, /bin/nc]", nil, policy.ActionDeny},
		{"exceptions", `
name: p
lists:
  readers: [updatedb, nscd]
rules:
  - event: file.open
    paths: [/etc/shadow]
    exceptions:
      - name: known
        fields: [proc.name, fd.name]
        comps: [in, =]
        values:
          - [readers, /etc/shadow]
      - name: parents
        fields: proc.pname
        values: [dpkg, rpm]
    action: count
`, "paths: [/etc/shadow]", []string{"not (proc.name in (updatedb, nscd) and fd.name = /etc/shadow)", "not proc.pname in (dpkg, rpm)"}, policy.ActionCount},
		{"connect", `
name: p
rules:
  - event: network.connect
    ports: [443, 80]
    condition: fd.sport = 443 and fd.sip = 10.0.0.1
`, "cidrs: [10.0.0.1/32] ports: [443]", nil, policy.ActionPost},
		{"file name", `
name: p
rules:
  - event: file.open
    access: [write]
    condition: fd.filename = release_agent
`, "access: [write] name_suffixes: [/release_agent]", nil, policy.ActionPost},
		{"file name meets the rule's suffixes", `
name: p
rules:
  - event: file.open
    paths: [/tmp/]
    name_suffixes: [.so]
    condition: fd.filename in (libx.so, liby.txt) and fd.nameraw contains ../
    raw_contains: [/./]
`, "paths: [/tmp/] name_suffixes: [/libx.so] raw_contains: [/./]", []string{"fd.nameraw contains ../"}, policy.ActionPost},
		{"output only", `
name: p
rules:
  - event: file.open
    paths: [/etc/shadow]
    output: shadow read by %proc.name
`, "paths: [/etc/shadow]", nil, policy.ActionPost},
	}
	// Ancestor terms: the condition's key is marked as one user space decides;
	// a rule's own key stays what the kernel checks, exactly.
	cases = append(cases, []struct {
		name     string
		yaml     string
		kernel   string
		residual []string
		action   policy.Action
	}{
		{"a condition's ancestor term", `
name: p
rules:
  - event: network.connect
    cidrs: [10.0.0.0/8]
    condition: proc.aname[3] = sshd
    action: kill
`, "cidrs: [10.0.0.0/8] ancestor_names: [sshd] ancestor_depth: 3", []string{"proc.aname[3] = sshd"}, policy.ActionKill},
		{"the rule's own ancestor key is kept", `
name: p
rules:
  - event: network.connect
    ancestor_names: [nginx]
    ancestor_depth: 2
    condition: proc.aname[3] = sshd
`, "ancestor_names: [nginx] ancestor_depth: 2", []string{"proc.aname[3] = sshd"}, policy.ActionPost},
		{"a condition's parent term", `
name: p
rules:
  - event: network.connect
    cidrs: [10.0.0.0/8]
    condition: proc.pname in (node, deno)
`, "cidrs: [10.0.0.0/8] parent_names: [node, deno]", []string{"proc.pname in (node, deno)"}, policy.ActionPost},
		// Not intersected with the condition's: the two read different parents
		// after a re-parenting (real_parent, the forking one).
		{"the rule's own parent key is kept", `
name: p
rules:
  - event: network.connect
    parent_names: [node, deno]
    condition: proc.pname = node
`, "parent_names: [node, deno]", []string{"proc.pname = node"}, policy.ActionPost},
	}...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParseLinked("p.yaml", []byte(c.yaml))
			require.NoError(t, err)
			r := p.Rules[0]
			require.NotNil(t, r.Cond)
			assert.Equal(t, c.kernel, r.Cond.Kernel.String())
			assert.Equal(t, c.residual, r.Cond.Residual)
			assert.Equal(t, c.action, r.EffectiveAction)
			assert.Equal(t, r.Cond.Kernel.AncestorNames != nil && r.AncestorNames == nil, r.Cond.Kernel.AncestorsCond,
				"a condition's ancestor key is marked, the rule's own is not")
			assert.Equal(t, r.Cond.Kernel.ParentNames != nil && r.ParentNames == nil, r.Cond.Kernel.ParentsCond,
				"a condition's parent key is marked, the rule's own is not")
			kr := r.KernelRule()
			assert.Equal(t, r.Cond.Kernel.ParentsCond, kr.ParentsCond, "the kernel rule carries the mark")
			assert.Equal(t, r.Cond.Kernel.AncestorsCond, kr.AncestorsCond, "the kernel rule carries the mark")
			if len(c.residual) > 0 {
				assert.Equal(t, policy.ActionPost, kr.EffectiveAction, "the kernel only posts for a rule user space decides")
			} else {
				assert.Equal(t, c.action, kr.EffectiveAction)
			}
		})
	}
}

func TestConditionErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown field", `
name: p
rules:
  - event: file.open
    condition: fd.nam = /etc/shadow
`, "p.yaml:5: rules[0].condition: field fd.nam is not supported"},
		{"type mismatch", `
name: p
rules:
  - event: process.exec
    condition: proc.pid = abc
`, `p.yaml:5: rules[0].condition: proc.pid =: bad operand "abc" for a number field: strconv.ParseInt: parsing "abc": invalid syntax`},
		{"unsupported operator", `
name: p
rules:
  - event: process.exec
    condition: proc.pid startswith 1
`, "p.yaml:5: rules[0].condition: operator startswith is not supported by proc.pid (number; supported: = != < <= > >= in exists)"},
		{"unknown macro", `
name: p
rules:
  - event: process.exec
    condition: spawned and proc.name = sh
`, "p.yaml:5: rules[0].condition: unknown macro spawned"},
		{"unknown list in an exception", `
name: p
rules:
  - event: process.exec
    exceptions:
      - name: e
        fields: [proc.name]
        comps: [in]
        values: [[trusted_names]]
`, `p.yaml:6: rules[0].exceptions[0]: values[0][0]: unknown list "trusted_names" (a single value of in names a list; write [trusted_names] for the value itself)`},
		{"syntax, on its line", `
name: p
rules:
  - event: process.exec
    condition: >
      proc.name = sh and
      (proc.pname = node
`, "p.yaml:7: rules[0].condition: expected ) to close ( at 1:20, found end of condition"},
		{"macro error points into the macro", `
name: p
macros:
  bad: proc.nme = x
rules:
  - event: process.exec
    condition: bad
`, `p.yaml:7: rules[0].condition: in macro "bad" (p.yaml:4): field proc.nme is not supported`},
		{"deny with a residual", `
name: p
rules:
  - event: process.exec
    condition: proc.name in (sh, bash) and proc.pname startswith nod
    action: deny
`, `p.yaml:5: rules[0].condition: deny needs the whole condition decided in the kernel, but "proc.pname startswith nod" runs in user space (use kill for an after-the-fact SIGKILL, or post)`},
		{"exec deny on the new program's name", `
name: p
rules:
  - event: process.exec
    condition: proc.name in (sh, bash) and proc.tty != 0
    action: deny
`, `p.yaml:5: rules[0].condition: a process.exec deny is decided before the new program has its name, so proc.name cannot decide it in the kernel (use proc.exepath, or kill)`},
		// The kernel's parent is real_parent, the condition's the one that
		// forked the process: a deny rests on the rule's own parent_names.
		{"deny on a condition's parent", `
name: p
rules:
  - event: process.exec
    condition: proc.exepath = /bin/sh and proc.pname = node
    action: deny
`, `p.yaml:5: rules[0].condition: deny needs the whole condition decided in the kernel, but "proc.pname = node" runs in user space (use kill for an after-the-fact SIGKILL, or post)`},
		{"wrong event", `
name: p
rules:
  - event: file.open
    condition: evt.type = execve
`, "p.yaml:5: rules[0].condition: can never hold on a file.open event (it can hold on process.exec)"},
		{"keys and condition disjoint", `
name: p
rules:
  - event: file.open
    paths: [/etc/]
    condition: fd.name = /tmp/x
`, "p.yaml:6: rules[0].condition: no file.open event can match both the rule's keys (paths: [/etc/]) and the condition's kernel part (paths: [/tmp/x])"},
		{"bad output field", `
name: p
rules:
  - event: file.open
    output: "%proc.nme"
`, "p.yaml:5: rules[0].output: %proc.nme is not a field"},
		{"bad list name", `
name: p
lists:
  a.b: [x]
rules:
  - event: file.open
`, `p.yaml:4: lists.a.b: "a.b" is not a list name (letters, digits and '_', not starting with a digit, at most 128)`},
		{"exception comps", `
name: p
rules:
  - event: file.open
    exceptions:
      - name: e
        fields: [proc.name, fd.name]
        comps: [=]
`, "p.yaml:6: rules[0].exceptions[0].comps: 1 operators for 2 fields"},
		{"empty condition", `
name: p
rules:
  - event: file.open
    condition: ""
`, "p.yaml:5: rules[0].condition: must not be empty (leave the key out instead)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseLinked("p.yaml", []byte(c.yaml))
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

// A set shares one namespace: a policy uses another file's macro and a rules
// file's list; a name defined twice fails the later policy file only; a broken
// file does not stop the others.
func TestSharedDefinitions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(strings.TrimLeft(text, "\n")), 0o600))
		return p
	}
	write("a_rules.yaml", `
- list: falco_shells
  items: [sh, bash]
- macro: spawned
  condition: evt.type in (execve, execveat)
`)
	write("b.yaml", `
name: b
macros:
  from_node: proc.pname = node
rules:
  - event: process.exec
    condition: spawned and proc.name in (falco_shells) and from_node
`)
	c := write("c.yaml", `
name: c
macros:
  from_node: proc.pname = other
  spawned: evt.type = execve
rules:
  - event: process.exec
`)
	write("d.yaml", `
name: d
rules:
  - event: process.exec
    condition: from_node
`)
	e := write("e.yaml", `
name: e
rules:
  - event: process.exec
    condition: no_such_macro
`)
	set := policy.LoadLinked([]string{dir}, policy.TypicalCapabilities(), Linker{})
	var names []string
	for _, p := range set.Policies {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"b", "d"}, names, "c and e fail; b and d load")
	errs := map[string]string{}
	for _, f := range set.Files {
		if f.Err != nil {
			errs[filepath.Base(f.Path)] = f.Err.Error()
		}
	}
	assert.Equal(t, map[string]string{
		"c.yaml": c + `:3: macros.from_node: macro "from_node" is already defined at ` + filepath.Join(dir, "b.yaml") + ":3; a macro name is defined once across all loaded files\n" +
			c + `:4: macros.spawned: macro "spawned" is already defined at ` + filepath.Join(dir, "a_rules.yaml") + ":3; a macro name is defined once across all loaded files",
		"e.yaml": e + ":4: rules[0].condition: unknown macro no_such_macro",
	}, errs)
	b := set.Policies[0]
	assert.Equal(t, []string{"proc.pname = node"}, b.Rules[0].Cond.Residual, "names lower into the kernel's name keys; user space decides the parent")
	assert.Equal(t, "process_names: [sh, bash] parent_names: [node]", b.Rules[0].Cond.Kernel.String())
	assert.Contains(t, PolicyDefs(set.Policies).Macros, "from_node", "the rules files see the policy files' macros")
}

// A rule whose condition the kernel cannot narrow loads, with a warning and
// counted as unfiltered; a selector or a key is a narrowing.
func TestConditionUnfiltered(t *testing.T) {
	p, err := ParseLinked("p.yaml", []byte(`name: p
rules:
  - event: file.open
    condition: not proc.name in (cat)
  - event: file.open
    paths: [/etc/]
    condition: not proc.name in (cat)
  - event: process.exec
    condition: proc.name = sh
  - event: file.open
    condition: fd.name = /etc/shadow
`))
	require.NoError(t, err)
	assert.Equal(t, []string{"p.yaml:4: rules[0].condition: the kernel cannot narrow file.open for this rule: every file.open event reaches user space for the condition"}, p.Warnings())
	assert.Equal(t, 1, p.Unfiltered())
	assert.Empty(t, p.Rules[3].Cond.Residual, "fd.name = /etc/shadow is the kernel's path filter")

	q, err := ParseLinked("q.yaml", []byte(`name: q
selector:
  uids: [0]
rules:
  - event: file.open
    condition: not proc.name in (cat)
`))
	require.NoError(t, err)
	assert.Empty(t, q.Warnings())
}

// kill with a residual is the receiver's signal: no bpf_send_signal needed.
func TestConditionKillCapabilities(t *testing.T) {
	p, err := ParseLinked("p.yaml", []byte(`name: p
rules:
  - event: file.open
    paths: [/etc/]
    condition: proc.pname startswith nod
    action: kill
  - event: file.open
    paths: [/etc/]
    action: kill
`))
	require.NoError(t, err)
	caps := policy.TypicalCapabilities()
	caps.SendSignal = false
	assert.EqualError(t, p.CheckCapabilities(caps), "p.yaml:9: rules[1].action: kill needs bpf_send_signal, which this kernel does not offer")
}

// The invalid example policies with conditions fail with the errors their
// "# want:" lines give (loaded as the receiver loads them, linked).
func TestInvalidConditionExamples(t *testing.T) {
	t.Chdir(filepath.Join("..", "..", "..", ".."))
	files, err := filepath.Glob("testdata/policies/invalid/conditions/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			var want []string
			for _, l := range strings.Split(string(data), "\n") {
				if rest, ok := strings.CutPrefix(l, "# want: "); ok {
					want = append(want, rest)
				}
			}
			require.NotEmpty(t, want)
			set := policy.LoadLinked([]string{f}, policy.TypicalCapabilities(), Linker{})
			require.Len(t, set.Files, 1)
			require.Error(t, set.Files[0].Err)
			assert.Equal(t, strings.Join(want, "\n"), set.Files[0].Err.Error())
		})
	}
}
