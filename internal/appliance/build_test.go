package appliance

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/juicevm/juice/internal/appliance/spec"
)

// fakeInit stands in for Juice's init, so that these tests do not depend
// on guest/init.
var fakeInit = []byte("\x7fELF fake init")

// fakeImage is the start of a RISC-V Linux Image: enough for the builder.
func fakeImage() []byte {
	img := make([]byte, 4096)
	copy(img[0x30:], "RISCV\x00\x00\x00RSC\x05")
	return img
}

// writeFiles writes name → contents under dir (a trailing '*' on a name
// makes the file executable).
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		perm := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			name, perm = strings.TrimSuffix(name, "*"), 0o755
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), perm); err != nil {
			t.Fatal(err)
		}
	}
}

// loadSpec writes text as dir/spec.yaml and parses it.
func loadSpec(t *testing.T, dir, text string) *spec.Spec {
	t.Helper()
	p := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// entry is a file of an initramfs, as read back.
type entry struct {
	info cpio.Info
	data []byte
}

// readInitrd reads an appliance's initrd.cpio.zst.
func readInitrd(t *testing.T, dir string) map[string]entry {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, InitrdFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]entry{}
	for _, r := range recs {
		var data []byte
		if r.ReaderAt != nil {
			data, err = io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
			if err != nil {
				t.Fatal(err)
			}
		}
		out["/"+r.Name] = entry{r.Info, data}
	}
	return out
}

// sameFolders fails unless folders a and b hold the same files with the
// same bytes.
func sameFolders(t *testing.T, a, b string) {
	t.Helper()
	list := func(d string) []string {
		es, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	na, nb := list(a), list(b)
	if !reflect.DeepEqual(na, nb) {
		t.Fatalf("folders differ: %v vs %v", na, nb)
	}
	for _, n := range na {
		da, _ := os.ReadFile(filepath.Join(a, n))
		db, _ := os.ReadFile(filepath.Join(b, n))
		if !bytes.Equal(da, db) {
			t.Errorf("%s differs between two builds", n)
		}
	}
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed", name)
	}
}

func TestBuildGo(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles a Go program; skipped in -short mode")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hello/go.mod":         "module hello\n\ngo 1.26\n",
		"hello/main.go":        "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\tfmt.Println(os.Args[1:], os.Getenv(\"GREETING\"))\n\tos.Exit(3)\n}\n",
		"static/index.html":    "<p>hi</p>\n",
		"static/bin/tool.sh*":  "#!/bin/sh\n",
		"motd":                 "welcome\n",
		"seed/kv/a":            "1\n",
		"Image":                string(fakeImage()),
		"lib/go.mod":           "module lib\n\ngo 1.26\n",
		"lib/lib.go":           "package lib\n",
		"otherdir/placeholder": "",
	})
	if err := os.Symlink("index.html", filepath.Join(dir, "static/home.html")); err != nil {
		t.Fatal(err)
	}
	s := loadSpec(t, dir, `name: hello
kernel: {image: ./Image}
app:
  go: ./hello
  args: [a, "b c"]
  env: {GREETING: hi, A: "1"}
  workdir: /srv
  user: 1000:1001
files:
  - {from: ./static, to: /srv/static}
  - {from: motd, to: /etc/motd}
network:
  forwards: ["tcp:127.0.0.1:8080-:80"]
disks:
  - {name: data, size: 8M, mount: /data, from: ./seed}
  - {name: scratch, size: 2M, mount: /scratch}
cpus: 2
memory: 512M
on_exit: restart
`)
	ctx := context.Background()
	cache := t.TempDir()
	out1, out2 := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	r1, err := Build(ctx, s, BuildOptions{Out: out1, CacheDir: cache, Init: fakeInit})
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	r2, err := Build(ctx, s, BuildOptions{Out: out2, CacheDir: cache, Init: fakeInit, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r2.Cached, "app") || slices.Contains(r1.Cached, "app") {
		t.Errorf("cached parts: first build %v, second %v", r1.Cached, r2.Cached)
	}
	if !strings.Contains(progress.String(), "juice: build: app: go build ./hello (cached)\n") {
		t.Errorf("progress:\n%s", progress.String())
	}
	sameFolders(t, out1, out2)

	// The manifest.
	m, err := ReadManifest(out1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "hello" || m.Kernel != "kernel" || m.Initrd != "initrd.cpio.zst" || m.Cmdline != Cmdline ||
		m.CPUs != 2 || m.Memory != "512M" || m.Network.Mode != "user" || !reflect.DeepEqual(m.Network.Forwards, []string{"tcp:127.0.0.1:8080-:80"}) {
		t.Errorf("manifest: %+v", m)
	}
	wantDisks := []ManifestDisk{{"data", "data.img", "data", 8 << 20}, {"scratch", "scratch.img", "scratch", 2 << 20}}
	if !reflect.DeepEqual(m.Disks, wantDisks) {
		t.Errorf("disks: %+v", m.Disks)
	}
	for _, f := range []string{"kernel", "initrd.cpio.zst", "data.img", "scratch.img"} {
		if got, _, _ := fileDigest(filepath.Join(out1, f)); m.Digests[f] != got {
			t.Errorf("digest of %s: manifest %s, file %s", f, m.Digests[f], got)
		}
	}
	if len(m.Digests) != 4 {
		t.Errorf("digests: %v", m.Digests)
	}
	if st, _ := os.Stat(filepath.Join(out1, "scratch.img")); st == nil || st.Size() != 2<<20 {
		t.Errorf("scratch.img: %v", st)
	}
	if m.Spec.App.Go != "./hello" || m.Spec.Memory != "512M" || m.Spec.Files[1].From != "motd" {
		t.Errorf("recorded spec: %+v", m.Spec)
	}
	raw, _ := os.ReadFile(filepath.Join(out1, ManifestFile))
	if bytes.Contains(raw, []byte(dir)) {
		t.Error("the manifest holds a host path")
	}

	// The initramfs.
	files := readInitrd(t, out1)
	app := files["/app/hello"]
	if ef, err := elf.NewFile(bytes.NewReader(app.data)); err != nil || ef.Machine != elf.EM_RISCV || ef.Class != elf.ELFCLASS64 {
		t.Errorf("/app/hello is not a riscv64 ELF: %v", err)
	}
	if m.Sizes.App != int64(len(app.data)) || m.Sizes.Init != int64(len(fakeInit)) || m.Sizes.Kernel != fileSize(t, filepath.Join(out1, KernelFile)) ||
		m.Sizes.Libraries != 0 || m.Sizes.Files != int64(len("<p>hi</p>\n#!/bin/sh\nwelcome\nindex.html")) {
		t.Errorf("sizes: %+v", m.Sizes)
	}
	if st, _ := os.Stat(filepath.Join(out1, InitrdFile)); m.Sizes.Initrd != st.Size() {
		t.Errorf("initrd size %d, file %d", m.Sizes.Initrd, st.Size())
	}
	modes := map[string]uint64{
		"/init":                     cpio.S_IFREG | 0o755,
		"/app/hello":                cpio.S_IFREG | 0o755,
		"/dev/console":              cpio.S_IFCHR | 0o600,
		"/etc/juice/appliance.json": cpio.S_IFREG | 0o644,
		"/etc/hostname":             cpio.S_IFREG | 0o644,
		"/etc/hosts":                cpio.S_IFREG | 0o644,
		"/etc/passwd":               cpio.S_IFREG | 0o644,
		"/etc/group":                cpio.S_IFREG | 0o644,
		"/etc/motd":                 cpio.S_IFREG | 0o644,
		"/srv/static":               cpio.S_IFDIR | 0o755,
		"/srv/static/index.html":    cpio.S_IFREG | 0o644,
		"/srv/static/home.html":     cpio.S_IFLNK | 0o777,
		"/srv/static/bin/tool.sh":   cpio.S_IFREG | 0o755,
		"/tmp":                      cpio.S_IFDIR | 0o1777,
		"/srv":                      cpio.S_IFDIR | 0o755,
		"/data":                     cpio.S_IFDIR | 0o755,
		"/scratch":                  cpio.S_IFDIR | 0o755,
	}
	for p, mode := range modes {
		if e, ok := files[p]; !ok {
			t.Errorf("%s missing", p)
		} else if e.info.Mode != mode {
			t.Errorf("%s: mode %o, want %o", p, e.info.Mode, mode)
		}
	}
	var names []string
	for p, e := range files {
		names = append(names, p)
		if e.info.MTime != 0 || e.info.UID != 0 || e.info.GID != 0 {
			t.Errorf("%s: mtime %d owner %d:%d", p, e.info.MTime, e.info.UID, e.info.GID)
		}
		if strings.HasPrefix(p, "/lib") {
			t.Errorf("a static app got %s", p)
		}
	}
	sort.Strings(names)
	if string(files["/srv/static/home.html"].data) != "index.html" || string(files["/init"].data) != string(fakeInit) ||
		string(files["/etc/hostname"].data) != "hello\n" || string(files["/etc/motd"].data) != "welcome\n" {
		t.Errorf("contents wrong; paths: %v", names)
	}
	if got := string(files["/etc/passwd"].data); got != "root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1001:hello:/:/sbin/nologin\n" {
		t.Errorf("/etc/passwd: %q", got)
	}
	if got := string(files["/etc/group"].data); got != "root:x:0:\napp:x:1001:\n" {
		t.Errorf("/etc/group: %q", got)
	}
	var cfg map[string]any
	if err := json.Unmarshal(files["/etc/juice/appliance.json"].data, &cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name": "hello", "hostname": "hello",
		"app": map[string]any{"path": "/app/hello", "args": []any{"a", "b c"}, "env": []any{"A=1", "GREETING=hi"},
			"workdir": "/srv", "uid": 1000.0, "gid": 1001.0},
		"network": map[string]any{"mode": "dhcp"},
		"disks": []any{map[string]any{"device": "/dev/vda", "mount": "/data", "fs": "ext4"},
			map[string]any{"device": "/dev/vdb", "mount": "/scratch", "fs": "ext4"}},
		"on_exit": "restart",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("appliance.json:\n got %v\nwant %v", cfg, want)
	}

	// A changed source is rebuilt, into the same folder.
	writeFiles(t, dir, map[string]string{"hello/main.go": "package main\n\nfunc main() { println(\"changed\") }\n"})
	r3, err := Build(ctx, s, BuildOptions{Out: out1, CacheDir: cache, Init: fakeInit})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(r3.Cached, "app") || r3.Manifest.Digests["initrd.cpio.zst"] == m.Digests["initrd.cpio.zst"] {
		t.Errorf("changed app not rebuilt: cached %v", r3.Cached)
	}
	// A folder that is not an appliance is not replaced.
	other := filepath.Join(dir, "otherdir")
	if _, err := Build(ctx, s, BuildOptions{Out: other, CacheDir: cache, Init: fakeInit}); err == nil || !strings.Contains(err.Error(), "is not an appliance folder") {
		t.Errorf("building over a folder: %v", err)
	}
	// Default output: NAME.appliance in the current folder.
	t.Chdir(dir)
	r4, err := Build(ctx, s, BuildOptions{CacheDir: cache, Init: fakeInit})
	if err != nil || r4.Dir != filepath.Join(dir, "hello.appliance") {
		t.Errorf("default output: %v, %v", r4, err)
	}
}

// crossCompileC compiles C source with Debian's riscv64 cross-gcc.
func crossCompileC(t *testing.T, dir, out, src string, args ...string) {
	t.Helper()
	c := filepath.Join(dir, filepath.Base(out)+".c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("riscv64-linux-gnu-gcc", append([]string{"-O2", "-o", out, c}, args...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("riscv64-linux-gnu-gcc: %v\n%s", err, msg)
	}
}

func TestBuildDynamicC(t *testing.T) {
	needTool(t, "riscv64-linux-gnu-gcc")
	if _, err := os.Stat(DefaultLibraryPath[0]); err != nil {
		t.Skip("libc6-riscv64-cross not installed")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Image": string(fakeImage())})
	crossCompileC(t, dir, filepath.Join(dir, "hello"), "#include <stdio.h>\nint main(int argc, char **argv) { printf(\"hello from C, %s\\n\", argv[1]); return 0; }\n")
	crossCompileC(t, dir, filepath.Join(dir, "mathy"), "#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\nint main(int argc, char **argv) { printf(\"%.3f\\n\", cos(atof(argv[1]))); return 0; }\n", "-lm")
	crossCompileC(t, dir, filepath.Join(dir, "static"), "int main(void) { return 0; }\n", "-static")

	cases := []struct {
		bin  string
		libs []string
	}{
		{"hello", []string{"/lib/ld-linux-riscv64-lp64d.so.1", "/lib/riscv64-linux-gnu/libc.so.6"}},
		{"mathy", []string{"/lib/ld-linux-riscv64-lp64d.so.1", "/lib/riscv64-linux-gnu/libc.so.6", "/lib/riscv64-linux-gnu/libm.so.6"}},
		{"static", nil},
	}
	cache := t.TempDir()
	for _, c := range cases {
		t.Run(c.bin, func(t *testing.T) {
			s := loadSpec(t, dir, "name: "+c.bin+"\nkernel: {image: Image}\napp: {binary: ./"+c.bin+", args: [\"0\"]}\n")
			out := filepath.Join(dir, c.bin+".appliance")
			res, err := Build(context.Background(), s, BuildOptions{Out: out, CacheDir: cache, Init: fakeInit})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var size int64
			for _, l := range res.Libraries {
				got = append(got, l.Guest)
				size += l.Size
			}
			if !reflect.DeepEqual(got, c.libs) {
				t.Errorf("libraries %v, want %v", got, c.libs)
			}
			files := readInitrd(t, out)
			var inInitrd []string
			for p := range files {
				if strings.HasPrefix(p, "/lib/") || strings.HasPrefix(p, "/usr/lib/") {
					if files[p].info.Mode&cpio.S_IFMT == cpio.S_IFREG {
						inInitrd = append(inInitrd, p)
					}
				}
			}
			sort.Strings(inInitrd)
			if !reflect.DeepEqual(inInitrd, c.libs) {
				t.Errorf("initramfs holds %v, want %v", inInitrd, c.libs)
			}
			if res.Manifest.Sizes.Libraries != size {
				t.Errorf("sizes.libraries %d, want %d", res.Manifest.Sizes.Libraries, size)
			}
			// Cached the second time.
			res2, err := Build(context.Background(), s, BuildOptions{Out: out, CacheDir: cache, Init: fakeInit})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.libs) > 0 && !slices.Contains(res2.Cached, "libraries") {
				t.Errorf("library resolution not cached: %v", res2.Cached)
			}

			// The loader finds the libraries where they are: run the app
			// with the initramfs as its root.
			if _, err := exec.LookPath("qemu-riscv64"); err != nil {
				return
			}
			root := t.TempDir()
			for p, e := range files {
				if e.info.Mode&cpio.S_IFMT == cpio.S_IFREG {
					writeFiles(t, root, map[string]string{strings.TrimPrefix(p, "/") + "*": string(e.data)})
				}
			}
			cmd := exec.Command("qemu-riscv64", "-L", root, filepath.Join(root, "app", c.bin), "0")
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			outp, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("running %s under qemu-riscv64 -L: %v\n%s", c.bin, err, outp)
			}
			want := map[string]string{"hello": "hello from C, 0\n", "mathy": "1.000\n", "static": ""}[c.bin]
			if string(outp) != want {
				t.Errorf("output %q, want %q", outp, want)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Image":        string(fakeImage()),
		"notimage":     "just text",
		"text":         "not an ELF\n",
		"lib/go.mod":   "module lib\n\ngo 1.26\n",
		"lib/lib.go":   "package lib\n",
		"bad/go.mod":   "module bad\n\ngo 1.26\n",
		"bad/main.go":  "package main\n\nfunc main() { undefined() }\n",
		"etc/x":        "x\n",
		"static/a.txt": "a\n",
	})
	host, err := os.Executable() // a host ELF
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(host)
	writeFiles(t, dir, map[string]string{"hostprog*": string(data)})
	hostArch := map[string]string{"amd64": "an x86-64", "arm64": "an aarch64"}[runtime.GOARCH]

	type tc struct {
		name, spec, want string
		needs            string
	}
	cases := []tc{
		{"wrong arch", "app: {binary: ./hostprog}", "spec.yaml:3: app.binary: ./hostprog is " + hostArch + " ELF, not riscv64", ""},
		{"not an ELF", "app: {binary: ./text}", "spec.yaml:3: app.binary: ./text is not an ELF file", ""},
		{"not main", "app: {go: ./lib}", "spec.yaml:3: app.go: ./lib holds package lib, not a main package", "go"},
		{"go build fails", "app: {go: ./bad}", "spec.yaml:3: app.go: go build in ./bad failed", "go"},
		{"clash with init", "app: {binary: ./prog}\nfiles:\n  - {from: ./etc/x, to: /init}", "spec.yaml:5: files[0].to: /init is already in the appliance (Juice's init)", "gcc"},
		{"clash with config", "app: {binary: ./prog}\nfiles:\n  - {from: ./etc, to: /etc/juice/appliance.json}", "spec.yaml:5: files[0].to: /etc/juice/appliance.json is already in the appliance (Juice's appliance configuration)", "gcc"},
		{"clash between files", "app: {binary: ./prog}\nfiles:\n  - {from: ./static, to: /srv}\n  - {from: ./etc/x, to: /srv/a.txt}", "spec.yaml:6: files[1].to: /srv/a.txt is already in the appliance (files[0] (./static))", "gcc"},
		{"missing library", "app: {binary: ./needsfoo}", "spec.yaml:3: app.binary: library libfoo.so needed by ./needsfoo not found in /usr/riscv64-linux-gnu/lib", "gcc"},
		{"workdir is a file", "app: {binary: ./prog, workdir: /srv}\nfiles:\n  - {from: ./etc/x, to: /srv}", "spec.yaml:3: app.workdir: /srv is a file in the appliance (files[0] (./etc/x)), not a folder", "gcc"},
		{"disk too small", "app: {binary: ./prog}\ndisks:\n  - {name: d, size: 1M, mount: /d, from: ./big}", "spec.yaml:5: disks[0].size: 1M is too small for ./big: it needs about", "gcc"},
	}
	haveGCC := exec.Command("riscv64-linux-gnu-gcc", "--version").Run() == nil
	if haveGCC {
		crossCompileC(t, dir, filepath.Join(dir, "prog"), "int main(void) { return 0; }\n", "-static")
		crossCompileC(t, dir, filepath.Join(dir, "libfoo.so"), "int foo(void) { return 1; }\n", "-shared", "-fPIC")
		crossCompileC(t, dir, filepath.Join(dir, "needsfoo"), "int foo(void);\nint main(void) { return foo(); }\n", "-L"+dir, "-lfoo")
		writeFiles(t, dir, map[string]string{"big/blob": strings.Repeat("x", 2<<20)})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.needs == "gcc" && !haveGCC {
				t.Skip("riscv64-linux-gnu-gcc not installed")
			}
			if c.needs == "go" && testing.Short() {
				t.Skip("runs go; skipped in -short mode")
			}
			s := loadSpec(t, dir, "name: x\nkernel: {image: ./Image}\n"+c.spec+"\n")
			_, err := Build(context.Background(), s, BuildOptions{Out: filepath.Join(dir, "out"), CacheDir: t.TempDir(), Init: fakeInit})
			if err == nil {
				t.Fatalf("no error; want %q", c.want)
			}
			msg := strings.TrimPrefix(err.Error(), dir+"/")
			if !strings.HasPrefix(msg, c.want) {
				t.Errorf("error:\n got %q\nwant %q", msg, c.want)
			}
		})
	}

	t.Run("kernel image", func(t *testing.T) {
		if !haveGCC {
			t.Skip("riscv64-linux-gnu-gcc not installed")
		}
		s := loadSpec(t, dir, "name: x\nkernel: {image: ./notimage}\napp: {binary: ./prog}\n")
		_, err := Build(context.Background(), s, BuildOptions{Out: filepath.Join(dir, "out"), CacheDir: t.TempDir(), Init: fakeInit})
		want := "spec.yaml:2: kernel.image: ./notimage is not a RISC-V kernel Image"
		if err == nil || !strings.HasPrefix(strings.TrimPrefix(err.Error(), dir+"/"), want) {
			t.Errorf("error %v, want %q", err, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
			t.Error("a failed build left its output folder")
		}
	})
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
