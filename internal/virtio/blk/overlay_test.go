package blk

import (
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/juicevm/juice/internal/virtio"
)

// overlaySetup returns a base image of size bytes (not a multiple of the
// cluster size, to exercise the partial last cluster) and an overlay path.
func overlaySetup(t *testing.T, size int) (base, ovl string, img []byte) {
	img = pattern(11, size)
	base = tempImage(t, img)
	if err := os.Chmod(base, 0o444); err != nil {
		t.Fatal(err)
	}
	return base, filepath.Join(t.TempDir(), "disk.cow"), img
}

func TestOverlayBasics(t *testing.T) {
	const size = 5*clusterSize + 3*512
	base, ovl, img := overlaySetup(t, size)
	orig := append([]byte(nil), img...)
	dev := mustOpen(t, base, Options{Overlay: ovl})
	r := newRig(t, dev, all)
	if dev.Capacity() != size/512 {
		t.Fatalf("capacity %d", dev.Capacity())
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
	write(1, pattern(20, 512))           // partial cluster 0: copy-up
	write(126, pattern(21, 2048))        // across clusters 0 and 1
	write(256, pattern(22, clusterSize)) // all of cluster 2
	write(size/512-2, pattern(23, 1024)) // the partial last cluster
	zero(TypeWriteZeroes, 384, 128, 0)   // cluster 3, unallocated: zero entry
	zero(TypeWriteZeroes, 2, 4, 0)       // allocated cluster 0
	zero(TypeDiscard, 513, 10, 0)        // partial cluster 4, unallocated
	zero(TypeWriteZeroes, 256, 128, 1)   // allocated cluster 2, unmap
	write(390, pattern(24, 512))         // into the zero cluster
	check := func(r *rig) {
		t.Helper()
		st, _, data := r.do(TypeIn, 0, nil, size&^511)
		if st != StatusOK {
			t.Fatalf("read: status %d", st)
		}
		expectEqual(t, "disk", data, img[:size&^511])
	}
	check(r)
	expectEqual(t, "base", fileBytes(t, base), orig)
	if st, _, _ := r.do(TypeFlush, 0, nil, 0); st != StatusOK {
		t.Fatal("flush failed")
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening continues the overlay.
	dev2 := mustOpen(t, base, Options{Overlay: ovl})
	r2 := newRig(t, dev2, all)
	check(r2)
	write2 := pattern(25, 512)
	if st, _, _ := r2.do(TypeOut, 600, write2, 0); st != StatusOK {
		t.Fatal("write after reopen failed")
	}
	copy(img[600*512:], write2)
	check(r2)
	if err := dev2.Close(); err != nil {
		t.Fatal(err)
	}
	// Read-only through the overlay sees the changes and changes nothing.
	ovlBytes := fileBytes(t, ovl)
	dev3 := mustOpen(t, base, Options{Overlay: ovl, ReadOnly: true})
	r3 := newRig(t, dev3, all)
	check(r3)
	if st, _, _ := r3.do(TypeOut, 0, make([]byte, 512), 0); st != StatusIOErr {
		t.Errorf("write through a read-only overlay: status %d", st)
	}
	dev3.Close()
	expectEqual(t, "overlay after read-only use", fileBytes(t, ovl), ovlBytes)
	expectEqual(t, "base", fileBytes(t, base), orig)
}

func TestOverlayReadOnlyMissing(t *testing.T) {
	base, ovl, img := overlaySetup(t, 64<<10)
	r := newRig(t, mustOpen(t, base, Options{Overlay: ovl, ReadOnly: true}), all)
	if _, _, data := r.do(TypeIn, 0, nil, 4096); string(data) != string(img[:4096]) {
		t.Error("read-only disk without its overlay does not read the base")
	}
	if _, err := os.Stat(ovl); !errors.Is(err, os.ErrNotExist) {
		t.Error("read-only open created the overlay")
	}
}

func TestOverlayBaseChanged(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(path string) error
	}{
		{"first MiB", func(p string) error { return patch(p, 100, 'x') }},
		{"last MiB", func(p string) error { return patch(p, 3<<20-5, 'x') }},
		{"size", func(p string) error { return os.Truncate(p, 3<<20+512) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, ovl, _ := overlaySetup(t, 3<<20)
			dev := mustOpen(t, base, Options{Overlay: ovl})
			dev.Close()
			os.Chmod(base, 0o644)
			if err := c.change(base); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(base, Options{Overlay: ovl}); !errors.Is(err, ErrBaseChanged) {
				t.Errorf("changed base accepted: %v", err)
			}
		})
	}
	// A touched but unchanged base is fine.
	base, ovl, _ := overlaySetup(t, 1<<20)
	mustOpen(t, base, Options{Overlay: ovl}).Close()
	os.Chtimes(base, futureTime, futureTime)
	mustOpen(t, base, Options{Overlay: ovl})
}

func TestOverlayCorrupt(t *testing.T) {
	base, ovl, _ := overlaySetup(t, 1<<20)
	if err := os.WriteFile(ovl, pattern(1, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(base, Options{Overlay: ovl}); !errors.Is(err, ErrBadOverlay) {
		t.Errorf("garbage overlay: %v", err)
	}
	// A table entry pointing outside the file.
	os.Remove(ovl)
	mustOpen(t, base, Options{Overlay: ovl}).Close()
	f, _ := os.OpenFile(ovl, os.O_RDWR, 0)
	f.WriteAt([]byte{0, 0, 0, 0, 1, 0, 0, 0}, headerSize+8)
	f.Close()
	if _, err := Open(base, Options{Overlay: ovl}); !errors.Is(err, ErrBadOverlay) {
		t.Errorf("bad table entry: %v", err)
	}
	// A flipped header byte.
	os.Remove(ovl)
	mustOpen(t, base, Options{Overlay: ovl}).Close()
	patch(ovl, 20, 0xff)
	if _, err := Open(base, Options{Overlay: ovl}); !errors.Is(err, ErrBadOverlay) {
		t.Errorf("bad header checksum: %v", err)
	}
}

// TestOverlayCrashBeforeFlush checks that an overlay abandoned without a
// flush reopens with everything up to the last flush.
func TestOverlayCrashBeforeFlush(t *testing.T) {
	base, ovl, img := overlaySetup(t, 1<<20)
	dev := mustOpen(t, base, Options{Overlay: ovl})
	r := newRig(t, dev, all)
	w := pattern(30, 4096)
	r.do(TypeOut, 16, w, 0)
	r.do(TypeFlush, 0, nil, 0)
	copy(img[16*512:], w)
	r.do(TypeOut, 1000, pattern(31, 4096), 0) // never flushed: a new cluster
	// Crash: drop the files without flushing.
	o := dev.img.(*overlay)
	o.f.Close()
	o.base.Close()
	o.f = nil
	dev2 := mustOpen(t, base, Options{Overlay: ovl})
	r2 := newRig(t, dev2, all)
	_, _, data := r2.do(TypeIn, 0, nil, 1<<20)
	expectEqual(t, "disk after crash", data, img)
	// The orphaned cluster is skipped, not reused while referenced.
	w2 := pattern(32, 512)
	r2.do(TypeOut, 1500, w2, 0)
	copy(img[1500*512:], w2)
	_, _, data = r2.do(TypeIn, 0, nil, 1<<20)
	expectEqual(t, "disk after more writes", data, img)
}

// TestOverlayRandom runs random operations against an overlay and a plain
// copy of the base, through the device, and compares them.
func TestOverlayRandom(t *testing.T) {
	const size = 3*clusterSize + 7*512
	base, ovl, img := overlaySetup(t, size)
	rawPath := tempImage(t, img)
	devO := mustOpen(t, base, Options{Overlay: ovl})
	devR := mustOpen(t, rawPath, Options{})
	rO, rR := newRig(t, devO, all), newRig(t, devR, all)
	rnd := rand.New(rand.NewSource(7))
	sectors := uint64(size / 512)
	for i := 0; i < 400; i++ {
		sector := uint64(rnd.Int63n(int64(sectors)))
		n := 1 + uint64(rnd.Int63n(int64(min(sectors-sector, 300))))
		var typ uint32
		var out []byte
		switch k := rnd.Intn(10); {
		case k < 6:
			typ, out = TypeOut, pattern(byte(i), int(n*512))
		case k < 8:
			typ, out = TypeWriteZeroes, segment(sector, uint32(n), uint32(rnd.Intn(2)))
		case k < 9:
			typ, out = TypeDiscard, segment(sector, uint32(n), 0)
		default:
			typ = TypeFlush
		}
		s1, _, _ := rO.do(typ, sector, out, 0)
		s2, _, _ := rR.do(typ, sector, out, 0)
		if s1 != StatusOK || s2 != StatusOK {
			t.Fatalf("op %d type %d: status %d / %d", i, typ, s1, s2)
		}
		if i%50 == 49 {
			_, _, a := rO.do(TypeIn, 0, nil, size&^511)
			_, _, b := rR.do(TypeIn, 0, nil, size&^511)
			expectEqual(t, "overlay vs raw", a, b)
		}
	}
	devO.Close()
	devO2 := mustOpen(t, base, Options{Overlay: ovl})
	rO2 := newRig(t, devO2, all)
	_, _, a := rO2.do(TypeIn, 0, nil, size&^511)
	_, _, b := rR.do(TypeIn, 0, nil, size&^511)
	expectEqual(t, "reopened overlay vs raw", a, b)
	_ = virtio.IDBlock
}

func patch(path string, off int64, b byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var c [1]byte
	f.ReadAt(c[:], off)
	c[0] ^= b
	_, err = f.WriteAt(c[:], off)
	return err
}
