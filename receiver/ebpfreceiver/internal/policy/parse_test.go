package policy

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// repoRoot is where error messages in testdata expect to be run from.
const repoRoot = "../../../.."

// wantLines returns the "# want: " comments of a testdata file.
func wantLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var want []string
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "# want: "); ok {
			want = append(want, rest)
		}
	}
	return want
}

func TestExamplePolicies(t *testing.T) {
	t.Chdir(repoRoot)
	pols, errs := LoadPaths([]string{"testdata/policies"})
	require.Empty(t, errs)
	names := make([]string, len(pols))
	for i, p := range pols {
		names[i] = p.Name
		assert.NoError(t, p.Validate(), p.Name)
		assert.NoError(t, p.CheckCapabilities(TypicalCapabilities()), p.Name)
		assert.Empty(t, wantLines(t, p.Source), "valid example %s must not carry want lines", p.Source)
	}
	// Sorted by file name; invalid/ is a subdirectory and not read.
	assert.Equal(t, []string{"container-escape", "metadata-endpoint", "netcat-kill", "privilege-escalation", "ptrace", "sensitive-files", "shell-from-server"}, names)

	byName := map[string]*Policy{}
	for _, p := range pols {
		byName[p.Name] = p
	}
	sf := byName["sensitive-files"]
	assert.Equal(t, ModeMonitor, sf.Mode)
	assert.Equal(t, ContainersAny, sf.Selector.Containers)
	require.Len(t, sf.Rules, 2)
	assert.Equal(t, Rule{Name: "shadow", Event: EventFileOpen, Paths: []string{"/etc/shadow"}, Access: []Access{AccessRead, AccessWrite},
		Action: ActionPost, Severity: SeverityInfo, EffectiveAction: ActionPost}, sf.Rules[0])
	assert.Equal(t, []string{"/root/.ssh/"}, sf.Rules[1].Paths)

	md := byName["metadata-endpoint"]
	assert.Equal(t, ModeEnforce, md.Mode)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("fd00:ec2::254/128")}, md.Rules[0].CIDRs)
	assert.Equal(t, []uint16{80, 443}, md.Rules[0].Ports)
	assert.Equal(t, ActionDeny, md.Rules[0].Action)
	assert.Equal(t, SeverityWarn, md.Rules[0].Severity)

	nk := byName["netcat-kill"]
	assert.Equal(t, ActionKill, nk.Rules[0].Action)
	assert.Equal(t, SeverityError, nk.Rules[0].Severity)
	assert.Contains(t, nk.Rules[0].Binaries, "/usr/bin/ncat")

	ce := byName["container-escape"]
	assert.Equal(t, ContainersOnly, ce.Selector.Containers)
	var ruleNames []string
	for _, r := range ce.Rules {
		ruleNames = append(ruleNames, r.Name)
	}
	assert.Equal(t, []string{"namespace.change-0", "kernel.module_load-1", "bpf.load-2"}, ruleNames)

	assert.Equal(t, EventPrivilegeChange, byName["privilege-escalation"].Rules[0].Event)
	assert.Equal(t, ActionKill, byName["ptrace"].Rules[0].Fallback)
}

func TestInvalidPolicies(t *testing.T) {
	t.Chdir(repoRoot)
	files, err := filepath.Glob("testdata/policies/invalid/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 8)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := wantLines(t, f)
			require.NotEmpty(t, want, "each invalid file documents its errors in # want: lines")
			p, err := LoadFile(f)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Equal(t, strings.Join(want, "\n"), err.Error())
		})
	}
}

func TestDuplicateNameAcrossFiles(t *testing.T) {
	t.Chdir(repoRoot)
	dir := "testdata/policies/invalid/duplicate-name"
	pols, errs := LoadPaths([]string{dir})
	require.Len(t, pols, 1)
	assert.Equal(t, dir+"/a.yaml", pols[0].Source, "the first file keeps working")
	require.Len(t, errs, 1)
	assert.Equal(t, strings.Join(wantLines(t, dir+"/b.yaml"), "\n"), errs[0].Error())
}

// parse is ParseBytes with the test's name.
func parse(t *testing.T, src string) (*Policy, error) {
	t.Helper()
	return ParseBytes("p.yaml", []byte(strings.TrimLeft(src, "\n")))
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"empty", "", "p.yaml: empty policy file"},
		{"comments only", "# nothing\n", "p.yaml: empty policy file"},
		{"null", "~\n", "p.yaml:1: empty policy file"},
		{"not a mapping", "- a\n", "p.yaml:1: a policy must be a mapping with name and rules"},
		{"two documents", "name: a\nrules: [{event: bpf.load}]\n---\nname: b\n", "p.yaml:3: more than one YAML document; put one policy per file"},
		{"alias", "name: a\nrules:\n  - &r {event: bpf.load}\n  - *r\n", "p.yaml:3: YAML anchors, aliases and merge keys are not supported"},
		{"missing name", "rules: [{event: bpf.load}]\n", "p.yaml:1: name: required"},
		{"missing rules", "name: a\n", "p.yaml:1: rules: at least one rule is required"},
		{"rules not a list", "name: a\nrules: {event: bpf.load}\n", "p.yaml:2: rules: must be a list, not a mapping"},
		{"missing event", "name: a\nrules:\n  - action: post\n", "p.yaml:3: rules[0].event: required (one of " + eventList() + ")"},
		{"name too long", "name: " + strings.Repeat("a", 64) + "\nrules: [{event: bpf.load}]\n",
			"p.yaml:1: name: \"" + strings.Repeat("a", 64) + "\" must be 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit"},
		{"name trailing dash", "name: a-\nrules: [{event: bpf.load}]\n",
			"p.yaml:1: name: \"a-\" must be 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit"},
		{"unknown top key", "name: a\nfoo: 1\nrules: [{event: bpf.load}]\n", "p.yaml:2: foo: unknown key (allowed: name, mode, selector, lists, macros, rules)"},
		{"unknown selector key", "name: a\nselector:\n  user: [0]\nrules: [{event: bpf.load}]\n",
			"p.yaml:3: selector.user: unknown key (allowed: binaries, binary_prefixes, uids, containers, namespaces, pod_labels)"},
		{"selector not a mapping", "name: a\nselector: [x]\nrules: [{event: bpf.load}]\n", "p.yaml:2: selector: must be a mapping, not a list"},
		{"paths on network", "name: a\nrules:\n  - event: network.listen\n    paths: [/x]\n", "p.yaml:4: rules[0].paths: not allowed for event network.listen"},
		{"access on file.write", "name: a\nrules:\n  - event: file.write\n    access: [read]\n", "p.yaml:4: rules[0].access: not allowed for event file.write"},
		{"open_flags on file.write", "name: a\nrules:\n  - event: file.write\n    open_flags: [O_TRUNC]\n", "p.yaml:4: rules[0].open_flags: not allowed for event file.write"},
		{"unknown open flag", "name: a\nrules:\n  - event: file.open\n    open_flags: [O_TRUNK]\n", "p.yaml:4: rules[0].open_flags[0]: unknown open flag \"O_TRUNK\" (O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_TMPFILE, ...)"},
		{"name_suffixes on network", "name: a\nrules:\n  - event: network.connect\n    name_suffixes: [.so]\n", "p.yaml:4: rules[0].name_suffixes: not allowed for event network.connect"},
		{"suffix with a directory", "name: a\nrules:\n  - event: file.open\n    name_suffixes: [a/b]\n", "p.yaml:4: rules[0].name_suffixes[0]: \"a/b\": a suffix of the file name holds no \"/\" (but as its first byte: \"/NAME\" is the name exactly)"},
		{"suffix /", "name: a\nrules:\n  - event: file.open\n    name_suffixes: [/]\n", "p.yaml:4: rules[0].name_suffixes[0]: \"/\": a file's path never ends with \"/\""},
		{"suffix too long", "name: a\nrules:\n  - event: file.open\n    name_suffixes: [" + strings.Repeat("x", 65) + "]\n", "p.yaml:4: rules[0].name_suffixes[0]: \"" + strings.Repeat("x", 65) + "\" is 65 bytes, at most 64"},
		{"empty substring", "name: a\nrules:\n  - event: file.open\n    name_contains: [\"\"]\n", "p.yaml:4: rules[0].name_contains[0]: must not be empty"},
		{"substring too long", "name: a\nrules:\n  - event: file.open\n    raw_contains: [/proc/self]\n", "p.yaml:4: rules[0].raw_contains[0]: \"/proc/self\" is 10 bytes, at most 8"},
		{"name substring with /", "name: a\nrules:\n  - event: file.open\n    name_contains: [a/]\n", "p.yaml:4: rules[0].name_contains[0]: \"a/\": a file name holds no \"/\""},
		{"raw_contains on write", "name: a\nrules:\n  - event: file.write\n    raw_contains: [../]\n", "p.yaml:4: rules[0].raw_contains: not allowed for event file.write"},
		{"too many substrings", "name: a\nrules:\n  - event: file.open\n    raw_contains: [a, b, c, d, e, f, g, h, i]\n", "p.yaml:4: rules[0].raw_contains: 9 values, at most 8 per rule"},
		{"raw_contains with deny", "name: a\nmode: enforce\nrules:\n  - event: file.open\n    paths: [/etc/]\n    raw_contains: [../]\n    action: deny\n", "p.yaml:6: rules[0].raw_contains: not allowed with action deny: the security hooks that deny never see the raw path"},
		{"access mode as open flag", "name: a\nrules:\n  - event: file.open\n    open_flags: [O_WRONLY]\n", "p.yaml:4: rules[0].open_flags[0]: O_WRONLY is an access mode, not a flag: use access (read, write)"},
		{"raw_path not a bool", "name: a\nrules:\n  - event: file.open\n    raw_path: yes\n", "p.yaml:4: rules[0].raw_path: must be true or false, not \"yes\""},
		{"failed_opens on unlink", "name: a\nrules:\n  - event: file.unlink\n    failed_opens: true\n", "p.yaml:4: rules[0].failed_opens: not allowed for event file.unlink"},
		{"bad access", "name: a\nrules:\n  - event: file.open\n    access: [exec]\n", "p.yaml:4: rules[0].access[0]: must be read or write, got \"exec\""},
		{"ports on exec", "name: a\nrules:\n  - event: process.exec\n    ports: [1]\n", "p.yaml:4: rules[0].ports: not allowed for event process.exec"},
		{"binaries on connect", "name: a\nrules:\n  - event: network.connect\n    binaries: [/bin/sh]\n", "p.yaml:4: rules[0].binaries: not allowed for event network.connect"},
		{"cidrs on ptrace", "name: a\nrules:\n  - event: process.ptrace\n    cidrs: [10.0.0.0/8]\n", "p.yaml:4: rules[0].cidrs: not allowed for event process.ptrace"},
		{"port zero", "name: a\nrules:\n  - event: network.connect\n    ports: [0]\n", "p.yaml:4: rules[0].ports[0]: port 0 out of range 1..65535"},
		{"port string", "name: a\nrules:\n  - event: network.connect\n    ports: [\"80\"]\n", "p.yaml:4: rules[0].ports[0]: port must be an integer from 1 to 65535, got \"80\""},
		{"port huge", "name: a\nrules:\n  - event: network.connect\n    ports: [99999999999999999999]\n",
			"p.yaml:4: rules[0].ports[0]: port must be an integer from 1 to 65535, got \"99999999999999999999\""},
		{"duplicate port", "name: a\nrules:\n  - event: network.connect\n    ports: [80, 80]\n", "p.yaml:4: rules[0].ports[1]: duplicate port 80"},
		{"empty list", "name: a\nrules:\n  - event: file.open\n    paths: []\n", "p.yaml:4: rules[0].paths: must not be empty (leave the key out instead)"},
		{"scalar for list", "name: a\nrules:\n  - event: file.open\n    paths: /etc/shadow\n", "p.yaml:4: rules[0].paths: must be a list, not a scalar"},
		{"relative path", "name: a\nrules:\n  - event: file.open\n    paths: [etc]\n", "p.yaml:4: rules[0].paths[0]: must be an absolute path, got \"etc\""},
		{"unclean path", "name: a\nrules:\n  - event: file.open\n    paths: [/etc//ssh/]\n", "p.yaml:4: rules[0].paths[0]: must be a clean path: \"/etc/ssh/\", not \"/etc//ssh/\""},
		{"long path", "name: a\nrules:\n  - event: file.open\n    paths: [/" + strings.Repeat("a", 255) + "]\n",
			"p.yaml:4: rules[0].paths[0]: is 256 bytes long; at most 255 fit the kernel's path keys"},
		{"exec binary dir", "name: a\nrules:\n  - event: process.exec\n    binaries: [/usr/bin/]\n", "p.yaml:4: rules[0].binaries[0]: must be a file, not a directory, got \"/usr/bin/\""},
		{"bad action", "name: a\nrules:\n  - event: bpf.load\n    action: block\n", "p.yaml:4: rules[0].action: must be post, count, deny or kill, got \"block\""},
		{"bad fallback", "name: a\nrules:\n  - event: bpf.load\n    action: deny\n    fallback: post\n", "p.yaml:5: rules[0].fallback: must be kill, got \"post\""},
		{"bad severity", "name: a\nrules:\n  - event: bpf.load\n    severity: critical\n", "p.yaml:4: rules[0].severity: must be debug, info, warn, error or fatal, got \"critical\""},
		{"duplicate rule name", "name: a\nrules:\n  - event: bpf.load\n  - name: bpf.load-0\n    event: bpf.load\n",
			"p.yaml:4: rules[1].name: duplicate rule name \"bpf.load-0\" (also rules[0])"},
		{"bad rule name", "name: a\nrules:\n  - name: Shadow\n    event: bpf.load\n",
			"p.yaml:3: rules[0].name: \"Shadow\" must be 1 to 63 lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit"},
		{"bad containers", "name: a\nselector: {containers: maybe}\nrules: [{event: bpf.load}]\n", "p.yaml:2: selector.containers: must be any, only or none, got \"maybe\""},
		{"bad namespace", "name: a\nselector: {namespaces: [Prod]}\nrules: [{event: bpf.load}]\n", "p.yaml:2: selector.namespaces[0]: \"Prod\" is not a valid Kubernetes namespace name"},
		{"bad label", "name: a\nselector:\n  pod_labels: {\"-x\": y, \"a/b/c\": d}\nrules: [{event: bpf.load}]\n",
			"p.yaml:3: selector.pod_labels.-x: invalid label name \"-x\": at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit\n" +
				"p.yaml:3: selector.pod_labels.a/b/c: invalid label prefix \"a/b\": must be a DNS subdomain"},
		{"bad label value", "name: a\nselector:\n  pod_labels: {app: \"web server\"}\nrules: [{event: bpf.load}]\n",
			"p.yaml:3: selector.pod_labels.app: invalid label value \"web server\": at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"},
		{"uid out of range", "name: a\nselector: {uids: [-1]}\nrules: [{event: bpf.load}]\n", "p.yaml:2: selector.uids[0]: uid -1 out of range 0..4294967294"},
		{"exact binary in prefixes", "name: a\nselector: {binaries: [/usr/bin/]}\nrules: [{event: bpf.load}]\n",
			"p.yaml:2: selector.binaries[0]: must be a file, not a directory, got \"/usr/bin/\""},
		{"unknown key does not cascade", "name: a\nrules:\n  - evnt: file.open\n",
			"p.yaml:3: rules[0].evnt: unknown key (allowed: name, event, paths, access, open_flags, raw_path, failed_opens, name_suffixes, name_contains, raw_contains, cidrs, ports, binaries, exe_flags, process_names, parent_names, ancestor_names, ancestor_depth, tty, capabilities, condition, exceptions, output, action, fallback, severity)\n" +
				"p.yaml:3: rules[0].event: required (one of " + eventList() + ")"},
		{"ancestor depth out of range", "name: a\nrules:\n  - event: file.open\n    ancestor_names: [nginx]\n    ancestor_depth: 9\n",
			"p.yaml:5: rules[0].ancestor_depth: depth 9 out of range 1..8"},
		{"ancestor depth without names", "name: a\nrules:\n  - event: file.open\n    ancestor_depth: 2\n",
			"p.yaml:4: rules[0].ancestor_depth: needs ancestor_names"},
		{"ancestor name too long", "name: a\nrules:\n  - event: file.open\n    ancestor_names: [a_very_long_process_name]\n",
			"p.yaml:4: rules[0].ancestor_names[0]: \"a_very_long_process_name\" is 24 bytes long; the kernel keeps the first 15 bytes of a process name (write \"a_very_long_pro\")"},
		{"bad type does not cascade", "name: a\nrules:\n  - event: [file.open]\n", "p.yaml:3: rules[0].event: must be a string, not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parse(t, tt.src)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestRuleLimit(t *testing.T) {
	src := "name: many\nrules:\n" + strings.Repeat("  - event: bpf.load\n", MaxRules)
	_, err := parse(t, src)
	require.NoError(t, err)
	_, err = parse(t, src+"  - event: bpf.load\n")
	require.EqualError(t, err, "p.yaml:2: rules: 33 rules; at most 32 fit in one policy")
}

func TestErrorTypes(t *testing.T) {
	_, err := parse(t, "name: A\nmode: x\nrules: [{event: bpf.load}]\n")
	require.Error(t, err)
	var perr *Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, &Error{File: "p.yaml", Line: 1, Key: "name", Reason: perr.Reason}, perr)
	assert.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 2)
}

func TestDefaultsAndSeverities(t *testing.T) {
	p, err := parse(t, `
name: defaults
rules:
  - event: bpf.load
  - event: bpf.load
    action: count
  - event: bpf.load
    action: deny
  - event: bpf.load
    action: kill
  - event: bpf.load
    action: kill
    severity: debug
`)
	require.NoError(t, err)
	assert.Equal(t, ModeMonitor, p.Mode)
	assert.Equal(t, ContainersAny, p.Selector.Containers)
	want := []struct {
		name string
		act  Action
		sev  Severity
	}{
		{"bpf.load-0", ActionPost, SeverityInfo},
		{"bpf.load-1", ActionCount, SeverityInfo},
		{"bpf.load-2", ActionDeny, SeverityWarn},
		{"bpf.load-3", ActionKill, SeverityError},
		{"bpf.load-4", ActionKill, SeverityDebug},
	}
	for i, w := range want {
		assert.Equal(t, w.name, p.Rules[i].Name)
		assert.Equal(t, w.act, p.Rules[i].Action)
		assert.Equal(t, w.act, p.Rules[i].EffectiveAction)
		assert.Equal(t, w.sev, p.Rules[i].Severity)
	}
}

func TestFullFormat(t *testing.T) {
	p, err := parse(t, `
name: full
mode: enforce
selector:
  binaries: [/usr/bin/cat]
  binary_prefixes: [/usr/local/bin/, /]
  uids: [0, 1000]
  containers: only
  namespaces: [prod, kube-system]
  pod_labels: {app: web, app.kubernetes.io/name: shop, empty: ""}
rules:
  - event: network.accept
    cidrs: ["::/0", 0.0.0.0/0, "::ffff:10.0.0.0/104"]
    ports: [0x50, 8_080]
  - event: file.rename
    paths: [/etc/]
`)
	require.NoError(t, err)
	assert.Equal(t, Selector{
		Binaries:       []string{"/usr/bin/cat"},
		BinaryPrefixes: []string{"/usr/local/bin/", "/"},
		UIDs:           []uint32{0, 1000},
		Containers:     ContainersOnly,
		Namespaces:     []string{"prod", "kube-system"},
		PodLabels:      map[string]string{"app": "web", "app.kubernetes.io/name": "shop", "empty": ""},
	}, p.Selector)
	assert.Equal(t, []uint16{80, 8080}, p.Rules[0].Ports)
	assert.Len(t, p.Rules[0].CIDRs, 3)
}

// roundTrip marshals p and parses it again.
func roundTrip(t *testing.T, p *Policy) *Policy {
	t.Helper()
	out, err := yaml.Marshal(p)
	require.NoError(t, err)
	q, err := ParseBytes(p.Source, out)
	require.NoError(t, err, "%s", out)
	return q
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Chdir(repoRoot)
	pols, errs := LoadPaths([]string{"testdata/policies"})
	require.Empty(t, errs)
	for _, p := range pols {
		q := roundTrip(t, p)
		p.lines, q.lines = nil, nil
		p.src, q.src = nil, nil
		// Compiled conditions hold functions; their sources are compared.
		p.Rules, q.Rules = withoutCond(p.Rules), withoutCond(q.Rules)
		assert.Equal(t, p, q)
	}
}

func TestValidateInCode(t *testing.T) {
	p := &Policy{Name: "code", Rules: []Rule{{Event: EventFileOpen, Paths: []string{"/etc/"}}}}
	p.SetDefaults()
	require.NoError(t, p.Validate())
	p.Rules[0].CIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	require.EqualError(t, p.Validate(), ": rules[0].cidrs: not allowed for event file.open")
	p.Source = "code.yaml"
	require.EqualError(t, p.Validate(), "code.yaml: rules[0].cidrs: not allowed for event file.open")
}
