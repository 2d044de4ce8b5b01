package riscv

import (
	"encoding/binary"
	"testing"

	"github.com/juicevm/juice/internal/guestram"
)

const testBase = 0x8000_0000

// testBus is a device region that accepts any aligned access and remembers
// the last store.
type testBus struct {
	lastAddr, lastVal uint64
}

func (b *testBus) Load(addr uint64, size int) (uint64, bool) {
	return 0x1234, addr >= 0x1000_0000 && addr < 0x1000_1000
}
func (b *testBus) Store(addr uint64, size int, v uint64) bool {
	b.lastAddr, b.lastVal = addr, v
	return addr >= 0x1000_0000 && addr < 0x1000_1000
}

type fixedClock uint64

func (c fixedClock) Time() uint64 { return uint64(c) }

func newTestHart(t *testing.T) *Hart {
	t.Helper()
	h := New(Config{RAM: guestram.New(make([]byte, 4<<20), testBase), Bus: &testBus{}, Clock: fixedClock(42)})
	h.PC = testBase
	return h
}

// Instruction encoders.
func encR(op, f3, f7 uint32, rd, rs1, rs2 uint8) uint32 {
	return f7<<25 | uint32(rs2)<<20 | uint32(rs1)<<15 | f3<<12 | uint32(rd)<<7 | op
}
func encI(op, f3 uint32, rd, rs1 uint8, imm int32) uint32 {
	return uint32(imm)<<20 | uint32(rs1)<<15 | f3<<12 | uint32(rd)<<7 | op
}
func encS(op, f3 uint32, rs1, rs2 uint8, imm int32) uint32 {
	u := uint32(imm)
	return (u>>5&0x7f)<<25 | uint32(rs2)<<20 | uint32(rs1)<<15 | f3<<12 | (u&0x1f)<<7 | op
}
func encB(f3 uint32, rs1, rs2 uint8, imm int32) uint32 {
	u := uint32(imm)
	return (u>>12&1)<<31 | (u>>5&0x3f)<<25 | uint32(rs2)<<20 | uint32(rs1)<<15 | f3<<12 | (u>>1&0xf)<<8 | (u>>11&1)<<7 | 0x63
}
func encCSR(f3 uint32, rd, rs1 uint8, csr uint32) uint32 {
	return csr<<20 | uint32(rs1)<<15 | f3<<12 | uint32(rd)<<7 | 0x73
}

// load places 32-bit instructions at the PC.
func (h *Hart) loadProgram(words ...uint32) {
	for i, w := range words {
		binary.LittleEndian.PutUint32(h.ram.Bytes()[h.PC-h.ram.Base()+uint64(4*i):], w)
	}
}

// step runs n instructions.
func step(t *testing.T, h *Hart, n int) {
	t.Helper()
	for done := 0; done < n; {
		k := h.Run(uint64(n - done))
		if k == 0 {
			t.Fatalf("hart made no progress at pc %#x", h.PC)
		}
		done += int(k)
	}
}

func TestIntegerSemantics(t *testing.T) {
	const minInt64 = uint64(1) << 63
	const neg1 = ^uint64(0)
	tests := []struct {
		name    string
		insn    uint32
		a, b    uint64
		want    uint64
		wantErr bool
	}{
		{"add", encR(0x33, 0, 0, 3, 1, 2), 5, 7, 12, false},
		{"sub wraps", encR(0x33, 0, 0x20, 3, 1, 2), 0, 1, neg1, false},
		{"sll masks shamt to 6 bits", encR(0x33, 1, 0, 3, 1, 2), 1, 65, 2, false},
		{"sra sign", encR(0x33, 5, 0x20, 3, 1, 2), minInt64, 63, neg1, false},
		{"srl no sign", encR(0x33, 5, 0, 3, 1, 2), minInt64, 63, 1, false},
		{"slt signed", encR(0x33, 2, 0, 3, 1, 2), neg1, 0, 1, false},
		{"sltu unsigned", encR(0x33, 3, 0, 3, 1, 2), neg1, 0, 0, false},
		{"addw sign-extends", encR(0x3b, 0, 0, 3, 1, 2), 0x7fffffff, 1, 0xffffffff80000000, false},
		{"addw ignores upper bits", encR(0x3b, 0, 0, 3, 1, 2), 0xdead00000001, 1, 2, false},
		{"subw", encR(0x3b, 0, 0x20, 3, 1, 2), 0, 1, neg1, false},
		{"sllw masks to 5 bits", encR(0x3b, 1, 0, 3, 1, 2), 1, 33, 2, false},
		{"sllw sign-extends", encR(0x3b, 1, 0, 3, 1, 2), 1, 31, 0xffffffff80000000, false},
		{"srlw zero-fills bit 31 then sign-extends", encR(0x3b, 5, 0, 3, 1, 2), 0x80000000, 0, 0xffffffff80000000, false},
		{"srlw by 1", encR(0x3b, 5, 0, 3, 1, 2), 0xffffffff80000000, 1, 0x40000000, false},
		{"sraw", encR(0x3b, 5, 0x20, 3, 1, 2), 0x80000000, 4, 0xfffffffff8000000, false},
		{"mul low", encR(0x33, 0, 1, 3, 1, 2), neg1, neg1, 1, false},
		{"mulh signed", encR(0x33, 1, 1, 3, 1, 2), neg1, neg1, 0, false},
		{"mulh min*min", encR(0x33, 1, 1, 3, 1, 2), minInt64, minInt64, 1 << 62, false},
		{"mulhu", encR(0x33, 3, 1, 3, 1, 2), neg1, neg1, neg1 - 1, false},
		{"mulhsu -1*max", encR(0x33, 2, 1, 3, 1, 2), neg1, neg1, neg1, false},
		{"div by zero", encR(0x33, 4, 1, 3, 1, 2), 7, 0, neg1, false},
		{"div overflow", encR(0x33, 4, 1, 3, 1, 2), minInt64, neg1, minInt64, false},
		{"div truncates toward zero", encR(0x33, 4, 1, 3, 1, 2), uint64(0xfffffffffffffff9), 2, uint64(0xfffffffffffffffd), false},
		{"divu by zero", encR(0x33, 5, 1, 3, 1, 2), 7, 0, neg1, false},
		{"rem by zero", encR(0x33, 6, 1, 3, 1, 2), 7, 0, 7, false},
		{"rem overflow", encR(0x33, 6, 1, 3, 1, 2), minInt64, neg1, 0, false},
		{"rem sign follows dividend", encR(0x33, 6, 1, 3, 1, 2), uint64(0xfffffffffffffff9), 2, neg1, false},
		{"remu by zero", encR(0x33, 7, 1, 3, 1, 2), 7, 0, 7, false},
		{"mulw sign-extends", encR(0x3b, 0, 1, 3, 1, 2), 0x10000, 0x8000, 0xffffffff80000000, false},
		{"divw by zero", encR(0x3b, 4, 1, 3, 1, 2), 7, 0, neg1, false},
		{"divw overflow", encR(0x3b, 4, 1, 3, 1, 2), 0x80000000, 0xffffffff, 0xffffffff80000000, false},
		{"divuw by zero", encR(0x3b, 5, 1, 3, 1, 2), 7, 0, neg1, false},
		{"divuw sign-extends", encR(0x3b, 5, 1, 3, 1, 2), 0xfffffffe, 1, 0xfffffffffffffffe, false},
		{"remw by zero sign-extends", encR(0x3b, 6, 1, 3, 1, 2), 0x80000000, 0, 0xffffffff80000000, false},
		{"remw overflow", encR(0x3b, 6, 1, 3, 1, 2), 0x80000000, 0xffffffff, 0, false},
		{"remuw by zero", encR(0x3b, 7, 1, 3, 1, 2), 0x80000001, 0, 0xffffffff80000001, false},
		{"addi negative", encI(0x13, 0, 3, 1, -1), 0, 0, neg1, false},
		{"addiw sign-extends", encI(0x1b, 0, 3, 1, 1), 0x7fffffff, 0, 0xffffffff80000000, false},
		{"sltiu -1 is max", encI(0x13, 3, 3, 1, -1), 5, 0, 1, false},
		{"srai by 63", encI(0x13, 5, 3, 1, 0x400|63), minInt64, 0, neg1, false},
		{"sraiw", encI(0x1b, 5, 3, 1, 0x400|31), 0x80000000, 0, neg1, false},
		{"slliw", encI(0x1b, 1, 3, 1, 31), 1, 0, 0xffffffff80000000, false},
		{"write to x0 is dropped", encR(0x33, 0, 0, 0, 1, 2), 1, 2, 0, false},
		{"reserved slli shamt bit", 0x04009193 | 1<<26, 1, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHart(t)
			h.csr.mtvec = testBase + 0x1000
			h.X[1], h.X[2] = tc.a, tc.b
			h.loadProgram(tc.insn)
			step(t, h, 1)
			if tc.wantErr {
				if h.csr.mcause != CauseIllegal || h.PC != testBase+0x1000 {
					t.Fatalf("want illegal-instruction trap, got mcause %d pc %#x", h.csr.mcause, h.PC)
				}
				return
			}
			rd := tc.insn >> 7 & 31
			if got := h.X[rd]; got != tc.want {
				t.Fatalf("x%d = %#x, want %#x", rd, got, tc.want)
			}
			if h.PC != testBase+4 {
				t.Fatalf("pc = %#x", h.PC)
			}
		})
	}
}

func TestLoadsStoresAndMisaligned(t *testing.T) {
	h := newTestHart(t)
	data := uint64(testBase + 0x2000)
	h.X[1] = data
	h.X[2] = 0x8899aabbccddeeff
	h.loadProgram(
		encS(0x23, 3, 1, 2, 3),  // sd x2, 3(x1): misaligned
		encI(0x03, 3, 3, 1, 3),  // ld x3, 3(x1)
		encI(0x03, 0, 4, 1, 3),  // lb x4, 3(x1): 0xff → -1
		encI(0x03, 4, 5, 1, 3),  // lbu x5
		encI(0x03, 2, 6, 1, 7),  // lw x6, 7(x1) = 0x8899aabb sign-extended
		encI(0x03, 6, 7, 1, 7),  // lwu
		encI(0x03, 1, 8, 1, 9),  // lh x8 = 0x8899
		encI(0x03, 5, 9, 1, 9),  // lhu
		encS(0x23, 3, 1, 2, -3), // sd across a page boundary from 0x80001ffd
		encI(0x03, 3, 10, 1, -3),
	)
	step(t, h, 10)
	want := map[int]uint64{3: 0x8899aabbccddeeff, 4: ^uint64(0), 5: 0xff, 6: 0xffffffff8899aabb, 7: 0x8899aabb, 8: 0xffffffffffff8899, 9: 0x8899, 10: 0x8899aabbccddeeff}
	for r, w := range want {
		if h.X[r] != w {
			t.Errorf("x%d = %#x, want %#x", r, h.X[r], w)
		}
	}
}

func TestAccessFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insn  uint32
		addr  uint64
		cause uint64
	}{
		{"load from hole", encI(0x03, 3, 3, 1, 0), 0x4000_0000, CauseLoadAccess},
		{"store to hole", encS(0x23, 3, 1, 2, 0), 0x4000_0000, CauseStoreAccess},
		{"misaligned mmio load", encI(0x03, 2, 3, 1, 0), 0x1000_0002, CauseLoadAccess},
		{"amo misaligned", encR(0x2f, 3, 0, 3, 1, 2), testBase + 4, CauseStoreMisalign},
		{"lr misaligned", encR(0x2f, 2, 0x08, 3, 1, 0), testBase + 2, CauseLoadMisaligned},
		{"amo to mmio", encR(0x2f, 2, 0, 3, 1, 2), 0x1000_0000, CauseStoreAccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHart(t)
			h.csr.mtvec = testBase + 0x1000
			h.X[1] = tc.addr
			h.X[3] = 77
			h.loadProgram(tc.insn)
			step(t, h, 1)
			if h.csr.mcause != tc.cause || h.csr.mtval != tc.addr || h.csr.mepc != testBase {
				t.Fatalf("mcause %d mtval %#x mepc %#x; want cause %d tval %#x", h.csr.mcause, h.csr.mtval, h.csr.mepc, tc.cause, tc.addr)
			}
			if h.X[3] != 77 {
				t.Fatalf("faulting instruction wrote rd")
			}
			if h.Instret() != 0 {
				t.Fatalf("a trapped instruction retired")
			}
		})
	}
}

func TestCSRAccessRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		priv    uint8
		insn    uint32
		illegal bool
	}{
		{"M reads mstatus", PrivM, encCSR(2, 3, 0, csrMstatus), false},
		{"S reads mstatus", PrivS, encCSR(2, 3, 0, csrMstatus), true},
		{"U reads sstatus", PrivU, encCSR(2, 3, 0, csrSstatus), true},
		{"write to read-only mhartid", PrivM, encCSR(1, 3, 1, csrMhartid), true},
		{"csrrs x0 on read-only is a read", PrivM, encCSR(2, 3, 0, csrMhartid), false},
		{"csrrsi 0 on read-only is a read", PrivM, encCSR(6, 3, 0, csrMvendorid), false},
		{"csrrs x1 on read-only writes", PrivM, encCSR(2, 3, 1, csrMhartid), true},
		{"unknown CSR", PrivM, encCSR(2, 3, 0, 0x7ff), true},
		{"odd pmpcfg in RV64", PrivM, encCSR(2, 3, 0, 0x3a1), true},
		{"U reads cycle without scounteren", PrivU, encCSR(2, 3, 0, csrCycle), true},
		{"fcsr with FS off", PrivM, encCSR(2, 3, 0, csrFcsr), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHart(t)
			h.csr.mtvec = testBase + 0x1000
			h.csr.stvec = testBase + 0x1000
			h.csr.mcounteren = 7
			h.X[1] = 1
			h.priv = tc.priv
			h.loadProgram(tc.insn)
			step(t, h, 1)
			trapped := h.PC == testBase+0x1000
			if trapped != tc.illegal {
				t.Fatalf("trapped = %v, want %v (mcause %d)", trapped, tc.illegal, h.csr.mcause)
			}
			if trapped && (h.csr.mcause != CauseIllegal || h.csr.mtval != uint64(tc.insn)) {
				t.Fatalf("mcause %d mtval %#x", h.csr.mcause, h.csr.mtval)
			}
		})
	}
}

func TestCountersAndTime(t *testing.T) {
	h := newTestHart(t)
	h.loadProgram(
		encI(0x13, 0, 0, 0, 0),
		encI(0x13, 0, 0, 0, 0),
		encCSR(2, 3, 0, csrInstret),
		encCSR(2, 4, 0, csrTime),
		encCSR(2, 5, 0, csrMinstret),
	)
	step(t, h, 5)
	if h.X[3] != 2 || h.X[4] != 42 || h.X[5] != 4 {
		t.Fatalf("instret %d time %d minstret %d", h.X[3], h.X[4], h.X[5])
	}
}

func TestTrapDelegationAndReturn(t *testing.T) {
	h := newTestHart(t)
	h.csr.medeleg = 1 << CauseEcallU
	h.csr.stvec = testBase + 0x100
	h.csr.mtvec = testBase + 0x200
	h.csr.mstatus |= mstatusSIE
	h.priv = PrivU
	h.loadProgram(0x00000073) // ecall
	step(t, h, 1)
	if h.priv != PrivS || h.PC != testBase+0x100 || h.csr.scause != CauseEcallU || h.csr.sepc != testBase {
		t.Fatalf("priv %d pc %#x scause %d sepc %#x", h.priv, h.PC, h.csr.scause, h.csr.sepc)
	}
	if h.csr.mstatus&mstatusSPIE == 0 || h.csr.mstatus&mstatusSIE != 0 || h.csr.mstatus&mstatusSPP != 0 {
		t.Fatalf("mstatus %#x", h.csr.mstatus)
	}
	// sret back to U at sepc+4
	h.csr.sepc += 4
	binary.LittleEndian.PutUint32(h.ram.Bytes()[0x100:], 0x10200073)
	step(t, h, 1)
	if h.priv != PrivU || h.PC != testBase+4 || h.csr.mstatus&mstatusSIE == 0 {
		t.Fatalf("after sret: priv %d pc %#x mstatus %#x", h.priv, h.PC, h.csr.mstatus)
	}
	// An S-mode ecall is not delegated: it goes to M.
	h.priv = PrivS
	h.PC = testBase
	step(t, h, 1)
	if h.priv != PrivM || h.PC != testBase+0x200 || h.csr.mcause != CauseEcallS || h.csr.mstatus>>11&3 != PrivS {
		t.Fatalf("priv %d pc %#x mcause %d", h.priv, h.PC, h.csr.mcause)
	}
}

func TestInterruptPriorityAndMasking(t *testing.T) {
	h := newTestHart(t)
	h.csr.mtvec = testBase + 0x200 | 1 // vectored
	h.csr.stvec = testBase + 0x100
	h.csr.mideleg = sIrqs
	h.csr.mie = allIrqs
	h.loadProgram(0x00000013, 0x00000013)
	// M-mode with MIE clear: nothing is taken.
	h.SetIRQ(IrqMTI|IrqSEI, true)
	step(t, h, 1)
	if h.PC != testBase+4 {
		t.Fatalf("interrupt taken with MIE clear")
	}
	// In S-mode, the M-level timer interrupt wins over the S-level external one.
	h.priv = PrivS
	h.takeInterrupt()
	if h.priv != PrivM || h.csr.mcause != interruptBit|7 || h.PC != testBase+0x200+4*7 {
		t.Fatalf("priv %d mcause %#x pc %#x", h.priv, h.csr.mcause, h.PC)
	}
	// With the timer gone, the delegated external interrupt goes to S.
	h.SetIRQ(IrqMTI, false)
	h.priv = PrivU
	h.PC = testBase
	h.takeInterrupt()
	if h.priv != PrivS || h.csr.scause != interruptBit|9 {
		t.Fatalf("priv %d scause %#x", h.priv, h.csr.scause)
	}
}

func TestWFIAndTW(t *testing.T) {
	h := newTestHart(t)
	h.csr.mtvec = testBase + 0x200
	h.loadProgram(0x10500073, 0x00000013)
	h.Run(10)
	if !h.Waiting() || h.PC != testBase+4 {
		t.Fatalf("waiting %v pc %#x", h.Waiting(), h.PC)
	}
	h.csr.mie = IrqMSI
	h.SetIRQ(IrqMSI, true) // wakes even with MIE clear
	if h.Waiting() {
		t.Fatal("still waiting with an enabled interrupt pending")
	}
	h2 := newTestHart(t)
	h2.csr.mtvec = testBase + 0x200
	h2.csr.mstatus |= mstatusTW
	h2.priv = PrivS
	h2.loadProgram(0x10500073)
	h2.Run(1)
	if h2.csr.mcause != CauseIllegal {
		t.Fatalf("WFI with TW in S-mode: mcause %d", h2.csr.mcause)
	}
}

func TestLRSC(t *testing.T) {
	h := newTestHart(t)
	h.X[1] = testBase + 0x3000
	h.X[2] = 99
	h.loadProgram(
		encR(0x2f, 3, 0x08, 3, 1, 0), // lr.d x3, (x1)
		encR(0x2f, 3, 0x0c, 4, 1, 2), // sc.d x4, x2, (x1) → 0
		encR(0x2f, 3, 0x0c, 5, 1, 2), // sc.d again → 1 (no reservation)
		encR(0x2f, 2, 0x00, 6, 1, 2), // amoadd.w x6, x2, (x1): old 99
	)
	step(t, h, 4)
	if h.X[4] != 0 || h.X[5] != 1 || h.X[6] != 99 {
		t.Fatalf("sc %d, sc %d, amoadd old %d", h.X[4], h.X[5], h.X[6])
	}
	if v := binary.LittleEndian.Uint64(h.ram.Bytes()[0x3000:]); v != 198 {
		t.Fatalf("memory %d", v)
	}
}
