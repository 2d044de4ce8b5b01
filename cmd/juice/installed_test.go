package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/replay"
	"github.com/juicevm/juice/internal/testenv"
)

// Juice, installed: a juice binary copied out of the source tree boots,
// builds, records and replays from a folder that holds no source tree;
// built as make install builds it (the guest init prebuilt in it) it needs
// no Go at all, built as go install builds it (the init's sources in it)
// it needs Go in PATH, and says so without one.

// installedJuice runs a juice binary in dir with env.
type installedJuice struct {
	t   *testing.T
	bin string
	dir string
	env []string
}

func (j installedJuice) run(args ...string) (stdout, stderr string, code int) {
	j.t.Helper()
	cmd := exec.Command(j.bin, args...)
	cmd.Dir, cmd.Env = j.dir, j.env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		j.t.Fatal(err)
	}
	j.t.Logf("juice %s: status %d in %.2fs", strings.Join(args, " "), code, time.Since(start).Seconds())
	return o.String(), e.String(), code
}

// must runs juice and fails unless it exits with status want.
func (j installedJuice) must(want int, args ...string) (stdout, stderr string) {
	j.t.Helper()
	o, e, code := j.run(args...)
	if code != want {
		j.t.Fatalf("juice %s: status %d, want %d\n%s%s", strings.Join(args, " "), code, want, o, e)
	}
	return o, e
}

// withoutGo returns env with no folder holding a go command in PATH.
func withoutGo(t *testing.T, env []string) []string {
	t.Helper()
	var out []string
	for _, kv := range env {
		if path, ok := strings.CutPrefix(kv, "PATH="); ok {
			var keep []string
			for _, d := range filepath.SplitList(path) {
				if _, err := os.Stat(filepath.Join(d, "go")); err != nil {
					keep = append(keep, d)
				}
			}
			kv = "PATH=" + strings.Join(keep, string(filepath.ListSeparator))
		}
		out = append(out, kv)
	}
	return out
}

// copyExecutable copies the file from into the folder dir as juice.
func copyExecutable(t *testing.T, from, dir string) string {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(dir, "juice")
	if err := os.WriteFile(to, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return to
}

// goBuild runs go build in the folder dir with extra environment.
func goBuild(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

var crossEnv = []string{"GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0"}

// installedVersion runs juice version --json.
func installedVersion(j installedJuice) versionInfo {
	j.t.Helper()
	out, _ := j.must(0, "version", "--json")
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		j.t.Fatalf("juice version --json: %v\n%s", err, out)
	}
	return v
}

const installedApp = `package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("installed-app:", os.Args[1:], os.Getenv("WHO"))
	os.Exit(7)
}
`

const installedSpec = `# An appliance whose app is a prebuilt static riscv64 binary: juice build
# needs no Go for it.
name: installed
app:
  binary: ./app
  args: [from, an, installed, juice]
  env: {WHO: nobody}
memory: 64M
`

func TestInstalled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds juice twice and boots Linux several times; skipped in -short mode")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go in PATH")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := filepath.Abs(testenv.CacheDir(t)) // the warm cache: the kernel is not rebuilt
	if err != nil {
		t.Fatal(err)
	}

	// Built as make install builds it, but into a temporary folder: the
	// guest init cross-compiled first, then juice with -tags
	// juice_prebuilt_init embedding it (through -overlay, so that the
	// source tree is left as it is).
	build := t.TempDir()
	initBin := filepath.Join(build, "init-riscv64")
	goBuild(t, root, crossEnv, "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", initBin, "./guest/init")
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{
		filepath.Join(root, "internal", "guestinit", "prebuilt", "init-riscv64"): initBin,
	}})
	if err != nil {
		t.Fatal(err)
	}
	overlayFile := filepath.Join(build, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	goBuild(t, root, nil, "-tags", "juice_prebuilt_init", "-overlay", overlayFile,
		"-ldflags=-X main.version=v0.0.0-installed-test", "-o", filepath.Join(build, "prebuilt"), "./cmd/juice")

	// An empty folder outside any source tree, the binary copied into it.
	dir := t.TempDir()
	env := append(os.Environ(), "JUICE_CACHE="+cache)
	noGo := withoutGo(t, env)
	pj := installedJuice{t, copyExecutable(t, filepath.Join(build, "prebuilt"), filepath.Join(dir, "prebuilt")), dir, noGo}

	// juice version: no Go needed.
	out, _ := pj.must(0, "version")
	for _, want := range []string{`juice\s+v0\.0\.0-installed-test\n`, `init\s+prebuilt`, fmt.Sprintf(`recording\s+%d\s`, replay.FormatVersion), `appliance manifest\s+\d`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("juice version does not match %s:\n%s", want, out)
		}
	}
	v := installedVersion(pj)
	if v.Version != "v0.0.0-installed-test" || v.Init != "prebuilt" || v.Go == "" || len(v.Formats) < 6 {
		t.Errorf("juice version --json: %+v", v)
	}

	// juice run: the default appliance, with no Go in PATH.
	out, errs := pj.must(0, "run")
	if !strings.Contains(out, "juice: self-check ok") {
		t.Fatalf("juice run: no self-check line\n%s%s", out, errs)
	}

	// An app that needs no Go at build time: a static riscv64 binary
	// (built here, with the Go of the test).
	goBuild(t, writeApp(t), crossEnv, "-trimpath", "-o", filepath.Join(dir, "app"), ".")
	if err := os.WriteFile(filepath.Join(dir, "spec.yaml"), []byte(installedSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	pj.must(0, "build", "spec.yaml", "-o", "app.appliance")
	wantOut := "installed-app: [from an installed juice] nobody"
	out, errs = pj.must(7, "run", "app.appliance")
	if !strings.Contains(out, wantOut) {
		t.Fatalf("juice run app.appliance: console lacks %q\n%s%s", wantOut, out, errs)
	}
	recOut, errs := pj.must(7, "record", "-o", "app.jrr", "app.appliance")
	if !strings.Contains(recOut, wantOut) {
		t.Fatalf("juice record: console lacks %q\n%s%s", wantOut, recOut, errs)
	}
	repOut, errs := pj.must(0, "replay", "app.jrr")
	if !strings.Contains(errs, "replay matches") || repOut != recOut {
		t.Fatalf("juice replay: console identical %v\n%s%s", repOut == recOut, repOut, errs)
	}

	// An app.go spec: Go builds the app in its own module, found from the
	// spec's folder; no Juice source tree is needed for that either.
	appDir := filepath.Join(dir, "goapp")
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(appDir, "go.mod"), []byte("module installedapp\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(appDir, "main.go"), []byte(installedApp), 0o644)
	goSpec := strings.Replace(installedSpec, "binary: ./app", "go: ./goapp", 1)
	if err := os.WriteFile(filepath.Join(dir, "gospec.yaml"), []byte(goSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	pj.env = env
	pj.must(0, "build", "gospec.yaml", "-o", "goapp.appliance")
	out, errs = pj.must(7, "run", "goapp.appliance")
	if !strings.Contains(out, wantOut) {
		t.Fatalf("juice run goapp.appliance: console lacks %q\n%s%s", wantOut, out, errs)
	}

	// Built as go install builds it (no tag: the init's sources embedded),
	// with Go in PATH: the same appliance, the init cross-compiled from
	// the sources juice carries (or taken from the cache).
	sj := installedJuice{t, copyExecutable(t, juice(t), filepath.Join(dir, "sources")), dir, env}
	if v := installedVersion(sj); v.Init != "embedded-sources" {
		t.Errorf("juice built without the tag: init %q, want embedded-sources", v.Init)
	}
	sj.must(0, "build", "spec.yaml", "-o", "app2.appliance")
	out, errs = sj.must(7, "run", "app2.appliance")
	if !strings.Contains(out, wantOut) {
		t.Fatalf("juice run app2.appliance: console lacks %q\n%s%s", wantOut, out, errs)
	}
	m1, m2 := readManifest(t, filepath.Join(dir, "app.appliance")), readManifest(t, filepath.Join(dir, "app2.appliance"))
	if d1, d2 := m1.Digests["initrd.cpio.zst"], m2.Digests["initrd.cpio.zst"]; d1 == "" || d1 != d2 {
		t.Errorf("the prebuilt init and the one built from the embedded sources give different initrds: %s, %s", d1, d2)
	}

	// The same binary without Go in PATH: a clear error, no panic.
	sj.env = noGo
	for _, args := range [][]string{{"build", "spec.yaml", "-o", "app3.appliance"}, {"run"}} {
		_, errs, code := sj.run(args...)
		msg := strings.TrimSpace(errs)
		if code != exitError || strings.Contains(msg, "\n") || strings.Contains(msg, "panic") ||
			!strings.Contains(msg, "built without a prebuilt init") || !strings.Contains(msg, "needs Go in PATH") {
			t.Errorf("juice %s without Go: status %d, want %d and one line saying Go is needed:\n%s", strings.Join(args, " "), code, exitError, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "app3.appliance")); err == nil {
		t.Error("a failed juice build left app3.appliance")
	}
}

// writeApp writes the installed test's app, a module of its own, in a
// temporary folder and returns the folder.
func writeApp(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "go.mod"), []byte("module installedapp\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "main.go"), []byte(installedApp), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}
