// Package falco loads Falco rules files into the rule engine, in three stages as Falco does:
// read (YAML with line numbers), collect (lists, macros, rules; append and override;
// exceptions), compile (each rule against the field table). Every rule either loads or is
// reported skipped with the reason; nothing is dropped silently.
package falco

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Bounds on one rules file.
const (
	// MaxFileSize bounds a rules file read by LoadFiles.
	MaxFileSize = 16 << 20
	// MaxItems bounds the top-level items of one file.
	MaxItems = 100000
)

// File is one rules file.
type File struct {
	Name string
	Data []byte
}

// src is a source text and where it was written, for mapping condition positions onto lines.
type src struct {
	file string
	node *yaml.Node
	raw  []string // the file's lines
}

// item is one top-level entry of a rules file.
type item struct {
	kind string // rule, macro, list, required_engine_version, ...
	name string
	file string
	line int
	keys map[string]*yaml.Node
	key  map[string]*yaml.Node // the key nodes, for their lines
	raw  []string
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// itemKinds are the keys that name an item's kind.
var itemKinds = []string{"rule", "macro", "list", "required_engine_version", "required_plugin_versions"}

// read parses a file into its items.
func read(f File) ([]*item, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(f.Data, &doc); err != nil {
		msg := err.Error()
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			return nil, fmt.Errorf("%s:%s: invalid YAML: %s", f.Name, m[1], m[2])
		}
		return nil, fmt.Errorf("%s: invalid YAML: %s", f.Name, strings.TrimPrefix(msg, "yaml: "))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // an empty file
	}
	top := doc.Content[0]
	if top.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: a Falco rules file is a list of rule, macro and list items", f.Name, top.Line)
	}
	if len(top.Content) > MaxItems {
		return nil, fmt.Errorf("%s: more than %d items", f.Name, MaxItems)
	}
	raw := strings.Split(string(f.Data), "\n")
	var items []*item
	for i, n := range top.Content {
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: item %d is not a mapping", f.Name, n.Line, i)
		}
		it := &item{file: f.Name, line: n.Line, keys: map[string]*yaml.Node{}, key: map[string]*yaml.Node{}, raw: raw}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k, v := n.Content[j], n.Content[j+1]
			if _, dup := it.keys[k.Value]; dup {
				return nil, fmt.Errorf("%s:%d: item %d: key %s given twice", f.Name, k.Line, i, k.Value)
			}
			it.keys[k.Value] = v
			it.key[k.Value] = k
		}
		for _, kind := range itemKinds {
			if v, ok := it.keys[kind]; ok {
				it.kind = kind
				if v.Kind == yaml.ScalarNode {
					it.name = v.Value
				}
				break
			}
		}
		items = append(items, it)
	}
	return items, nil
}

// str returns a scalar key's value.
func (it *item) str(key string) (string, bool, error) {
	v, ok := it.keys[key]
	if !ok {
		return "", false, nil
	}
	if v.Kind != yaml.ScalarNode {
		return "", true, fmt.Errorf("%s:%d: %s must be a string", it.file, v.Line, key)
	}
	return v.Value, true, nil
}

func (it *item) boolean(key string) (bool, bool, error) {
	v, ok := it.keys[key]
	if !ok {
		return false, false, nil
	}
	var b bool
	if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil {
		return false, true, fmt.Errorf("%s:%d: %s must be true or false", it.file, v.Line, key)
	}
	return b, true, nil
}

// strings reads a list of scalars.
func strList(n *yaml.Node, file, key string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: %s must be a list", file, n.Line, key)
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: %s: items must be strings", file, c.Line, key)
		}
		out = append(out, c.Value)
	}
	return out, nil
}

// lineOf maps an offset in a scalar's value onto the file line it was written on.
func (s src) lineOf(off int) int {
	n := s.node
	switch n.Style {
	case yaml.LiteralStyle:
		return n.Line + 1 + strings.Count(n.Value[:min(off, len(n.Value))], "\n")
	case yaml.FoldedStyle, 0, yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		// Folded and multi-line flow scalars join lines with a space: walk the raw lines,
		// trimmed, until their joined length passes the offset.
		first := n.Line
		if n.Style == yaml.FoldedStyle {
			first++
		}
		total := 0
		for l := first; l <= len(s.raw); l++ {
			text := s.raw[l-1]
			if l == n.Line && n.Style != yaml.FoldedStyle && n.Column-1 <= len(text) {
				text = text[n.Column-1:]
			}
			text = strings.TrimSpace(text)
			if text == "" && l > first {
				continue
			}
			total += len(text) + 1
			if total > off {
				return l
			}
		}
	}
	return n.Line
}
