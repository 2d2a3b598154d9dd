package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/receiver/ebpfreceiver/internal/policy/tetragon"
)

// MaxFileBytes bounds a policy file. The largest policy the kernel maps can hold
// (every path map full) is well below it; anything bigger is a mistake, and
// parsing it would stall loading and grow the collector's heap.
const MaxFileBytes = 1 << 20

// LoadFile reads and parses one policy file (a Tetragon TracingPolicy is
// converted, see ParseTracingPolicy). Errors name the file as given.
func LoadFile(path string) (*Policy, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	if tetragon.IsTracingPolicy(data) {
		p, _, err := ParseTracingPolicy(path, data, tetragon.Options{})
		return p, err
	}
	return ParseBytes(path, data)
}

// ReadFile reads a policy file: only a regular file (a FIFO, device or socket
// would block or never end), at most MaxFileBytes. Errors are *Error naming the
// file.
func ReadFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &Error{File: path, Reason: readReason(err)}
	}
	if !st.Mode().IsRegular() {
		return nil, &Error{File: path, Reason: fmt.Sprintf("is not a regular file (%s); policies are read only from regular files", fileKind(st.Mode()))}
	}
	if st.Size() > MaxFileBytes {
		return nil, &Error{File: path, Reason: fmt.Sprintf("is %d bytes; a policy file may hold at most %d", st.Size(), MaxFileBytes)}
	}
	// O_NONBLOCK: should the path be swapped for a FIFO after the check, the
	// open does not wait for a writer; the check on the open file catches it.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &Error{File: path, Reason: readReason(err)}
	}
	defer f.Close()
	if fst, err := f.Stat(); err != nil || !fst.Mode().IsRegular() {
		return nil, &Error{File: path, Reason: "is not a regular file; policies are read only from regular files"}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &Error{File: path, Reason: readReason(err)}
	}
	if len(data) > MaxFileBytes {
		return nil, &Error{File: path, Reason: fmt.Sprintf("grew past %d bytes while being read; a policy file may hold at most %d", MaxFileBytes, MaxFileBytes)}
	}
	return data, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return "not regular"
}

// readReason turns an I/O error into a reason without repeating the path.
func readReason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return "cannot " + pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// ParseBytes parses and validates one policy. A rule's condition,
// exceptions and output are parsed as keys only: compiling them needs the
// set's lists and macros and the rule engine (LoadLinked). name is used as the file name
// in errors and becomes Policy.Source. Defaults are applied and
// EffectiveAction is set to Action; call CheckCapabilities to adjust it to a
// kernel. The error, when not nil, joins one *Error per problem, by line.
func ParseBytes(name string, data []byte) (*Policy, error) {
	return parseOnly(name, data)
}

// parseOnly parses and validates one policy without compiling its conditions
// (that needs the lists and macros of the whole set: link).
func parseOnly(name string, data []byte) (*Policy, error) {
	d := &decoder{
		file: name,
		p:    &Policy{Source: name, lines: map[string]int{}, src: &sources{raw: strings.Split(string(data), "\n")}},
		bad:  map[string]bool{},
	}
	root, err := d.document(data)
	if err != nil {
		return nil, err
	}
	d.p.lines[""] = root.Line
	d.policy(root)
	d.p.SetDefaults()
	verrs := d.p.validate(d.bad)
	all := append(d.errs, verrs...)
	if len(all) > 0 {
		return nil, joinErrors(all)
	}
	return d.p, nil
}

// joinErrors sorts errors by line (stable, so that problems found on one
// line keep their order) and joins them.
func joinErrors(errs []*Error) error {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError converts a yaml.v3 error into an *Error with a line.
func syntaxError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Reason: "invalid YAML: " + m[2]}
	}
	return &Error{File: file, Reason: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

type decoder struct {
	file string
	p    *Policy
	errs []*Error
	// bad holds keys whose value could not be decoded, so that validation
	// does not report follow-on errors for them.
	bad map[string]bool
}

func (d *decoder) errorf(line int, key, format string, args ...any) {
	d.bad[key] = true
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Reason: fmt.Sprintf(format, args...)})
}

// document parses data into exactly one YAML document and returns its root
// mapping.
func (d *decoder) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: d.file, Reason: "empty policy file"}
		}
		return nil, syntaxError(d.file, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, &Error{File: d.file, Line: extra.Line, Reason: "more than one YAML document; put one policy per file"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(d.file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Error{File: d.file, Reason: "empty policy file"}
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, &Error{File: d.file, Line: root.Line, Reason: "empty policy file"}
	}
	if line := findAlias(root); line > 0 {
		return nil, &Error{File: d.file, Line: line, Reason: "YAML anchors, aliases and merge keys are not supported"}
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: d.file, Line: root.Line, Reason: "a policy must be a mapping with name and rules"}
	}
	return root, nil
}

// findAlias returns the line of the first anchor or alias under n, or 0.
// Aliases are refused rather than followed: following them would let a small
// file expand exponentially.
func findAlias(n *yaml.Node) int {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return n.Line
	}
	for _, c := range n.Content {
		if l := findAlias(c); l > 0 {
			return l
		}
	}
	return 0
}

func childKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		if n.Tag == "!!null" {
			return "empty"
		}
		return "a scalar"
	}
}

// fields walks a mapping, calling set for each known key and reporting
// unknown and duplicate keys.
func (d *decoder) fields(n *yaml.Node, key string, known []string, set func(name, key string, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, key, "must be a mapping, not %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, key, "keys must be strings")
			continue
		}
		ck := childKey(key, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, ck, "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		if !contains(known, k.Value) {
			d.errorf(k.Line, ck, "unknown key (allowed: %s)", strings.Join(known, ", "))
			continue
		}
		d.p.lines[ck] = k.Line
		set(k.Value, ck, v)
	}
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (d *decoder) str(v *yaml.Node, key string) string {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		d.errorf(v.Line, key, "must be a string, not %s", kindName(v))
		return ""
	}
	return v.Value
}

func (d *decoder) boolean(v *yaml.Node, key string) bool {
	if v.Kind != yaml.ScalarNode {
		d.errorf(v.Line, key, "must be true or false, not %s", kindName(v))
		return false
	}
	if v.Value != "true" && v.Value != "false" {
		d.errorf(v.Line, key, "must be true or false, not %q", v.Value)
		return false
	}
	return v.Value == "true"
}

// seq checks that v is a non-empty list and calls item for each element.
func (d *decoder) seq(v *yaml.Node, key string, item func(i int, key string, n *yaml.Node)) {
	if v.Kind != yaml.SequenceNode {
		d.errorf(v.Line, key, "must be a list, not %s", kindName(v))
		return
	}
	if len(v.Content) == 0 {
		d.errorf(v.Line, key, "must not be empty (leave the key out instead)")
		return
	}
	for i, n := range v.Content {
		ik := key + "[" + strconv.Itoa(i) + "]"
		d.p.lines[ik] = n.Line
		item(i, ik, n)
	}
}

func (d *decoder) strs(v *yaml.Node, key string) []string {
	var out []string
	d.seq(v, key, func(_ int, ik string, n *yaml.Node) {
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			d.errorf(n.Line, ik, "must be a string, not %s", kindName(n))
			return
		}
		out = append(out, n.Value)
	})
	return out
}

// integer decodes an integer scalar within [lo, hi].
func (d *decoder) integer(n *yaml.Node, key, what string, lo, hi int64) (int64, bool) {
	var x int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&x) != nil {
		d.errorf(n.Line, key, "%s must be an integer from %d to %d, got %s", what, lo, hi, describe(n))
		return 0, false
	}
	if x < lo || x > hi {
		d.errorf(n.Line, key, "%s %d out of range %d..%d", what, x, lo, hi)
		return 0, false
	}
	return x, true
}

func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return strconv.Quote(n.Value)
	}
	return kindName(n)
}

var (
	policyKeys   = []string{"name", "mode", "selector", "lists", "macros", "rules"}
	selectorKeys = []string{"binaries", "binary_prefixes", "uids", "containers", "namespaces", "pod_labels"}
	ruleKeys     = []string{"name", "event", "paths", "access", "open_flags", "raw_path", "failed_opens", "name_suffixes", "name_contains", "raw_contains", "cidrs", "ports", "binaries", "exe_flags", "process_names", "parent_names", "ancestor_names", "ancestor_depth", "tty", "capabilities", "condition", "exceptions", "output", "action", "fallback", "severity"}
)

func (d *decoder) policy(root *yaml.Node) {
	p := d.p
	d.fields(root, "", policyKeys, func(name, key string, v *yaml.Node) {
		switch name {
		case "name":
			p.Name = d.str(v, key)
		case "mode":
			p.Mode = Mode(d.str(v, key))
		case "selector":
			d.selector(v, key)
		case "lists":
			d.lists(v, key)
		case "macros":
			d.macros(v, key)
		case "rules":
			if v.Kind != yaml.SequenceNode {
				d.errorf(v.Line, key, "must be a list, not %s", kindName(v))
				return
			}
			p.Rules = make([]Rule, len(v.Content))
			for i, n := range v.Content {
				rk := key + "[" + strconv.Itoa(i) + "]"
				p.lines[rk] = n.Line
				d.rule(&p.Rules[i], i, n, rk)
			}
		}
	})
}

func (d *decoder) selector(v *yaml.Node, key string) {
	s := &d.p.Selector
	d.fields(v, key, selectorKeys, func(name, key string, v *yaml.Node) {
		switch name {
		case "binaries":
			s.Binaries = d.strs(v, key)
		case "binary_prefixes":
			s.BinaryPrefixes = d.strs(v, key)
		case "uids":
			d.seq(v, key, func(_ int, ik string, n *yaml.Node) {
				if x, ok := d.integer(n, ik, "uid", 0, math.MaxUint32-1); ok {
					s.UIDs = append(s.UIDs, uint32(x))
				}
			})
		case "containers":
			s.Containers = Containers(d.str(v, key))
		case "namespaces":
			s.Namespaces = d.strs(v, key)
		case "pod_labels":
			if v.Kind != yaml.MappingNode {
				d.errorf(v.Line, key, "must be a mapping of label names to values, not %s", kindName(v))
				return
			}
			if len(v.Content) == 0 {
				d.errorf(v.Line, key, "must not be empty (leave the key out instead)")
				return
			}
			s.PodLabels = map[string]string{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, val := v.Content[i], v.Content[i+1]
				if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
					d.errorf(k.Line, key, "label names must be strings")
					continue
				}
				lk := childKey(key, k.Value)
				if _, dup := s.PodLabels[k.Value]; dup {
					d.errorf(k.Line, lk, "duplicate label (first at line %d)", d.p.lines[lk])
					continue
				}
				d.p.lines[lk] = k.Line
				if val.Kind != yaml.ScalarNode {
					d.errorf(val.Line, lk, "label value must be a string, not %s", kindName(val))
					continue
				}
				if val.Tag == "!!null" {
					s.PodLabels[k.Value] = ""
					continue
				}
				s.PodLabels[k.Value] = val.Value
			}
		}
	})
}

func (d *decoder) rule(r *Rule, i int, n *yaml.Node, key string) {
	d.fields(n, key, ruleKeys, func(name, key string, v *yaml.Node) {
		switch name {
		case "name":
			r.Name = d.str(v, key)
		case "event":
			r.Event = Event(d.str(v, key))
		case "paths":
			r.Paths = d.strs(v, key)
		case "access":
			for _, a := range d.strs(v, key) {
				r.Access = append(r.Access, Access(a))
			}
		case "open_flags":
			r.OpenFlags = d.strs(v, key)
		case "raw_path":
			r.RawPath = d.boolean(v, key)
		case "failed_opens":
			r.FailedOpens = d.boolean(v, key)
		case "process_names":
			r.ProcessNames = d.strs(v, key)
		case "parent_names":
			r.ParentNames = d.strs(v, key)
		case "ancestor_names":
			r.AncestorNames = d.strs(v, key)
		case "ancestor_depth":
			if x, ok := d.integer(v, key, "depth", 1, MaxAncestorDepth); ok {
				r.AncestorDepth = int(x)
			}
		case "tty":
			b := d.boolean(v, key)
			r.TTY = &b
		case "capabilities":
			r.Capabilities = d.strs(v, key)
		case "name_suffixes":
			r.NameSuffixes = d.strs(v, key)
		case "name_contains":
			r.NameContains = d.strs(v, key)
		case "raw_contains":
			r.RawContains = d.strs(v, key)
		case "cidrs":
			d.seq(v, key, func(_ int, ik string, n *yaml.Node) {
				if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
					d.errorf(n.Line, ik, "must be a CIDR string, not %s", kindName(n))
					return
				}
				pfx, err := netip.ParsePrefix(n.Value)
				if err != nil {
					if addr, aerr := netip.ParseAddr(n.Value); aerr == nil && addr.Zone() == "" {
						d.errorf(n.Line, ik, "%q has no prefix length; did you mean %s/%d?", n.Value, n.Value, addr.BitLen())
						return
					}
					d.errorf(n.Line, ik, "invalid CIDR %q (want address/bits, such as 10.0.0.0/8 or fd00::/8)", n.Value)
					return
				}
				r.CIDRs = append(r.CIDRs, pfx)
			})
		case "ports":
			d.seq(v, key, func(_ int, ik string, n *yaml.Node) {
				if x, ok := d.integer(n, ik, "port", 1, math.MaxUint16); ok {
					r.Ports = append(r.Ports, uint16(x))
				}
			})
		case "binaries":
			r.Binaries = d.strs(v, key)
		case "condition":
			d.condition(r, i, v, key)
		case "exceptions":
			r.Exceptions = d.exceptions(v, key)
		case "output":
			r.Output = d.str(v, key)
		case "exe_flags":
			for _, f := range d.strs(v, key) {
				r.ExeFlags = append(r.ExeFlags, ExeFlag(f))
			}
		case "action":
			r.Action = Action(d.str(v, key))
		case "fallback":
			r.Fallback = Action(d.str(v, key))
		case "severity":
			r.Severity = Severity(d.str(v, key))
		}
	})
}
