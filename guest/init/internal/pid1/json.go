package pid1

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A small strict JSON reader (RFC 8259) for appliance.json. It stands in
// for encoding/json, which would add 400 KB to init: every byte of init is
// unpacked from the initramfs at each boot, on an emulated CPU.

// jsonNumber is a JSON number, as written.
type jsonNumber string

// maxJSONDepth bounds the nesting of arrays and objects.
const maxJSONDepth = 32

// parseJSON parses one JSON value, with nothing but white space after it,
// into nil, bool, string, jsonNumber, []any or map[string]any. Duplicate
// object keys are errors.
func parseJSON(data []byte) (any, error) {
	p := &jsonParser{s: data}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if p.space(); p.i < len(p.s) {
		return nil, p.errorf("data after the JSON value")
	}
	return v, nil
}

type jsonParser struct {
	s []byte
	i int
}

func (p *jsonParser) errorf(format string, args ...any) error {
	line := 1 + strings.Count(string(p.s[:min(p.i, len(p.s))]), "\n")
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

func (p *jsonParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonParser) value(depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, p.errorf("nested too deeply")
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, p.errorf("unexpected end of JSON")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.string()
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	default:
		for _, lit := range []struct {
			word string
			v    any
		}{{"true", true}, {"false", false}, {"null", nil}} {
			if strings.HasPrefix(string(p.s[p.i:]), lit.word) {
				p.i += len(lit.word)
				return lit.v, nil
			}
		}
		return nil, p.errorf("unexpected %q", c)
	}
}

func (p *jsonParser) object(depth int) (any, error) {
	p.i++ // {
	m := map[string]any{}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return m, nil
	}
	for {
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, p.errorf("want a key in quotes")
		}
		k, err := p.string()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, p.errorf("key %q appears twice", k)
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.errorf("want ':' after key %q", k)
		}
		p.i++
		if m[k], err = p.value(depth + 1); err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.s) {
			return nil, p.errorf("unexpected end of JSON")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return m, nil
		default:
			return nil, p.errorf("want ',' or '}' after the value of %q", k)
		}
	}
}

func (p *jsonParser) array(depth int) (any, error) {
	p.i++ // [
	a := []any{}
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return a, nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		p.space()
		if p.i >= len(p.s) {
			return nil, p.errorf("unexpected end of JSON")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return a, nil
		default:
			return nil, p.errorf("want ',' or ']' in an array")
		}
	}
}

func (p *jsonParser) string() (string, error) {
	p.i++ // "
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			return "", p.errorf("unterminated string")
		}
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			s := b.String()
			if !utf8.ValidString(s) {
				return "", p.errorf("string is not UTF-8")
			}
			return s, nil
		case c < 0x20:
			return "", p.errorf("control character in a string")
		case c != '\\':
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", p.errorf("unterminated string")
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if p.i+1 < len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
					p.i += 2
					if r2, err = p.hex4(); err != nil {
						return "", err
					}
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", p.errorf("bad surrogate pair in a string")
				}
			}
			b.WriteRune(r)
		default:
			return "", p.errorf("bad escape \\%c in a string", e)
		}
	}
}

func (p *jsonParser) hex4() (rune, error) {
	if p.i+4 > len(p.s) {
		return 0, p.errorf("short \\u escape")
	}
	v, err := strconv.ParseUint(string(p.s[p.i:p.i+4]), 16, 16)
	if err != nil {
		return 0, p.errorf("bad \\u escape")
	}
	p.i += 4
	return rune(v), nil
}

func (p *jsonParser) number() (any, error) {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.s[p.i] == '-' {
		p.i++
	}
	intStart := p.i
	if n := digits(); n == 0 || n > 1 && p.s[intStart] == '0' {
		return nil, p.errorf("bad number")
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, p.errorf("bad number")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, p.errorf("bad number")
		}
	}
	return jsonNumber(p.s[start:p.i]), nil
}

// jsonDecoder turns parsed JSON into typed values, collecting errors that
// name the offending key by its path ("app.uid"). JSON null stands for
// the zero value everywhere.
type jsonDecoder struct{ errs []error }

func (d *jsonDecoder) fail(path, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (d *jsonDecoder) err() error { return errors.Join(d.errs...) }

// join appends key to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a JSON value's kind for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case string:
		return strconv.Quote(v)
	case jsonNumber:
		return string(v)
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

// object returns v as an object (nil for null), reporting keys other than
// keys.
func (d *jsonDecoder) object(path string, v any, keys ...string) map[string]any {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(path, "want an object, not %s", describe(v))
		return nil
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		d.errs = append(d.errs, fmt.Errorf("unknown key %q", join(path, k)))
	}
	return m
}

func (d *jsonDecoder) str(path string, v any) string {
	s, ok := v.(string)
	if !ok && v != nil {
		d.fail(path, "want a string, not %s", describe(v))
	}
	return s
}

func (d *jsonDecoder) list(path string, v any) []any {
	a, ok := v.([]any)
	if !ok && v != nil {
		d.fail(path, "want an array, not %s", describe(v))
	}
	return a
}

func (d *jsonDecoder) strs(path string, v any) []string {
	var out []string
	for i, e := range d.list(path, v) {
		p := fmt.Sprintf("%s[%d]", path, i)
		if s, ok := e.(string); ok {
			out = append(out, s)
		} else {
			d.fail(p, "want a string, not %s", describe(e))
		}
	}
	return out
}

func (d *jsonDecoder) u32(path string, v any) uint32 {
	if v == nil {
		return 0
	}
	n, ok := v.(jsonNumber)
	if ok {
		if u, err := strconv.ParseUint(string(n), 10, 32); err == nil {
			return uint32(u)
		}
	}
	d.fail(path, "want an integer from 0 to 4294967295, not %s", describe(v))
	return 0
}
