package spec

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// specType is the schema check walks.
var specType = reflect.TypeOf(rawSpec{})

// check walks the YAML node n against the Go type t (the schema: struct
// fields by their yaml tags, slices, string maps, strings and ints),
// recording the line of every key under its path and reporting the first
// unknown or repeated key or value of the wrong kind.
func (s *Spec) check(n *yaml.Node, t reflect.Type, key string) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // an empty value: the key's default
	}
	fail := func(format string, args ...any) error {
		return &Error{File: s.File, Line: n.Line, Key: key, Err: fmt.Errorf(format, args...)}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fail("want a mapping of keys (%s), not %s", strings.Join(fieldNames(t), ", "), kindName(n))
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			name := k.Value
			child := join(key, name)
			if k.Kind != yaml.ScalarNode {
				return &Error{File: s.File, Line: k.Line, Key: key, Err: errors.New("a key must be a plain name")}
			}
			if name == "<<" {
				return &Error{File: s.File, Line: k.Line, Key: key, Err: errors.New("merge keys (<<) are not supported")}
			}
			f, ok := fieldByTag(t, name)
			if !ok {
				return &Error{File: s.File, Line: k.Line, Key: child, Err: unknownKey(key, name, fieldNames(t))}
			}
			if prev, dup := seen[name]; dup {
				return &Error{File: s.File, Line: k.Line, Key: child, Err: fmt.Errorf("given twice (first on line %d)", prev)}
			}
			seen[name] = k.Line
			s.lines[child] = k.Line
			if err := s.check(v, f.Type, child); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fail("want a list, not %s", kindName(n))
		}
		for i, e := range n.Content {
			child := fmt.Sprintf("%s[%d]", key, i)
			s.lines[child] = e.Line
			if err := s.check(e, t.Elem(), child); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fail("want a mapping (NAME: value, ...), not %s", kindName(n))
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				return &Error{File: s.File, Line: k.Line, Key: key, Err: errors.New("a key must be a plain name")}
			}
			child := join(key, k.Value)
			if prev, dup := seen[k.Value]; dup {
				return &Error{File: s.File, Line: k.Line, Key: child, Err: fmt.Errorf("given twice (first on line %d)", prev)}
			}
			seen[k.Value] = k.Line
			s.lines[child] = k.Line
			if err := s.check(v, t.Elem(), child); err != nil {
				return err
			}
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return fail("want a single value, not %s", kindName(n))
		}
	case reflect.Int:
		if n.Kind != yaml.ScalarNode {
			return fail("want a whole number, not %s", kindName(n))
		}
		if _, err := strconv.ParseInt(n.Value, 0, 32); err != nil || n.Tag != "!!int" {
			return fail("%q is not a whole number", n.Value)
		}
	default:
		return fail("internal error: no schema for %s", t)
	}
	return nil
}

// join makes the path of key name under parent.
func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// kindName describes a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// fieldByTag finds the struct field whose yaml tag is name.
func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tagName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// fieldNames lists the yaml keys of a struct type.
func fieldNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if n := tagName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	return names
}

func tagName(f reflect.StructField) string {
	tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if tag == "-" || !f.IsExported() {
		return ""
	}
	return tag
}

// unknownKey describes an unknown key, suggesting the closest known one.
func unknownKey(parent, name string, known []string) error {
	where := "a spec"
	if parent != "" {
		where = parent
	}
	best, bestDist := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(name), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	if best != "" {
		return fmt.Errorf("unknown key (did you mean %s? %s takes %s)", best, where, strings.Join(sorted, ", "))
	}
	return fmt.Errorf("unknown key (%s takes %s)", where, strings.Join(sorted, ", "))
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
