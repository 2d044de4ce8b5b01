package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	text := "# comment\n\n" + hex.EncodeToString(b[:]) + "  z/b\n" + strings.ToUpper(hex.EncodeToString(a[:])) + " *a with space\r\n"
	entries, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Path != "z/b" || entries[0].Sum != b || entries[1].Path != "a with space" || entries[1].Sum != a {
		t.Fatalf("entries %v", entries)
	}
	want := hex.EncodeToString(a[:]) + "  a with space\n" + hex.EncodeToString(b[:]) + "  z/b\n"
	if got := string(Format(entries)); got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
	sum := hex.EncodeToString(a[:])
	for _, bad := range []string{
		"nonsense",
		sum[:60] + "  short",
		strings.Repeat("g", 64) + "  nothex",
		sum + "  /abs",
		sum + "  ../up",
		sum + "  a/../b",
		sum + "  a\n" + sum + "  a",
	} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestBuildVerify(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"a": "alpha", "sub/b": "beta", "sub/deeper/c": "", "out/skipped": "x"}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("a", filepath.Join(dir, "link"))
	entries, err := WriteFile(dir, "out")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range entries {
		paths = append(paths, e.Path)
	}
	if got := strings.Join(paths, ","); got != "a,sub/b,sub/deeper/c" {
		t.Errorf("paths %s", got)
	}
	back, err := ParseFile(filepath.Join(dir, Name))
	if err != nil || len(back) != 3 {
		t.Fatalf("ParseFile: %v %v", back, err)
	}
	if err := Verify(dir, back); err != nil {
		t.Error(err)
	}
	// Rebuilding skips the manifest itself.
	if again, err := Build(dir, "out"); err != nil || len(again) != 3 {
		t.Errorf("Build again: %v %v", again, err)
	}
	os.WriteFile(filepath.Join(dir, "a"), []byte("ALPHA"), 0o644)
	os.Remove(filepath.Join(dir, "sub", "b"))
	err = Verify(dir, back)
	if err == nil || !strings.Contains(err.Error(), "a: sha256") || !strings.Contains(err.Error(), "sub/b:") {
		t.Errorf("Verify: %v", err)
	}
}

func TestPseudoRandom(t *testing.T) {
	// Pinned: hosts and guests must agree on these bytes forever. The
	// first word is SplitMix64's well-known first output for seed 1,
	// 0x910a2dec89025cc1, little-endian.
	const pinned = "c15c0289ec2d0a9167ec8e65a18debbe5e5532fb"
	if got := hex.EncodeToString(PseudoRandom(1, 20)); got != pinned {
		t.Errorf("PseudoRandom(1, 20) = %s, want %s", got, pinned)
	}
	a, b := PseudoRandom(5, 1000), PseudoRandom(5, 1003)
	if string(a) != string(b[:1000]) {
		t.Error("a longer stream does not extend a shorter one")
	}
	if string(PseudoRandom(6, 1000)) == string(a) {
		t.Error("seeds 5 and 6 give the same bytes")
	}
}
