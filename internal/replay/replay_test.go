package replay

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func testHeader() Header {
	return Header{
		JuiceVersion:   "0.4.0-test",
		Created:        "2026-11-25T11:00:00Z",
		Config:         json.RawMessage(`{"cpus":2,"memory":268435456,"append":"console=ttyS0"}`),
		Inputs:         []InputFile{{Role: "kernel", Path: "/k/Image", Size: 3, SHA256: strings.Repeat("ab", 32)}},
		DigestInterval: 1 << 20,
	}
}

// sampleEvents has every kind Write takes, with empty, small and large data.
func sampleEvents() []Event {
	big := make([]byte, 200<<10)
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	digest := sha256.Sum256([]byte("state"))
	return []Event{
		{At: 0, Kind: KindConsole, Data: []byte("a")},
		{At: 0, Kind: KindConsole, Data: []byte{}},
		{At: 1000, Kind: KindEntropy, Data: bytes.Repeat([]byte{0xAA, 0x55}, 32)},
		{At: 1000, Kind: KindNet, Port: 0, Data: big[:1514]},
		{At: 123456789, Kind: KindNet, Port: 3, Data: big},
		{At: 123456790, Kind: KindVsock, Port: 65535, Data: []byte(`{"connect":1024}`)},
		{At: 1 << 40, Kind: KindDigest, Data: digest[:]},
		{At: 1<<40 + 1, Kind: KindConsole, Data: []byte("ls -l\n")},
	}
}

var sampleEnd = End{Instructions: 1<<40 + 99, Clock: 1<<40 + 99, Digest: strings.Repeat("cd", 32), Exit: "poweroff", ExitCode: 3}

func writeFile(t testing.TB, path string, h Header, events []Event, end *End) {
	t.Helper()
	w, err := Create(path, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if end != nil {
		if err := w.Close(*end); err != nil {
			t.Fatal(err)
		}
	}
}

// sampleFile writes a complete recording and returns its path and bytes.
func sampleFile(t testing.TB, events []Event) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rec.jrr")
	writeFile(t, path, testHeader(), events, &sampleEnd)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

// readBytes reads a recording held in memory; it returns the events read
// before the first error (nil when the recording ends cleanly).
func readBytes(b []byte) (Header, []Event, error) {
	r, err := newReader("mem.jrr", bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return Header{}, nil, err
	}
	defer r.Close()
	var events []Event
	for i := 0; ; i++ {
		e, err := r.Next()
		if err == io.EOF {
			if _, err2 := r.Next(); err2 != io.EOF {
				return r.Header(), events, errors.New("second io.EOF missing")
			}
			return r.Header(), events, nil
		}
		if err != nil {
			return r.Header(), events, err
		}
		events = append(events, e)
		if i > 1000 {
			return r.Header(), events, errors.New("too many events")
		}
	}
}

func readPath(t *testing.T, path string) (Header, []Event, error) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		return Header{}, nil, err
	}
	defer r.Close()
	var events []Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return r.Header(), events, nil
		}
		if err != nil {
			return r.Header(), events, err
		}
		events = append(events, e)
	}
}

func endEvent(t testing.TB, end End) Event {
	data, err := json.Marshal(end)
	if err != nil {
		t.Fatal(err)
	}
	return Event{At: end.Instructions, Kind: KindEnd, Data: data}
}

func sameEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].At != b[i].At || a[i].Kind != b[i].Kind || a[i].Port != b[i].Port || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

func TestRoundTrip(t *testing.T) {
	events := sampleEvents()
	path, _ := sampleFile(t, events)
	h, got, err := readPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	want := testHeader()
	want.FormatVersion = FormatVersion
	if !reflect.DeepEqual(h, want) {
		t.Errorf("header:\n got %+v\nwant %+v", h, want)
	}
	wantEvents := append(append([]Event{}, events...), endEvent(t, sampleEnd))
	if !sameEvents(got, wantEvents) {
		t.Fatalf("events differ: got %d, want %d", len(got), len(wantEvents))
	}
	end, err := DecodeEnd(got[len(got)-1].Data)
	if err != nil || end != sampleEnd {
		t.Errorf("end = %+v, %v; want %+v", end, err, sampleEnd)
	}
	kinds := map[Kind]bool{}
	for _, e := range got {
		kinds[e.Kind] = true
	}
	for k := KindConsole; k <= KindEnd; k++ {
		if !kinds[k] {
			t.Errorf("no %s event in the round trip", k)
		}
	}
}

func TestEmptyRecording(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.jrr")
	end := End{Exit: "halt", ExitCode: 122}
	writeFile(t, path, Header{Config: json.RawMessage(`{}`)}, nil, &end)
	h, got, err := readPath(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if h.Inputs == nil || len(h.Inputs) != 0 || h.FormatVersion != FormatVersion {
		t.Errorf("header = %+v", h)
	}
	if !sameEvents(got, []Event{endEvent(t, end)}) {
		t.Errorf("events = %+v", got)
	}
}

func TestSummarize(t *testing.T) {
	path, b := sampleFile(t, sampleEvents())
	s, err := Summarize(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"console": 3, "entropy": 1, "net": 2, "vsock": 1, "digest": 1, "end": 1}
	if !reflect.DeepEqual(s.Events, want) {
		t.Errorf("events = %v, want %v", s.Events, want)
	}
	if s.Bytes != int64(len(b)) || s.Instructions != sampleEnd.Instructions || s.End == nil || *s.End != sampleEnd {
		t.Errorf("summary = %+v", s)
	}
	if s.Header.JuiceVersion != "0.4.0-test" {
		t.Errorf("header = %+v", s.Header)
	}

	// A truncated recording: what could be read, and the error.
	cut := filepath.Join(t.TempDir(), "cut.jrr")
	if err := os.WriteFile(cut, b[:len(b)-trailerLen-10], 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Summarize(cut)
	if !errors.Is(err, ErrTruncated) || s.End != nil || s.Header.JuiceVersion == "" {
		t.Errorf("truncated: %+v, %v", s, err)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindConsole: "console", KindEntropy: "entropy", KindNet: "net",
		KindVsock: "vsock", KindDigest: "digest", KindEnd: "end", 0: "kind(0)", 99: "kind(99)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestHashFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Image")
	content := bytes.Repeat([]byte("kernel"), 100000)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := HashFile("kernel", path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	want := InputFile{Role: "kernel", Path: path, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])}
	if got != want {
		t.Errorf("HashFile = %+v, want %+v", got, want)
	}
	if _, err := HashFile("initrd", filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "initrd") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestTruncated cuts a complete recording at every offset: each cut reads
// a prefix of the events and then fails with ErrTruncated or ErrCorrupt.
func TestTruncated(t *testing.T) {
	events := sampleEvents()
	events[4].Data = events[4].Data[:3000] // keep the file small enough to cut everywhere
	_, b := sampleFile(t, events)
	all := append(append([]Event{}, events...), endEvent(t, sampleEnd))
	counts := map[string]int{}
	for n := 0; n < len(b); n++ {
		_, got, err := readBytes(b[:n])
		if err == nil {
			t.Fatalf("cut at %d of %d: no error", n, len(b))
		}
		switch {
		case errors.Is(err, ErrTruncated):
			counts["truncated"]++
		case errors.Is(err, ErrCorrupt):
			counts["corrupt"]++
		default:
			t.Fatalf("cut at %d: %v", n, err)
		}
		if !strings.Contains(err.Error(), "mem.jrr") {
			t.Fatalf("cut at %d: error does not name the file: %v", n, err)
		}
		if !sameEvents(got, all[:len(got)]) {
			t.Fatalf("cut at %d: events read are not a prefix of those written", n)
		}
		if len(got) == len(all) {
			t.Fatalf("cut at %d: the end event was returned", n)
		}
	}
	t.Logf("%d cuts: %v", len(b), counts)
	if counts["truncated"] == 0 {
		t.Error("no cut reported ErrTruncated")
	}
}

// TestBitFlips flips every bit of a complete recording: each one is
// detected.
func TestBitFlips(t *testing.T) {
	events := sampleEvents()
	events[3].Data = events[3].Data[:100]
	events[4].Data = events[4].Data[:300]
	_, b := sampleFile(t, events)
	counts := map[string]int{}
	for i := 0; i < len(b)*8; i++ {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		_, _, err := readBytes(c)
		switch {
		case err == nil:
			t.Fatalf("flip of bit %d (byte %d of %d) not detected", i%8, i/8, len(b))
		case errors.Is(err, ErrCorrupt):
			counts["corrupt"]++
		case errors.Is(err, ErrForeign):
			counts["foreign"]++
		case errors.Is(err, ErrVersion):
			counts["version"]++
		default:
			t.Fatalf("flip of bit %d of byte %d: %v", i%8, i/8, err)
		}
	}
	t.Logf("%d flips: %v", len(b)*8, counts)
}

// rebuild compresses a decompressed event stream into a complete recording
// with header h and a valid trailer, as Writer.Close would.
func rebuild(t *testing.T, h Header, stream []byte, events uint64) []byte {
	t.Helper()
	hdr, err := encodeHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	z := enc.EncodeAll(stream, nil)
	tr := binary.LittleEndian.AppendUint64(nil, uint64(len(z)))
	tr = binary.LittleEndian.AppendUint64(tr, events)
	tr = binary.LittleEndian.AppendUint32(tr, crc32.Checksum(z, castagnoli))
	tr = binary.LittleEndian.AppendUint32(tr, crc32.Checksum(tr, castagnoli))
	tr = append(tr, trailerMagic...)
	return append(append(hdr, z...), tr...)
}

// TestCorruptEventNamed damages one event inside the decompressed stream
// (so that only its own checksum can tell) and checks that the error names
// that event, its index and its instruction count.
func TestCorruptEventNamed(t *testing.T) {
	var events []Event
	for i := range 50 {
		events = append(events, Event{At: uint64(i) * 1000, Kind: KindConsole, Data: []byte{byte(i), 0xEE}})
	}
	_, b := sampleFile(t, events)
	hdrEnd := prefixLen + int(binary.LittleEndian.Uint32(b[12:])) + 4
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	stream, err := dec.DecodeAll(b[hdrEnd:len(b)-trailerLen], nil)
	if err != nil {
		t.Fatal(err)
	}
	// The rebuilt file, undamaged, reads back.
	if _, got, err := readBytes(rebuild(t, testHeader(), stream, 51)); err != nil || len(got) != 51 {
		t.Fatalf("rebuilt: %d events, %v", len(got), err)
	}
	// Event 30's payload is {30, 0xEE}; damage its second byte.
	i := bytes.Index(stream, []byte{30, 0xEE})
	stream[i+1] ^= 0x01
	got, err := readEventsErr(rebuild(t, testHeader(), stream, 51))
	if !errors.Is(err, ErrCorrupt) || len(got) != 30 ||
		!strings.Contains(err.Error(), "event 30 (at 30000, stream offset ") ||
		!strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("%d events, %v", len(got), err)
	}
	t.Log(err)
}

func readEventsErr(b []byte) ([]Event, error) {
	_, got, err := readBytes(b)
	return got, err
}

func TestForeign(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	for name, b := range map[string][]byte{
		"png":   png,
		"text":  []byte("hello, world\n"),
		"short": []byte("PK"),
		"zstd":  {0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		path := filepath.Join(t.TempDir(), name)
		os.WriteFile(path, b, 0o644)
		_, err := Open(path)
		if !errors.Is(err, ErrForeign) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, b := range map[string][]byte{"empty": nil, "magic": []byte("JUICE"), "version": []byte("JUICEREC\x01\x00")} {
		if _, _, err := readBytes(b); !errors.Is(err, ErrTruncated) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.jrr")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestVersion(t *testing.T) {
	_, b := sampleFile(t, sampleEvents()[:2])
	for v, msg := range map[uint32]string{
		7:                 "format version 7 is newer than this Juice reads (4)",
		FormatVersion + 1: "format version 5 is newer than this Juice reads (4)",
		2:                 "format version 2 is older than this Juice reads (3 to 4): its header holds the recorder's command-line options, not a VM spec",
		1:                 "format version 1 is older than this Juice reads (3 to 4)",
	} {
		c := bytes.Clone(b)
		binary.LittleEndian.PutUint32(c[8:], v)
		_, _, err := readBytes(c)
		if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), msg) {
			t.Errorf("version %d: %v", v, err)
		}
	}
	// Even a newer file whose header is nothing like ours is refused by
	// its version, not as corrupt.
	_, _, err := readBytes([]byte("JUICEREC\x09\x00\x00\x00whatever comes next"))
	if !errors.Is(err, ErrVersion) {
		t.Errorf("version 9: %v", err)
	}
	// The header's JSON version must agree with the binary one.
	if _, err := Create(filepath.Join(t.TempDir(), "x.jrr"), Header{FormatVersion: 5, Config: json.RawMessage(`{}`)}); err == nil {
		t.Error("Create accepted format version 5")
	}
}

func TestWriteRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.jrr")
	w, err := Create(path, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Event{At: 100, Kind: KindConsole, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	bad := map[string]Event{
		"out of order": {At: 99, Kind: KindConsole},
		"end":          {At: 100, Kind: KindEnd},
		"kind 0":       {At: 100, Kind: 0},
		"kind 7":       {At: 100, Kind: 7},
		"digest":       {At: 100, Kind: KindDigest, Data: make([]byte, MaxDigestLen+1)},
		"too large":    {At: 100, Kind: KindNet, Data: make([]byte, MaxDataLen+1)},
	}
	for name, e := range bad {
		if err := w.Write(e); err == nil {
			t.Errorf("%s: Write accepted %v", name, e.Kind)
		} else if !strings.Contains(err.Error(), "event 1 (at") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Refused events leave the writer usable.
	if err := w.Write(Event{At: 100, Kind: KindNet, Data: make([]byte, MaxDataLen)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(End{Instructions: 100, Clock: 100}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Event{At: 100, Kind: KindConsole}); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := w.Close(End{Instructions: 100, Clock: 100}); err == nil {
		t.Error("second Close succeeded")
	}
	_, got, err := readPath(t, path)
	if err != nil || len(got) != 3 || len(got[1].Data) != MaxDataLen {
		t.Errorf("reading back: %d events, %v", len(got), err)
	}
	if _, err := Create(filepath.Join(t.TempDir(), "x.jrr"), Header{}); err == nil {
		t.Error("Create accepted a header without a configuration")
	}
	if _, err := Create(filepath.Join(t.TempDir(), "no", "such", "dir.jrr"), testHeader()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Create in a missing directory: %v", err)
	}
}

// TestCloseRefused: a refused end still releases the file, which reads as
// truncated.
func TestCloseRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.jrr")
	w, err := Create(path, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Event{At: 100, Kind: KindConsole, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(End{Instructions: 99, Clock: 99}); err == nil || !strings.Contains(err.Error(), "end at 99 comes before the last event, at 100") {
		t.Errorf("Close accepted an end before the last event: %v", err)
	}
	if err := w.Write(Event{At: 100, Kind: KindConsole}); err == nil {
		t.Error("Write after a refused Close succeeded")
	}
	_, got, err := readPath(t, path)
	if !errors.Is(err, ErrTruncated) || len(got) != 1 {
		t.Errorf("%d events, %v", len(got), err)
	}
}

// TestCrash writes events without closing the writer, as a recorder that
// crashes does: everything up to the last flush is readable, and then the
// reader reports ErrTruncated.
func TestCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.jrr")
	w, err := Create(path, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1000, 0)
	w.now = func() time.Time { return clock }
	w.lastFlush = clock

	// Nothing flushed yet: the header alone.
	if _, got, err := readPath(t, path); !errors.Is(err, ErrTruncated) || len(got) != 0 {
		t.Fatalf("header only: %d events, %v", len(got), err)
	}
	var flushed []Event
	at := uint64(0)
	for round := range 3 {
		for i := range 500 {
			at += 977
			e := Event{At: at, Kind: KindConsole, Data: []byte{byte(round), byte(i)}}
			if i == 499 {
				clock = clock.Add(1100 * time.Millisecond) // this Write flushes
			}
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
			flushed = append(flushed, e)
		}
		_, got, err := readPath(t, path)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("round %d: %v", round, err)
		}
		if !sameEvents(got, flushed) {
			t.Fatalf("round %d: read %d events, want the %d flushed", round, len(got), len(flushed))
		}
		t.Logf("round %d: %v", round, err)
	}
	// Events written within the second are not flushed yet.
	for i := range 10 {
		if err := w.Write(Event{At: at + uint64(i), Kind: KindEntropy, Data: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, got, err := readPath(t, path); !errors.Is(err, ErrTruncated) || len(got) != len(flushed) {
		t.Fatalf("unflushed: %d events, %v", len(got), err)
	}
	// Cut the crashed file anywhere: still never a panic, only truncation
	// or corruption.
	b, _ := os.ReadFile(path)
	for n := 0; n < len(b); n += 7 {
		if _, _, err := readBytes(b[:n]); !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("crash file cut at %d: %v", n, err)
		}
	}
	// And the recorder can still finish.
	if err := w.Close(End{Instructions: at + 100, Clock: at + 100}); err != nil {
		t.Fatal(err)
	}
	if _, got, err := readPath(t, path); err != nil || len(got) != len(flushed)+11 {
		t.Fatalf("after close: %d events, %v", len(got), err)
	}
}

// TestFlushRealClock checks the writer's default, real clock.
func TestFlushRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps")
	}
	path := filepath.Join(t.TempDir(), "crash.jrr")
	w, err := Create(path, testHeader())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(End{Instructions: 10, Clock: 10})
	w.Write(Event{At: 1, Kind: KindConsole, Data: []byte("a")})
	time.Sleep(1100 * time.Millisecond)
	w.Write(Event{At: 2, Kind: KindConsole, Data: []byte("b")})
	if _, got, err := readPath(t, path); !errors.Is(err, ErrTruncated) || len(got) != 2 {
		t.Fatalf("%d events, %v", len(got), err)
	}
}

// TestTrailingData: bytes appended to a complete recording are refused.
func TestTrailingData(t *testing.T) {
	_, b := sampleFile(t, sampleEvents()[:3])
	for _, extra := range [][]byte{{0}, []byte("JUICEEND"), b[len(b)-trailerLen:]} {
		if _, _, err := readBytes(append(bytes.Clone(b), extra...)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("trailing %q: %v", extra, err)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, size := range []int{16, 1514} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bench.jrr")
			w, err := Create(path, testHeader())
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i * 31 / 7)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			at := uint64(0)
			for i := 0; b.Loop(); i++ {
				at += 4096
				data[i%size] = byte(i)
				if err := w.Write(Event{At: at, Kind: KindNet, Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(End{Instructions: at, Clock: at}); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestSnapshotHeader checks that version 4's header field naming the
// snapshot a run started from is kept, that version 3 files (without it)
// are still read, and that a version 3 file naming a snapshot is refused.
func TestSnapshotHeader(t *testing.T) {
	h := testHeader()
	h.Snapshot = &SnapshotRef{Path: "snap", SHA256: strings.Repeat("0f", 32), Instructions: 12345, Clock: 12400}
	path := filepath.Join(t.TempDir(), "snap.jrr")
	writeFile(t, path, h, sampleEvents()[:3], &sampleEnd)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, events, err := readBytes(b)
	if err != nil || got.Snapshot == nil || *got.Snapshot != *h.Snapshot || got.FormatVersion != 4 || len(events) != 4 {
		t.Fatalf("version 4 with a snapshot: %v, %+v, %d events", err, got.Snapshot, len(events))
	}

	// The same recording as version 3: the header re-encoded, the event
	// stream and trailer as they are.
	hlen := int(binary.LittleEndian.Uint32(b[12:]))
	rest := b[prefixLen+hlen+4:]
	asV3 := func(h Header) []byte {
		pre, err := encodeHeaderVersion(h, 3)
		if err != nil {
			t.Fatal(err)
		}
		return append(pre, rest...)
	}
	plain := testHeader()
	got, events, err = readBytes(asV3(plain))
	if err != nil || got.FormatVersion != 3 || got.Snapshot != nil || len(events) != 4 {
		t.Fatalf("version 3: %v, version %d, %d events", err, got.FormatVersion, len(events))
	}
	if _, _, err := readBytes(asV3(h)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "snapshot field is format version 4's") {
		t.Fatalf("version 3 naming a snapshot: %v", err)
	}
	bad := testHeader()
	bad.Snapshot = &SnapshotRef{Path: "snap", SHA256: "beef"}
	path = filepath.Join(t.TempDir(), "bad.jrr")
	writeFile(t, path, bad, nil, &sampleEnd)
	if _, err := Open(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a snapshot without its digest: %v", err)
	}
}
