package blk

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/virtio"
)

const all = ^uint64(0)

func TestConfigAndFeatures(t *testing.T) {
	path := tempImage(t, make([]byte, 1<<20+100)) // a partial tail sector is not exposed
	dev := mustOpen(t, path, Options{})
	r := newRig(t, dev, all)
	f := r.d.DeviceFeatures()
	for _, bit := range []uint64{FSegMax, FSizeMax, FBlkSize, FFlush, FDiscard, FWriteZeroes, virtio.FVersion1} {
		if f&bit == 0 {
			t.Errorf("feature %#x not offered (%#x)", bit, f)
		}
	}
	if f&FRO != 0 {
		t.Error("read-write disk offers RO")
	}
	cfg := func(off uint64, size int) uint64 {
		v, ok := r.d.T.Load(virtio.RegConfig+off, size)
		if !ok {
			t.Fatalf("config load %d refused", off)
		}
		return v
	}
	lo, hi := cfg(0, 4), cfg(4, 4)
	if c := hi<<32 | lo; c != 2048 || dev.Capacity() != 2048 {
		t.Errorf("capacity %d (Capacity() %d), want 2048", c, dev.Capacity())
	}
	for _, c := range []struct {
		name string
		off  uint64
		size int
		want uint64
	}{
		{"size_max", 8, 4, SizeMax}, {"seg_max", 12, 4, SegMax}, {"blk_size", 20, 4, 512},
		{"max_discard_sectors", 36, 4, MaxZeroSectors}, {"max_discard_seg", 40, 4, 1},
		{"discard_sector_alignment", 44, 4, 8}, {"max_write_zeroes_sectors", 48, 4, MaxZeroSectors},
		{"max_write_zeroes_seg", 52, 4, 1}, {"write_zeroes_may_unmap", 56, 1, 1}, {"beyond", 80, 4, 0},
	} {
		if got := cfg(c.off, c.size); got != c.want {
			t.Errorf("%s = %d, want %d", c.name, got, c.want)
		}
	}
	if SegMax*SizeMax > MaxData {
		t.Error("a conforming request could exceed MaxData")
	}
}

func TestReadWrite(t *testing.T) {
	img := pattern(1, 1<<20)
	path := tempImage(t, img)
	r := newRig(t, mustOpen(t, path, Options{}), all)

	st, n, data := r.do(TypeIn, 3, nil, 4096)
	if st != StatusOK || n != 4097 {
		t.Fatalf("read: status %d len %d", st, n)
	}
	expectEqual(t, "read", data, img[3*512:3*512+4096])

	w := pattern(2, 8192)
	if st, n, _ := r.do(TypeOut, 10, w, 0); st != StatusOK || n != 1 {
		t.Fatalf("write: status %d len %d", st, n)
	}
	copy(img[10*512:], w)
	expectEqual(t, "image after write", fileBytes(t, path), img)
	if st, _, _ := r.do(TypeFlush, 0, nil, 0); st != StatusOK {
		t.Fatalf("flush: status %d", st)
	}
	// Data split over many descriptors, header split too.
	hdr := header(TypeOut, 100)
	d1, d2 := pattern(3, 512), pattern(4, 1024)
	st1 := r.d.Alloc(1, 1)
	r.q.Add(bufAt(r, hdr[:5], false), bufAt(r, hdr[5:], false), bufAt(r, d1[:100], false),
		bufAt(r, d1[100:], false), bufAt(r, d2, false), virtioBuf(st1, 1, true))
	r.q.Kick()
	if _, _, ok := r.q.Get(); !ok || r.d.Mem.At(st1, 1)[0] != StatusOK {
		t.Fatalf("split write failed")
	}
	copy(img[100*512:], d1)
	copy(img[101*512:], d2)
	expectEqual(t, "image after split write", fileBytes(t, path), img)
	// And reading into a scattered buffer with the status in its own descriptor.
	b1, b2 := r.d.Alloc(700, 1), r.d.Alloc(836, 1)
	st2 := r.d.Alloc(1, 1)
	r.q.Add(bufAt(r, header(TypeIn, 100), false), virtioBuf(b1, 700, true), virtioBuf(b2, 836, true), virtioBuf(st2, 1, true))
	r.q.Kick()
	if _, n, ok := r.q.Get(); !ok || n != 1537 || r.d.Mem.At(st2, 1)[0] != StatusOK {
		t.Fatalf("scattered read failed: %d", n)
	}
	expectEqual(t, "scattered read", append(append([]byte(nil), r.d.Mem.At(b1, 700)...), r.d.Mem.At(b2, 836)...), img[100*512:103*512])
}

func TestBadRequests(t *testing.T) {
	path := tempImage(t, pattern(1, 64<<10)) // 128 sectors
	img := fileBytes(t, path)
	r := newRig(t, mustOpen(t, path, Options{}), all)
	for _, c := range []struct {
		name   string
		typ    uint32
		sector uint64
		out    []byte
		in     int
		want   byte
	}{
		{"read past end", TypeIn, 127, nil, 1024, StatusIOErr},
		{"read at end", TypeIn, 128, nil, 512, StatusIOErr},
		{"read huge sector", TypeIn, 1 << 62, nil, 512, StatusIOErr},
		{"read wrapping sector", TypeIn, ^uint64(0), nil, 512, StatusIOErr},
		{"read partial sector", TypeIn, 0, nil, 100, StatusIOErr},
		{"write past end", TypeOut, 127, make([]byte, 1024), 0, StatusIOErr},
		{"write partial sector", TypeOut, 0, make([]byte, 513), 0, StatusIOErr},
		{"unknown type", 77, 0, nil, 0, StatusUnsupp},
		{"get lifetime", TypeGetLifetime, 0, nil, 16, StatusUnsupp},
		{"secure erase", TypeSecureErase, 0, segment(0, 1, 0), 0, StatusUnsupp},
		{"discard with unmap", TypeDiscard, 0, segment(0, 8, 1), 0, StatusUnsupp},
		{"discard unknown flag", TypeDiscard, 0, segment(0, 8, 2), 0, StatusUnsupp},
		{"discard too many segments", TypeDiscard, 0, append(segment(0, 8, 0), segment(8, 8, 0)...), 0, StatusUnsupp},
		{"discard too long", TypeDiscard, 0, segment(0, MaxZeroSectors+1, 0), 0, StatusUnsupp},
		{"discard past end", TypeDiscard, 0, segment(120, 16, 0), 0, StatusIOErr},
		{"discard truncated segment", TypeDiscard, 0, segment(0, 8, 0)[:12], 0, StatusIOErr},
		{"discard no segment", TypeDiscard, 0, nil, 0, StatusIOErr},
		{"write zeroes past end", TypeWriteZeroes, 0, segment(1<<60, 1, 0), 0, StatusIOErr},
	} {
		if st, _, _ := r.do(c.typ, c.sector, c.out, c.in); st != c.want {
			t.Errorf("%s: status %d, want %d", c.name, st, c.want)
		}
	}
	expectEqual(t, "image", fileBytes(t, path), img)
	// A header shorter than 16 bytes.
	st := r.d.Alloc(1, 1)
	r.q.Add(bufAt(r, header(TypeIn, 0)[:8], false), virtioBuf(r.d.Alloc(512, 1), 512, true), virtioBuf(st, 1, true))
	r.q.Kick()
	if _, n, ok := r.q.Get(); !ok || n != 1 || r.d.Mem.At(st, 1)[0] != StatusIOErr {
		t.Errorf("short header: %d %v status %d", n, ok, r.d.Mem.At(st, 1)[0])
	}
	// Without a writable byte there is nowhere to put a status: the device
	// needs a reset.
	r.q.Add(bufAt(r, header(TypeFlush, 0), false))
	r.q.Kick()
	if r.d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset == 0 {
		t.Error("request without status byte accepted")
	}
}

func TestNotNegotiated(t *testing.T) {
	path := tempImage(t, make([]byte, 64<<10))
	r := newRig(t, mustOpen(t, path, Options{}), all&^(FDiscard|FWriteZeroes))
	for _, typ := range []uint32{TypeDiscard, TypeWriteZeroes} {
		if st, _, _ := r.do(typ, 0, segment(0, 8, 0), 0); st != StatusUnsupp {
			t.Errorf("type %d without its feature: status %d", typ, st)
		}
	}
}

func TestGetID(t *testing.T) {
	path := tempImage(t, make([]byte, 4096))
	r := newRig(t, mustOpen(t, path, Options{Serial: "juice-disk-0"}), all)
	st, n, id := r.do(TypeGetID, 0, nil, 20)
	if st != StatusOK || n != 21 || string(id) != "juice-disk-0\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Errorf("GET_ID: status %d len %d %q", st, n, id)
	}
	r2 := newRig(t, mustOpen(t, tempImage(t, make([]byte, 4096)), Options{Serial: strings.Repeat("x", 30)}), all)
	if _, _, id := r2.do(TypeGetID, 0, nil, 20); string(id) != strings.Repeat("x", 20) {
		t.Errorf("long serial: %q", id)
	}
	// A short buffer gets what fits.
	if st, n, id := r.do(TypeGetID, 0, nil, 4); st != StatusOK || n != 5 || string(id) != "juic" {
		t.Errorf("short GET_ID: %d %d %q", st, n, id)
	}
}

func TestDiscardAndWriteZeroes(t *testing.T) {
	img := pattern(5, 1<<20)
	path := tempImage(t, img)
	r := newRig(t, mustOpen(t, path, Options{}), all)
	ops := []struct {
		typ         uint32
		sector, num uint64
		flags       uint32
	}{
		{TypeDiscard, 8, 16, 0},        // aligned: punched
		{TypeDiscard, 33, 3, 0},        // unaligned
		{TypeWriteZeroes, 100, 50, 0},  // zero range
		{TypeWriteZeroes, 300, 256, 1}, // may unmap
		{TypeWriteZeroes, 2040, 8, 0},  // the last sectors
	}
	for _, op := range ops {
		if st, n, _ := r.do(op.typ, 0, segment(op.sector, uint32(op.num), op.flags), 0); st != StatusOK || n != 1 {
			t.Fatalf("%+v: status %d", op, st)
		}
		clear(img[op.sector*512 : (op.sector+op.num)*512])
	}
	expectEqual(t, "image", fileBytes(t, path), img)
	if st, _, data := r.do(TypeIn, 0, nil, 64<<10); st != StatusOK {
		t.Fatal("read failed")
	} else {
		expectEqual(t, "read back", data, img[:64<<10])
	}
	if fi, _ := os.Stat(path); fi.Size() != 1<<20 {
		t.Errorf("image size changed to %d", fi.Size())
	}
}

func TestZeroFallback(t *testing.T) {
	// zeroRange falls back to writing zeroes on file systems without
	// fallocate modes; exercise that path directly.
	path := tempImage(t, pattern(9, 8192))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var zero []byte
	if err := writeZeroes(f, 100, 5000, &zero); err != nil {
		t.Fatal(err)
	}
	want := pattern(9, 8192)
	clear(want[100:5100])
	expectEqual(t, "file", fileBytes(t, path), want)
}

func TestReadOnly(t *testing.T) {
	img := pattern(6, 256<<10)
	path := tempImage(t, img)
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, mustOpen(t, path, Options{ReadOnly: true}), all)
	if r.d.DeviceFeatures()&FRO == 0 {
		t.Error("RO not offered")
	}
	if r.d.DeviceFeatures()&(FDiscard|FWriteZeroes) != 0 {
		t.Error("read-only disk offers discard or write-zeroes")
	}
	if st, _, data := r.do(TypeIn, 1, nil, 1024); st != StatusOK {
		t.Error("read failed")
	} else {
		expectEqual(t, "read", data, img[512:1536])
	}
	for _, c := range []struct {
		typ uint32
		out []byte
	}{{TypeOut, make([]byte, 512)}, {TypeDiscard, segment(0, 8, 0)}, {TypeWriteZeroes, segment(0, 8, 0)}} {
		if st, _, _ := r.do(c.typ, 0, c.out, 0); st != StatusIOErr && st != StatusUnsupp {
			t.Errorf("type %d on a read-only disk: status %d", c.typ, st)
		}
	}
	if st, _, _ := r.do(TypeOut, 0, make([]byte, 512), 0); st != StatusIOErr {
		t.Errorf("write on a read-only disk: status %d", st)
	}
	if st, _, _ := r.do(TypeFlush, 0, nil, 0); st != StatusOK {
		t.Errorf("flush on a read-only disk: status %d", st)
	}
	expectEqual(t, "image", fileBytes(t, path), img)
}

func TestExclusiveLock(t *testing.T) {
	path := tempImage(t, make([]byte, 4096))
	mustOpen(t, path, Options{})
	if _, err := Open(path, Options{}); err == nil {
		t.Error("a second writer opened the image")
	}
	if _, err := Open(path, Options{ReadOnly: true}); err == nil {
		t.Error("a reader opened an image being written")
	}
}

func TestHostFault(t *testing.T) {
	path := tempImage(t, pattern(7, 64<<10))
	rec := &recorder{}
	dev := mustOpen(t, path, Options{Logger: slog.New(rec)})
	r := newRig(t, dev, all)
	// The image shrinks under the device.
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if st, _, _ := r.do(TypeIn, 64, nil, 512); st != StatusIOErr {
			t.Fatalf("read beyond the shrunken image: status %d", st)
		}
	}
	if len(rec.msgs) != 1 || !strings.Contains(rec.msgs[0], "host I/O error") {
		t.Errorf("log: %q", rec.msgs)
	}
	if st, _, _ := r.do(TypeIn, 0, nil, 512); st != StatusOK {
		t.Errorf("read within the image: status %d", st)
	}
	if r.d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset != 0 {
		t.Error("host fault broke the device")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir+"/missing", Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing image: %v", err)
	}
	if _, err := Open(dir, Options{}); err == nil {
		t.Error("directory accepted as an image")
	}
}

func TestRequestLimits(t *testing.T) {
	// A read of more than MaxData bytes fails without touching the disk;
	// guest memory for it need not even exist in the right places.
	path := tempImage(t, make([]byte, 4096))
	r := newRig(t, mustOpen(t, path, Options{}), all)
	st := r.d.Alloc(1, 1)
	big := r.d.Alloc(1<<20, 8)
	bufs := []virtioBufT{bufAt(r, header(TypeIn, 0), false)}
	for range 65 {
		bufs = append(bufs, virtioBuf(big, 1<<20, true))
	}
	bufs = append(bufs, virtioBuf(st, 1, true))
	r.q.AddIndirect(bufs...)
	r.q.Kick()
	if _, _, ok := r.q.Get(); !ok || r.d.Mem.At(st, 1)[0] != StatusIOErr {
		t.Errorf("oversized read: status %d", r.d.Mem.At(st, 1)[0])
	}
}
