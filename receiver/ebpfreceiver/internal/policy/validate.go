package policy

import (
	"fmt"
	"maps"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/catalog"
)

var (
	// policyNameRe is a DNS label: policy names appear in metric labels and
	// Kubernetes-style tooling.
	policyNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// ruleNameRe also allows dots and underscores so that the default
	// "<event>-<index>" names are valid.
	ruleNameRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)
	// namespaceRe is a Kubernetes namespace name (DNS label).
	namespaceRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// labelNameRe is the name part of a Kubernetes label key, and the shape
	// of a non-empty label value.
	labelNameRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)
	// dnsSubdomainRe is the optional prefix of a Kubernetes label key.
	dnsSubdomainRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

// SetDefaults fills in the defaults of unset fields: mode monitor,
// containers any, rule names "<event>-<index>", action post, severity by
// action (see DefaultSeverity), and EffectiveAction = Action. ParseBytes
// calls it; call it on policies built in code before Validate.
func (p *Policy) SetDefaults() {
	if p.Mode == "" {
		p.Mode = ModeMonitor
	}
	if p.Selector.Containers == "" {
		p.Selector.Containers = ContainersAny
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Name == "" {
			if r.Event.Valid() {
				r.Name = fmt.Sprintf("%s-%d", r.Event, i)
			} else {
				r.Name = fmt.Sprintf("rule-%d", i)
			}
		}
		if r.Action == "" {
			r.Action = ActionPost
		}
		if r.Severity == "" {
			r.Severity = DefaultSeverity(r.Action)
		}
		if r.EffectiveAction == "" {
			r.EffectiveAction = r.Action
		}
	}
}

// Validate checks a policy with its defaults applied (see SetDefaults). The
// error joins one *Error per problem.
func (p *Policy) Validate() error {
	if errs := p.validate(nil); len(errs) > 0 {
		return joinErrors(errs)
	}
	return nil
}

// line returns the line of key, or of its nearest ancestor that has one.
func (p *Policy) line(key string) int {
	for {
		if l, ok := p.lines[key]; ok {
			return l
		}
		if key == "" {
			return 0
		}
		key = parentKey(key)
	}
}

// parentKey strips the last component of a key path:
// "rules[0].paths[1]" -> "rules[0].paths" -> "rules[0]" -> "rules" -> "".
func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

type validator struct {
	p    *Policy
	skip map[string]bool
	errs []*Error
}

func (v *validator) errorf(key, format string, args ...any) {
	for k := key; ; k = parentKey(k) {
		if v.skip[k] {
			return
		}
		if k == "" {
			break
		}
	}
	v.errs = append(v.errs, &Error{File: v.p.Source, Line: v.p.line(key), Key: key, Reason: fmt.Sprintf(format, args...)})
}

func (p *Policy) validate(skip map[string]bool) []*Error {
	v := &validator{p: p, skip: skip}
	switch {
	case p.Name == "":
		v.errorf("name", "required")
	case !policyNameRe.MatchString(p.Name):
		v.errorf("name", "%q must be 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit", p.Name)
	}
	switch p.Mode {
	case ModeMonitor, ModeEnforce:
	default:
		v.errorf("mode", "must be monitor or enforce, got %q", p.Mode)
	}
	v.selector(&p.Selector)
	switch {
	case len(p.Rules) == 0:
		v.errorf("rules", "at least one rule is required")
	case len(p.Rules) > MaxRules:
		v.errorf("rules", "%d rules; at most %d fit in one policy", len(p.Rules), MaxRules)
	}
	names := map[string]int{}
	for i := range p.Rules {
		key := "rules[" + strconv.Itoa(i) + "]"
		r := &p.Rules[i]
		if j, dup := names[r.Name]; dup && r.Name != "" {
			v.errorf(key+".name", "duplicate rule name %q (also rules[%d])", r.Name, j)
		} else {
			names[r.Name] = i
		}
		v.rule(r, key)
	}
	return v.errs
}

// pathKind says what a path list accepts.
type pathKind int

const (
	pathFileOrDir pathKind = iota // trailing "/" = directory prefix
	pathFile                      // exact file only
	pathDir                       // directory prefix only
)

// pathProblem returns why p is not acceptable, or "".
func pathProblem(p string, kind pathKind) string {
	switch {
	case p == "":
		return "must not be empty"
	case strings.IndexByte(p, 0) >= 0:
		return "must not contain NUL bytes"
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("must be an absolute path, got %q", p)
	case len(p) > MaxPathLen:
		return fmt.Sprintf("is %d bytes long; at most %d fit the kernel's path keys", len(p), MaxPathLen)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return fmt.Sprintf("must not contain .., got %q", p)
		}
	}
	dir := strings.HasSuffix(p, "/")
	want := path.Clean(p)
	if dir && want != "/" {
		want += "/"
	}
	if want != p {
		return fmt.Sprintf("must be a clean path: %q, not %q", want, p)
	}
	switch {
	case kind == pathFile && dir:
		return fmt.Sprintf("must be a file, not a directory, got %q", p)
	case kind == pathDir && !dir:
		return fmt.Sprintf("must be a directory ending in /, got %q", p)
	}
	return ""
}

func (v *validator) paths(key string, list []string, kind pathKind) {
	seen := map[string]bool{}
	for i, p := range list {
		ik := key + "[" + strconv.Itoa(i) + "]"
		if prob := pathProblem(p, kind); prob != "" {
			v.errorf(ik, "%s", prob)
			continue
		}
		if seen[p] {
			v.errorf(ik, "duplicate %q", p)
		}
		seen[p] = true
	}
}

// patterns checks a list of name_suffixes, name_contains or raw_contains
// values: at most max of them, each 1 to maxLen bytes without NUL, no
// duplicates, and what problem adds.
func (v *validator) patterns(key string, list []string, max, maxLen int, problem func(string) string) {
	if len(list) > max {
		v.errorf(key, "%d values, at most %d per rule", len(list), max)
		return
	}
	seen := map[string]bool{}
	for i, p := range list {
		ik := key + "[" + strconv.Itoa(i) + "]"
		switch {
		case p == "":
			v.errorf(ik, "must not be empty")
		case len(p) > maxLen:
			v.errorf(ik, "%q is %d bytes, at most %d", p, len(p), maxLen)
		case strings.ContainsRune(p, 0):
			v.errorf(ik, "must not contain a NUL byte")
		case problem(p) != "":
			v.errorf(ik, "%q: %s", p, problem(p))
		case seen[p]:
			v.errorf(ik, "duplicate %q", p)
		}
		seen[p] = true
	}
}

// suffixProblem: a name suffix ends the final path component, so it holds
// no "/" but as its first byte (the one before the name), and is more than "/".
func suffixProblem(p string) string {
	switch {
	case p == "/":
		return "a file's path never ends with \"/\""
	case strings.Contains(p[1:], "/"):
		return "a suffix of the file name holds no \"/\" (but as its first byte: \"/NAME\" is the name exactly)"
	}
	return ""
}

func (v *validator) selector(s *Selector) {
	const key = "selector"
	v.paths(key+".binaries", s.Binaries, pathFile)
	v.paths(key+".binary_prefixes", s.BinaryPrefixes, pathDir)
	seenUID := map[uint32]bool{}
	for i, u := range s.UIDs {
		ik := key + ".uids[" + strconv.Itoa(i) + "]"
		if u == math.MaxUint32 {
			v.errorf(ik, "uid %d is not a valid user id", u)
		} else if seenUID[u] {
			v.errorf(ik, "duplicate uid %d", u)
		}
		seenUID[u] = true
	}
	switch s.Containers {
	case ContainersAny, ContainersOnly, ContainersNone:
	default:
		v.errorf(key+".containers", "must be any, only or none, got %q", s.Containers)
	}
	seenNS := map[string]bool{}
	for i, ns := range s.Namespaces {
		ik := key + ".namespaces[" + strconv.Itoa(i) + "]"
		switch {
		case !namespaceRe.MatchString(ns):
			v.errorf(ik, "%q is not a valid Kubernetes namespace name", ns)
		case seenNS[ns]:
			v.errorf(ik, "duplicate namespace %q", ns)
		}
		seenNS[ns] = true
	}
	for _, k := range slices.Sorted(maps.Keys(s.PodLabels)) {
		lk := key + ".pod_labels." + k
		if prob := labelKeyProblem(k); prob != "" {
			v.errorf(lk, "%s", prob)
		}
		if val := s.PodLabels[k]; val != "" && !labelNameRe.MatchString(val) {
			v.errorf(lk, "invalid label value %q: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit", val)
		}
	}
	if s.Containers == ContainersNone {
		if len(s.Namespaces) > 0 {
			v.errorf(key+".namespaces", "can never match with containers: none (pods run in containers)")
		}
		if len(s.PodLabels) > 0 {
			v.errorf(key+".pod_labels", "can never match with containers: none (pods run in containers)")
		}
	}
}

func labelKeyProblem(k string) string {
	name := k
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		prefix := k[:i]
		name = k[i+1:]
		if len(prefix) > 253 || !dnsSubdomainRe.MatchString(prefix) {
			return fmt.Sprintf("invalid label prefix %q: must be a DNS subdomain", prefix)
		}
	}
	if !labelNameRe.MatchString(name) {
		return fmt.Sprintf("invalid label name %q: at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit", name)
	}
	return ""
}

func eventList() string {
	evs := Events()
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func (v *validator) rule(r *Rule, key string) {
	switch {
	case r.Name == "":
		v.errorf(key+".name", "required")
	case !ruleNameRe.MatchString(r.Name):
		v.errorf(key+".name", "%q must be 1 to 63 lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit", r.Name)
	}
	evOK := r.Event.Valid()
	switch {
	case r.Event == "":
		v.errorf(key+".event", "required (one of %s)", eventList())
	case !evOK:
		v.errorf(key+".event", "unknown event %q (one of %s)", r.Event, eventList())
	}
	// notFor reports a filter key the event does not support.
	notFor := func(field string, set bool, ok bool) bool {
		if set && evOK && !ok {
			v.errorf(key+"."+field, "not allowed for event %s", r.Event)
			return true
		}
		return false
	}
	if !notFor("paths", len(r.Paths) > 0, r.Event.allows(catalog.FilterPaths)) {
		v.paths(key+".paths", r.Paths, pathFileOrDir)
	}
	if !notFor("access", len(r.Access) > 0, r.Event.allows(catalog.FilterAccess)) {
		seen := map[Access]bool{}
		for i, a := range r.Access {
			ik := key + ".access[" + strconv.Itoa(i) + "]"
			switch {
			case a != AccessRead && a != AccessWrite:
				v.errorf(ik, "must be read or write, got %q", a)
			case seen[a]:
				v.errorf(ik, "duplicate %q", a)
			}
			seen[a] = true
		}
	}
	isOpen := r.Event == EventFileOpen
	if !notFor("open_flags", len(r.OpenFlags) > 0, isOpen) {
		seen := map[string]bool{}
		for i, f := range r.OpenFlags {
			ik := key + ".open_flags[" + strconv.Itoa(i) + "]"
			switch _, ok := OpenFlagBits[f]; {
			case f == "O_RDONLY" || f == "O_WRONLY" || f == "O_RDWR":
				v.errorf(ik, "%s is an access mode, not a flag: use access (read, write)", f)
			case !ok:
				v.errorf(ik, "unknown open flag %q (O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_TMPFILE, ...)", f)
			case seen[f]:
				v.errorf(ik, "duplicate %q", f)
			}
			seen[f] = true
		}
	}
	if !notFor("name_suffixes", len(r.NameSuffixes) > 0, r.Event.allows(catalog.FilterPaths)) {
		v.patterns(key+".name_suffixes", r.NameSuffixes, MaxNameSuffixes, MaxSuffixLen, suffixProblem)
	}
	if !notFor("name_contains", len(r.NameContains) > 0, r.Event.allows(catalog.FilterPaths)) {
		v.patterns(key+".name_contains", r.NameContains, MaxSubstrs, MaxSubstrLen, func(p string) string {
			if strings.Contains(p, "/") {
				return "a file name holds no \"/\""
			}
			return ""
		})
	}
	if !notFor("raw_contains", len(r.RawContains) > 0, isOpen) {
		v.patterns(key+".raw_contains", r.RawContains, MaxSubstrs, MaxSubstrLen, func(string) string { return "" })
	}
	if r.Action == ActionDeny {
		// Both fail closed where they cannot be told (a raw path the security
		// hook does not see, a name longer than the kernel reads): a deny
		// would refuse those opens.
		if len(r.RawContains) > 0 {
			v.errorf(key+".raw_contains", "not allowed with action deny: the security hooks that deny never see the raw path")
		}
		if len(r.NameContains) > 0 {
			v.errorf(key+".name_contains", "not allowed with action deny: a name longer than the kernel reads passes it (fail closed)")
		}
	}
	notFor("raw_path", r.RawPath, isOpen)
	notFor("failed_opens", r.FailedOpens, isOpen)
	if r.FailedOpens && r.Action == ActionDeny {
		v.errorf(key+".failed_opens", "a failed open has nothing to deny")
	}
	if !notFor("cidrs", len(r.CIDRs) > 0, r.Event.allows(catalog.FilterCIDRs)) {
		seen := map[string]bool{}
		for i, c := range r.CIDRs {
			ik := key + ".cidrs[" + strconv.Itoa(i) + "]"
			switch {
			case !c.IsValid():
				v.errorf(ik, "invalid CIDR")
			case c.Masked() != c:
				v.errorf(ik, "%s has host bits set; did you mean %s?", c, c.Masked())
			case seen[c.String()]:
				v.errorf(ik, "duplicate %s", c)
			}
			seen[c.String()] = true
		}
	}
	if !notFor("ports", len(r.Ports) > 0, r.Event.allows(catalog.FilterPorts)) {
		seen := map[uint16]bool{}
		for i, p := range r.Ports {
			ik := key + ".ports[" + strconv.Itoa(i) + "]"
			switch {
			case p == 0:
				v.errorf(ik, "port 0 out of range 1..65535")
			case seen[p]:
				v.errorf(ik, "duplicate port %d", p)
			}
			seen[p] = true
		}
	}
	if !notFor("binaries", len(r.Binaries) > 0, r.Event.allows(catalog.FilterBinaries)) {
		v.paths(key+".binaries", r.Binaries, pathFile)
	}
	if !notFor("exe_flags", len(r.ExeFlags) > 0, r.Event.allows(catalog.FilterExeFlags)) {
		seen := map[ExeFlag]bool{}
		for i, f := range r.ExeFlags {
			ik := key + ".exe_flags[" + strconv.Itoa(i) + "]"
			switch {
			case !f.Valid():
				v.errorf(ik, "must be one of memfd, upper_layer, setuid, setgid, got %q", f)
			case seen[f]:
				v.errorf(ik, "duplicate flag %s", f)
			}
			seen[f] = true
		}
	}
	v.names(key+".process_names", r.ProcessNames)
	v.names(key+".parent_names", r.ParentNames)
	v.names(key+".ancestor_names", r.AncestorNames)
	switch {
	case r.AncestorDepth < 0 || r.AncestorDepth > MaxAncestorDepth:
		v.errorf(key+".ancestor_depth", "must be 1 to %d (generations the kernel reads up the process tree), got %d", MaxAncestorDepth, r.AncestorDepth)
	case r.AncestorDepth != 0 && len(r.AncestorNames) == 0:
		v.errorf(key+".ancestor_depth", "needs ancestor_names")
	}
	seenCap := map[int]bool{}
	for i, c := range r.Capabilities {
		ik := key + ".capabilities[" + strconv.Itoa(i) + "]"
		n, ok := CapNumber(c)
		switch {
		case !ok:
			v.errorf(ik, "unknown capability %q (CAP_SYS_ADMIN, CAP_NET_RAW, ...)", c)
		case seenCap[n]:
			v.errorf(ik, "duplicate %s", c)
		}
		seenCap[n] = true
	}
	if r.Event == EventProcessExec && r.Action == ActionDeny {
		// The exec security hook decides before the new image has a name or capabilities.
		if len(r.ProcessNames) > 0 {
			v.errorf(key+".process_names", "a process.exec deny is decided before the new program has its name: use binaries, or kill")
		}
		if len(r.Capabilities) > 0 {
			v.errorf(key+".capabilities", "a process.exec deny is decided before the new program has its capabilities: use kill")
		}
	}
	actOK := true
	switch r.Action {
	case ActionPost, ActionCount, ActionDeny, ActionKill:
	default:
		actOK = false
		v.errorf(key+".action", "must be post, count, deny or kill, got %q", r.Action)
	}
	if r.Fallback != "" {
		switch {
		case r.Fallback != ActionKill:
			v.errorf(key+".fallback", "must be kill, got %q", r.Fallback)
		case actOK && r.Action != ActionDeny:
			v.errorf(key+".fallback", "only allowed with action deny")
		}
	}
	switch r.Severity {
	case SeverityDebug, SeverityInfo, SeverityWarn, SeverityError, SeverityFatal:
	default:
		v.errorf(key+".severity", "must be debug, info, warn, error or fatal, got %q", r.Severity)
	}
	switch r.EffectiveAction {
	case r.Action:
	case r.Fallback:
		if r.Fallback == "" {
			v.errorf(key+".action", "effective action is unset")
		}
	default:
		v.errorf(key+".action", "effective action %q is neither the action nor the fallback", r.EffectiveAction)
	}
}

// ErrorAt returns an error about key (such as "rules[2].event") in this policy's
// file, at the key's line: for checks made outside this package, such as what
// this version's sensors implement.
func (p *Policy) ErrorAt(key, format string, args ...any) *Error {
	return &Error{File: p.Source, Line: p.line(key), Key: key, Reason: fmt.Sprintf(format, args...)}
}

// MaxNames is the most process or parent names one rule may list.
const MaxNames = 256

// names checks a rule's process_names or parent_names: names of 1 to CommLen
// bytes (the kernel keeps no more of a name), without NUL, no duplicates.
func (v *validator) names(key string, names []string) {
	if len(names) > MaxNames {
		v.errorf(key, "%d names; at most %d fit one rule", len(names), MaxNames)
		return
	}
	seen := map[string]bool{}
	for i, n := range names {
		ik := key + "[" + strconv.Itoa(i) + "]"
		switch {
		case n == "":
			v.errorf(ik, "empty name")
		case len(n) > CommLen:
			v.errorf(ik, "%q is %d bytes long; the kernel keeps the first %d bytes of a process name (write %q)", n, len(n), CommLen, n[:CommLen])
		case strings.IndexByte(n, 0) >= 0:
			v.errorf(ik, "a name cannot hold a NUL byte")
		case seen[n]:
			v.errorf(ik, "duplicate %q", n)
		}
		seen[n] = true
	}
}
