package blk

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// blkSeed encodes a FuzzBlkRequest input: control bytes, then the
// device-readable payload (header first).
func blkSeed(ctl, pieces, wlen byte, typ uint32, sector uint64, payload []byte) []byte {
	b := []byte{ctl, pieces, wlen}
	b = append(b, header(typ, sector)...)
	return append(b, payload...)
}

// FuzzBlkRequest fuzzes the request parser: one request chain per input,
// against a raw image or an overlay (64 KiB, 128 sectors).
//
// data[0] bit 0: indirect chain; bit 1: overlay device; bit 2: read-only
// device. data[1]%4+1 is the number of readable descriptors the payload is
// split into; data[2]*4 the number of device-writable bytes (in two
// descriptors; 0 means none, which must need a reset).
func FuzzBlkRequest(f *testing.F) {
	f.Add(blkSeed(0, 0, 129, TypeIn, 0, nil))
	f.Add(blkSeed(1, 1, 1, TypeOut, 3, pattern(1, 1024)))
	f.Add(blkSeed(2, 2, 1, TypeOut, 127, pattern(2, 512)))
	f.Add(blkSeed(3, 0, 1, TypeFlush, 0, nil))
	f.Add(blkSeed(0, 0, 6, TypeGetID, 0, nil))
	f.Add(blkSeed(0, 0, 1, TypeDiscard, 0, segment(8, 16, 0)))
	f.Add(blkSeed(2, 3, 1, TypeWriteZeroes, 0, segment(1, 200, 1)))
	f.Add(blkSeed(4, 0, 1, TypeOut, 0, pattern(3, 512)))
	f.Add(blkSeed(0, 0, 0, TypeIn, 0, nil))
	f.Add([]byte{0, 0, 1, 1, 2, 3})

	dir := f.TempDir()
	img := pattern(9, 64<<10)
	quiet := slog.New(slog.DiscardHandler)
	var devs [4]*Device // indexed by data[0]>>1&3
	for kind := range devs {
		base := filepath.Join(dir, fmt.Sprintf("base%d", kind))
		writeFile(f, base, img)
		opts := Options{Logger: quiet, ReadOnly: kind&2 != 0, Serial: "fuzz"}
		if kind&1 != 0 {
			opts.Overlay = base + ".cow"
			if opts.ReadOnly {
				// Give the read-only device an existing overlay.
				d, err := Open(base, Options{Overlay: opts.Overlay, Logger: quiet})
				if err != nil {
					f.Fatal(err)
				}
				d.Close()
			}
		}
		d, err := Open(base, opts)
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { d.Close() })
		devs[kind] = d
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		ctl, pieces, wlen := data[0], int(data[1]%4)+1, int(data[2])*4
		payload := data[3:]
		dev := devs[ctl>>1&3]
		r := newRigMem(t, dev, all, 64<<10)
		r.d.T.SetLogger(quiet)
		var bufs []virtiotest.Buf
		for i := range pieces {
			p := payload[len(payload)*i/pieces : len(payload)*(i+1)/pieces]
			if len(p) > 0 {
				bufs = append(bufs, bufAt(r, p, false))
			}
		}
		var st uint64
		if wlen > 0 {
			a := r.d.Alloc(uint64(wlen), 8)
			if wlen > 1 {
				bufs = append(bufs, virtioBuf(a, uint32(wlen-1), true))
			}
			st = a + uint64(wlen) - 1
			r.d.Mem.At(st, 1)[0] = 0xff
			bufs = append(bufs, virtioBuf(st, 1, true))
		}
		if len(bufs) == 0 {
			return
		}
		if ctl&1 != 0 {
			r.q.AddIndirect(bufs...)
		} else {
			r.q.Add(bufs...)
		}
		r.q.Kick()
		_, n, ok := r.q.Get()
		reset := r.d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset != 0
		switch {
		case wlen == 0:
			if ok || !reset {
				t.Fatalf("request without status byte: completed %v, needs reset %v", ok, reset)
			}
			return
		case !ok || reset:
			t.Fatalf("request not completed (needs reset %v)", reset)
		case r.d.Mem.At(st, 1)[0] > StatusUnsupp:
			t.Fatalf("status byte %d", r.d.Mem.At(st, 1)[0])
		case n == 0 || n > uint32(wlen):
			t.Fatalf("used length %d of %d writable bytes", n, wlen)
		}
		if ctl&4 != 0 && len(payload) >= 4 && binary.LittleEndian.Uint32(payload) != TypeIn &&
			r.d.Mem.At(st, 1)[0] == StatusOK && binary.LittleEndian.Uint32(payload) != TypeFlush &&
			binary.LittleEndian.Uint32(payload) != TypeGetID {
			t.Fatalf("read-only device accepted request type %d", binary.LittleEndian.Uint32(payload))
		}
	})
}
