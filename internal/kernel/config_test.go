package kernel

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	c := ParseConfig([]byte(`
# comment
CONFIG_A=y
# CONFIG_B is not set
CONFIG_C="str"
  CONFIG_D=8
CONFIG_A=m
not a config line
`))
	want := Config{"A": "m", "B": "n", "C": `"str"`, "D": "8"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("ParseConfig = %v, want %v", c, want)
	}
}

func TestCheckFragment(t *testing.T) {
	frag := []byte("CONFIG_A=y\nCONFIG_TYPO_OPTION=y\n# CONFIG_C is not set\nCONFIG_N=8\nCONFIG_M=4\n")
	final := []byte("CONFIG_A=y\nCONFIG_C=y\nCONFIG_N=8\nCONFIG_M=2\n")
	err := CheckFragment("frag", frag, final)
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("CheckFragment = %v, want *ConfigError", err)
	}
	if got, want := ce.Options(), []string{"CONFIG_M", "CONFIG_TYPO_OPTION"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Options() = %v, want %v", got, want)
	}
	if !strings.Contains(err.Error(), "CONFIG_TYPO_OPTION (want y, got n)") {
		t.Errorf("message does not name the option: %v", err)
	}
	if err := CheckFragment("frag", []byte("CONFIG_A=y\n"), final); err != nil {
		t.Errorf("satisfied fragment: %v", err)
	}
}

func TestEmbeddedFragmentCoversRequirements(t *testing.T) {
	frag := ParseConfig(Fragment())
	for _, name := range RequiredOptions() {
		if frag[name] != "y" {
			t.Errorf("jeos.config does not set CONFIG_%s=y", name)
		}
	}
	if frag["MMU"] != "y" {
		t.Error("tinyconfig turns MMU off; the fragment must set it")
	}
	for _, off := range []string{"MODULES", "IPV6", "VT", "INPUT", "SOUND", "WIRELESS", "EFI", "DEBUG_INFO"} {
		if frag[off] != "n" {
			t.Errorf("jeos.config should switch CONFIG_%s off", off)
		}
	}
	// A config equal to the fragment itself satisfies the requirement check.
	if err := CheckRequired(Fragment()); err != nil {
		t.Errorf("CheckRequired(fragment): %v", err)
	}
}

func TestCheckRequired(t *testing.T) {
	err := CheckRequired([]byte("CONFIG_64BIT=y\nCONFIG_NR_CPUS=4\n"))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	opts := ce.Options()
	has := func(o string) bool {
		for _, x := range opts {
			if x == o {
				return true
			}
		}
		return false
	}
	if has("CONFIG_64BIT") || !has("CONFIG_MMU") || !has("CONFIG_NR_CPUS") {
		t.Errorf("unexpected missing set %v", opts)
	}
}

// TestBuildNeedsCacheDir checks that Build, given no cache folder, says
// so rather than picking one (the juice command resolves it: --cache,
// $JUICE_CACHE, ...).
func TestBuildNeedsCacheDir(t *testing.T) {
	if _, err := Build(context.Background(), BuildOptions{}); !errors.Is(err, ErrNoCacheDir) || !strings.Contains(err.Error(), "no cache folder given") {
		t.Errorf("no CacheDir: %v", err)
	}
}

func TestInstallCommand(t *testing.T) {
	got := InstallCommand([]string{"flex", "bc"})
	if got != "apt-get install -y --no-install-recommends flex bc" {
		t.Errorf("InstallCommand = %q", got)
	}
}

func TestSourceDigestMemoised(t *testing.T) {
	dir := t.TempDir()
	tar := filepath.Join(dir, "src.tar.xz")
	if err := os.WriteFile(tar, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := newBuilder(BuildOptions{CacheDir: dir, SourceTarball: tar})
	if err != nil {
		t.Fatal(err)
	}
	const abcSum = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if s, err := b.sourceDigest(); err != nil || s != abcSum {
		t.Fatalf("sourceDigest = %s, %v", s, err)
	}
	// The memo is trusted while path, size and mtime are unchanged...
	memos, _ := filepath.Glob(filepath.Join(dir, "kernel", "source-*.json"))
	if len(memos) != 1 {
		t.Fatalf("memo files: %v", memos)
	}
	st, _ := os.Stat(tar)
	if err := os.WriteFile(tar, []byte("abd"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tar, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if s, _ := b.sourceDigest(); s != abcSum {
		t.Fatalf("memo not used: %s", s)
	}
	// ...and recomputed when the identity changes.
	if err := os.WriteFile(tar, []byte("abcd"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, _ := b.sourceDigest(); s == abcSum {
		t.Fatal("stale memo used after the file changed")
	}
}

func TestLockFileExcludes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	log := slog.New(slog.DiscardHandler)
	unlock, err := lockFile(context.Background(), p, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := lockFile(ctx, p, log); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock while held: %v", err)
	}
	unlock()
	unlock2, err := lockFile(context.Background(), p, log)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	unlock2()
}

func TestBuildErrorMessage(t *testing.T) {
	e := &BuildError{Phase: "compile", Log: "/c/k.log", Tail: []string{"a", "b"}, Err: errors.New("make: exit 2")}
	msg := e.Error()
	for _, want := range []string{"during compile", "make: exit 2", "build log: /c/k.log", "last 2 lines:\na\nb"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if !errors.Is(e, e.Err) {
		t.Error("Unwrap broken")
	}
}
