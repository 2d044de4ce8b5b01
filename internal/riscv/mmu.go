package riscv

import "encoding/binary"

type access uint8

const (
	accessRead access = iota
	accessWrite
	accessExec
)

// PTE bits.
const (
	pteV = 1 << 0
	pteR = 1 << 1
	pteW = 1 << 2
	pteX = 1 << 3
	pteU = 1 << 4
	pteA = 1 << 6
	pteD = 1 << 7
	// Bits 63:54 (N, PBMT and reserved) must be zero: Svnapot and Svpbmt
	// are not implemented.
	pteReserved = 0x3ff << 54
)

func pageFaultCause(a access) uint64 {
	switch a {
	case accessWrite:
		return CauseStorePage
	case accessExec:
		return CauseInsnPage
	}
	return CauseLoadPage
}

func accessFaultCause(a access) uint64 {
	switch a {
	case accessWrite:
		return CauseStoreAccess
	case accessExec:
		return CauseInsnAccess
	}
	return CauseLoadAccess
}

// translate maps a virtual address to a physical one for the given access,
// walking the page table and updating A/D bits. On failure it records the
// fault in h.faultCause/h.faultVal and returns false.
func (h *Hart) translate(va uint64, a access) (uint64, bool) {
	priv := h.priv
	if a != accessExec && h.csr.mstatus&mstatusMPRV != 0 && priv == PrivM {
		priv = uint8(h.csr.mstatus >> 11 & 3)
	}
	satp := h.csr.satp
	mode := satp >> 60
	if priv == PrivM || mode == 0 {
		return va, true
	}
	levels := 3
	if mode == 9 {
		levels = 4
	}
	vaBits := uint(12 + 9*levels)
	// The address must be sign-extended from its top valid bit.
	if top := int64(va) >> (vaBits - 1); top != 0 && top != -1 {
		return h.fault(pageFaultCause(a), va)
	}
	table := (satp & (1<<44 - 1)) << 12
	for level := levels - 1; level >= 0; level-- {
		shift := uint(12 + 9*level)
		pteAddr := table + (va>>shift&0x1ff)*8
		off, ok := h.ram.Offset(pteAddr, 8)
		if !ok {
			return h.fault(accessFaultCause(a), va)
		}
		pte := binary.LittleEndian.Uint64(h.ram.Bytes()[off:])
		if pte&pteV == 0 || pte&(pteR|pteW) == pteW || pte&pteReserved != 0 {
			return h.fault(pageFaultCause(a), va)
		}
		ppn := pte >> 10 & (1<<44 - 1)
		if pte&(pteR|pteX) == 0 {
			if level == 0 || pte&(pteA|pteD|pteU) != 0 {
				return h.fault(pageFaultCause(a), va)
			}
			table = ppn << 12
			continue
		}
		if h.debugWalk {
			pageMask := uint64(1)<<shift - 1
			return (ppn<<12)&^pageMask | va&pageMask, true
		}
		// Leaf: permissions.
		switch a {
		case accessExec:
			if pte&pteX == 0 {
				return h.fault(pageFaultCause(a), va)
			}
		case accessRead:
			if pte&pteR == 0 && (pte&pteX == 0 || h.csr.mstatus&mstatusMXR == 0) {
				return h.fault(pageFaultCause(a), va)
			}
		case accessWrite:
			if pte&pteW == 0 {
				return h.fault(pageFaultCause(a), va)
			}
		}
		if priv == PrivU {
			if pte&pteU == 0 {
				return h.fault(pageFaultCause(a), va)
			}
		} else if pte&pteU != 0 && (a == accessExec || h.csr.mstatus&mstatusSUM == 0) {
			return h.fault(pageFaultCause(a), va)
		}
		// A superpage must be aligned.
		pageMask := uint64(1)<<shift - 1
		if (ppn<<12)&pageMask != 0 {
			return h.fault(pageFaultCause(a), va)
		}
		// Hardware A/D update.
		want := uint64(pteA)
		if a == accessWrite {
			want |= pteD
		}
		if pte&want != want {
			binary.LittleEndian.PutUint64(h.ram.Bytes()[off:], pte|want)
			h.markDirty(off)
		}
		return (ppn<<12)&^pageMask | va&pageMask, true
	}
	return h.fault(pageFaultCause(a), va)
}

func (h *Hart) fault(cause, tval uint64) (uint64, bool) {
	h.faultCause, h.faultVal = cause, tval
	return 0, false
}

// fetchSlow reads the instruction bits at pc (32 bits, of which only the
// low 16 matter for a compressed instruction) through the MMU, and caches
// the page for the fast path in Run.
func (h *Hart) fetchSlow(pc uint64) (uint32, bool) {
	pa, ok := h.translate(pc, accessExec)
	if !ok {
		return 0, false
	}
	off, ok := h.ram.Offset(pa, 2)
	if !ok {
		_, ok = h.fault(CauseInsnAccess, pc)
		return 0, ok
	}
	lo := uint32(binary.LittleEndian.Uint16(h.ram.Bytes()[off:]))
	if pc&0xfff <= 0xffc && h.ram.Contains(pa, 4) {
		h.fetchTag = pc >> 12
		h.fetchOff = off &^ 0xfff
	}
	if lo&3 != 3 {
		return lo, true
	}
	// A 32-bit instruction: its upper half may lie on the next page.
	pa2 := pa + 2
	if pc&0xfff == 0xffe {
		if pa2, ok = h.translate(pc+2, accessExec); !ok {
			return 0, false
		}
	}
	off2, ok := h.ram.Offset(pa2, 2)
	if !ok {
		_, ok = h.fault(CauseInsnAccess, pc+2)
		return 0, ok
	}
	return lo | uint32(binary.LittleEndian.Uint16(h.ram.Bytes()[off2:]))<<16, true
}

// load reads size bytes at virtual address va (fast path for RAM pages
// cached in the TLB, aligned or not within a page).
func (h *Hart) load(va uint64, size uint64) (uint64, bool) {
	e := &h.tlbR[va>>12&(tlbSize-1)]
	if e.tag == va>>12 && va&0xfff <= 0x1000-size {
		b := h.ram.Bytes()[e.off+va&0xfff:]
		switch size {
		case 8:
			return binary.LittleEndian.Uint64(b), true
		case 4:
			return uint64(binary.LittleEndian.Uint32(b)), true
		case 2:
			return uint64(binary.LittleEndian.Uint16(b)), true
		default:
			return uint64(b[0]), true
		}
	}
	return h.loadSlow(va, size)
}

func (h *Hart) loadSlow(va uint64, size uint64) (uint64, bool) {
	if va&0xfff > 0x1000-size { // crosses a page boundary
		var v uint64
		for i := uint64(0); i < size; i++ {
			b, ok := h.loadSlow(va+i, 1)
			if !ok {
				return 0, false
			}
			v |= b << (8 * i)
		}
		return v, true
	}
	pa, ok := h.translate(va, accessRead)
	if !ok {
		return 0, false
	}
	if off, ok := h.ram.Offset(pa, size); ok {
		if pageOff, ok := h.ram.Offset(pa&^0xfff, 0x1000); ok {
			h.tlbR[va>>12&(tlbSize-1)] = tlbEntry{tag: va >> 12, off: pageOff}
		}
		return readLE(h.ram.Bytes()[off:], size), true
	}
	if pa&(size-1) != 0 {
		return h.fault(CauseLoadAccess, va)
	}
	v, ok := h.bus.Load(pa, int(size))
	if !ok {
		return h.fault(CauseLoadAccess, va)
	}
	h.yield = true
	return v, true
}

// store writes size bytes at virtual address va.
func (h *Hart) store(va uint64, size uint64, v uint64) bool {
	e := &h.tlbW[va>>12&(tlbSize-1)]
	if e.tag == va>>12 && va&0xfff <= 0x1000-size {
		b := h.ram.Bytes()[e.off+va&0xfff:]
		switch size {
		case 8:
			binary.LittleEndian.PutUint64(b, v)
		case 4:
			binary.LittleEndian.PutUint32(b, uint32(v))
		case 2:
			binary.LittleEndian.PutUint16(b, uint16(v))
		default:
			b[0] = byte(v)
		}
		return true
	}
	return h.storeSlow(va, size, v)
}

func (h *Hart) storeSlow(va uint64, size uint64, v uint64) bool {
	if va&0xfff > 0x1000-size { // crosses a page boundary
		// Translate both pages first so that a fault leaves memory untouched.
		last := va + size - 1
		if _, ok := h.translate(va, accessWrite); !ok {
			return false
		}
		if _, ok := h.translate(last, accessWrite); !ok {
			return false
		}
		for i := uint64(0); i < size; i++ {
			if !h.storeSlow(va+i, 1, v>>(8*i)) {
				return false
			}
		}
		return true
	}
	pa, ok := h.translate(va, accessWrite)
	if !ok {
		return false
	}
	if off, ok := h.ram.Offset(pa, size); ok {
		if pageOff, ok := h.ram.Offset(pa&^0xfff, 0x1000); ok {
			h.tlbW[va>>12&(tlbSize-1)] = tlbEntry{tag: va >> 12, off: pageOff}
		}
		h.markDirty(off)
		writeLE(h.ram.Bytes()[off:], size, v)
		return true
	}
	if pa&(size-1) != 0 || !h.bus.Store(pa, int(size), v) {
		_, ok := h.fault(CauseStoreAccess, va)
		return ok
	}
	h.yield = true
	return true
}

// amoAddr translates the address of an atomic access and returns its RAM
// offset. Atomics must be naturally aligned and target RAM.
func (h *Hart) amoAddr(va uint64, size uint64, a access) (uint64, bool) {
	if va&(size-1) != 0 {
		cause := uint64(CauseStoreMisalign)
		if a == accessRead {
			cause = CauseLoadMisaligned
		}
		return h.fault(cause, va)
	}
	pa, ok := h.translate(va, a)
	if !ok {
		return 0, false
	}
	off, ok := h.ram.Offset(pa, size)
	if !ok {
		return h.fault(accessFaultCause(a), va)
	}
	if a == accessWrite {
		h.markDirty(off)
	}
	return off, true
}

// markDirty records a write to the RAM page holding offset off.
func (h *Hart) markDirty(off uint64) {
	if h.dirty != nil {
		h.dirty[off>>18] |= 1 << (off >> 12 & 63)
	}
}

// Translate maps a virtual address to a physical one as the hart's current
// translation would, for a debugger: it checks no permissions, sets no
// A/D bits and raises nothing. ok is false when the address is not mapped.
func (h *Hart) Translate(va uint64) (pa uint64, ok bool) {
	h.debugWalk = true
	pa, ok = h.translate(va, accessRead)
	h.debugWalk = false
	return pa, ok
}

func readLE(b []byte, size uint64) uint64 {
	switch size {
	case 8:
		return binary.LittleEndian.Uint64(b)
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	}
	return uint64(b[0])
}

func writeLE(b []byte, size uint64, v uint64) {
	switch size {
	case 8:
		binary.LittleEndian.PutUint64(b, v)
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	default:
		b[0] = byte(v)
	}
}
