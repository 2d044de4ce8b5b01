package outfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckRefusesLinksFoldersAndInputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "kernel")
	os.WriteFile(in, []byte("kernel"), 0o644)
	os.Symlink(in, filepath.Join(dir, "link"))
	os.Link(in, filepath.Join(dir, "hard"))
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	for name, want := range map[string]string{
		"link":            "symbolic link",
		"hard":            "same file as",
		"kernel":          "same file as",
		"sub":             "folder",
		"nodir/out":       "its folder",
		"./sub/../kernel": "same file as",
	} {
		err := Check(filepath.Join(dir, name), in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%s) = %v, want %q", name, err, want)
		}
	}
	if err := Check(filepath.Join(dir, "new"), in); err != nil {
		t.Errorf("Check(new) = %v", err)
	}
	if b, _ := os.ReadFile(in); string(b) != "kernel" {
		t.Errorf("input changed: %q", b)
	}
}

func TestAbortKeepsWhatWasThere(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	os.WriteFile(p, []byte("old"), 0o644)
	f, err := Create(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new")
	f.Abort()
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("after Abort: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	if err := WriteFile(p, []byte("new"), Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("after WriteFile: %q", b)
	}
}

func TestPartialIsRefusedWhenLeftOver(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rec.jrr")
	f, err := Create(p, Options{Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(p, Options{Partial: true}); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("second Create while the first writes: %v", err)
	}
	f.Close() // as if the process died: the file stays, unlocked
	if _, err := Create(p, Options{Partial: true}); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("Create over a leftover partial file: %v", err)
	}
	os.Remove(PartialPath(p))
	f, err = Create(p, Options{Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("done")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(PartialPath(p)); !os.IsNotExist(err) {
		t.Fatalf("partial file remains: %v", err)
	}
}

func TestNoReplaceKeepsAFileThatAppeared(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "disk.img")
	f, err := Create(p, Options{NoReplace: true})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new")
	os.WriteFile(p, []byte("appeared"), 0o644)
	if err := f.Commit(); err == nil || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Commit over a file that appeared: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "appeared" {
		t.Fatalf("the file that appeared was replaced: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	os.Remove(p)
	if err := WriteFile(p, []byte("new"), Options{NoReplace: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Fatalf("after WriteFile: %q", b)
	}
}

func TestIsTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.img")
	f, err := Create(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	for q, want := range map[string]bool{
		f.Name():                             true,
		PartialPath(p):                       true,
		filepath.Join(dir, ".out.img.tmp-x"): true,
		p:                                    false,
		filepath.Join(dir, ".other.tmp-x"):   false,
		filepath.Join(dir, "sub", ".out.img.tmp-x"): false,
	} {
		if got := IsTemp(p, q); got != want {
			t.Errorf("IsTemp(%s, %s) = %v, want %v", p, q, got, want)
		}
	}
}
