package rng

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

// counter is a deterministic entropy source: 0, 1, 2, ... with at most
// chunk bytes per Read, and an error after limit bytes.
type counter struct {
	next  byte
	chunk int
	limit int
	reads int
}

func (c *counter) Read(p []byte) (int, error) {
	c.reads++
	if c.limit == 0 {
		return 0, errors.New("entropy exhausted")
	}
	n := min(len(p), c.chunk, c.limit)
	for i := range n {
		p[i] = c.next
		c.next++
	}
	c.limit -= n
	return n, nil
}

type zeroReader struct{ reads int }

func (z *zeroReader) Read(p []byte) (int, error) { z.reads++; return 0, nil }

func setup(t testing.TB, src Entropy) (*virtiotest.Driver, *virtiotest.DriverQueue) {
	t.Helper()
	d := virtiotest.NewDriver(New(src, slog.New(slog.DiscardHandler)), virtiotest.NewMemory(0x8000_0000, 1<<20))
	if err := d.Init(^uint64(0), 64); err != nil {
		t.Fatal(err)
	}
	return d, d.Queues[0]
}

func TestFill(t *testing.T) {
	src := &counter{chunk: 7, limit: 1 << 30}
	d, q := setup(t, src)
	if d.Read32(virtio.RegDeviceID) != 4 {
		t.Fatal("wrong device ID")
	}
	a, b := d.Alloc(10, 1), d.Alloc(30, 1)
	q.Add(virtiotest.Buf{Addr: a, Len: 10, Write: true}, virtiotest.Buf{Addr: b, Len: 30, Write: true})
	q.Kick()
	_, n, ok := q.Get()
	if !ok || n != 40 {
		t.Fatalf("used %d %v", n, ok)
	}
	got := append(append([]byte(nil), d.Mem.At(a, 10)...), d.Mem.At(b, 30)...)
	for i, v := range got {
		if v != byte(i) {
			t.Fatalf("byte %d = %d", i, v)
		}
	}
	if !d.IRQ {
		t.Error("no interrupt")
	}
}

func TestCap(t *testing.T) {
	src := &counter{chunk: 1 << 20, limit: 1 << 30}
	d, q := setup(t, src)
	q.Add(virtiotest.Buf{Addr: d.Alloc(200<<10, 1), Len: 200 << 10, Write: true})
	q.Kick()
	if _, n, _ := q.Get(); n != MaxRequest {
		t.Errorf("used %d, want %d", n, MaxRequest)
	}
}

func TestSourceErrors(t *testing.T) {
	src := &counter{chunk: 4, limit: 6}
	d, q := setup(t, src)
	q.Add(virtiotest.Buf{Addr: d.Alloc(16, 1), Len: 16, Write: true})
	q.Kick()
	if _, n, ok := q.Get(); !ok || n != 6 {
		t.Errorf("short source: used %d %v", n, ok)
	}
	z := &zeroReader{}
	d, q = setup(t, z)
	q.Add(virtiotest.Buf{Addr: d.Alloc(16, 1), Len: 16, Write: true})
	q.Kick()
	if _, n, ok := q.Get(); !ok || n != 0 || z.reads > maxEmptyReads {
		t.Errorf("empty source: used %d %v after %d reads", n, ok, z.reads)
	}
}

func TestReadableBuffer(t *testing.T) {
	d, q := setup(t, &counter{chunk: 4, limit: 100})
	q.Add(virtiotest.Buf{Addr: d.Alloc(16, 1), Len: 16})
	q.Kick()
	if d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset == 0 {
		t.Error("device-readable buffer accepted")
	}
}

// FuzzRNG feeds chains of arbitrary shape: each input byte is one
// descriptor, bit 7 writable, the rest its length in 64-byte units; a zero
// byte ends a chain.
func FuzzRNG(f *testing.F) {
	f.Add([]byte{0x81, 0x82, 0, 0x90})
	f.Add([]byte{0x01, 0x81})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, q := setup(t, &counter{chunk: 13, limit: 1 << 20})
		d.T.SetLogger(slog.New(slog.DiscardHandler))
		var bufs []virtiotest.Buf
		flush := func() {
			if len(bufs) > 0 && len(bufs) <= q.Free() {
				q.Add(bufs...)
				q.Kick()
				for {
					if _, n, ok := q.Get(); !ok {
						break
					} else if n > MaxRequest {
						t.Fatalf("used length %d", n)
					}
				}
			}
			bufs = bufs[:0]
		}
		for _, b := range data {
			if d.Read32(virtio.RegStatus)&virtio.StatusDeviceNeedsReset != 0 {
				return
			}
			if b == 0 {
				flush()
				continue
			}
			n := uint32(b&0x7f) * 64
			bufs = append(bufs, virtiotest.Buf{Addr: d.Alloc(uint64(n), 1), Len: n, Write: b&0x80 != 0})
			if d.Alloc(0, 1) > 0x8000_0000+(1<<20)-(8<<10) {
				break
			}
		}
		flush()
	})
}
