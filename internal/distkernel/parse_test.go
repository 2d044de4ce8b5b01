package distkernel

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sampleRelease = `Origin: Debian
Label: Debian
Suite: stable
Version: 13.7
Codename: trixie
Date: Sat, 12 Sep 2026 07:55:41 UTC
Valid-Until: Sat, 19 Sep 2026 07:55:41 UTC
Acquire-By-Hash: yes
Architectures: all amd64 riscv64
Components: main
Description: Debian 13.7 Released 12 September 2026
MD5Sum:
 d41d8cd98f00b204e9800998ecf8427e        0 main/binary-riscv64/Packages
SHA256:
 0f29f58fb195d4e44daefa1a416ea34d1fd5f4908f54968286ad115384372298 54322586 main/binary-riscv64/Packages
 fd752d41f5441b31a8d5885bcbe1a9a1758d56614fd85cce9249923e6902a5e5 12910137 main/binary-riscv64/Packages.gz
 1b0d89902b0bde1d8cacb392e3c9b73511abc12b291511c3a9dcd28ad0fa3582  9385284 main/binary-riscv64/Packages.xz
`

func TestParseRelease(t *testing.T) {
	r, err := parseRelease([]byte(sampleRelease))
	if err != nil {
		t.Fatal(err)
	}
	if r.Codename != "trixie" || r.Suite != "stable" || r.Version != "13.7" || r.Origin != "Debian" || !r.AcquireByHash {
		t.Errorf("fields: %+v", r)
	}
	if want := time.Date(2026, 9, 12, 7, 55, 41, 0, time.UTC); !r.Date.Equal(want) {
		t.Errorf("Date = %v, want %v", r.Date, want)
	}
	if r.ValidUntil.IsZero() {
		t.Error("Valid-Until not parsed")
	}
	if len(r.Files) != 3 {
		t.Fatalf("got %d SHA256 files, want 3 (MD5Sum must be ignored): %v", len(r.Files), r.Files)
	}
	got := r.Files["main/binary-riscv64/Packages.xz"]
	want := fileSum{Size: 9385284, SHA256: "1b0d89902b0bde1d8cacb392e3c9b73511abc12b291511c3a9dcd28ad0fa3582"}
	if got != want {
		t.Errorf("Packages.xz = %+v, want %+v", got, want)
	}
	if d := r.describe(); !strings.Contains(d, "13.7") || !strings.Contains(d, "trixie") || !strings.Contains(d, "stable") {
		t.Errorf("describe() = %q", d)
	}
}

func TestParseReleaseErrors(t *testing.T) {
	cases := map[string]string{
		"no sums":   "Origin: Debian\nCodename: trixie\n",
		"bad hash":  "Codename: x\nSHA256:\n zzzz 12 main/Packages\n",
		"bad size":  "Codename: x\nSHA256:\n " + strings.Repeat("a", 64) + " -1 main/Packages\n",
		"bad line":  "Codename: x\nSHA256:\n " + strings.Repeat("a", 64) + " 12\n",
		"bad date":  "Codename: x\nDate: yesterday\nSHA256:\n " + strings.Repeat("a", 64) + " 12 p\n",
		"bad field": "Codename x\n",
		"orphan":    " continuation\n",
	}
	for name, text := range cases {
		if _, err := parseRelease([]byte(text)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

const samplePackages = `Package: linux-image-riscv64
Source: linux
Version: 6.12.94-1
Architecture: riscv64
Depends: linux-image-6.12.94+deb13-riscv64 (= 6.12.94-1)
Filename: pool/main/l/linux/linux-image-riscv64_6.12.94-1_riscv64.deb
Size: 1400
SHA256: 1111111111111111111111111111111111111111111111111111111111111111

Package: linux-image-riscv64
Source: linux
Version: 6.12.107-1
Architecture: riscv64
Provides: linux-image-generic, wireguard-modules (= 1.0.0)
Depends: linux-image-6.12.107+deb13-riscv64 (= 6.12.107-1)
Description: Linux for 64-bit RISC-V platforms (meta-package)
 A second description line.
Filename: pool/main/l/linux/linux-image-riscv64_6.12.107-1_riscv64.deb
Size: 1436
SHA256: 1b458cc5b1d13b946bdca67bdca891fccf57882f8af972276d1346b24fa8285b

Package: linux-image-6.12.107+deb13-riscv64-dbg
Version: 6.12.107-1
Architecture: riscv64
Filename: pool/main/l/linux/linux-image-6.12.107+deb13-riscv64-dbg_6.12.107-1_riscv64.deb
Size: 900000000
SHA256: 2222222222222222222222222222222222222222222222222222222222222222

Package: linux-image-6.12.107+deb13-riscv64
Source: linux
Version: 6.12.107-1
Architecture: riscv64
Depends: kmod, initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
Filename: pool/main/l/linux/linux-image-6.12.107+deb13-riscv64_6.12.107-1_riscv64.deb
Size: 112012420
SHA256: abe9f65d74b434692149482b031db7a2aaf832921e09f69f775293c0e0c5799c

Package: linux-image-6.12.94+deb13-riscv64
Version: 6.12.94-1
Architecture: riscv64
Filename: pool/main/l/linux/linux-image-6.12.94+deb13-riscv64_6.12.94-1_riscv64.deb
Size: 111000000
SHA256: 3333333333333333333333333333333333333333333333333333333333333333

Package: hello
Version: 2.10-3
Architecture: riscv64
Filename: pool/main/h/hello/hello_2.10-3_riscv64.deb
Size: 50000
SHA256: 4444444444444444444444444444444444444444444444444444444444444444
`

func kernelEntries(t *testing.T, text string) []pkgEntry {
	t.Helper()
	e, err := parsePackages(strings.NewReader(text), func(n string) bool { return strings.HasPrefix(n, "linux-image-") })
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestChooseKernelFollowsMetaPackage(t *testing.T) {
	entries := kernelEntries(t, samplePackages)
	if len(entries) != 5 {
		t.Fatalf("kept %d entries, want 5 (hello filtered out)", len(entries))
	}
	k, err := chooseKernel(entries)
	if err != nil {
		t.Fatal(err)
	}
	if k.Package != "linux-image-6.12.107+deb13-riscv64" || k.Version != "6.12.107-1" || k.Size != 112012420 ||
		k.SHA256 != "abe9f65d74b434692149482b031db7a2aaf832921e09f69f775293c0e0c5799c" {
		t.Errorf("chose %+v", k)
	}
}

func TestChooseKernelWithoutMetaPackage(t *testing.T) {
	var kept []pkgEntry
	for _, e := range kernelEntries(t, samplePackages) {
		if e.Package != metaPackage {
			kept = append(kept, e)
		}
	}
	k, err := chooseKernel(kept)
	if err != nil {
		t.Fatal(err)
	}
	if k.Package != "linux-image-6.12.107+deb13-riscv64" {
		t.Errorf("chose %s, want the newest versioned kernel (not -dbg)", k.Package)
	}
}

func TestChooseKernelErrors(t *testing.T) {
	missing := strings.Replace(samplePackages, "Package: linux-image-6.12.107+deb13-riscv64\n", "Package: linux-image-6.12.107+deb13-riscv64-other\n", 1)
	if _, err := chooseKernel(kernelEntries(t, missing)); err == nil || !strings.Contains(err.Error(), "not in the index") {
		t.Errorf("dependency missing from the index: err = %v", err)
	}
	badPath := strings.Replace(samplePackages, "Filename: pool/main/l/linux/linux-image-6.12.107+deb13-riscv64_", "Filename: pool/../../etc/linux-image-6.12.107+deb13-riscv64_", 1)
	if _, err := chooseKernel(kernelEntries(t, badPath)); err == nil || !strings.Contains(err.Error(), "Filename") {
		t.Errorf("hostile Filename: err = %v", err)
	}
	if _, err := chooseKernel(kernelEntries(t, "Package: linux-image-riscv64-dbg\nVersion: 1\nArchitecture: riscv64\n")); err == nil {
		t.Error("no kernel: no error")
	}
}

func TestParseDepends(t *testing.T) {
	g, err := parseDepends("kmod, initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool,\n linux-base:any [riscv64]")
	if err != nil {
		t.Fatal(err)
	}
	if len(g) != 3 || len(g[1]) != 2 || g[1][0] != (dependency{"initramfs-tools", ">=", "0.120+deb8u2"}) ||
		g[1][1].Name != "linux-initramfs-tool" || g[2][0].Name != "linux-base" {
		t.Errorf("parsed %+v", g)
	}
	if _, err := parseDepends("foo (= 1"); err == nil {
		t.Error("malformed relation accepted")
	}
}

func TestCompareVersions(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"6.12.107-1", "6.12.94-1", 1},
		{"6.12.94-1", "6.12.107-1", -1},
		{"6.12.107-1", "6.12.107-1", 0},
		{"1.0~rc1-1", "1.0-1", -1},
		{"1.0-1", "1.0+b1-1", -1},
		{"1:0.1-1", "9.9-1", 1},
		{"1.0-1", "1.0-1~bpo1", 1},
		{"1.0a", "1.0+", -1},
		{"1.0", "1.0-0", 0},
		{"2.10-3", "2.9-3", 1},
		{"1.000010", "1.10", 0},
		{"linux-image-6.12.9-riscv64", "linux-image-6.12.10-riscv64", -1},
	}
	for _, c := range cases {
		if got := compareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func sumOf(data []byte) fileSum {
	h := sha256.Sum256(data)
	return fileSum{Size: int64(len(data)), SHA256: hex.EncodeToString(h[:])}
}

func TestCheckSumRejectsTamperedFile(t *testing.T) {
	good := []byte("Package: hello\nVersion: 1\n")
	want := sumOf(good)
	if err := checkSum("main/binary-riscv64/Packages", "test", want, sumOf(good)); err != nil {
		t.Fatalf("untampered file rejected: %v", err)
	}
	tampered := []byte("Package: hellO\nVersion: 1\n") // same size, other content
	err := checkSum("main/binary-riscv64/Packages", "http://mirror/x", want, sumOf(tampered))
	var hm *HashMismatchError
	if !errors.As(err, &hm) || !errors.Is(err, ErrUnverified) {
		t.Fatalf("tampered file: err = %v, want a HashMismatchError wrapping ErrUnverified", err)
	}
	if !strings.Contains(err.Error(), "main/binary-riscv64/Packages") || !strings.Contains(err.Error(), "http://mirror/x") {
		t.Errorf("error does not name the file and source: %v", err)
	}
	longer := append(good, '\n')
	if err := checkSum("Packages", "test", want, sumOf(longer)); err == nil || !strings.Contains(err.Error(), "signed size") {
		t.Errorf("size mismatch: err = %v", err)
	}
}

// fakeImage returns a small file with the layout of a flat RISC-V Image
// with an EFI stub.
func fakeImage(size int) []byte {
	img := make([]byte, size)
	copy(img, "MZ")
	copy(img[48:], "RISCV\x00\x00\x00")
	copy(img[ImageMagicOffset:], riscvImageMagic)
	for i := 64; i < size; i++ {
		img[i] = byte(i * 7)
	}
	return img
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zboot wraps a payload in an EFI zboot header.
func zboot(payload []byte, method string) []byte {
	const off = 512
	out := make([]byte, off+len(payload)+64)
	copy(out, "MZ")
	copy(out[4:], "zimg")
	binary.LittleEndian.PutUint32(out[8:], off)
	binary.LittleEndian.PutUint32(out[12:], uint32(len(payload)))
	copy(out[24:], method)
	copy(out[off:], payload)
	return out
}

func TestRawImageFormats(t *testing.T) {
	img := fakeImage(4096)
	cases := []struct {
		name, desc string
		data       []byte
	}{
		{"flat", "flat RISC-V Image with an EFI (PE/COFF) stub, uncompressed", img},
		{"gzip", "gzip-compressed Image (Image.gz)", gz(t, img)},
		{"zboot", "EFI zboot image, gzip-compressed Image", zboot(gz(t, img), "gzip")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "in"), filepath.Join(dir, "Image")
			if err := os.WriteFile(src, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			desc, err := rawImage(context.Background(), src, dst)
			if err != nil {
				t.Fatal(err)
			}
			if desc != c.desc {
				t.Errorf("format %q, want %q", desc, c.desc)
			}
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, img) {
				t.Errorf("Image differs from the original (%d bytes, want %d)", len(got), len(img))
			}
		})
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "in")
	if err := os.WriteFile(src, bytes.Repeat([]byte{0x7f}, 128), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := rawImage(context.Background(), src, filepath.Join(dir, "Image")); err == nil {
		t.Error("a file without the RISC-V magic was accepted")
	}
}

type tarFile struct {
	name, link string
	typ        byte
	data       []byte
}

func makeTar(t *testing.T, files []tarFile) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: 0o644, Size: int64(len(f.data)), Linkname: f.link}
		if f.typ == tar.TypeDir {
			h.Mode, h.Size = 0o755, 0
		}
		if f.typ == tar.TypeSymlink {
			h.Size = 0
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if f.typ == tar.TypeReg {
			if _, err := w.Write(f.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func kernelTar(release string, img []byte, extra ...tarFile) []tarFile {
	files := []tarFile{
		{name: "./", typ: tar.TypeDir},
		{name: "./boot/", typ: tar.TypeDir},
		{name: "./boot/config-" + release, typ: tar.TypeReg, data: []byte("CONFIG_VIRTIO_MMIO=m\n")},
		{name: "./boot/System.map-" + release, typ: tar.TypeReg, data: []byte("ffffffff80000000 T _start\n")},
		{name: "./boot/vmlinux-" + release, typ: tar.TypeReg, data: img},
		{name: "./usr/lib/modules/" + release + "/", typ: tar.TypeDir},
		{name: "./usr/lib/modules/" + release + "/kernel/drivers/virtio/", typ: tar.TypeDir},
		{name: "./usr/lib/modules/" + release + "/kernel/drivers/virtio/virtio_mmio.ko.xz", typ: tar.TypeReg, data: []byte("\xfd7zXZ\x00fake")},
		{name: "./usr/lib/modules/" + release + "/kernel/drivers/block/virtio_blk.ko.xz", typ: tar.TypeReg, data: []byte("\xfd7zXZ\x00fake")},
		{name: "./usr/lib/modules/" + release + "/modules.order", typ: tar.TypeReg, data: []byte("kernel/drivers/virtio/virtio_mmio.ko\n")},
		{name: "./usr/lib/modules/" + release + "/build", typ: tar.TypeSymlink, link: "/usr/src/linux-headers-" + release},
		{name: "./usr/lib/linux-image-" + release + "/sifive/board.dtb", typ: tar.TypeReg, data: []byte{0xd0, 0x0d, 0xfe, 0xed}},
	}
	return append(files, extra...)
}

func TestReadKernelTar(t *testing.T) {
	const rel = "6.1.0-test-riscv64"
	dst := t.TempDir()
	ex, err := readKernelTar(bytes.NewReader(makeTar(t, kernelTar(rel, fakeImage(1024)))), dst)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Release != rel || ex.RawImageName != "boot/vmlinux-"+rel || ex.Modules != 2 || ex.ModulesPrefix != "usr/lib/modules" {
		t.Errorf("extracted %+v", ex)
	}
	for _, p := range []string{"vmlinuz.raw", "config", "lib/modules/" + rel + "/kernel/drivers/virtio/virtio_mmio.ko.xz", "lib/modules/" + rel + "/modules.order"} {
		if _, err := os.Stat(filepath.Join(dst, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, "lib/modules", rel, "build")); err == nil {
		t.Error("a symlink out of the modules tree was created")
	}
}

func TestReadKernelTarRejects(t *testing.T) {
	const rel = "6.1.0-test-riscv64"
	cases := map[string][]tarFile{
		"path escape": kernelTar(rel, fakeImage(256), tarFile{name: "./usr/lib/modules/../../../../etc/evil", typ: tar.TypeReg, data: []byte("x")}),
		"no image":    kernelTar(rel, nil)[5:],
		"no modules":  kernelTar(rel, fakeImage(256))[:5],
		"two images":  kernelTar(rel, fakeImage(256), tarFile{name: "./boot/vmlinuz-" + rel, typ: tar.TypeReg, data: []byte("x")}),
	}
	for name, files := range cases {
		if name == "no image" {
			files = append([]tarFile{{name: "./boot/", typ: tar.TypeDir}}, files...)
		}
		if _, err := readKernelTar(bytes.NewReader(makeTar(t, files)), t.TempDir()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
