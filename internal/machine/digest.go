package machine

import (
	"crypto/sha256"
	"encoding/binary"
)

// Clock returns the machine's instruction clock: the number of
// instructions each hart has had the opportunity to execute. Input from
// outside enters between scheduling rounds, each at a distinct value of
// this clock, so (clock, input) pairs are what a recording logs.
func (m *Machine) Clock() uint64 { return m.now }

// Digest returns a SHA-256 digest of the machine's guest-visible state:
// the clock, every hart's architectural state, RAM and the state of the
// board's devices. Two runs that agree on it are indistinguishable to the
// guest from then on, given the same input.
func (m *Machine) Digest() [32]byte { return m.digest(true) }

// StateDigest is Digest without RAM: cheap enough to take every few
// million instructions, to find where two runs part.
func (m *Machine) StateDigest() [32]byte { return m.digest(false) }

func (m *Machine) digest(withRAM bool) [32]byte {
	d := sha256.New()
	var b []byte
	put := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	put(m.now)
	for _, h := range m.harts {
		b = h.AppendDigestInput(b)
	}
	for i := range m.clint.msip {
		put(uint64(m.clint.msip[i]))
		put(m.clint.mtimecmp[i])
	}
	if m.sbi != nil {
		for _, t := range m.sbi.timer {
			put(t)
		}
	}
	p := m.plic
	for i := range p.priority {
		put(uint64(p.priority[i]) | uint64(b2u8(p.level[i]))<<32)
	}
	put(p.pending)
	put(p.claimed)
	for i := range p.enable {
		put(p.enable[i])
		put(uint64(p.threshold[i]))
	}
	u := m.uart
	b = append(b, u.ier, u.lcr, u.mcr, u.scr, u.fcr, u.dll, u.dlm, b2u8(u.threPending))
	put(uint64(len(u.rx)))
	b = append(b, u.rx...)
	d.Write(b)
	if withRAM {
		d.Write(m.ram)
	}
	var sum [32]byte
	d.Sum(sum[:0])
	return sum
}

func b2u8(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}
