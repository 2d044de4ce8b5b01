package pid1

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// fromStd converts encoding/json's UseNumber output to parseJSON's types.
func fromStd(v any) any {
	switch v := v.(type) {
	case json.Number:
		return jsonNumber(v)
	case []any:
		out := []any{}
		for _, e := range v {
			out = append(out, fromStd(e))
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			out[k] = fromStd(e)
		}
		return out
	}
	return v
}

// checkJSON compares parseJSON with encoding/json on one document. They
// may differ only where parseJSON is stricter: duplicate keys, invalid
// UTF-8, lone surrogates, deep nesting.
func checkJSON(t *testing.T, doc string) {
	got, err := parseJSON([]byte(doc))
	if err != nil {
		if !json.Valid([]byte(doc)) {
			return
		}
		for _, ok := range []string{"appears twice", "not UTF-8", "surrogate", "nested too deeply"} {
			if strings.Contains(err.Error(), ok) {
				return
			}
		}
		t.Fatalf("%q: parseJSON: %v; encoding/json accepts it", doc, err)
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var want any
	if err := dec.Decode(&want); err != nil || !json.Valid([]byte(doc)) {
		t.Fatalf("%q: parseJSON accepted what encoding/json refuses (%v)", doc, err)
	}
	if !reflect.DeepEqual(got, fromStd(want)) {
		t.Fatalf("%q: parseJSON = %#v, encoding/json = %#v", doc, got, fromStd(want))
	}
}

var jsonSeeds = []string{
	`{}`, `[]`, `null`, `true`, ` false `, `0`, `-0`, `-12.5e+3`, `1E2`, `"a\"b\\c\/d\b\f\n\r\tz"`,
	`"\u00e9\u20ac\ud83d\ude00"`, `"é€😀"`, `{"a":[1,{"b":null}],"c":"d"}`, "{\"a\" :\n [ ] , \"b\":{}}",
	fullConfig,
	`{`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `01`, `1.`, `.5`, `-`, `1e`, `"abc`, "\"a\x01\"", `"\x"`, `"\u12"`,
	`{"a":1}{}`, `tru`, `nul`, `[1 2]`, `{"a":1,"a":2}`, `"\ud800"`, "\"\xff\"", strings.Repeat("[", 40) + strings.Repeat("]", 40),
}

func TestParseJSON(t *testing.T) {
	for _, doc := range jsonSeeds {
		checkJSON(t, doc)
	}
	for _, bad := range []string{`{"a":1,"a":2}`, `"\ud800"`, "\"\xff\"", strings.Repeat("[", 40) + strings.Repeat("]", 40), `{"a":1}{}`, ``} {
		if _, err := parseJSON([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := parseJSON([]byte("{\n\"a\": 1,\n\"b\" 2}")); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error without the line: %v", err)
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, doc := range jsonSeeds {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		checkJSON(t, doc)
		ParseAppliance([]byte(doc)) // must not panic
	})
}
