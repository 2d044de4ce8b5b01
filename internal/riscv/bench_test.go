package riscv

import (
	"testing"

	"github.com/juicevm/juice/internal/guestram"
)

// BenchmarkRun measures the interpreter on a loop that reads, adds to and
// writes back one doubleword at a time across 2 MiB of RAM, stepping by
// stride bytes. With a stride of 8 nearly every access hits the hart's
// TLBs (the fast path); with a stride of a page and a word every access
// misses them and takes the slow path (translation and the RAM bounds
// check). It reports guest instructions per second.
func BenchmarkRun(b *testing.B) {
	for _, bc := range []struct {
		name   string
		stride uint64
	}{{"fast", 8}, {"slow", 0x1008}} {
		b.Run(bc.name, func(b *testing.B) {
			h := New(Config{RAM: guestram.New(make([]byte, 4<<20), testBase), Bus: &testBus{}, Clock: fixedClock(1)})
			h.PC = testBase
			h.loadProgram(
				encR(0x33, 0, 0, 5, 9, 8),  // add  x5, x9, x8
				encI(0x03, 3, 6, 5, 0),     // ld   x6, 0(x5)
				encR(0x33, 0, 0, 6, 6, 11), // add  x6, x6, x11
				encS(0x23, 3, 5, 6, 0),     // sd   x6, 0(x5)
				encR(0x33, 0, 0, 8, 8, 11), // add  x8, x8, x11
				encR(0x33, 7, 0, 8, 8, 10), // and  x8, x8, x10
				encB(0, 0, 0, -24),         // beq  x0, x0, -24
			)
			h.X[9], h.X[10], h.X[11] = testBase+1<<20, 1<<21-1, bc.stride
			const chunk = 1 << 20
			var n uint64
			for b.Loop() {
				n += h.Run(chunk)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds()/1e6, "MIPS")
		})
	}
}
