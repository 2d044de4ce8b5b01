package blk

import (
	"bytes"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// volatileSize is not a multiple of the cluster size, so the last cluster
// is a short one.
const volatileSize = 6*clusterSize + 5*512

// frozenImage writes a base image, read-only with an mtime in the past,
// and returns its path, contents and mtime.
func frozenImage(t *testing.T, size int) (string, []byte, time.Time) {
	t.Helper()
	img := pattern(31, size)
	path := tempImage(t, img)
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	return path, img, mtime
}

func expectUntouched(t *testing.T, path string, img []byte, mtime time.Time) {
	t.Helper()
	expectEqual(t, "base image", fileBytes(t, path), img)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime().Equal(mtime) {
		t.Errorf("base image mtime %v, want %v", st.ModTime(), mtime)
	}
}

// diskBytes reads the whole virtual disk below the device.
func diskBytes(t testing.TB, d *Device) []byte {
	t.Helper()
	b := make([]byte, d.img.Size())
	if err := d.img.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVolatile(t *testing.T) {
	path, img, mtime := frozenImage(t, volatileSize)
	orig := append([]byte(nil), img...)
	dev := mustOpen(t, path, Options{Volatile: true})
	if !dev.Volatile() {
		t.Fatal("not volatile")
	}
	r := newRig(t, dev, all)
	plain := mustOpen(t, tempImage(t, make([]byte, 4096)), Options{})
	if dev.Features() != plain.Features() {
		t.Errorf("volatile disk offers %#x, a writable one %#x", dev.Features(), plain.Features())
	}
	write := func(sector uint64, p []byte) {
		t.Helper()
		if st, _, _ := r.do(TypeOut, sector, p, 0); st != StatusOK {
			t.Fatalf("write at %d: status %d", sector, st)
		}
		copy(img[sector*512:], p)
	}
	zero := func(typ uint32, sector, num uint64, flags uint32) {
		t.Helper()
		if st, _, _ := r.do(typ, 0, segment(sector, uint32(num), flags), 0); st != StatusOK {
			t.Fatalf("zero %d+%d: status %d", sector, num, st)
		}
		clear(img[sector*512 : (sector+num)*512])
	}
	write(1, pattern(40, 512))                      // partial cluster 0
	write(126, pattern(41, 2048))                   // across clusters 0 and 1
	write(256, pattern(42, clusterSize))            // all of cluster 2
	write(volatileSize/512-2, pattern(43, 1024))    // the short last cluster
	zero(TypeWriteZeroes, 384, 128, 0)              // all of cluster 3
	zero(TypeDiscard, 513, 10, 0)                   // part of cluster 4
	zero(TypeWriteZeroes, 2, 4, 1)                  // written cluster 0
	write(390, pattern(44, 512))                    // into the zero cluster
	zero(TypeWriteZeroes, volatileSize/512-5, 5, 0) // all of the short cluster
	if st, _, _ := r.do(TypeFlush, 0, nil, 0); st != StatusOK {
		t.Fatal("flush failed")
	}
	st, _, data := r.do(TypeIn, 0, nil, volatileSize)
	if st != StatusOK {
		t.Fatalf("read: status %d", st)
	}
	expectEqual(t, "disk", data, img)
	expectEqual(t, "disk below the device", diskBytes(t, dev), img)
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	expectUntouched(t, path, orig, mtime)
	// The changes die with the device.
	again := mustOpen(t, path, Options{Volatile: true})
	expectEqual(t, "reopened", diskBytes(t, again), orig)
}

func TestVolatileOverOverlay(t *testing.T) {
	path, img, mtime := frozenImage(t, volatileSize)
	ovl := t.TempDir() + "/disk.cow"
	// An overlay with one change, then volatile use on top of it.
	w := mustOpen(t, path, Options{Overlay: ovl})
	rw := newRig(t, w, all)
	if st, _, _ := rw.do(TypeOut, 8, pattern(50, 4096), 0); st != StatusOK {
		t.Fatal("write failed")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), img...)
	copy(want[8*512:], pattern(50, 4096))
	ovlBytes := fileBytes(t, ovl)
	dev := mustOpen(t, path, Options{Overlay: ovl, Volatile: true})
	r := newRig(t, dev, all)
	expectEqual(t, "through the overlay", diskBytes(t, dev), want)
	if st, _, _ := r.do(TypeOut, 9, pattern(51, 512), 0); st != StatusOK {
		t.Fatal("volatile write failed")
	}
	copy(want[9*512:], pattern(51, 512))
	expectEqual(t, "after a volatile write", diskBytes(t, dev), want)
	dev.Close()
	expectEqual(t, "overlay", fileBytes(t, ovl), ovlBytes)
	expectUntouched(t, path, img, mtime)
}

// TestVolatileVersions writes at random, saving versions as it goes, and
// rewinds to them in random order: each must read back exactly as it was,
// however the disk changed since (copy on write).
func TestVolatileVersions(t *testing.T) {
	path, img, mtime := frozenImage(t, volatileSize)
	orig := append([]byte(nil), img...)
	dev := mustOpen(t, path, Options{Volatile: true})
	rnd := rand.New(rand.NewSource(7))
	type version struct {
		c    *Contents
		want []byte
	}
	var versions []version
	model := append([]byte(nil), img...)
	for i := range 400 {
		off := rnd.Int63n(volatileSize/512) * 512
		n := min(int64(1+rnd.Intn(3*clusterSize/512))*512, volatileSize-off)
		switch rnd.Intn(5) {
		case 0, 1, 2:
			p := pattern(byte(i), int(n))
			if err := dev.img.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
			copy(model[off:], p)
		case 3:
			if err := dev.img.WriteZeroes(off, n, rnd.Intn(2) == 0); err != nil {
				t.Fatal(err)
			}
			clear(model[off : off+n])
		case 4:
			versions = append(versions, version{dev.SaveContents(), append([]byte(nil), model...)})
		}
		if rnd.Intn(40) == 0 && len(versions) > 0 {
			v := versions[rnd.Intn(len(versions))]
			if err := dev.RestoreContents(v.c); err != nil {
				t.Fatal(err)
			}
			copy(model, v.want)
			expectEqual(t, "rewound disk", diskBytes(t, dev), model)
		}
	}
	expectEqual(t, "disk", diskBytes(t, dev), model)
	for i, v := range versions {
		if err := dev.RestoreContents(v.c); err != nil {
			t.Fatal(err)
		}
		expectEqual(t, "version", diskBytes(t, dev), v.want)
		// Through the encoding, into another device over the same base.
		b, err := v.c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var c Contents
		if err := c.UnmarshalBinary(b); err != nil {
			t.Fatalf("version %d: %v", i, err)
		}
		other := mustOpen(t, path, Options{Volatile: true})
		if err := other.RestoreContents(&c); err != nil {
			t.Fatal(err)
		}
		expectEqual(t, "decoded version", diskBytes(t, other), v.want)
		if b2, _ := c.MarshalBinary(); !bytes.Equal(b, b2) {
			t.Fatal("decoded contents encode differently")
		}
		other.Close()
	}
	// The empty version: the base itself.
	empty := mustOpen(t, path, Options{Volatile: true}).SaveContents()
	if err := dev.RestoreContents(empty); err != nil {
		t.Fatal(err)
	}
	expectEqual(t, "empty version", diskBytes(t, dev), orig)
	dev.Close()
	expectUntouched(t, path, orig, mtime)
}

func TestContentsErrors(t *testing.T) {
	path, _, _ := frozenImage(t, volatileSize)
	plain := mustOpen(t, tempImage(t, make([]byte, volatileSize)), Options{})
	if plain.Volatile() || plain.SaveContents() != nil {
		t.Error("a plain disk has volatile contents")
	}
	dev := mustOpen(t, path, Options{Volatile: true})
	c := dev.SaveContents()
	if err := plain.RestoreContents(c); err == nil {
		t.Error("contents restored onto a plain disk")
	}
	if err := dev.RestoreContents(nil); err == nil {
		t.Error("nil contents restored")
	}
	small := mustOpen(t, tempImage(t, make([]byte, clusterSize)), Options{Volatile: true})
	if err := small.RestoreContents(c); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("contents of another size restored: %v", err)
	}

	// Encoded garbage: every prefix and many corruptions fail cleanly; what
	// decodes re-encodes identically.
	dev.img.WriteAt(pattern(1, 1024), clusterSize/2)
	dev.img.WriteZeroes(5*clusterSize, clusterSize, false)
	dev.img.WriteAt(pattern(2, 512), volatileSize-512)
	good, _ := dev.SaveContents().MarshalBinary()
	for n := 0; n < len(good); n++ {
		var c Contents
		if c.UnmarshalBinary(good[:n]) == nil {
			t.Fatalf("prefix of %d bytes decoded", n)
		}
		if n > 100 && n < len(good)-100 {
			n += 997 // the cluster bytes: a sample is enough
		}
	}
	rnd := rand.New(rand.NewSource(3))
	for range 1000 {
		b := append([]byte(nil), good...)
		// Corrupt the structure rather than the cluster bytes.
		for range 1 + rnd.Intn(3) {
			i := rnd.Intn(len(b))
			if rnd.Intn(2) == 0 {
				i = rnd.Intn(64)
			}
			b[i] = byte(rnd.Intn(256))
		}
		checkDecode(t, b)
	}
	for _, c := range []struct {
		name string
		mod  func(e *snapshot.Encoder)
		want string
	}{
		{"magic", func(e *snapshot.Encoder) { e.Blob([]byte("JUICECOW")) }, "magic"},
		{"version", func(e *snapshot.Encoder) { e.Blob([]byte(contentsMagic)); e.Uint32(2) }, "version"},
		{"cluster size", func(e *snapshot.Encoder) {
			e.Blob([]byte(contentsMagic))
			e.Uint32(contentsVersion)
			e.Uint32(12)
		}, "cluster bits"},
		{"out of order", func(e *snapshot.Encoder) {
			contentsHeader(e, 3*clusterSize, 2)
			e.Uint64(1)
			e.Bool(false)
			e.Uint64(1)
			e.Bool(false)
		}, "cluster index"},
		{"beyond the disk", func(e *snapshot.Encoder) {
			contentsHeader(e, 3*clusterSize, 1)
			e.Uint64(3)
			e.Bool(false)
		}, "cluster index"},
		{"short cluster", func(e *snapshot.Encoder) {
			contentsHeader(e, 3*clusterSize, 1)
			e.Uint64(0)
			e.Bool(true)
			e.Blob(make([]byte, 512))
		}, "cluster data"},
		{"too many clusters", func(e *snapshot.Encoder) { contentsHeader(e, clusterSize, 2) }, "clusters"},
		{"huge size", func(e *snapshot.Encoder) { contentsHeader(e, 1<<63, 0) }, "size"},
	} {
		var e snapshot.Encoder
		c.mod(&e)
		var got Contents
		if err := got.UnmarshalBinary(e.Bytes()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error about %q", c.name, err, c.want)
		}
	}
}

func contentsHeader(e *snapshot.Encoder, size uint64, n int) {
	e.Blob([]byte(contentsMagic))
	e.Uint32(contentsVersion)
	e.Uint32(clusterBits)
	e.Uint64(size)
	e.Count(n)
}

// checkDecode decodes b; if that works, the result must encode back to b.
func checkDecode(t testing.TB, b []byte) {
	var c Contents
	if c.UnmarshalBinary(b) != nil {
		return
	}
	if b2, _ := c.MarshalBinary(); !bytes.Equal(b, b2) {
		t.Fatal("decoded contents encode differently")
	}
}

func FuzzUnmarshalContents(f *testing.F) {
	var e snapshot.Encoder
	contentsHeader(&e, 2*clusterSize+512, 2)
	e.Uint64(0)
	e.Bool(false)
	e.Uint64(2)
	e.Bool(true)
	e.Blob(pattern(1, 512))
	f.Add(e.Bytes())
	f.Add([]byte(nil))
	f.Fuzz(func(t *testing.T, b []byte) { checkDecode(t, b) })
}

// TestVolatileCheckpoint checkpoints a volatile disk's transport (with a
// request published but not kicked) and its contents, goes on writing,
// then restores both onto a fresh device over the same base: the pending
// request and everything after it must give the same guest memory.
func TestVolatileCheckpoint(t *testing.T) {
	path, _, _ := frozenImage(t, volatileSize)
	a := newRig(t, mustOpen(t, path, Options{Volatile: true}), all)
	if st, _, _ := a.do(TypeOut, 3, pattern(60, 4096), 0); st != StatusOK {
		t.Fatal("write failed")
	}
	// A write and a read, published, not kicked.
	q := a.q
	hdr := a.d.Put(header(TypeOut, 100))
	data := a.d.Put(pattern(61, 1024))
	st1 := a.d.Alloc(1, 1)
	q.AddIndirect(virtiotest.Buf{Addr: hdr, Len: 16}, virtiotest.Buf{Addr: data, Len: 1024}, virtiotest.Buf{Addr: st1, Len: 1, Write: true})
	hdr2 := a.d.Put(header(TypeIn, 0))
	in := a.d.Alloc(64<<10, 8)
	st2 := a.d.Alloc(1, 1)
	q.AddIndirect(virtiotest.Buf{Addr: hdr2, Len: 16}, virtiotest.Buf{Addr: in, Len: 64 << 10, Write: true}, virtiotest.Buf{Addr: st2, Len: 1, Write: true})

	var e snapshot.Encoder
	a.d.T.SaveState(&e)
	state := e.Bytes()
	contents := a.dev.SaveContents()
	mem := append([]byte(nil), a.d.Mem.Bytes...)

	// The original goes on, and writes over what the checkpoint holds.
	if st, _, _ := a.do(TypeOut, 2, pattern(62, 8192), 0); st != StatusOK {
		t.Fatal("write failed")
	}
	// ... then is rewound: memory, transport and contents.
	copy(a.d.Mem.Bytes, mem)
	if err := a.d.T.RestoreState(snapshot.NewDecoder(state)); err != nil {
		t.Fatal(err)
	}
	if err := a.dev.RestoreContents(contents); err != nil {
		t.Fatal(err)
	}

	// b: a fresh device over the same base, as a rebuilt machine has.
	bdev := mustOpen(t, path, Options{Volatile: true})
	bmem := virtiotest.NewMemory(ramBase, len(mem))
	copy(bmem.Bytes, mem)
	var birq bool
	bt := virtio.NewTransport(bdev, bmem, func(level bool) { birq = level })
	d := snapshot.NewDecoder(state)
	if err := bt.RestoreState(d); err != nil {
		t.Fatal(err)
	}
	if err := d.Finish("transport"); err != nil {
		t.Fatal(err)
	}
	if err := bdev.RestoreContents(contents); err != nil {
		t.Fatal(err)
	}
	if birq != a.d.IRQ {
		t.Errorf("irq %v, want %v", birq, a.d.IRQ)
	}

	q.Kick()
	bt.Store(virtio.RegQueueNotify, 4, 0)
	if a.d.Mem.At(st1, 1)[0] != StatusOK || a.d.Mem.At(st2, 1)[0] != StatusOK {
		t.Fatal("pending requests failed")
	}
	if !bytes.Equal(a.d.Mem.Bytes, bmem.Bytes) || birq != a.d.IRQ {
		t.Fatal("guest memory or irq differ after the pending requests")
	}
	expectEqual(t, "disk", diskBytes(t, bdev), diskBytes(t, a.dev))
	// The read saw the checkpoint's data, not the later write.
	want := pattern(31, volatileSize)
	copy(want[3*512:], pattern(60, 4096))
	copy(want[100*512:], pattern(61, 1024))
	expectEqual(t, "read after rewind", a.d.Mem.At(in, 64<<10), want[:64<<10])
}
