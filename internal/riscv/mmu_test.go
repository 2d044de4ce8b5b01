package riscv

import (
	"encoding/binary"
	"testing"
)

// pageTables builds page tables in a test hart's RAM.
type pageTables struct {
	h      *Hart
	levels int
	root   uint64
	next   uint64 // next free table page
}

func newPageTables(h *Hart, levels int) *pageTables {
	pt := &pageTables{h: h, levels: levels, root: testBase + 0x10_0000, next: testBase + 0x10_1000}
	mode := uint64(8)
	if levels == 4 {
		mode = 9
	}
	h.setSatp(mode<<60 | pt.root>>12)
	return pt
}

func (pt *pageTables) pteAddr(table, va uint64, level int) uint64 {
	return table + (va>>(12+9*uint(level))&0x1ff)*8
}

func (pt *pageTables) read(pa uint64) uint64 {
	return binary.LittleEndian.Uint64(pt.h.ram.Bytes()[pa-testBase:])
}

func (pt *pageTables) write(pa, v uint64) {
	binary.LittleEndian.PutUint64(pt.h.ram.Bytes()[pa-testBase:], v)
}

// mapPage maps va to pa with a leaf at the given level (0: 4 KiB) and
// returns the leaf PTE's address.
func (pt *pageTables) mapPage(va, pa uint64, level int, flags uint64) uint64 {
	table := pt.root
	for l := pt.levels - 1; l > level; l-- {
		a := pt.pteAddr(table, va, l)
		pte := pt.read(a)
		if pte&pteV == 0 {
			pte = pt.next>>12<<10 | pteV
			pt.next += 0x1000
			pt.write(a, pte)
		}
		table = pte >> 10 << 12
	}
	a := pt.pteAddr(table, va, level)
	pt.write(a, pa>>12<<10|flags)
	return a
}

func TestTranslateFaults(t *testing.T) {
	const va = 0x4000_0000 // 1 GiB: a fresh top-level slot
	const pa = testBase + 0x20_0000
	const rwx = pteV | pteR | pteW | pteX | pteA | pteD
	for _, levels := range []int{3, 4} {
		for _, tc := range []struct {
			name   string
			priv   uint8
			mstat  uint64
			flags  uint64
			level  int
			pa     uint64
			va     uint64
			acc    access
			cause  uint64 // 0: no fault
			wantPA uint64
		}{
			{name: "read ok", priv: PrivS, flags: rwx, acc: accessRead},
			{name: "invalid", priv: PrivS, flags: rwx &^ pteV, acc: accessRead, cause: CauseLoadPage},
			{name: "W without R", priv: PrivS, flags: pteV | pteW | pteA | pteD, acc: accessWrite, cause: CauseStorePage},
			{name: "store to read-only", priv: PrivS, flags: pteV | pteR | pteA, acc: accessWrite, cause: CauseStorePage},
			{name: "fetch non-executable", priv: PrivS, flags: pteV | pteR | pteW | pteA, acc: accessExec, cause: CauseInsnPage},
			{name: "read execute-only", priv: PrivS, flags: pteV | pteX | pteA, acc: accessRead, cause: CauseLoadPage},
			{name: "read execute-only with MXR", priv: PrivS, mstat: mstatusMXR, flags: pteV | pteX | pteA, acc: accessRead},
			{name: "S reads U page", priv: PrivS, flags: rwx | pteU, acc: accessRead, cause: CauseLoadPage},
			{name: "S reads U page with SUM", priv: PrivS, mstat: mstatusSUM, flags: rwx | pteU, acc: accessRead},
			{name: "S fetches U page with SUM", priv: PrivS, mstat: mstatusSUM, flags: rwx | pteU, acc: accessExec, cause: CauseInsnPage},
			{name: "U reads S page", priv: PrivU, flags: rwx, acc: accessRead, cause: CauseLoadPage},
			{name: "U writes U page", priv: PrivU, flags: rwx | pteU, acc: accessWrite},
			{name: "reserved bits", priv: PrivS, flags: rwx | 1<<62, acc: accessRead, cause: CauseLoadPage},
			{name: "2 MiB page", priv: PrivS, flags: rwx, level: 1, va: va + 0x12_3456, wantPA: pa + 0x12_3456},
			{name: "misaligned 2 MiB page", priv: PrivS, flags: rwx, level: 1, pa: pa + 0x1000, acc: accessRead, cause: CauseLoadPage},
			{name: "1 GiB page", priv: PrivS, flags: rwx, level: 2, pa: 0x8000_0000, va: va + 0x1234_5678, wantPA: 0x8000_0000 + 0x1234_5678},
			{name: "misaligned 1 GiB page", priv: PrivS, flags: rwx, level: 2, pa: pa, acc: accessWrite, cause: CauseStorePage},
			{name: "non-canonical address", priv: PrivS, flags: rwx, va: 1 << 50, acc: accessRead, cause: CauseLoadPage},
			{name: "M-mode is untranslated", priv: PrivM, flags: 0, va: 0x1234, wantPA: 0x1234},
			{name: "MPRV uses MPP", priv: PrivM, mstat: mstatusMPRV | PrivU<<11, flags: rwx, acc: accessRead, cause: CauseLoadPage},
		} {
			t.Run(tc.name+map[int]string{3: "/sv39", 4: "/sv48"}[levels], func(t *testing.T) {
				h := newTestHart(t)
				pt := newPageTables(h, levels)
				tpa := tc.pa
				if tpa == 0 {
					tpa = pa
				}
				tva := tc.va
				if tva == 0 {
					tva = va
				}
				pt.mapPage(va, tpa, tc.level, tc.flags)
				h.priv = tc.priv
				h.csr.mstatus |= tc.mstat
				got, ok := h.translate(tva, tc.acc)
				if tc.cause != 0 {
					if ok || h.faultCause != tc.cause || h.faultVal != tva {
						t.Fatalf("ok %v cause %d tval %#x; want cause %d", ok, h.faultCause, h.faultVal, tc.cause)
					}
					return
				}
				if !ok {
					t.Fatalf("fault %d", h.faultCause)
				}
				want := tc.wantPA
				if want == 0 {
					want = tpa
				}
				if got != want {
					t.Fatalf("pa %#x, want %#x", got, want)
				}
			})
		}
	}
}

func TestAccessedDirtyAndTableFaults(t *testing.T) {
	h := newTestHart(t)
	pt := newPageTables(h, 3)
	h.priv = PrivS
	leaf := pt.mapPage(0x1000, testBase+0x20_0000, 0, pteV|pteR|pteW)
	if _, ok := h.translate(0x1000, accessRead); !ok {
		t.Fatal("read faulted")
	}
	if pte := pt.read(leaf); pte&pteA == 0 || pte&pteD != 0 {
		t.Fatalf("after read pte %#x", pte)
	}
	if _, ok := h.translate(0x1000, accessWrite); !ok {
		t.Fatal("write faulted")
	}
	if pte := pt.read(leaf); pte&pteD == 0 {
		t.Fatalf("after write pte %#x", pte)
	}
	// A non-leaf PTE at the last level is a page fault.
	leaf2 := pt.mapPage(0x5000, testBase+0x20_0000, 0, pteV)
	if _, ok := h.translate(0x5000, accessRead); ok || h.faultCause != CauseLoadPage {
		t.Fatalf("pointer at level 0: ok %v cause %d (pte %#x)", ok, h.faultCause, pt.read(leaf2))
	}
	// A page table outside RAM gives an access fault.
	pt.write(pt.pteAddr(pt.root, 0x8000_0000, 2), 0x1000>>12<<10|pteV)
	if _, ok := h.translate(0x8000_0000, accessExec); ok || h.faultCause != CauseInsnAccess {
		t.Fatalf("table outside RAM: ok %v cause %d", ok, h.faultCause)
	}
}

func TestSatpUnsupportedModeIgnored(t *testing.T) {
	h := newTestHart(t)
	h.setSatp(8<<60 | 0x1234)
	h.setSatp(10<<60 | 0x5678) // Sv57
	if h.csr.satp != 8<<60|0x1234 {
		t.Fatalf("satp %#x", h.csr.satp)
	}
}

func TestPageFaultThroughExecution(t *testing.T) {
	h := newTestHart(t)
	pt := newPageTables(h, 3)
	// Identity-map the code page, leave the data page unmapped.
	pt.mapPage(testBase, testBase, 2, pteV|pteR|pteX|pteA)
	h.csr.stvec = testBase + 0x800
	h.csr.medeleg = 1 << CauseStorePage
	h.priv = PrivS
	h.X[1] = 0x7000
	h.loadProgram(encS(0x23, 3, 1, 2, 8))
	step(t, h, 1)
	if h.csr.scause != CauseStorePage || h.csr.stval != 0x7008 || h.csr.sepc != testBase || h.PC != testBase+0x800 {
		t.Fatalf("scause %d stval %#x sepc %#x pc %#x", h.csr.scause, h.csr.stval, h.csr.sepc, h.PC)
	}
}
