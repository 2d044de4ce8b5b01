package replay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzReader feeds arbitrary bytes to the reader: it must never panic,
// every failure must wrap one of the package's errors, and io.EOF may only
// follow an end event. The seed corpus is in testdata/fuzz/FuzzReader
// (regenerate it with JUICE_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds).
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := newReader("fuzz.jrr", bytes.NewReader(b), int64(len(b)))
		if err != nil {
			checkFuzzErr(t, err)
			return
		}
		defer r.Close()
		_ = r.Header()
		sawEnd := false
		var last uint64
		for i := 0; i < 1<<16; i++ {
			e, err := r.Next()
			if err == io.EOF {
				if !sawEnd {
					t.Fatal("io.EOF without an end event")
				}
				return
			}
			if err != nil {
				checkFuzzErr(t, err)
				if _, err2 := r.Next(); err2 == nil || err2.Error() != err.Error() {
					t.Fatalf("error not sticky: %v, then %v", err, err2)
				}
				return
			}
			if sawEnd {
				t.Fatal("event after the end event")
			}
			if e.At < last || !e.Kind.valid() || len(e.Data) > MaxDataLen {
				t.Fatalf("bad event returned: at %d after %d, kind %d, %d bytes", e.At, last, e.Kind, len(e.Data))
			}
			last = e.At
			sawEnd = e.Kind == KindEnd
		}
	})
}

func checkFuzzErr(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
		t.Fatalf("error wraps none of the package's errors: %v", err)
	}
}

// fuzzSeeds returns small recordings of every shape: complete, crashed
// mid-way, version-bumped, cut, foreign.
func fuzzSeeds(t testing.TB) [][]byte {
	dir := t.TempDir()
	events := []Event{
		{At: 0, Kind: KindConsole, Data: []byte("root\n")},
		{At: 5000, Kind: KindEntropy, Data: bytes.Repeat([]byte{0x5a}, 16)},
		{At: 5000, Kind: KindNet, Port: 1, Data: []byte("\xff\xff\xff\xff\xff\xff\x52\x54\x00\x12\x34\x56\x08\x06")},
		{At: 70000, Kind: KindVsock, Data: []byte("CONNECT 52\n")},
		{At: 1 << 20, Kind: KindDigest, Data: bytes.Repeat([]byte{7}, 49)},
	}
	h := Header{JuiceVersion: "fuzz", Config: []byte(`{"cpus":1}`), DigestInterval: 1 << 20}

	complete := filepath.Join(dir, "complete.jrr")
	writeFile(t, complete, h, events, &End{Instructions: 2 << 20, Clock: 2 << 20, Exit: "poweroff"})
	crashed := filepath.Join(dir, "crashed.jrr")
	w, err := Create(crashed, h)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(0, 0)
	w.now = func() time.Time { clock = clock.Add(2 * time.Second); return clock }
	w.lastFlush = clock
	for _, e := range events[:3] {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	empty := filepath.Join(dir, "empty.jrr")
	writeFile(t, empty, Header{Config: []byte(`{}`)}, nil, &End{})

	var seeds [][]byte
	for _, p := range []string{complete, crashed, empty} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	c := bytes.Clone(seeds[0])
	binary.LittleEndian.PutUint32(c[8:], 2)
	seeds = append(seeds, c, seeds[0][:len(seeds[0])/2], []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), []byte("JUICEREC"))
	return seeds
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzReader when
// JUICE_WRITE_FUZZ_SEEDS=1 (after a format change).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("JUICE_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set JUICE_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{"complete", "crashed", "empty", "version2", "cut", "png", "magic"}
	for i, s := range fuzzSeeds(t) {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, names[i]), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
