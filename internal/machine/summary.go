package machine

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/juicevm/juice/internal/riscv"
	"github.com/juicevm/juice/internal/snapshot"
)

// Summary is a compact fingerprint of the machine's state: small enough
// for a recording to log every few million instructions, and detailed
// enough that a replay which parts from its recording can say what differs
// — a hart's pc, its integer, floating-point or control registers, the
// devices, or a part of RAM and the pages in it that changed last.
type Summary struct {
	// Clock is the machine clock at which the summary was taken.
	Clock uint64
	// Instructions is the total instruction count then.
	Instructions uint64
	// Harts fingerprints each hart.
	Harts []HartSummary
	// Devices is a hash of the board's devices and virtio transports.
	Devices uint64
	// RAM hashes each of 8 equal parts of RAM (a function of the contents
	// of its pages that are not zero).
	RAM [ramRegions]uint32

	// regions and written (not encoded) say, for a replay's own summary,
	// where each part of RAM lies and which pages in it changed since the
	// summary before: the candidates when a part differs.
	regions [ramRegions][2]uint64
	written [ramRegions][]uint64
}

// HartSummary fingerprints one hart: its pc, and 64-bit hashes of its
// register files.
type HartSummary struct {
	PC uint64
	// X hashes the integer registers, F the floating-point registers,
	// and CSRs the privilege level, control and status registers and
	// counters.
	X, F, CSRs uint64
}

// Summary returns the machine's state summary now.
func (m *Machine) Summary() Summary {
	s := Summary{Clock: m.now, Instructions: m.Instructions()}
	for _, c := range m.comps {
		if c.role == roleHart {
			s.Harts = append(s.Harts, summarizeHart(c.hart))
		}
	}
	var e snapshot.Encoder
	m.saveRoles(&e, roleDevice)
	s.Devices = hash64(e.Bytes())
	m.pages.drain()
	m.ramSum.update(m.page, m.pages.sum)
	zeroBits(m.pages.sum)
	for i := range s.RAM {
		s.RAM[i] = uint32(m.ramSum.regions[i]) ^ uint32(m.ramSum.regions[i]>>32)
		first, end := m.ramSum.regionPages(i)
		s.regions[i] = [2]uint64{m.pageAddr(uint32(first)), m.pageAddr(uint32(end))}
	}
	for _, p := range m.ramSum.changed {
		r := m.ramSum.regionOf(p)
		s.written[r] = append(s.written[r], m.pageAddr(p))
	}
	return s
}

// summarizeHart fingerprints the parts of a hart's saved state.
func summarizeHart(h *riscv.Hart) HartSummary {
	part := func(p riscv.StatePart) uint64 {
		var e snapshot.Encoder
		h.SaveStatePart(&e, p)
		return hash64(e.Bytes())
	}
	return HartSummary{PC: h.PC, X: part(riscv.StateX), F: part(riscv.StateF), CSRs: part(riscv.StateControl)}
}

func hash64(b []byte) uint64 {
	sum := sha256.Sum256(b)
	return binary.LittleEndian.Uint64(sum[:])
}

// AppendBinary appends the summary's encoding (without the clock, which a
// recording stores beside it) to b.
func (s Summary) AppendBinary(b []byte) ([]byte, error) {
	b = binary.LittleEndian.AppendUint64(b, s.Instructions)
	b = append(b, byte(len(s.Harts)))
	for _, h := range s.Harts {
		for _, v := range []uint64{h.PC, h.X, h.F, h.CSRs} {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
	}
	b = binary.LittleEndian.AppendUint64(b, s.Devices)
	for _, v := range s.RAM {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b, nil
}

// ParseSummary decodes a summary AppendBinary encoded, taken at clock.
func ParseSummary(clock uint64, b []byte) (Summary, error) {
	s := Summary{Clock: clock}
	if len(b) < 9 {
		return s, errors.New("state summary: too short")
	}
	s.Instructions = binary.LittleEndian.Uint64(b)
	n := int(b[8])
	if n < 1 || n > MaxCPUs || len(b) != 9+32*n+8+4*ramRegions {
		return s, fmt.Errorf("state summary: %d bytes for %d harts", len(b), n)
	}
	p := b[9:]
	for range n {
		s.Harts = append(s.Harts, HartSummary{
			PC: binary.LittleEndian.Uint64(p), X: binary.LittleEndian.Uint64(p[8:]),
			F: binary.LittleEndian.Uint64(p[16:]), CSRs: binary.LittleEndian.Uint64(p[24:]),
		})
		p = p[32:]
	}
	s.Devices = binary.LittleEndian.Uint64(p)
	for i := range s.RAM {
		s.RAM[i] = binary.LittleEndian.Uint32(p[8+4*i:])
	}
	return s, nil
}

// Diff describes how s differs from want ("" when it does not): the
// instruction count, then each hart whose pc or registers differ, then the
// devices.
func (s Summary) Diff(want Summary) string {
	var d []string
	if s.Instructions != want.Instructions {
		d = append(d, fmt.Sprintf("%d instructions executed, recorded %d", s.Instructions, want.Instructions))
	}
	if len(s.Harts) != len(want.Harts) {
		return strings.Join(append(d, fmt.Sprintf("%d harts, recorded %d", len(s.Harts), len(want.Harts))), "; ")
	}
	for i, h := range s.Harts {
		w := want.Harts[i]
		if h.PC != w.PC {
			d = append(d, fmt.Sprintf("hart %d pc %#x, recorded %#x", i, h.PC, w.PC))
		}
		var regs []string
		if h.X != w.X {
			regs = append(regs, "integer")
		}
		if h.F != w.F {
			regs = append(regs, "floating-point")
		}
		if h.CSRs != w.CSRs {
			regs = append(regs, "control and status")
		}
		if len(regs) > 0 {
			d = append(d, fmt.Sprintf("hart %d %s registers differ", i, strings.Join(regs, " and ")))
		}
	}
	if s.Devices != want.Devices {
		d = append(d, "device state differs")
	}
	for i := range s.RAM {
		if s.RAM[i] == want.RAM[i] {
			continue
		}
		msg := fmt.Sprintf("RAM differs in %#x-%#x", s.regions[i][0], s.regions[i][1]-1)
		if w := s.written[i]; len(w) > 0 {
			var pages []string
			for _, a := range w[:min(len(w), 4)] {
				pages = append(pages, fmt.Sprintf("%#x", a))
			}
			more := ""
			if len(w) > 4 {
				more = fmt.Sprintf(" and %d more", len(w)-4)
			}
			msg += fmt.Sprintf(" (pages that changed there since the last summary: %s%s)", strings.Join(pages, ", "), more)
		}
		d = append(d, msg)
	}
	return strings.Join(d, "; ")
}
