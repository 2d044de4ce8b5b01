package diskimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/bytesize"
)

func TestParseUsedInodes(t *testing.T) {
	out := `Inode count:              32
Free inodes:              20
Inodes per group:         16
First inode:              11
Group 0: (Blocks 0-8191)
  10 free blocks, 3 free inodes, 2 directories
  Free blocks: 1-10
  Free inodes: 1, 3-10, 14-15
Group 1: (Blocks 8192-16383) [INODE_UNINIT]
  Free blocks:
  Free inodes: 17-20, 22-32
`
	got, err := parseUsedInodes(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{2, 11, 12, 13, 16, 21}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if _, err := parseUsedInodes("Inode count: 32\n"); err == nil {
		t.Error("truncated output accepted")
	}
}

// needTools skips the test when e2fsprogs is missing.
func needTools(t *testing.T) {
	t.Helper()
	if _, err := findTools(); err != nil {
		t.Skip(err)
	}
	if _, err := findTool("e2fsck"); err != nil {
		t.Skip(err)
	}
}

// noTempFiles fails if a temporary image file was left in dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestCreateEmpty(t *testing.T) {
	needTools(t)
	ctx := context.Background()
	dir := t.TempDir()
	img := filepath.Join(dir, "empty.img")
	var progress bytes.Buffer
	if err := Create(ctx, img, Options{Size: 8 * bytesize.MiB, Label: "scratch", Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 8*bytesize.MiB {
		t.Errorf("image is %d bytes, want %d", st.Size(), 8*bytesize.MiB)
	}
	if err := Check(ctx, img); err != nil {
		t.Fatal(err)
	}
	hdr := dumpe2fsHeader(t, img)
	for _, want := range []string{
		"Filesystem volume name:   scratch",
		"Block count:              2048",
		"Block size:               4096",
		"Last write time:          Sat Jan  1 00:00:00 2000",
		"metadata_csum",
	} {
		if !strings.Contains(hdr, want) {
			t.Errorf("dumpe2fs -h lacks %q:\n%s", want, hdr)
		}
	}
	if !strings.Contains(progress.String(), "wrote "+img) {
		t.Errorf("progress output: %q", progress.String())
	}
	root, err := Stat(ctx, img, "/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(root, "User:     0   Group:     0") {
		t.Errorf("root directory not owned by 0:0:\n%s", root)
	}
	noTempFiles(t, dir)
}

// dumpe2fsHeader returns `dumpe2fs -h img`.
func dumpe2fsHeader(t *testing.T, img string) string {
	t.Helper()
	tl, err := findTools()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tl.dumpe2fs, "-h", img).Output()
	if err != nil {
		t.Fatalf("dumpe2fs -h: %v", err)
	}
	return string(out)
}

// testFile is a file of the test tree.
type testFile struct {
	path    string
	data    string      // contents, or the target of a symlink
	mode    os.FileMode // permissions; ModeSymlink or ModeDir for those
	hlinkOf string      // non-empty: a hard link to this path
}

// testTree is the tree the folder tests copy in.
var testTree = []testFile{
	{path: "hello.txt", data: "hello, juice\n", mode: 0o644},
	{path: "empty", data: "", mode: 0o600},
	{path: "bin", mode: os.ModeDir | 0o755},
	{path: "bin/tool", data: "#!/bin/sh\necho tool\n", mode: 0o755},
	{path: "private", mode: os.ModeDir | 0o700},
	{path: "private/secret", data: strings.Repeat("s3cr3t", 1000), mode: 0o400},
	{path: "deep", mode: os.ModeDir | 0o755},
	{path: "deep/er", mode: os.ModeDir | 0o750},
	{path: "deep/er/still", mode: os.ModeDir | 0o755},
	{path: "deep/er/still/big.bin", data: string(pseudoRandom(300_000)), mode: 0o644},
	{path: "name with \"quotes\" and spaces", data: "odd name\n", mode: 0o644},
	{path: "link", data: "hello.txt", mode: os.ModeSymlink},
	{path: "deep/longlink", data: strings.Repeat("x/", 40) + "target", mode: os.ModeSymlink},
	{path: "dangling", data: "/nowhere", mode: os.ModeSymlink},
	{path: "hard", hlinkOf: "hello.txt"},
}

// pseudoRandom returns n deterministic bytes.
func pseudoRandom(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x >> 32)
	}
	return b
}

// makeTree writes files under dir in the given order, with times set to
// mtime.
func makeTree(t *testing.T, dir string, files []testFile, mtime time.Time) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case f.hlinkOf != "":
			err = os.Link(filepath.Join(dir, f.hlinkOf), p)
		case f.mode&os.ModeSymlink != 0:
			err = os.Symlink(f.data, p)
		case f.mode.IsDir():
			if err = os.MkdirAll(p, 0o755); err == nil {
				err = os.Chmod(p, f.mode.Perm())
			}
		default:
			if err = os.WriteFile(p, []byte(f.data), 0o600); err == nil {
				err = os.Chmod(p, f.mode.Perm())
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		if f.mode&os.ModeSymlink == 0 {
			os.Chtimes(filepath.Join(dir, f.path), mtime, mtime)
		}
	}
}

func TestCreateFromFolder(t *testing.T) {
	needTools(t)
	ctx := context.Background()
	src := t.TempDir()
	makeTree(t, src, testTree, time.Now())
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := Create(ctx, img, Options{Size: 16 * bytesize.MiB, From: src}); err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, img); err != nil {
		t.Fatal(err)
	}
	modeRE := regexp.MustCompile(`Mode:\s+(\d+)`)
	for _, f := range testTree {
		st, err := Stat(ctx, img, "/"+f.path)
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		for _, want := range []string{"User:     0   Group:     0", "mtime: 0x386d4380:00000000", "ctime: 0x386d4380:00000000"} {
			if !strings.Contains(st, want) {
				t.Errorf("%s: stat lacks %q:\n%s", f.path, want, st)
			}
		}
		switch {
		case f.hlinkOf != "":
			if !strings.Contains(st, "Links: 2") {
				t.Errorf("%s: not a hard link:\n%s", f.path, st)
			}
		case f.mode&os.ModeSymlink != 0:
			target := st
			if len(f.data) >= 60 { // stored in a block: read it
				b, _ := ReadFile(ctx, img, "/"+f.path)
				target = string(b)
			}
			if !strings.Contains(st, "Type: symlink") || !strings.Contains(target, f.data) {
				t.Errorf("%s: not a symlink to %q:\n%s", f.path, f.data, st)
			}
		case f.mode.IsDir():
			if !strings.Contains(st, "Type: directory") {
				t.Errorf("%s: not a directory:\n%s", f.path, st)
			}
		default:
			got, err := ReadFile(ctx, img, "/"+f.path)
			if err != nil {
				t.Errorf("%s: %v", f.path, err)
			} else if string(got) != f.data {
				t.Errorf("%s: read back %d bytes that differ from the %d written", f.path, len(got), len(f.data))
			}
		}
		if f.hlinkOf == "" && f.mode&os.ModeSymlink == 0 {
			m := modeRE.FindStringSubmatch(st)
			if want := fmt.Sprintf("%04o", f.mode.Perm()); m == nil || m[1] != want {
				t.Errorf("%s: mode %v, want %s:\n%s", f.path, m, want, st)
			}
		}
	}
	if _, err := ReadFile(ctx, img, "/no/such/file"); err == nil {
		t.Error("ReadFile of a missing file succeeded")
	}
}

func TestReproducible(t *testing.T) {
	needTools(t)
	ctx := context.Background()
	// The same tree written in opposite orders at different times.
	a, b := t.TempDir(), t.TempDir()
	makeTree(t, a, testTree, time.Unix(1e9, 0))
	rev := make([]testFile, 0, len(testTree))
	for i := len(testTree) - 1; i >= 0; i-- {
		rev = append(rev, testTree[i])
	}
	// Parents and link targets must exist first: make directories first.
	var dirsFirst []testFile
	for _, f := range rev {
		if f.mode.IsDir() {
			dirsFirst = append(dirsFirst, f)
		}
	}
	for _, f := range rev {
		if !f.mode.IsDir() && f.hlinkOf == "" {
			dirsFirst = append(dirsFirst, f)
		}
	}
	for _, f := range rev {
		if f.hlinkOf != "" {
			dirsFirst = append(dirsFirst, f)
		}
	}
	makeTree(t, b, dirsFirst, time.Unix(2e9, 0))

	out := t.TempDir()
	images := []string{filepath.Join(out, "1.img"), filepath.Join(out, "2.img"), filepath.Join(out, "3.img")}
	for i, src := range []string{a, b, a} {
		if err := Create(ctx, images[i], Options{Size: 12 * bytesize.MiB, From: src, Label: "data"}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := os.ReadFile(images[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range images[1:] {
		other, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, other) {
			t.Errorf("%s differs from %s", img, images[0])
		}
	}

	// Different contents give a different UUID; a given UUID is used.
	if err := os.WriteFile(filepath.Join(a, "hello.txt"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(out, "changed.img")
	if err := Create(ctx, changed, Options{Size: 12 * bytesize.MiB, From: a, Label: "data"}); err != nil {
		t.Fatal(err)
	}
	uuid := func(img string) string {
		m := regexp.MustCompile(`Filesystem UUID:\s+(\S+)`).FindStringSubmatch(dumpe2fsHeader(t, img))
		if m == nil {
			t.Fatalf("%s: no UUID", img)
		}
		return m[1]
	}
	if uuid(changed) == uuid(images[0]) {
		t.Error("changing a file did not change the UUID")
	}
	given := filepath.Join(out, "given.img")
	const u = "01234567-89ab-cdef-0123-456789abcdef"
	if err := Create(ctx, given, Options{Size: 4 * bytesize.MiB, UUID: strings.ToUpper(u)}); err != nil {
		t.Fatal(err)
	}
	if got := uuid(given); got != u {
		t.Errorf("UUID %s, want %s", got, u)
	}
}

func TestCreateErrors(t *testing.T) {
	needTools(t)
	ctx := context.Background()
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.img")
	if err := os.WriteFile(existing, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	bigSrc := t.TempDir()
	if err := os.WriteFile(filepath.Join(bigSrc, "big"), pseudoRandom(6<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	manySrc := t.TempDir()
	for i := range 600 {
		if err := os.WriteFile(filepath.Join(manySrc, fmt.Sprintf("file%04d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	cases := []struct {
		name, path string
		opts       Options
		want       string
		is         error
	}{
		{"exists", existing, Options{Size: 4 * bytesize.MiB}, "use --force", ErrExists},
		{"directory", dir, Options{Size: 4 * bytesize.MiB, Force: true}, "is a directory", nil},
		{"from not a dir", filepath.Join(dir, "a.img"), Options{Size: 4 * bytesize.MiB, From: notDir}, "not a directory", ErrNotDir},
		{"from missing", filepath.Join(dir, "b.img"), Options{Size: 4 * bytesize.MiB, From: filepath.Join(dir, "missing")}, "no such file", os.ErrNotExist},
		{"no parent", filepath.Join(dir, "missing", "c.img"), Options{Size: 4 * bytesize.MiB}, "cannot write in", os.ErrNotExist},
		{"unwritable", "/proc/juice-test.img", Options{Size: 4 * bytesize.MiB}, "cannot write in", nil},
		{"zero size", filepath.Join(dir, "d.img"), Options{}, "must be positive", nil},
		{"odd size", filepath.Join(dir, "e.img"), Options{Size: 4*bytesize.MiB + 1}, "multiple of 512", nil},
		{"tiny", filepath.Join(dir, "f.img"), Options{Size: 64 * bytesize.KiB}, "below the minimum", nil},
		{"label", filepath.Join(dir, "g.img"), Options{Size: 4 * bytesize.MiB, Label: strings.Repeat("L", 17)}, "longer than 16", nil},
		{"uuid", filepath.Join(dir, "h.img"), Options{Size: 4 * bytesize.MiB, UUID: "not-a-uuid"}, "UUID", nil},
		{"too small for data", filepath.Join(dir, "i.img"), Options{Size: 4 * bytesize.MiB, From: bigSrc}, "too small", nil},
		{"too small for inodes", filepath.Join(dir, "j.img"), Options{Size: 4 * bytesize.MiB, From: manySrc}, "too small", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Create(ctx, c.path, c.opts)
			if err == nil {
				t.Fatalf("Create succeeded, want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %q is not %v", err, c.is)
			}
			if c.path != existing && c.path != dir {
				if _, serr := os.Lstat(c.path); serr == nil {
					t.Errorf("%s exists after a failure", c.path)
				}
			}
			var small *TooSmallError
			if errors.As(err, &small) {
				// The suggested size must be enough.
				ok := filepath.Join(t.TempDir(), "ok.img")
				opts := c.opts
				opts.Size = small.Needed
				if err := Create(ctx, ok, opts); err != nil {
					t.Errorf("the suggested size %s does not work: %v", bytesize.Format(small.Needed), err)
				}
			}
		})
	}
	if data, err := os.ReadFile(existing); err != nil || string(data) != "keep me" {
		t.Errorf("existing file changed: %q, %v", data, err)
	}
	noTempFiles(t, dir)

	// Force replaces the file.
	if err := Create(ctx, existing, Options{Size: 4 * bytesize.MiB, Force: true}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(existing); err != nil || st.Size() != 4*bytesize.MiB {
		t.Errorf("forced image: %v, %v", st, err)
	}
	noTempFiles(t, dir)

	// A cancelled context stops the work and leaves nothing behind.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Create(cctx, filepath.Join(dir, "cancelled.img"), Options{Size: 4 * bytesize.MiB, From: bigSrc}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Create: %v", err)
	}
	noTempFiles(t, dir)
}

// TestCreateInsideFrom makes images inside the folder they are made from:
// the image, its temporary files (one left by an interrupted run too) and
// what Exclude names are left out, so that every run gives the bytes of an
// image of the folder without them.
func TestCreateInsideFrom(t *testing.T) {
	needTools(t)
	ctx := context.Background()
	clean, src := t.TempDir(), t.TempDir()
	makeTree(t, clean, testTree, time.Unix(1e9, 0))
	makeTree(t, src, testTree, time.Unix(2e9, 0))
	want := filepath.Join(t.TempDir(), "want.img")
	opts := Options{Size: 12 * bytesize.MiB, From: clean}
	if err := Create(ctx, want, opts); err != nil {
		t.Fatal(err)
	}
	wantData, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}

	// A leftover temporary file of an interrupted run, and a folder the
	// caller excludes.
	img := filepath.Join(src, "deep", "out.img")
	if err := os.WriteFile(filepath.Join(src, "deep", ".out.img.tmp-123"), []byte("left over"), 0o600); err != nil {
		t.Fatal(err)
	}
	makeTree(t, src, []testFile{{path: "appliance", mode: os.ModeDir | 0o755}, {path: "appliance/kernel", data: "k", mode: 0o644}}, time.Unix(3e9, 0))
	opts = Options{Size: 12 * bytesize.MiB, From: src, Exclude: []string{filepath.Join(src, "appliance")}}
	for run := range 2 {
		if err := Create(ctx, img, opts); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		got, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, wantData) {
			t.Fatalf("run %d: the image of a folder holding it differs from the image of the folder without it", run+1)
		}
		opts.Force = true // the second run replaces the first's image
	}
	ents, err := os.ReadDir(filepath.Join(src, "deep"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != ".out.img.tmp-123 er longlink out.img" {
		t.Errorf("the folder holds %q afterwards", names)
	}
	// The source is unchanged: its files still have one link.
	st, err := os.Stat(filepath.Join(src, "hello.txt"))
	if err != nil || st.Sys().(*syscall.Stat_t).Nlink != 2 { // hello.txt and hard
		t.Errorf("hello.txt: %v, %d links", err, st.Sys().(*syscall.Stat_t).Nlink)
	}
}

// TestCreateRefusesItsSourceAndLinks checks the outputs Create refuses.
func TestCreateRefusesItsSourceAndLinks(t *testing.T) {
	needTools(t)
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	makeTree(t, src, testTree, time.Unix(1e9, 0))
	target := filepath.Join(dir, "target.img")
	os.WriteFile(target, []byte("keep"), 0o644)
	os.Symlink(target, filepath.Join(dir, "link.img"))
	os.Symlink(src, filepath.Join(dir, "srclink"))
	for _, c := range []struct{ path, want string }{
		{src, "the --from folder itself"},
		{dir, "holding the --from folder"},
		{filepath.Join(dir, "link.img"), "symbolic link"},
		{filepath.Join(dir, "srclink"), "symbolic link"},
	} {
		err := Create(ctx, c.path, Options{Size: 4 * bytesize.MiB, From: src, Force: true})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Create(%s): %v, want %q", c.path, err, c.want)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the link's target changed: %q", b)
	}
	noTempFiles(t, dir)
	noTempFiles(t, src)
}
