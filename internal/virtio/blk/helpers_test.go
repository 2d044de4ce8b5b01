package blk

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/virtiotest"
)

const ramBase = 0x8000_0000

// rig is a block device behind a test driver.
type rig struct {
	t   testing.TB
	dev *Device
	d   *virtiotest.Driver
	q   *virtiotest.DriverQueue
}

func newRig(t testing.TB, dev *Device, features uint64) *rig {
	t.Helper()
	return newRigMem(t, dev, features, 4<<20)
}

func newRigMem(t testing.TB, dev *Device, features uint64, ram int) *rig {
	t.Helper()
	d := virtiotest.NewDriver(dev, virtiotest.NewMemory(ramBase, ram))
	if err := d.Init(features, 16); err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, dev: dev, d: d, q: d.Queues[0]}
}

func header(typ uint32, sector uint64) []byte {
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h, typ)
	binary.LittleEndian.PutUint64(h[8:], sector)
	return h
}

func segment(sector uint64, num, flags uint32) []byte {
	s := make([]byte, 16)
	binary.LittleEndian.PutUint64(s, sector)
	binary.LittleEndian.PutUint32(s[8:], num)
	binary.LittleEndian.PutUint32(s[12:], flags)
	return s
}

// do submits a request with out as the device-readable payload after the
// header and in device-writable bytes before the status byte; it returns
// the status, the used length and the bytes the device wrote.
func (r *rig) do(typ uint32, sector uint64, out []byte, in int) (byte, uint32, []byte) {
	r.t.Helper()
	r.d.Alloc(0, 1)
	bufs := []virtiotest.Buf{{Addr: r.d.Put(header(typ, sector)), Len: 16}}
	if len(out) > 0 {
		bufs = append(bufs, virtiotest.Buf{Addr: r.d.Put(out), Len: uint32(len(out))})
	}
	var inAddr uint64
	if in > 0 {
		inAddr = r.d.Alloc(uint64(in), 8)
		bufs = append(bufs, virtiotest.Buf{Addr: inAddr, Len: uint32(in), Write: true})
	}
	st := r.d.Alloc(1, 1)
	r.d.Mem.At(st, 1)[0] = 0xff
	bufs = append(bufs, virtiotest.Buf{Addr: st, Len: 1, Write: true})
	r.q.AddIndirect(bufs...)
	r.q.Kick()
	_, n, ok := r.q.Get()
	if !ok {
		r.t.Fatalf("request %d not completed (status %#x)", typ, r.d.Read32(virtio.RegStatus))
	}
	var data []byte
	if in > 0 {
		data = append([]byte(nil), r.d.Mem.At(inAddr, uint64(in))...)
	}
	r.reclaim()
	return r.d.Mem.At(st, 1)[0], n, data
}

// reclaim rewinds the driver's allocator so long tests do not run out of
// guest memory (every request's buffers are done with).
func (r *rig) reclaim() {
	if r.d.Alloc(0, 1) > ramBase+uint64(len(r.d.Mem.Bytes))*3/4 {
		*r = *newRigMem(r.t, r.dev, r.d.T.Features(), len(r.d.Mem.Bytes))
	}
}

// pattern returns n deterministic pseudo-random bytes.
func pattern(seed byte, n int) []byte {
	p := make([]byte, n)
	x := uint32(seed) + 1
	for i := range p {
		x = x*1664525 + 1013904223
		p[i] = byte(x >> 24)
	}
	return p
}

// tempImage writes content to a new file and returns its path.
func tempImage(t testing.TB, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustOpen(t testing.TB, path string, opts Options) *Device {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func fileBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func expectEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s differs at byte %d (len %d vs %d)", what, i, len(got), len(want))
	}
}

// recorder is a slog handler that keeps records.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *recorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recorder) WithGroup(string) slog.Handler      { return h }

type virtioBufT = virtiotest.Buf

func virtioBuf(addr uint64, n uint32, write bool) virtiotest.Buf {
	return virtiotest.Buf{Addr: addr, Len: n, Write: write}
}

func bufAt(r *rig, p []byte, write bool) virtiotest.Buf {
	return virtiotest.Buf{Addr: r.d.Put(p), Len: uint32(len(p)), Write: write}
}

var futureTime = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
