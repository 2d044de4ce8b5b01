package machine

import (
	"github.com/juicevm/juice/internal/riscv"
)

// The board's physical memory map, laid out like QEMU's virt machine.
const (
	SysconBase = 0x0010_0000
	SysconSize = 0x1000
	CLINTBase  = 0x0200_0000
	CLINTSize  = 0x1_0000
	PLICBase   = 0x0c00_0000
	PLICSize   = 0x400_0000
	UARTBase   = 0x1000_0000
	UARTSize   = 0x100
	// VirtioBase is the first virtio-mmio slot; slots are VirtioStride apart.
	VirtioBase   = 0x1000_1000
	VirtioStride = 0x1000
	// VirtioSlots is the number of virtio-mmio slots.
	VirtioSlots = 8
	// RAMBase is the physical address of the first byte of RAM.
	RAMBase = 0x8000_0000

	// UARTIRQ is the UART's PLIC source; virtio slot i uses VirtioIRQ+i.
	UARTIRQ   = 10
	VirtioIRQ = 1
	// PLICSources is the number of PLIC interrupt sources (1..PLICSources).
	PLICSources = 31
)

// Guest time.
const (
	// TimebaseHz is the frequency of mtime and the time CSR.
	TimebaseHz = 10_000_000
	// InstructionsPerTick is the number of instructions one hart executes
	// per mtime tick: guest time advances 1 µs per 1000 instructions, as if
	// each hart ran at 1 GHz with one instruction per cycle.
	InstructionsPerTick = 100
)

// mmio is a memory-mapped device. off is relative to the device's base.
type mmio interface {
	load(off uint64, size int) (uint64, bool)
	store(off uint64, size int, v uint64) bool
}

type region struct {
	base, size uint64
	dev        mmio
}

// clint is the core-local interruptor: software interrupts (msip), timer
// compare registers (mtimecmp) and the machine timer (mtime).
type clint struct {
	m        *Machine
	msip     []uint32
	mtimecmp []uint64
}

func newCLINT(m *Machine, harts int) *clint {
	c := &clint{m: m, msip: make([]uint32, harts), mtimecmp: make([]uint64, harts)}
	for i := range c.mtimecmp {
		c.mtimecmp[i] = ^uint64(0)
	}
	return c
}

func (c *clint) load(off uint64, size int) (uint64, bool) {
	n := uint64(len(c.msip))
	switch {
	case off < 4*n && size == 4:
		return uint64(c.msip[off/4]), true
	case off >= 0x4000 && off < 0x4000+8*n:
		i := (off - 0x4000) / 8
		return sub64(c.mtimecmp[i], off&7, size), true
	case off >= 0xbff8 && off < 0xc000:
		return sub64(c.m.Time(), off&7, size), true
	}
	return 0, size == 4 || size == 8 // unimplemented registers read as zero
}

func (c *clint) store(off uint64, size int, v uint64) bool {
	n := uint64(len(c.msip))
	switch {
	case off < 4*n && size == 4:
		c.msip[off/4] = uint32(v & 1)
		c.m.harts[off/4].SetIRQ(riscv.IrqMSI, v&1 != 0)
	case off >= 0x4000 && off < 0x4000+8*n:
		i := (off - 0x4000) / 8
		c.mtimecmp[i] = setSub64(c.mtimecmp[i], off&7, size, v)
		c.m.updateTimer(int(i))
	case off >= 0xbff8 && off < 0xc000:
		// mtime is derived from the instruction count and is read-only here.
	}
	return size == 4 || size == 8
}

// sub64 extracts a 4- or 8-byte access at byte offset off of a 64-bit register.
func sub64(reg uint64, off uint64, size int) uint64 {
	if size == 8 {
		return reg
	}
	return reg >> (8 * off) & 0xffffffff
}

func setSub64(reg uint64, off uint64, size int, v uint64) uint64 {
	if size == 8 {
		return v
	}
	shift := 8 * off
	return reg&^(0xffffffff<<shift) | (v&0xffffffff)<<shift
}

// plic is the platform-level interrupt controller. Context 2i is hart i's
// M-mode, context 2i+1 its S-mode.
type plic struct {
	m         *Machine
	priority  [PLICSources + 1]uint32
	level     [PLICSources + 1]bool // device lines
	pending   uint64                // bit per source
	claimed   uint64                // in service, not yet completed
	enable    []uint64              // per context
	threshold []uint32
}

func newPLIC(m *Machine, harts int) *plic {
	return &plic{m: m, enable: make([]uint64, 2*harts), threshold: make([]uint32, 2*harts)}
}

// setLevel drives interrupt source src.
func (p *plic) setLevel(src int, high bool) {
	if src <= 0 || src > PLICSources || p.level[src] == high {
		return
	}
	p.level[src] = high
	if high && p.claimed&(1<<src) == 0 {
		p.pending |= 1 << src
	}
	p.update()
}

func (p *plic) best(ctx int) int {
	cand := p.pending & p.enable[ctx]
	best, bestPrio := 0, p.threshold[ctx]
	for src := 1; cand != 0 && src <= PLICSources; src++ {
		if cand&(1<<src) != 0 && p.priority[src] > bestPrio {
			best, bestPrio = src, p.priority[src]
		}
	}
	return best
}

func (p *plic) update() {
	for ctx := range p.enable {
		bit := uint64(riscv.IrqMEI)
		if ctx&1 == 1 {
			bit = riscv.IrqSEI
		}
		p.m.harts[ctx/2].SetIRQ(bit, p.best(ctx) != 0)
	}
}

func (p *plic) load(off uint64, size int) (uint64, bool) {
	if size != 4 {
		return 0, false
	}
	switch {
	case off < 4*(PLICSources+1):
		return uint64(p.priority[off/4]), true
	case off == 0x1000:
		return p.pending & 0xffffffff, true
	case off >= 0x2000 && off < 0x200000:
		ctx, word := int((off-0x2000)/0x80), (off-0x2000)%0x80/4
		if ctx < len(p.enable) && word == 0 {
			return p.enable[ctx] & 0xffffffff, true
		}
		return 0, true
	case off >= 0x200000:
		ctx, reg := int((off-0x200000)/0x1000), (off-0x200000)%0x1000
		if ctx >= len(p.enable) {
			return 0, true
		}
		switch reg {
		case 0:
			return uint64(p.threshold[ctx]), true
		case 4: // claim
			src := p.best(ctx)
			if src != 0 {
				p.pending &^= 1 << src
				p.claimed |= 1 << src
				p.update()
			}
			return uint64(src), true
		}
	}
	return 0, true
}

func (p *plic) store(off uint64, size int, v uint64) bool {
	if size != 4 {
		return false
	}
	switch {
	case off < 4*(PLICSources+1):
		if off >= 4 {
			p.priority[off/4] = uint32(v & 7)
		}
	case off >= 0x2000 && off < 0x200000:
		ctx, word := int((off-0x2000)/0x80), (off-0x2000)%0x80/4
		if ctx < len(p.enable) && word == 0 {
			p.enable[ctx] = v & (1<<(PLICSources+1) - 2)
		}
	case off >= 0x200000:
		ctx, reg := int((off-0x200000)/0x1000), (off-0x200000)%0x1000
		if ctx >= len(p.enable) {
			return true
		}
		switch reg {
		case 0:
			p.threshold[ctx] = uint32(v & 7)
		case 4: // complete
			src := int(v)
			if src > 0 && src <= PLICSources && p.claimed&(1<<src) != 0 {
				p.claimed &^= 1 << src
				if p.level[src] {
					p.pending |= 1 << src
				}
			}
		}
	}
	p.update()
	return true
}

// syscon is the power-off and reset device (SiFive test device protocol).
type syscon struct{ m *Machine }

func (s *syscon) load(off uint64, size int) (uint64, bool) { return 0, true }

func (s *syscon) store(off uint64, size int, v uint64) bool {
	if off != 0 {
		return true
	}
	switch v & 0xffff {
	case 0x5555:
		s.m.stop(ExitPowerOff, 0)
	case 0x3333:
		s.m.stop(ExitPowerOff, int(v>>16&0xffff))
	case 0x7777:
		s.m.stop(ExitReboot, 0)
	}
	return true
}
