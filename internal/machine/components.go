package machine

import (
	"errors"
	"fmt"

	"github.com/juicevm/juice/internal/riscv"
	"github.com/juicevm/juice/internal/snapshot"
)

// component is one part of the machine's state besides RAM and disk
// contents, with its one encoding: checkpoints store the encodings of all
// the components in order, Digest hashes those of the guest's state, and
// Summary fingerprints the harts' and the devices'.
type component struct {
	name string
	role role
	save func(*snapshot.Encoder)
	// restore reads what save wrote, validating it (a checkpoint may come
	// from a file): it fails d on a value the component could not hold.
	restore func(*snapshot.Decoder)
	// hart is the hart a roleHart component saves, for Summary.
	hart *riscv.Hart
}

// role says which of the machine's views of its state a component is in.
type role uint8

const (
	// roleHost: the machine's own bookkeeping (when the next summary is
	// due, how far the scheduling round has gone, the panic detector's
	// line). Checkpoints save it; digests and summaries leave it out, as
	// runs the guest cannot tell apart may differ in it.
	roleHost role = iota
	// roleClock: the instruction clock, which digests hash and summaries
	// carry apart.
	roleClock
	// roleHart: a hart, which summaries fingerprint part by part.
	roleHart
	// roleDevice: a board device or a virtio transport with its device,
	// which summaries fingerprint together.
	roleDevice
)

// components lists the machine's components in their saved order. New
// calls it once, after it has built the harts and devices.
func (m *Machine) components() []component {
	cs := []component{
		{name: "clock", role: roleClock, save: func(e *snapshot.Encoder) { e.Uint64(m.now) },
			restore: func(d *snapshot.Decoder) { m.now = d.Uint64("clock") }},
		{name: "scheduler", role: roleHost, save: func(e *snapshot.Encoder) {
			e.Uint64(m.nextDigest)
			m.rd.saveState(e)
		}, restore: func(d *snapshot.Decoder) {
			m.nextDigest = d.Uint64("next digest")
			m.rd.restoreState(d, len(m.harts), m.quantum)
		}},
	}
	for i, h := range m.harts {
		cs = append(cs, component{name: fmt.Sprintf("hart %d", i), role: roleHart, hart: h, save: h.SaveState,
			restore: func(d *snapshot.Decoder) { _ = h.RestoreState(d) }}) // its error is d's
	}
	cs = append(cs,
		component{name: "clint", role: roleDevice, save: m.clint.saveState, restore: m.clint.restoreState},
		component{name: "plic", role: roleDevice, save: m.plic.saveState, restore: m.plic.restoreState},
		component{name: "uart", role: roleDevice, save: m.uart.saveState, restore: m.uart.restoreState})
	if m.sbi != nil {
		cs = append(cs, component{name: "sbi", role: roleDevice, save: m.sbi.saveState, restore: m.sbi.restoreState})
	}
	cs = append(cs, component{name: "panic detector", role: roleHost, save: m.panicDet.saveState, restore: m.panicDet.restoreState})
	for _, s := range m.slots {
		cs = append(cs, component{name: fmt.Sprintf("virtio slot %d", s.index), role: roleDevice, save: s.transport.SaveState,
			restore: func(d *snapshot.Decoder) { _ = s.transport.RestoreState(d) }}) // its error is d's
	}
	return cs
}

// saveState encodes every component: everything but RAM and disk contents.
func (m *Machine) saveState() []byte {
	var e snapshot.Encoder
	for _, c := range m.comps {
		c.save(&e)
	}
	return e.Bytes()
}

// restoreState decodes what saveState wrote. It restores all of it or, on
// an error (which names the component that failed), none of it.
func (m *Machine) restoreState(b []byte) error {
	before := m.saveState()
	err := m.decodeState(b)
	if err != nil {
		if err2 := m.decodeState(before); err2 != nil {
			return errors.Join(err, fmt.Errorf("returning to the state before: %w", err2))
		}
	}
	return err
}

// decodeState decodes an encoding of every component into them.
func (m *Machine) decodeState(b []byte) error {
	d := snapshot.NewDecoder(b)
	for _, c := range m.comps {
		c.restore(d)
		if d.Err() != nil {
			return d.Finish(c.name)
		}
	}
	return d.Finish("machine")
}

// saveRoles appends to e the encoding of every component whose role is one
// of roles, in their order.
func (m *Machine) saveRoles(e *snapshot.Encoder, roles ...role) {
	for _, c := range m.comps {
		for _, r := range roles {
			if c.role == r {
				c.save(e)
			}
		}
	}
}
