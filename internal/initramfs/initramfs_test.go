package initramfs

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

// sample returns a Builder with one entry of every kind, added in an order
// different from the archive order.
func sample(t *testing.T) *Builder {
	t.Helper()
	host := filepath.Join(t.TempDir(), "host.bin")
	if err := os.WriteFile(host, []byte("from the host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := New()
	steps := []error{
		b.AddFile("/usr/bin/hello", 0o755, []byte("#!/bin/sh\necho hi\n")),
		b.AddCharDev("/dev/console", 0o600, 5, 1),
		b.AddSymlink("/bin", "usr/bin"),
		b.AddDir("/tmp", 0o777|os.ModeSticky),
		b.AddHostFile("/etc/host.txt", host, 0o644),
		b.AddFile("/init", 0o755, []byte("ELF")),
		b.AddDir("/usr", 0o700),
		b.AddBlockDev("dev/vda", 0o660, 254, 0),
		b.AddFile("/empty", 0o644, nil),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	return b
}

func TestPathsSortedWithParents(t *testing.T) {
	got := sample(t).Paths()
	want := []string{"bin", "dev", "dev/console", "dev/vda", "empty", "etc", "etc/host.txt", "init", "tmp", "usr", "usr/bin", "usr/bin/hello"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Paths() = %q, want %q", got, want)
	}
}

func TestReproducible(t *testing.T) {
	a, err := sample(t).Bytes(false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sample(t).Bytes(false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same entries differ")
	}
	za, err := sample(t).Bytes(true)
	if err != nil {
		t.Fatal(err)
	}
	zb, err := sample(t).Bytes(true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(za, zb) {
		t.Fatal("two gzip builds of the same entries differ")
	}
	zr, err := gzip.NewReader(bytes.NewReader(za))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, a) {
		t.Fatal("gzip stream does not decompress to the plain archive")
	}
	if !zr.Header.ModTime.IsZero() || zr.Header.Name != "" {
		t.Fatalf("gzip header not neutral: %+v", zr.Header)
	}
}

func TestReadBackWithUroot(t *testing.T) {
	data, err := sample(t).Bytes(false)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]cpio.Record{}
	for i, r := range recs {
		byName[r.Name] = r
		if r.Ino != uint64(i+1) || r.MTime != 0 || r.UID != 0 || r.GID != 0 {
			t.Errorf("%s: metadata not reproducible: %v", r.Name, r.Info)
		}
	}
	if len(recs) != 12 {
		t.Fatalf("read %d records, want 12", len(recs))
	}
	check := func(name string, mode uint64, content string) {
		t.Helper()
		r, ok := byName[name]
		if !ok {
			t.Fatalf("%s missing", name)
		}
		if r.Mode != mode {
			t.Errorf("%s: mode %#o, want %#o", name, r.Mode, mode)
		}
		if content != "" {
			got, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != content {
				t.Errorf("%s: content %q, want %q", name, got, content)
			}
		}
	}
	check("init", cpio.S_IFREG|0o755, "ELF")
	check("usr", cpio.S_IFDIR|0o700, "")
	check("usr/bin", cpio.S_IFDIR|0o755, "")
	check("tmp", cpio.S_IFDIR|0o1777, "")
	check("bin", cpio.S_IFLNK|0o777, "usr/bin")
	check("etc/host.txt", cpio.S_IFREG|0o644, "from the host\n")
	check("dev/console", cpio.S_IFCHR|0o600, "")
	check("dev/vda", cpio.S_IFBLK|0o660, "")
	if c := byName["dev/console"]; c.Rmajor != 5 || c.Rminor != 1 {
		t.Errorf("dev/console: device %d,%d, want 5,1", c.Rmajor, c.Rminor)
	}
}

func TestSystemCpioLists(t *testing.T) {
	cpioTool, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("system cpio tool not installed (apt-get install cpio)")
	}
	data, err := sample(t).Bytes(false)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cpioTool, "-t", "--quiet")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	if want := sample(t).Paths(); !reflect.DeepEqual(got, want) {
		t.Fatalf("cpio -t listed %q, want %q", got, want)
	}

	// Extract too, to check that contents and modes survive.
	dir := t.TempDir()
	cmd = exec.Command(cpioTool, "-i", "--quiet", "--no-absolute-filenames", "-d")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		// Device nodes need privileges; only fail on other errors.
		if !strings.Contains(string(out), "mknod") {
			t.Fatalf("cpio -i: %v\n%s", err, out)
		}
	}
	body, err := os.ReadFile(filepath.Join(dir, "usr/bin/hello"))
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "#!/bin/sh\necho hi\n" {
		t.Fatalf("extracted content %q", body)
	}
	if st, err := os.Stat(filepath.Join(dir, "usr/bin/hello")); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("extracted mode: %v %v", st.Mode(), err)
	}
}

func TestErrors(t *testing.T) {
	b := New()
	if err := b.AddFile("/a/b", 0o644, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.AddFile("/a/b", 0o644, nil); err == nil {
		t.Error("duplicate file accepted")
	}
	if err := b.AddFile("/a/b/c", 0o644, nil); err == nil {
		t.Error("file under a file accepted")
	}
	if err := b.AddDir("/a", 0o700); err != nil {
		t.Errorf("re-adding a parent directory: %v", err)
	}
	if err := b.AddFile("../x", 0o644, nil); err == nil {
		t.Error("path with .. accepted")
	}
	if err := b.AddFile("/", 0o644, nil); err == nil {
		t.Error("root path accepted")
	}
	if err := b.AddFile("/x", os.ModeDir|0o755, nil); err == nil {
		t.Error("type bits in perm accepted")
	}
	if err := b.AddHostFile("/y", "/nonexistent/file", 0o644); err == nil {
		t.Error("missing host file accepted")
	}
}

func TestHostFileChangedSize(t *testing.T) {
	host := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(host, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := New()
	if err := b.AddHostFile("/f", host, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(host, []byte("longer now"), 0o644); err != nil {
		t.Fatal(err)
	}
	data, err := b.Bytes(false)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].FileSize != uint64(len("longer now")) {
		t.Fatalf("host file read at write time expected, got %v", recs)
	}
}

func TestUnixSpecialBitsEquivalent(t *testing.T) {
	a, b := New(), New()
	if err := a.AddDir("/tmp", 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := b.AddDir("/tmp", 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := a.AddFile("/su", 0o4755, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.AddFile("/su", 0o755|os.ModeSetuid, nil); err != nil {
		t.Fatal(err)
	}
	da, _ := a.Bytes(false)
	db, _ := b.Bytes(false)
	if !bytes.Equal(da, db) {
		t.Fatal("octal special bits and fs.Mode bits give different archives")
	}
}
