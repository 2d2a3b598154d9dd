package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy/tetragon"
)

// FileResult is the outcome of loading one policy file.
type FileResult struct {
	// Path is the file as found (a configured file, or directory/name).
	Path string
	// Policy is the policy in effect for this file, nil if none: the one
	// just parsed, or, when Stale, the last good version.
	Policy *Policy
	// Err is what is wrong with the file, nil when it loaded.
	Err error
	// Stale is true when Err is set but the last good version of the file's
	// policy keeps running.
	Stale bool
	// Rules holds the file's contents when it is a rules file (its YAML top
	// level is a list, as a Falco rules file's is) rather than a policy: the
	// receiver loads it with the rule engine. Policy is nil then.
	Rules []byte
	// Notes say what converting a Tetragon TracingPolicy ignored, or where the
	// converted policy reports more or less than Tetragon would.
	Notes []string
}

// Set is a snapshot of the loaded policies.
type Set struct {
	// Policies are the policies to run, in file order: those that loaded and
	// the last good versions of those whose file became invalid. Treat them
	// as read-only; a later Set may share them.
	Policies []*Policy
	// Files has one entry per file or unusable path, in load order.
	Files []FileResult
	// Err holds problems not tied to one file, such as a failing watch.
	Err error
}

// Errors returns every error in the set: one per failing file, then Err.
func (s Set) Errors() []error {
	var out []error
	for _, f := range s.Files {
		if f.Err != nil {
			out = append(out, f.Err)
		}
	}
	if s.Err != nil {
		out = append(out, s.Err)
	}
	return out
}

// LoadPaths loads policy files and directories (their *.yaml and *.yml
// files, sorted by name, not recursively, hidden files skipped). A policy
// whose name an earlier file already uses is rejected, as is every policy
// beyond MaxPolicies. errs holds one error per failing file or path.
// Capabilities are not checked; see Load.
func LoadPaths(paths []string) (policies []*Policy, errs []error) {
	s := (&loader{}).load(paths)
	return s.Policies, s.Errors()
}

// Load is LoadPaths plus CheckCapabilities on every policy, returning the
// whole snapshot. Conditions are not compiled: see LoadLinked.
func Load(paths []string, caps Capabilities) Set {
	return (&loader{caps: &caps}).load(paths)
}

// LoadLinked is Load with the rules' conditions compiled by linker, against
// the lists and macros of every file of the set.
func LoadLinked(paths []string, caps Capabilities, linker Linker) Set {
	return (&loader{caps: &caps, linker: linker}).load(paths)
}

// expand turns configured paths into policy files, and paths that cannot be
// used into failed results.
func expand(paths []string) (files []string, failed []FileResult) {
	seen := map[string]bool{}
	add := func(f string) {
		if c := filepath.Clean(f); !seen[c] {
			seen[c] = true
			files = append(files, f)
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			failed = append(failed, FileResult{Path: p, Err: &Error{File: p, Reason: readReason(err)}})
			continue
		}
		if !st.IsDir() {
			add(p)
			continue
		}
		entries, err := os.ReadDir(p) // sorted by name
		if err != nil {
			failed = append(failed, FileResult{Path: p, Err: &Error{File: p, Reason: readReason(err)}})
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || (filepath.Ext(name) != ".yaml" && filepath.Ext(name) != ".yml") {
				continue
			}
			full := filepath.Join(p, name)
			// Stat, not e.Type(): ConfigMap volumes hold symlinks to files.
			if fst, err := os.Stat(full); err == nil && fst.IsDir() {
				continue
			}
			add(full)
		}
	}
	return files, failed
}

// loader loads policy sets and remembers, per file, the last good policy so
// that a bad edit does not remove a running policy.
type loader struct {
	caps   *Capabilities
	linker Linker
	good   map[string]*Policy
}

func (l *loader) load(paths []string) Set {
	files, failed := expand(paths)
	res := make([]FileResult, len(files))
	parsed := make([]*Policy, len(files))
	perr := make([]error, len(files))
	var rulesFiles []FileResult
	for i, f := range files {
		res[i].Path = f
		data, err := ReadFile(f)
		if err == nil && IsRulesFile(data) {
			res[i].Rules = data
			rulesFiles = append(rulesFiles, res[i])
			continue
		}
		if err == nil {
			if tetragon.IsTracingPolicy(data) {
				parsed[i], res[i].Notes, err = ParseTracingPolicy(f, data, tetragon.Options{})
			} else {
				parsed[i], err = parseOnly(f, data)
			}
		}
		perr[i] = err
	}
	// Conditions share one namespace of lists and macros (the rules files'
	// and every policy file's): the linker compiles them all at once.
	linkErrs := make([][]*Error, len(files))
	if l.linker != nil {
		var pols []*Policy
		var at []int
		for i, p := range parsed {
			if p != nil {
				pols, at = append(pols, p), append(at, i)
			}
		}
		for j, errs := range l.linker.Link(pols, rulesFiles) {
			if j < len(at) {
				linkErrs[at[j]] = errs
			}
		}
	}
	for i, f := range files {
		if res[i].Rules != nil {
			continue
		}
		p, err := parsed[i], perr[i]
		if err == nil && len(linkErrs[i]) > 0 {
			err = joinErrors(linkErrs[i])
		}
		if err == nil && l.caps != nil {
			err = p.CheckCapabilities(*l.caps)
		}
		if err != nil {
			res[i].Err = err
			if old := l.good[f]; old != nil {
				res[i].Policy, res[i].Stale = old, true
			}
			continue
		}
		res[i].Policy = p
	}

	// Names are claimed first by files that keep the name they had, so
	// that a new file reusing a running policy's name is the one rejected
	// whatever its place in the order; then in file order.
	order := make([]int, 0, len(res))
	for i, r := range res {
		if old := l.good[r.Path]; r.Policy != nil && old != nil && old.Name == r.Policy.Name {
			order = append(order, i)
		}
	}
	for i, r := range res {
		if old := l.good[r.Path]; r.Policy != nil && (old == nil || old.Name != r.Policy.Name) {
			order = append(order, i)
		}
	}
	owner := map[string]string{}
	n := 0
	for _, i := range order {
		r := &res[i]
		claim := func(p *Policy) error {
			if other, taken := owner[p.Name]; taken {
				return &Error{File: r.Path, Line: p.line("name"), Key: "name",
					Reason: fmt.Sprintf("duplicate policy name %q, already loaded from %s", p.Name, other)}
			}
			if n >= MaxPolicies {
				return &Error{File: r.Path, Line: p.line("name"), Key: "name",
					Reason: fmt.Sprintf("too many policies: at most %d can be loaded at once", MaxPolicies)}
			}
			owner[p.Name] = r.Path
			n++
			return nil
		}
		err := claim(r.Policy)
		if err == nil {
			continue
		}
		r.Err = errors.Join(r.Err, err)
		wasStale := r.Stale
		r.Policy, r.Stale = nil, false
		if old := l.good[r.Path]; old != nil && !wasStale && claim(old) == nil {
			r.Policy, r.Stale = old, true
		}
	}

	s := Set{}
	good := map[string]*Policy{}
	for _, r := range res {
		if r.Policy != nil {
			s.Policies = append(s.Policies, r.Policy)
			good[r.Path] = r.Policy
		}
	}
	l.good = good
	s.Files = append(failed, res...)
	return s
}

// IsRulesFile reports whether data is a rules file (a YAML document whose top
// level is a list, as in Falco's format) rather than a policy (a mapping).
func IsRulesFile(data []byte) bool {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return false
	}
	return doc.Content[0].Kind == yaml.SequenceNode
}

// RulesFiles returns the rules files of the set, in load order.
func (s Set) RulesFiles() []FileResult {
	var out []FileResult
	for _, f := range s.Files {
		if f.Rules != nil {
			out = append(out, f)
		}
	}
	return out
}

// ParseTracingPolicy converts a Tetragon TracingPolicy (see package tetragon)
// and parses the result as a policy named after the TracingPolicy's
// metadata.name. Errors found in the converted policy point at the
// TracingPolicy's lines; their key is the converted policy's, marked as such.
func ParseTracingPolicy(name string, data []byte, opt tetragon.Options) (*Policy, []string, error) {
	res, err := tetragon.Convert(name, data, opt)
	if err != nil {
		return nil, nil, err
	}
	p, err := ParseBytes(name, res.YAML)
	if err != nil {
		var out []error
		for _, e := range unjoin(err) {
			if pe, ok := e.(*Error); ok {
				c := *pe
				c.Line = res.SourceLine(pe.Line)
				if strings.HasPrefix(c.Key, "rules") || strings.HasPrefix(c.Key, "selector") {
					c.Key = "converted " + c.Key
				}
				e = &c
			}
			out = append(out, e)
		}
		return nil, res.Notes, errors.Join(out...)
	}
	// Later checks (capabilities, what the sensors implement) report
	// against the TracingPolicy's lines too.
	for k, l := range p.lines {
		p.lines[k] = res.SourceLine(l)
	}
	return p, res.Notes, nil
}

// unjoin splits an errors.Join result.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
