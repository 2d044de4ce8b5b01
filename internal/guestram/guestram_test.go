package guestram

import (
	"math/bits"
	"testing"
)

const testBase = 0x8000_0000

func TestSlice(t *testing.T) {
	mem := make([]byte, 0x1000)
	r := New(mem, testBase)
	end := uint64(testBase + 0x1000)
	for _, c := range []struct {
		addr, n uint64
		ok      bool
		off     uint64
	}{
		{testBase, 0, true, 0},
		{testBase, 1, true, 0},
		{testBase, 0x1000, true, 0},
		{testBase, 0x1001, false, 0},
		{testBase + 8, 0xff8, true, 8},
		{testBase + 8, 0xff9, false, 0},
		{end - 1, 1, true, 0xfff},
		{end - 1, 2, false, 0},
		{end, 0, true, 0x1000}, // an empty range at the end edge
		{end, 1, false, 0},
		{end + 1, 0, false, 0}, // one past it is not
		{testBase - 1, 0, false, 0},
		{testBase - 1, 1, false, 0},
		{testBase - 1, 2, false, 0}, // would end inside RAM
		{0, 0, false, 0},
		{0, testBase + 1, false, 0},
		// Sums that overflow 64 bits.
		{testBase + 8, ^uint64(0), false, 0},
		{testBase + 8, ^uint64(0) - 7, false, 0},
		{^uint64(0), 2, false, 0},
		{^uint64(0), 0, false, 0},
		{testBase + 0x1000 + 1, ^uint64(0) - 0x1000, false, 0},
	} {
		off, ok := r.Offset(c.addr, c.n)
		if ok != c.ok || off != c.off {
			t.Errorf("Offset(%#x, %#x) = %#x, %v; want %#x, %v", c.addr, c.n, off, ok, c.off, c.ok)
		}
		if got := r.Contains(c.addr, c.n); got != c.ok {
			t.Errorf("Contains(%#x, %#x) = %v", c.addr, c.n, got)
		}
		b, ok := r.Slice(c.addr, c.n)
		if ok != c.ok || ok && (uint64(len(b)) != c.n || uint64(cap(b)) != c.n) || !ok && b != nil {
			t.Errorf("Slice(%#x, %#x) = %d bytes (cap %d), %v", c.addr, c.n, len(b), cap(b), ok)
		}
		if ok && c.n > 0 && &b[0] != &mem[c.off] {
			t.Errorf("Slice(%#x, %#x) is not RAM at offset %#x", c.addr, c.n, c.off)
		}
	}
	if r.Base() != testBase || r.Size() != 0x1000 || r.End() != end || &r.Bytes()[0] != &mem[0] {
		t.Errorf("base %#x size %#x end %#x", r.Base(), r.Size(), r.End())
	}
}

func TestUint64(t *testing.T) {
	r := New(make([]byte, 16), testBase)
	copy(r.Bytes()[8:], []byte{8, 7, 6, 5, 4, 3, 2, 1})
	if v, ok := r.Uint64(testBase + 8); !ok || v != 0x0102030405060708 {
		t.Errorf("Uint64 of the last word = %#x, %v", v, ok)
	}
	for _, a := range []uint64{testBase + 9, testBase + 16, testBase - 8, ^uint64(0) - 3} {
		if _, ok := r.Uint64(a); ok {
			t.Errorf("Uint64(%#x) read outside RAM", a)
		}
	}
	var zero RAM
	if zero.Contains(0, 1) || zero.Contains(testBase, 1) || !zero.Contains(0, 0) {
		t.Error("the zero RAM holds bytes")
	}
}

// FuzzGuestRAMSlice checks Offset and Slice against the definition,
// computed in 128 bits: base <= addr and addr+n <= base+size.
func FuzzGuestRAMSlice(f *testing.F) {
	f.Add(uint64(testBase), uint64(0x1000), uint64(testBase+0x1000), uint64(0))
	f.Add(uint64(testBase), uint64(0x1000), uint64(testBase+0xff8), uint64(8))
	f.Add(uint64(testBase), uint64(0x1000), uint64(testBase+8), ^uint64(0))
	f.Add(uint64(testBase), uint64(0x1000), uint64(testBase-1), uint64(2))
	f.Add(^uint64(0)-0xfff, uint64(0x1000), ^uint64(0), uint64(1))
	f.Add(uint64(0), uint64(0), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, base, size, addr, n uint64) {
		size %= 1 << 16
		if _, carry := bits.Add64(base, size, 0); carry != 0 {
			base -= size // RAM itself must fit in the address space
		}
		r := New(make([]byte, size), base)
		end, carry := bits.Add64(addr, n, 0)
		want := addr >= base && carry == 0 && end <= base+size
		off, ok := r.Offset(addr, n)
		if ok != want {
			t.Fatalf("RAM [%#x, %#x): Offset(%#x, %#x) = %v, want %v", base, base+size, addr, n, ok, want)
		}
		b, sok := r.Slice(addr, n)
		if sok != ok || r.Contains(addr, n) != ok {
			t.Fatalf("RAM [%#x, %#x): Slice, Contains and Offset(%#x, %#x) disagree", base, base+size, addr, n)
		}
		if ok && (off != addr-base || uint64(len(b)) != n || uint64(cap(b)) != n) {
			t.Fatalf("RAM [%#x, %#x): Slice(%#x, %#x) = offset %#x, %d bytes, cap %d", base, base+size, addr, n, off, len(b), cap(b))
		}
	})
}
