package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// The example appliances (examples/), each built with juice build and
// booted with juice run, as a user would.

// examplesDir is examples/ in the source tree.
func examplesDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// buildAppliance runs juice build SPEC -o DIR/NAME.appliance and returns
// the folder.
func buildAppliance(t *testing.T, spec string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and boots an appliance; skipped in -short mode")
	}
	out := filepath.Join(t.TempDir(), filepath.Base(filepath.Dir(spec))+".appliance")
	start := time.Now()
	stdout, stderr, code := runJuice(t, "build", spec, "-o", out)
	if code != 0 {
		t.Fatalf("juice build %s: status %d\n%s%s", spec, code, stdout, stderr)
	}
	t.Logf("built %s in %.1fs: %s", filepath.Base(out), time.Since(start).Seconds(), applianceSize(t, out))
	return out
}

// applianceSize describes the size of an appliance's kernel and initrd.
func applianceSize(t *testing.T, dir string) string {
	t.Helper()
	var total int64
	var parts []string
	for _, name := range []string{"kernel", "initrd.cpio.zst"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
		parts = append(parts, fmt.Sprintf("%s %.2f MB", name, float64(st.Size())/1e6))
	}
	return fmt.Sprintf("%s, in all %.2f MB", strings.Join(parts, ", "), float64(total)/1e6)
}

// guest is a juice run of an appliance going on in the background.
type guest struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
	mu    sync.Mutex
	out   strings.Builder
	errs  bytes.Buffer
	done  chan struct{}
	err   error
}

// startGuest starts juice with args and collects its console output.
func startGuest(t *testing.T, args ...string) *guest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	g := &guest{t: t, cmd: exec.CommandContext(ctx, juice(t), args...), lines: make(chan string, 1000), done: make(chan struct{})}
	g.cmd.Stderr = &g.errs
	stdout, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := g.cmd.StdinPipe() // open console input: Juice waits rather than halts
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			g.mu.Lock()
			g.out.WriteString(sc.Text() + "\n")
			g.mu.Unlock()
			select {
			case g.lines <- sc.Text():
			default:
			}
		}
		g.err = g.cmd.Wait()
		stdin.Close()
		cancel()
		close(g.done)
	}()
	t.Cleanup(func() {
		g.cmd.Process.Kill()
		<-g.done
	})
	return g
}

func (g *guest) console() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.String()
}

// waitFor waits for a console line containing s.
func (g *guest) waitFor(s string) {
	g.t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l := <-g.lines:
			if strings.Contains(l, s) {
				return
			}
		case <-g.done:
			g.t.Fatalf("juice ended (%v) before the guest printed %q:\n%s%s", g.err, s, g.console(), g.errs.String())
		case <-timeout:
			g.t.Fatalf("no %q from the guest in 2 minutes:\n%s", s, g.console())
		}
	}
}

// wait waits for juice to end and returns its exit status.
func (g *guest) wait() int {
	g.t.Helper()
	select {
	case <-g.done:
	case <-time.After(2 * time.Minute):
		g.t.Fatalf("juice still running after 2 minutes:\n%s", g.console())
	}
	var ee *exec.ExitError
	if errors.As(g.err, &ee) {
		return ee.ExitCode()
	}
	if g.err != nil {
		g.t.Fatal(g.err)
	}
	return 0
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpDo makes a request to the guest through the forwarded port and
// returns the response body; it retries while the connection is refused
// or reset (the forward accepts before the guest does).
func httpDo(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	var last error
	for range 20 {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			last = err
			time.Sleep(250 * time.Millisecond)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		return resp.StatusCode, string(b)
	}
	t.Fatalf("%s %s: %v", method, url, last)
	return 0, ""
}

func TestExampleHello(t *testing.T) {
	dir := buildAppliance(t, filepath.Join(examplesDir(t), "hello", "juice.yaml"))
	start := time.Now()
	out, errs, code := runJuice(t, "run", dir)
	t.Logf("juice run: %.2fs", time.Since(start).Seconds())
	for _, want := range []string{`hello: args ["world" "from Juice"]`, "hello: GREETING=Hello from a JeOS appliance"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if code != 3 || t.Failed() {
		t.Fatalf("juice run: status %d, want 3 (the app's)\n%s%s", code, out, errs)
	}

	// Recorded and replayed: the same console, the same end.
	rec := filepath.Join(t.TempDir(), "hello.jrr")
	recOut, errs, code := runJuice(t, "record", "-o", rec, dir)
	if code != 3 || !strings.Contains(recOut, "hello: GREETING=") {
		t.Fatalf("juice record: status %d\n%s%s", code, recOut, errs)
	}
	repOut, errs, code := runJuice(t, "replay", rec)
	if code != 0 || repOut != recOut || !strings.Contains(errs, "replay matches") {
		t.Fatalf("juice replay: status %d, console identical %v\n%s%s", code, repOut == recOut, repOut, errs)
	}
}

func TestExampleHTTP(t *testing.T) {
	dir := buildAppliance(t, filepath.Join(examplesDir(t), "http", "juice.yaml"))
	port := freePort(t)
	g := startGuest(t, "run", dir, "--net", fmt.Sprintf("user,hostfwd=tcp:127.0.0.1:%d-:80", port))
	g.waitFor("http: listening on")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if code, body := httpDo(t, "GET", url, ""); code != 200 || !strings.Contains(body, "Hello from Juice") || !strings.Contains(body, "linux/riscv64") {
		t.Fatalf("GET /: %d %q", code, body)
	}
	if code, body := httpDo(t, "GET", url+"quit", ""); code != 200 || body != "bye\n" {
		t.Fatalf("GET /quit: %d %q", code, body)
	}
	if code := g.wait(); code != 0 {
		t.Fatalf("juice run: status %d after /quit\n%s%s", code, g.console(), g.errs.String())
	}
}

func TestExampleCdyn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and boots an appliance; skipped in -short mode")
	}
	src := filepath.Join(t.TempDir(), "cdyn")
	copyDir(t, filepath.Join(examplesDir(t), "cdyn"), src)
	if out, err := exec.Command("make", "-C", src).CombinedOutput(); err != nil {
		t.Fatalf("make -C examples/cdyn: %v\n%s", err, out)
	}
	dir := buildAppliance(t, filepath.Join(src, "juice.yaml"))
	out, errs, code := runJuice(t, "run", dir)
	for _, want := range []string{"cdyn: hello, Juice, from C on glibc 2.", "(Linux riscv64)", "cdyn: arg 2: two (3 bytes)"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if code != 0 || t.Failed() {
		t.Fatalf("juice run: status %d\n%s%s", code, out, errs)
	}

	// The initramfs holds the C library and the loader, and no other
	// shared object.
	var libs []string
	for _, name := range cpioNames(t, filepath.Join(dir, "initrd.cpio.zst")) {
		if b := filepath.Base(name); strings.HasSuffix(b, ".so") || strings.Contains(b, ".so.") {
			libs = append(libs, b)
		}
	}
	sort.Strings(libs)
	libs = compactStrings(libs)
	if want := []string{"ld-linux-riscv64-lp64d.so.1", "libc.so.6"}; strings.Join(libs, " ") != strings.Join(want, " ") {
		t.Fatalf("shared objects in the initramfs: %q, want %q", libs, want)
	}
}

func TestExampleKV(t *testing.T) {
	dir := buildAppliance(t, filepath.Join(examplesDir(t), "kv", "juice.yaml"))
	run := func(boot int, do func(url string)) {
		t.Helper()
		port := freePort(t)
		g := startGuest(t, "run", dir, "--net", fmt.Sprintf("user,hostfwd=tcp:127.0.0.1:%d-:80", port))
		g.waitFor(fmt.Sprintf("kv: boot %d,", boot))
		g.waitFor("kv: listening on")
		url := fmt.Sprintf("http://127.0.0.1:%d/", port)
		do(url)
		if code, body := httpDo(t, "GET", url+"quit", ""); code != 200 || body != "bye\n" {
			t.Fatalf("GET /quit: %d %q", code, body)
		}
		if code := g.wait(); code != 0 {
			t.Fatalf("juice run: status %d after /quit\n%s%s", code, g.console(), g.errs.String())
		}
	}
	run(1, func(url string) {
		if code, body := httpDo(t, "PUT", url+"color", "blue"); code != 200 {
			t.Fatalf("PUT /color: %d %q", code, body)
		}
		if code, body := httpDo(t, "GET", url+"color", ""); code != 200 || body != "blue" {
			t.Fatalf("GET /color in the same run: %d %q", code, body)
		}
	})
	run(2, func(url string) {
		if code, body := httpDo(t, "GET", url+"color", ""); code != 200 || body != "blue" {
			t.Fatalf("GET /color after a restart: %d %q", code, body)
		}
	})

	// Recorded, the appliance's disk stays as it was (the guest's writes go
	// to a new overlay beside the recording), and the replay matches.
	img := filepath.Join(dir, "data.img")
	before := fileDigest(t, img)
	rec := filepath.Join(t.TempDir(), "kv.jrr")
	port := freePort(t)
	g := startGuest(t, "record", "-o", rec, dir, "--net", fmt.Sprintf("user,hostfwd=tcp:127.0.0.1:%d-:80", port))
	g.waitFor("kv: boot 3,")
	g.waitFor("kv: listening on")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if code, body := httpDo(t, "PUT", url+"shape", "round"); code != 200 {
		t.Fatalf("PUT /shape while recording: %d %q", code, body)
	}
	httpDo(t, "GET", url+"quit", "")
	if code := g.wait(); code != 0 {
		t.Fatalf("juice record: status %d\n%s%s", code, g.console(), g.errs.String())
	}
	if fileDigest(t, img) != before {
		t.Fatal("juice record changed the appliance's disk image")
	}
	if st, err := os.Stat(rec + ".data.ovl"); err != nil || st.Size() == 0 {
		t.Fatalf("no overlay with the recorded run's writes beside the recording: %v", err)
	}
	out, errs, code := runJuice(t, "replay", rec)
	if code != 0 || !strings.Contains(errs, "replay matches") || !strings.Contains(out, "kv: set shape") {
		t.Fatalf("juice replay: status %d\n%s%s", code, out, errs)
	}
}

func fileDigest(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestBuildBadInput checks that juice build names the spec key or the
// file at fault, in one line, with status 125.
func TestBuildBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles; skipped in -short mode")
	}
	dir := t.TempDir()
	hello := filepath.Join(examplesDir(t), "hello")
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A program linked against a library no appliance can have.
	write("missing.c", "int juice_missing(void) { return 7; }\n")
	write("needs.c", "int juice_missing(void);\nint main(void) { return juice_missing(); }\n")
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-o", "libjuicemissing.so", "missing.c"},
		{"-o", "needs", "needs.c", "-L.", "-ljuicemissing"},
	} {
		cmd := exec.Command("riscv64-linux-gnu-gcc", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("riscv64-linux-gnu-gcc %s: %v\n%s", args, err, out)
		}
	}
	os.Remove(filepath.Join(dir, "libjuicemissing.so"))
	// A host program, inside the spec's folder (the build context).
	host, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	x86 := write("true-x86", string(host))
	for _, tc := range []struct {
		name, spec string
		want       []string
	}{
		{"typo in a key", "name: typo\napp:\n  go: " + hello + "\n  argz: [a]\n", []string{"argz"}},
		{"typo at the top", "name: typo\napp:\n  go: " + hello + "\nmemroy: 1G\n", []string{"memroy"}},
		{"missing binary", "name: missing\napp:\n  binary: nothere\n", []string{"nothere"}},
		{"missing Go folder", "name: missing\napp:\n  go: ./nofolder\n", []string{"nofolder"}},
		{"missing file", "name: missing\napp:\n  go: " + hello + "\nfiles:\n  - {from: nofile.txt, to: /etc/nofile.txt}\n", []string{"nofile.txt"}},
		{"wrong architecture", "name: x86\napp:\n  binary: " + x86 + "\n", []string{x86, "not riscv64"}},
		{"outside the build context", "name: out\napp:\n  go: " + hello + "\n", []string{"app.go", hello, "outside the build context"}},
		{"missing library", "name: needs\napp:\n  binary: needs\n", []string{"libjuicemissing.so"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := write(strings.ReplaceAll(tc.name, " ", "-")+".yaml", tc.spec)
			out, errs, code := runJuice(t, "build", spec, "-o", filepath.Join(t.TempDir(), "out.appliance"))
			msg := strings.TrimSpace(errs)
			if code != exitError || strings.Count(msg, "\n") != 0 || strings.Contains(msg, "goroutine") {
				t.Fatalf("status %d, want %d and one line on stderr:\n%s%s", code, exitError, out, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("%q does not name %q", msg, w)
				}
			}
			t.Logf("%s", msg)
		})
	}
}

// copyDir copies the regular files of a folder (not its subfolders).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// cpioNames lists the entries of a newc cpio archive, zstd-compressed or
// not.
func cpioNames(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		zr, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		if data, err = zr.DecodeAll(data, nil); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	align := func(n int) int { return (n + 3) &^ 3 }
	for off := 0; ; {
		if off+110 > len(data) || string(data[off:off+6]) != "070701" {
			t.Fatalf("%s: not a newc cpio archive at byte %d", path, off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(data[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("%s: bad header at byte %d", path, off)
			}
			return int(v)
		}
		size, nameSize := field(6), field(11)
		if off+110+nameSize > len(data) || nameSize == 0 {
			t.Fatalf("%s: truncated at byte %d", path, off)
		}
		name := string(data[off+110 : off+110+nameSize-1])
		if name == "TRAILER!!!" {
			return names
		}
		names = append(names, name)
		off = align(align(off+110+nameSize) + size)
	}
}

func compactStrings(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
