package kernel

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/testenv"
)

// TestBuildCached builds the JeOS kernel in the user's Juice cache (a few
// minutes the first time) and checks that a second call is a cache hit.
func TestBuildCached(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Linux kernel (minutes the first time); skipped in -short mode")
	}
	if _, err := exec.LookPath(CrossCompile + "gcc"); err != nil && os.Geteuid() != 0 {
		t.Skipf("cross-compiler missing and not root to install it; run: %s", InstallCommand(RequiredPackages()))
	}
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-10*time.Second))
		defer cancel()
	}
	var status bytes.Buffer
	start := time.Now()
	img, err := Build(ctx, BuildOptions{CacheDir: testenv.CacheDir(t), Progress: &status, ShowProgress: true})
	if err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s: %d bytes, first call %v", img, st.Size(), first.Round(time.Millisecond))
	if s := status.String(); s != "" {
		lines := strings.Split(s, "\r")
		t.Logf("last status lines: %q", lines[max(0, len(lines)-3):])
	}
	if st.Size() < 1<<20 || st.Size() > 16<<20 {
		t.Errorf("implausible Image size %d", st.Size())
	}
	start = time.Now()
	again, err := Build(ctx, BuildOptions{CacheDir: testenv.CacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	if again != img {
		t.Errorf("second build gave %s, first %s", again, img)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cached build took %v", d)
	}
	cfg, err := os.ReadFile(strings.TrimSuffix(img, "Image") + "config")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRequired(cfg); err != nil {
		t.Error(err)
	}
}

// TestBuildRejectsBadFragment checks that an option lost in the merge (a
// typo here) stops the build after configuration, naming the option and
// pointing at the log.
func TestBuildRejectsBadFragment(t *testing.T) {
	if testing.Short() {
		t.Skip("extracts and configures the kernel source (about a minute); skipped in -short mode")
	}
	if missing, err := MissingPackages(context.Background(), RequiredPackages()); err != nil || len(missing) > 0 {
		t.Skipf("kernel build packages missing (%v, %v)", missing, err)
	}
	dir := t.TempDir()
	frag := dir + "/bad.config"
	if err := os.WriteFile(frag, []byte("CONFIG_JUICE_NO_SUCH_OPTION=y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Build(context.Background(), BuildOptions{CacheDir: dir, Fragments: []string{frag}})
	var be *BuildError
	var ce *ConfigError
	if !errors.As(err, &be) || !errors.As(err, &ce) {
		t.Fatalf("Build = %v, want a BuildError wrapping a ConfigError", err)
	}
	if be.Phase != "configure" || !strings.Contains(err.Error(), "CONFIG_JUICE_NO_SUCH_OPTION") || !strings.Contains(err.Error(), "build log: ") {
		t.Errorf("unhelpful error: %v", err)
	}
	t.Logf("error as reported:\n%v", err)
	if len(be.Tail) == 0 {
		t.Error("no log tail in the error")
	}
	entries, _ := os.ReadDir(dir + "/kernel")
	for _, e := range entries {
		if e.IsDir() && e.Name() != "logs" {
			t.Errorf("failed build left %s in the cache", e.Name())
		}
	}
}
