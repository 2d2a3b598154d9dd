// Package docstest checks a component's README against its code: the configuration table
// must name every mapstructure key of the Config struct, with the default the factory sets.
package docstest

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// maxTableRows bounds how many rows of a README table are read.
const maxTableRows = 1000

var (
	firstCode = regexp.MustCompile("`([^`]*)`")
	firstWord = regexp.MustCompile(`^\s*(\S+)`)
)

// ConfigTable reads the configuration table of a component README: the first markdown table
// after the heading "## Configuration" whose header row starts with "field". It returns each
// row's key (the first column, without backticks) and the default column's first code span
// (or, when there is none, its first word, as in "unset").
func ConfigTable(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration table: %w", err)
	}
	defer f.Close()

	rows := map[string]string{}
	inSection, inTable, defaultCol := false, false, -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			if inTable {
				return rows, nil
			}
			inSection = line == "## Configuration"
			continue
		case !inSection:
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if inTable {
				return rows, nil
			}
			continue
		}
		cells := splitRow(line)
		if !inTable {
			if len(cells) == 0 || cells[0] != "field" {
				continue
			}
			for i, c := range cells {
				if c == "default" {
					defaultCol = i
				}
			}
			if defaultCol < 0 {
				return nil, fmt.Errorf("%s: the configuration table has no default column", path)
			}
			inTable = true
			continue
		}
		if strings.HasPrefix(cells[0], "---") || strings.HasPrefix(cells[0], ":--") {
			continue
		}
		if len(cells) <= defaultCol {
			return nil, fmt.Errorf("%s: configuration row %q has %d cells", path, line, len(cells))
		}
		key := strings.Trim(cells[0], "`")
		def := cells[defaultCol]
		if m := firstCode.FindStringSubmatch(def); m != nil {
			def = m[1]
		} else if m := firstWord.FindStringSubmatch(def); m != nil {
			def = m[1]
		}
		if _, dup := rows[key]; dup {
			return nil, fmt.Errorf("%s: configuration key %q is listed twice", path, key)
		}
		rows[key] = def
		if len(rows) > maxTableRows {
			return nil, fmt.Errorf("%s: more than %d configuration rows", path, maxTableRows)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !inTable {
		return nil, fmt.Errorf("%s: no configuration table (a table with a field column under \"## Configuration\")", path)
	}
	return rows, nil
}

// splitRow splits a markdown table row into trimmed cells; "\|" inside a cell is not a
// separator.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	line = strings.TrimSuffix(line, "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' && i+1 < len(line) && line[i+1] == '|' {
			cur.WriteByte('|')
			i++
			continue
		}
		if line[i] == '|' {
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteByte(line[i])
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// ConfigDefaults walks a configuration struct (or a pointer to one) and returns every
// mapstructure key, nested keys joined with dots, with its value rendered as the README
// writes defaults: numbers and booleans as Go prints them, durations and other Stringers
// through String, "" for an empty string, [] for an empty list and "unset" for a nil pointer.
func ConfigDefaults(cfg any) map[string]string {
	out := map[string]string{}
	walk(reflect.ValueOf(cfg), "", out)
	return out
}

var stringer = reflect.TypeFor[fmt.Stringer]()

func walk(v reflect.Value, prefix string, out map[string]string) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("mapstructure"), ",")[0]
		if !sf.IsExported() || tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && !fv.Type().Implements(stringer) && !reflect.PointerTo(fv.Type()).Implements(stringer) {
			walk(fv, key+".", out)
			continue
		}
		out[key] = render(fv)
	}
}

func render(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "unset"
		}
		return render(v.Elem())
	}
	if v.Type().Implements(stringer) {
		return v.Interface().(fmt.Stringer).String()
	}
	if v.CanAddr() && v.Addr().Type().Implements(stringer) {
		return v.Addr().Interface().(fmt.Stringer).String()
	}
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return `""`
		}
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Slice, reflect.Array:
		if v.Len() == 0 {
			return "[]"
		}
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = render(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case reflect.Map:
		if v.Len() == 0 {
			return "{}"
		}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, fmt.Sprintf("%v: %s", k.Interface(), render(v.MapIndex(k))))
		}
		sort.Strings(keys)
		return "{" + strings.Join(keys, ", ") + "}"
	}
	return fmt.Sprint(v.Interface())
}

// Diff compares a README configuration table with the code's defaults and returns one line
// per difference, sorted: keys missing from either side and defaults that differ.
func Diff(readme, code map[string]string) []string {
	var diffs []string
	for k, want := range code {
		got, ok := readme[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: in the Config struct but not in the README table (default %s)", k, want))
		case got != want:
			diffs = append(diffs, fmt.Sprintf("%s: the README says default %s, the factory sets %s", k, got, want))
		}
	}
	for k := range readme {
		if _, ok := code[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: in the README table but not a key of the Config struct", k))
		}
	}
	sort.Strings(diffs)
	return diffs
}
