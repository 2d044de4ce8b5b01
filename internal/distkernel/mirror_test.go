package distkernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/kernel"
)

// testSigner is a throwaway OpenPGP key in its own GnuPG home.
type testSigner struct {
	home    string
	keyring string // exported public key, as gpgv reads it
}

// newTestSigner makes a key with gpg, or skips the test when gpg, gpgv or
// dpkg-deb is missing.
func newTestSigner(t *testing.T) *testSigner {
	t.Helper()
	for _, tool := range []string{"gpg", "gpgv", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian package %s)", tool, map[string]string{"gpg": "gpg", "gpgv": "gpgv", "dpkg-deb": "dpkg"}[tool])
		}
	}
	// GnuPG's socket paths must be short: use a directory directly in /tmp.
	home, err := os.MkdirTemp("", "jgpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	s := &testSigner{home: home, keyring: filepath.Join(home, "trusted.gpg")}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	s.gpg(t, nil, "--quick-generate-key", "Juice Test Archive <archive@juice.invalid>", "ed25519", "sign", "1d")
	pub := s.gpg(t, nil, "--export")
	if len(pub) == 0 {
		t.Fatal("gpg exported no key")
	}
	if err := os.WriteFile(s.keyring, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *testSigner) gpg(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", s.home, "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gpg %v: %v: %s", args, err, stderr.String())
	}
	return out.Bytes()
}

// clearsign returns text as an InRelease.
func (s *testSigner) clearsign(t *testing.T, text []byte) []byte {
	return s.gpg(t, text, "--digest-algo", "SHA256", "--clearsign")
}

// mirror is a synthetic Debian archive served over HTTP.
type mirror struct {
	mu    sync.Mutex
	files map[string][]byte // path under the mirror root
	hits  map[string]int
	srv   *httptest.Server
}

func newMirror(t *testing.T) *mirror {
	m := &mirror{files: map[string][]byte{}, hits: map[string]int{}}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/debian/")
		m.mu.Lock()
		data, ok := m.files[p]
		m.hits[p]++
		m.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		_, _ = w.Write(data)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mirror) url() string { return m.srv.URL + "/debian" }

func (m *mirror) set(p string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[p] = data
}

func (m *mirror) hitCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.hits {
		n += c
	}
	return n
}

const testRelease = "6.1.0-test-riscv64"

// archive holds the pieces of a synthetic kernel release.
type archive struct {
	deb      []byte
	debPath  string
	packages []byte // uncompressed
	image    []byte
}

// buildArchive makes a kernel .deb with dpkg-deb and its Packages index.
func buildArchive(t *testing.T, pkgVersion string) *archive {
	t.Helper()
	root := t.TempDir()
	img := fakeImage(8192)
	files := map[string][]byte{
		"DEBIAN/control": []byte("Package: linux-image-" + testRelease + "\nVersion: " + pkgVersion +
			"\nArchitecture: riscv64\nMaintainer: Juice <juice@juice.invalid>\nDescription: test kernel\n"),
		"boot/vmlinux-" + testRelease: img,
		"boot/config-" + testRelease:  []byte("CONFIG_VIRTIO_MMIO=m\n"),
		"usr/lib/modules/" + testRelease + "/kernel/drivers/virtio/virtio_mmio.ko.xz": []byte("\xfd7zXZ\x00module"),
		"usr/lib/modules/" + testRelease + "/modules.order":                           []byte("kernel/drivers/virtio/virtio_mmio.ko\n"),
	}
	for p, data := range files {
		full := filepath.Join(root, "pkg", p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(root, "k.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", filepath.Join(root, "pkg"), deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v: %s", err, out)
	}
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	debPath := fmt.Sprintf("pool/main/l/linux/linux-image-%s_%s_riscv64.deb", testRelease, pkgVersion)
	sum := sumOf(data)
	packages := fmt.Sprintf(`Package: linux-image-riscv64
Version: %[1]s
Architecture: riscv64
Depends: linux-image-%[2]s (= %[1]s)
Filename: pool/main/l/linux/linux-image-riscv64_%[1]s_riscv64.deb
Size: 1000
SHA256: %[3]s

Package: linux-image-%[2]s
Version: %[1]s
Architecture: riscv64
Depends: kmod
Filename: %[4]s
Size: %[5]d
SHA256: %[6]s

Package: linux-image-%[2]s-dbg
Version: %[1]s
Architecture: riscv64
Filename: pool/main/l/linux/linux-image-%[2]s-dbg_%[1]s_riscv64.deb
Size: 1000
SHA256: %[3]s
`, pkgVersion, testRelease, strings.Repeat("0", 64), debPath, sum.Size, sum.SHA256)
	return &archive{deb: data, debPath: debPath, packages: []byte(packages), image: img}
}

// releaseText makes a Release file listing the given index files.
func releaseText(suite, codename, version string, date time.Time, byHash bool, files map[string][]byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Origin: Debian\nLabel: Debian\nSuite: %s\nVersion: %s\nCodename: %s\nDate: %s\n",
		suite, version, codename, date.UTC().Format(time.RFC1123))
	if byHash {
		b.WriteString("Acquire-By-Hash: yes\n")
	}
	b.WriteString("Architectures: riscv64\nComponents: main\nSHA256:\n")
	for name, data := range files {
		s := sumOf(data)
		fmt.Fprintf(&b, " %s %8d %s\n", s.SHA256, s.Size, name)
	}
	return []byte(b.String())
}

// publish serves a complete, consistent archive for dist.
func publish(t *testing.T, m *mirror, s *testSigner, a *archive, dist, suite string, date time.Time) {
	t.Helper()
	pgz := gz(t, a.packages)
	m.set("dists/"+dist+"/main/binary-riscv64/Packages.gz", pgz)
	m.set(a.debPath, a.deb)
	rel := releaseText(suite, "trixie", "13.7", date, true, map[string][]byte{
		"main/binary-riscv64/Packages":    a.packages,
		"main/binary-riscv64/Packages.gz": pgz,
	})
	m.set("dists/"+dist+"/InRelease", s.clearsign(t, rel))
}

func testOptions(t *testing.T, m *mirror, s *testSigner) Options {
	return Options{CacheDir: t.TempDir(), Mirror: m.url(), Keyrings: []string{s.keyring}, NoInstall: true}
}

func TestFetchSyntheticMirror(t *testing.T) {
	s := newTestSigner(t)
	m := newMirror(t)
	a := buildArchive(t, "6.1.1-1")
	publish(t, m, s, a, "trixie", "stable", time.Now())
	opts := testOptions(t, m, s)
	var progress bytes.Buffer
	opts.Progress, opts.ShowProgress = &progress, true

	k, err := Fetch(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if k.Package != "linux-image-"+testRelease || k.PackageVersion != "6.1.1-1" || k.Version != testRelease {
		t.Errorf("kernel %+v", k)
	}
	img, err := os.ReadFile(k.ImagePath)
	if err != nil || !bytes.Equal(img, a.image) {
		t.Errorf("Image at %s differs from the packaged one (err %v)", k.ImagePath, err)
	}
	if _, err := os.Stat(filepath.Join(k.ModulesDir, "kernel/drivers/virtio/virtio_mmio.ko.xz")); err != nil {
		t.Errorf("modules: %v", err)
	}
	if want := filepath.Join(opts.CacheDir, "distkernel", "linux-image-"+testRelease+"_6.1.1-1"); k.Dir != want {
		t.Errorf("cache entry %s, want %s", k.Dir, want)
	}
	if !strings.Contains(progress.String(), "%") {
		t.Errorf("no download percentage on the progress writer: %q", progress.String())
	}
	if !strings.Contains(k.Verified, "Juice Test Archive") {
		t.Errorf("Verified = %q, want the signer named", k.Verified)
	}

	// The second call is answered from the cache, without the network.
	m.srv.Close()
	before := m.hitCount()
	opts.ShowProgress = false
	k2, err := Fetch(context.Background(), opts)
	if err != nil {
		t.Fatalf("cached Fetch: %v", err)
	}
	if k2 != k || m.hitCount() != before {
		t.Errorf("cached Fetch = %+v (hits %d -> %d), want %+v offline", k2, before, m.hitCount(), k)
	}
	leftovers, _ := filepath.Glob(filepath.Join(opts.CacheDir, "distkernel", ".tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("work files left behind: %v", leftovers)
	}
}

func TestFetchRejectsTamperedIndex(t *testing.T) {
	s := newTestSigner(t)
	m := newMirror(t)
	a := buildArchive(t, "6.1.1-1")
	publish(t, m, s, a, "trixie", "stable", time.Now())
	// Swap the served index for one pointing at another package, keeping
	// the signed Release.
	evil := bytes.Replace(a.packages, []byte("Depends: kmod"), []byte("Depends: evil"), 1)
	m.set("dists/trixie/main/binary-riscv64/Packages.gz", gz(t, evil))

	_, err := Fetch(context.Background(), testOptions(t, m, s))
	t.Log(err)
	if !errors.Is(err, ErrUnverified) {
		t.Fatalf("err = %v, want ErrUnverified", err)
	}
	var hm *HashMismatchError
	if !errors.As(err, &hm) || hm.Name != "main/binary-riscv64/Packages.gz" {
		t.Errorf("error does not name the tampered index: %v", err)
	}
	if !strings.Contains(err.Error(), "main/binary-riscv64/Packages.gz") {
		t.Errorf("message does not name the tampered index: %v", err)
	}
}

func TestFetchRejectsTamperedPackage(t *testing.T) {
	s := newTestSigner(t)
	m := newMirror(t)
	a := buildArchive(t, "6.1.1-1")
	publish(t, m, s, a, "trixie", "stable", time.Now())
	evil := bytes.Clone(a.deb)
	evil[len(evil)-10] ^= 0xff
	m.set(a.debPath, evil)

	opts := testOptions(t, m, s)
	_, err := Fetch(context.Background(), opts)
	t.Log(err)
	var hm *HashMismatchError
	if !errors.As(err, &hm) || !strings.Contains(err.Error(), filepath.Base(a.debPath)) {
		t.Fatalf("err = %v, want a hash mismatch naming %s", err, filepath.Base(a.debPath))
	}
	entries, _ := os.ReadDir(filepath.Join(opts.CacheDir, "distkernel"))
	if len(entries) != 0 {
		t.Errorf("the cache holds %v after a rejected package", entries)
	}
}

func TestFetchRejectsBadSignature(t *testing.T) {
	s := newTestSigner(t)
	m := newMirror(t)
	a := buildArchive(t, "6.1.1-1")
	publish(t, m, s, a, "trixie", "stable", time.Now())
	signed := m.files["dists/trixie/InRelease"]
	m.set("dists/trixie/InRelease", bytes.Replace(signed, []byte("Version: 13.7"), []byte("Version: 13.9"), 1))

	_, err := Fetch(context.Background(), testOptions(t, m, s))
	t.Log(err)
	var se *SignatureError
	if !errors.As(err, &se) || !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), "dists/trixie/InRelease") {
		t.Fatalf("err = %v, want a SignatureError for dists/trixie/InRelease", err)
	}

	// A key outside the keyrings is no better.
	other := newTestSigner(t)
	m.set("dists/trixie/InRelease", other.clearsign(t, []byte("Codename: trixie\nSHA256:\n "+strings.Repeat("a", 64)+" 1 x\n")))
	if _, err := Fetch(context.Background(), testOptions(t, m, s)); !errors.As(err, &se) {
		t.Fatalf("signed by an untrusted key: err = %v, want a SignatureError", err)
	}
}

// TestFetchByHash covers a mirror caught mid-update: the canonical index
// no longer matches the signed Release, but by-hash serves the signed one.
func TestFetchByHash(t *testing.T) {
	s := newTestSigner(t)
	m := newMirror(t)
	a := buildArchive(t, "6.1.1-1")
	publish(t, m, s, a, "trixie", "stable", time.Now())
	pgz := m.files["dists/trixie/main/binary-riscv64/Packages.gz"]
	m.set("dists/trixie/main/binary-riscv64/by-hash/SHA256/"+sumOf(pgz).SHA256, pgz)
	m.set("dists/trixie/main/binary-riscv64/Packages.gz", gz(t, append(bytes.Clone(a.packages), "\nPackage: newer\n"...)))

	k, err := Fetch(context.Background(), testOptions(t, m, s))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(k.Verified, "by-hash") {
		t.Errorf("Verified = %q, want the by-hash index", k.Verified)
	}
}

// TestFetchSuiteAlias covers the state of deb.debian.org seen while
// writing this: dists/trixie/InRelease is newer than the indexes served,
// and dists/stable/InRelease (signed, Codename trixie) matches them.
func TestFetchSuiteAlias(t *testing.T) {
	s := newTestSigner(t)
	m := newMirror(t)
	old := buildArchive(t, "6.1.1-1")
	now := time.Now()
	publish(t, m, s, old, "stable", "stable", now.Add(-72*time.Hour))
	m.set("dists/trixie/main/binary-riscv64/Packages.gz", m.files["dists/stable/main/binary-riscv64/Packages.gz"])
	newer := buildArchive(t, "6.1.2-1")
	rel := releaseText("stable", "trixie", "13.8", now, true, map[string][]byte{
		"main/binary-riscv64/Packages.gz": gz(t, newer.packages),
	})
	m.set("dists/trixie/InRelease", s.clearsign(t, rel))

	k, err := Fetch(context.Background(), testOptions(t, m, s))
	if err != nil {
		t.Fatal(err)
	}
	if k.PackageVersion != "6.1.1-1" || !strings.Contains(k.Verified, "dists/stable/InRelease") {
		t.Errorf("got %s verified by %q, want 6.1.1-1 through dists/stable/InRelease", k.PackageVersion, k.Verified)
	}

	// A Release under the alias signed for another codename is not used.
	m.set("dists/stable/InRelease", s.clearsign(t, releaseText("stable", "forky", "14", now.Add(-time.Hour), true, map[string][]byte{
		"main/binary-riscv64/Packages.gz": m.files["dists/stable/main/binary-riscv64/Packages.gz"],
	})))
	_, err = Fetch(context.Background(), Options{CacheDir: t.TempDir(), Mirror: m.url(), Keyrings: []string{s.keyring}, NoInstall: true})
	if !errors.Is(err, ErrUnverified) {
		t.Fatalf("alias of another codename: err = %v, want ErrUnverified", err)
	}
}

func TestFetchUnreachableMirror(t *testing.T) {
	if _, err := exec.LookPath("gpgv"); err != nil {
		t.Skip("gpgv not installed")
	}
	m := newMirror(t) // serves nothing: every file is 404
	_, err := Fetch(context.Background(), Options{CacheDir: t.TempDir(), Mirror: m.url(), NoInstall: true})
	var se *StatusError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &se) || se.Code != http.StatusNotFound {
		t.Errorf("empty mirror: err = %v, want a 404 wrapping ErrUnavailable", err)
	}
	m.srv.Close()
	_, err = Fetch(context.Background(), Options{CacheDir: t.TempDir(), Mirror: m.url(), NoInstall: true})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("closed mirror: err = %v, want ErrUnavailable", err)
	}
}

// TestFetchNeedsCacheDir checks that Fetch, given no cache folder, says so
// rather than picking one.
func TestFetchNeedsCacheDir(t *testing.T) {
	_, err := Fetch(context.Background(), Options{Mirror: "http://127.0.0.1:1", NoInstall: true})
	if !errors.Is(err, kernel.ErrNoCacheDir) || !strings.Contains(err.Error(), "no cache folder given") {
		t.Errorf("no CacheDir: %v", err)
	}
}
