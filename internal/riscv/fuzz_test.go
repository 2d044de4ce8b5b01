package riscv

import (
	"encoding/binary"
	"testing"

	"github.com/juicevm/juice/internal/guestram"
)

// FuzzExecute runs arbitrary instruction streams in every privilege mode,
// with paging on or off: whatever a guest executes, the hart must not
// panic, and it must keep its invariants (x0 is zero, the PC is even).
func FuzzExecute(f *testing.F) {
	f.Add([]byte{0x13, 0, 0, 0}, uint8(3), false)
	f.Add([]byte{0x73, 0, 0, 0, 0x73, 0, 0x20, 0x30}, uint8(0), true)
	f.Add([]byte{0x2f, 0x32, 0x05, 0x10, 0x01, 0x00}, uint8(1), true)
	f.Fuzz(func(t *testing.T, code []byte, priv uint8, paging bool) {
		if len(code) > 4096 {
			code = code[:4096]
		}
		h := New(Config{RAM: guestram.New(make([]byte, 1<<20), testBase), Bus: &testBus{}, Clock: fixedClock(1)})
		copy(h.ram.Bytes(), code)
		// Trap handlers land back in the code page, so traps loop through it too.
		h.csr.mtvec, h.csr.stvec = testBase+0x40, testBase+0x80
		h.csr.mstatus |= 1 << 13 // FS on
		if paging {
			// Identity-map RAM with a 1 GiB Sv39 leaf, user-accessible.
			binary.LittleEndian.PutUint64(h.ram.Bytes()[0x8000+2*8:], testBase>>12<<10|pteV|pteR|pteW|pteX|pteU|pteA|pteD)
			h.setSatp(8<<60 | (testBase+0x8000)>>12)
		}
		h.priv = []uint8{PrivU, PrivS, PrivM, PrivM}[priv&3]
		h.PC = testBase
		for i := 0; i < 64 && !h.Waiting(); i++ {
			h.Run(16)
			if h.X[0] != 0 || h.PC&1 != 0 {
				t.Fatalf("x0 %#x pc %#x", h.X[0], h.PC)
			}
		}
	})
}
