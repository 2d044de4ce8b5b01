package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/juicevm/juice/internal/vmspec"
)

// testSpec is a valid spec of a small VM.
func testSpec() vmspec.Spec {
	return vmspec.Spec{Version: vmspec.Version, Boot: vmspec.Boot{Kernel: &vmspec.File{Path: "/nonexistent/Image", SHA256: hex.EncodeToString(make([]byte, 32))}},
		CPUs: 1, Memory: 16 << 20, Console: vmspec.ConsoleUART}
}

// testSections are sections like a machine's.
func testSections() []Section {
	return []Section{
		{Name: "hart 0", Version: 1, Data: bytes.Repeat([]byte{1, 2, 3}, 40)},
		{Name: "plic", Version: 1, Data: []byte{9, 9}},
		{Name: "extra", Version: 3, Optional: true, Data: []byte{}},
	}
}

// writeTestFolder writes a snapshot folder of a 16 MiB VM whose memory
// holds the given pages (each filled with its index+1), as a full or a
// diff snapshot (whose parent is parent).
func writeTestFolder(t testing.TB, dir string, pages []uint32, parent *Parent) *Writer {
	t.Helper()
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteState(testSections()); err != nil {
		t.Fatal(err)
	}
	spec := testSpec()
	if err := w.WriteMemory(uint64(spec.Memory), parent != nil, func(put func(uint32, []byte) error) error {
		for _, p := range pages {
			if err := put(p, bytes.Repeat([]byte{byte(p%251 + 1)}, pageSize)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m := Manifest{JuiceVersion: "test", Kind: KindFull, Instructions: 1000, Clock: 500, Spec: spec}
	if parent != nil {
		m.Kind, m.Parent = KindDiff, parent
	}
	if err := w.Commit(m); err != nil {
		t.Fatal(err)
	}
	return w
}

// testChain writes a full snapshot and a diff after it into dir, and
// returns the diff's folder.
func testChain(t testing.TB, dir string) string {
	full := writeTestFolder(t, filepath.Join(dir, "full"), []uint32{0, 1, 7, 4095}, nil)
	diff := filepath.Join(dir, "diff")
	writeTestFolder(t, diff, []uint32{1, 2, 5}, &Parent{Path: "../full", SHA256: full.Digest()})
	return diff
}

func FuzzDecodeState(f *testing.F) {
	f.Add(EncodeState(testSections()))
	f.Add(EncodeState(nil))
	f.Add(EncodeState([]Section{{Name: "x", Data: make([]byte, 300)}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ss, err := DecodeState(b)
		if err != nil {
			return
		}
		// What is accepted encodes to the same bytes.
		if back := EncodeState(ss); !bytes.Equal(back, b) {
			t.Fatalf("decoded %d sections that encode to other bytes", len(ss))
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	dir := testChain(f, f.TempDir())
	for _, d := range []string{filepath.Join(filepath.Dir(dir), "full"), dir} {
		b, err := os.ReadFile(filepath.Join(d, ManifestFile))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"format": 2}`))
	f.Add([]byte(`{"format": 1, "kind": "Full"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		// What is accepted encodes to a manifest that decodes the same.
		enc, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeManifest(enc)
		if err != nil {
			t.Fatalf("an accepted manifest, encoded again, is refused: %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("an accepted manifest decodes differently once encoded again:\n%+v\n%+v", m, m2)
		}
	})
}

// normalize makes empty and nil slices and maps alike, which JSON does
// not tell apart.
func normalize(m Manifest) Manifest {
	if len(m.Sections) == 0 {
		m.Sections = nil
	}
	if len(m.Disks) == 0 {
		m.Disks = nil
	}
	if len(m.Files) == 0 {
		m.Files = nil
	}
	return m
}

// FuzzFolder writes a snapshot folder whose snapshot.json, state,
// memory.pages and memory come from the fuzzer over a valid chain's, and
// reads it as a restore and a flatten would: nothing may panic or hang.
// With fix set, the manifest's digests are made those of the fuzzed
// files, so that the state and bitmap themselves get decoded.
func FuzzFolder(f *testing.F) {
	base := memTempDir(f)
	diff := testChain(f, base)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(diff, name))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	man, st, pages := read(ManifestFile), read(StateFile), read(PagesFile)
	mem := read(MemoryFile)
	mem = bytes.TrimRight(mem, "\x00")
	f.Add(man, st, pages, mem, false)
	f.Add(man, st, pages, mem, true)
	f.Add(man, st[:len(st)-3], pages, mem, true)
	f.Add(man, st, pages[:8], mem[:100], true)
	f.Add(bytes.Replace(man, []byte(`"Diff"`), []byte(`"Full"`), 1), st, pages, mem, true)
	// Each input is written over the previous one in the same folder,
	// beside a link to the parent: the fuzzer's speed is the file
	// system's.
	work := filepath.Join(base, "work")
	dir := filepath.Join(work, "diff")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "full"), filepath.Join(work, "full")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, man, st, pages, mem []byte, fix bool) {
		if len(mem) > 64<<10 {
			return
		}
		if fix {
			man = fixDigests(man, map[string][]byte{StateFile: st, PagesFile: pages})
		}
		for name, b := range map[string][]byte{ManifestFile: man, StateFile: st, PagesFile: pages, MemoryFile: mem} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		fo, err := Open(dir)
		if err != nil {
			return
		}
		defer fo.Close()
		// An accepted state is what the manifest lists.
		if len(fo.State) != len(fo.Manifest.Sections) {
			t.Fatalf("%d sections, the manifest lists %d", len(fo.State), len(fo.Manifest.Sections))
		}
		n := fo.Manifest.Memory.RAM / pageSize
		if fo.Manifest.Kind == KindDiff {
			if bits, err := fo.DiffPages(); err == nil && uint64(len(bits))*64 < n {
				t.Fatalf("a bitmap of %d words for %d pages", len(bits), n)
			}
		}
		if m, err := fo.OpenMemory(); err == nil {
			fo.EachPage(m, func(p uint32, data []byte) error {
				if uint64(p) >= n || len(data) != pageSize {
					t.Fatalf("page %d of %d bytes; RAM has %d pages", p, len(data), n)
				}
				return nil
			})
			m.Close()
		}
		fo.VerifyMemory()
		chain, err := OpenChain(dir)
		if err != nil {
			return
		}
		for _, c := range chain {
			c.VerifyMemory()
			c.Close()
		}
		flat := filepath.Join(work, "flat")
		Flatten(dir, flat, "fuzz")
		os.RemoveAll(flat)
	})
}

// memTempDir is a temporary folder in memory (/dev/shm) if the host has
// one, else f.TempDir(): writing files on a disk over and over is slow.
func memTempDir(f *testing.F) string {
	if d, err := os.MkdirTemp("/dev/shm", "juice-fuzz-"); err == nil {
		f.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return f.TempDir()
}

// fixDigests rewrites the manifest's digests of the named files to theirs,
// if it is a JSON object with files.
func fixDigests(man []byte, files map[string][]byte) []byte {
	var m map[string]any
	if json.Unmarshal(man, &m) != nil {
		return man
	}
	fs, ok := m["files"].(map[string]any)
	if !ok {
		return man
	}
	for name, b := range files {
		sum := sha256.Sum256(b)
		fs[name] = map[string]any{"size": len(b), "sha256": hex.EncodeToString(sum[:])}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return man
	}
	return out
}

// The test folders are read back as written.
func TestFolderRoundTrip(t *testing.T) {
	diff := testChain(t, t.TempDir())
	chain, err := OpenChain(diff)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chain {
		defer c.Close()
		if err := c.VerifyMemory(); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.State, testSections()) {
			t.Fatalf("%s: state %+v", c.Dir, c.State)
		}
	}
	var got []uint32
	m, err := chain[1].OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := chain[1].EachPage(m, func(p uint32, data []byte) error {
		if data[0] != byte(p%251+1) {
			t.Errorf("page %d holds %d", p, data[0])
		}
		got = append(got, p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []uint32{1, 2, 5}) {
		t.Fatalf("diff pages %v", got)
	}
	flat := filepath.Join(t.TempDir(), "flat")
	if n, err := Flatten(diff, flat, "test"); err != nil || n != 2 {
		t.Fatalf("flatten: %d, %v", n, err)
	}
	ff, err := Open(flat)
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	if err := ff.VerifyMemory(); err != nil {
		t.Fatal(err)
	}
	if ff.Manifest.Memory.Pages != 6 {
		t.Fatalf("flattened memory holds %d pages, want 6 (0 1 2 5 7 4095)", ff.Manifest.Memory.Pages)
	}
}

// A diff holds the zero pages written since its parent as holes: the
// pages after one are written where they belong.
func TestDiffWithZeroPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "diff")
	w, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteState(testSections()); err != nil {
		t.Fatal(err)
	}
	data := map[uint32]byte{2: 0, 9: 9, 10: 0, 11: 11, 40: 40}
	if err := w.WriteMemory(16<<20, true, func(put func(uint32, []byte) error) error {
		for _, p := range []uint32{2, 9, 10, 11, 40} {
			if err := put(p, bytes.Repeat([]byte{data[p]}, pageSize)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(Manifest{Kind: KindDiff, Spec: testSpec(), Parent: &Parent{Path: "../full", SHA256: hex.EncodeToString(make([]byte, 32))}}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.VerifyMemory(); err != nil {
		t.Fatal(err)
	}
	m, err := f.OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := 0
	if err := f.EachPage(m, func(p uint32, b []byte) error {
		n++
		if want, ok := data[p]; !ok || !bytes.Equal(b, bytes.Repeat([]byte{want}, pageSize)) {
			t.Errorf("page %d holds %d, want %d", p, b[0], want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != len(data) {
		t.Fatalf("%d pages, want %d", n, len(data))
	}
}
