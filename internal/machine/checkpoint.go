package machine

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/blk"
)

// volatileDisk is a disk whose writes stay in memory, so that its
// contents can be saved and restored with the machine's.
type volatileDisk interface {
	Volatile() bool
	SaveContents() *blk.Contents
	RestoreContents(*blk.Contents) error
}

// Rewinder is an InputScript that can return to an earlier position, as a
// replay must when the machine returns to a checkpoint.
type Rewinder interface {
	// Position returns how many inputs have been taken.
	Position() int
	// Rewind makes the input at pos the next one.
	Rewind(pos int) error
}

// Checkpoint is the machine's whole state at one instruction count, held
// in memory: the harts, the board, the virtio transports and devices, the
// contents of volatile disks, the input script's position and RAM.
//
// A machine keeps its checkpoints on a timeline ordered by instruction
// count. RAM is stored incrementally: the first checkpoint holds all of
// it, each later one only the pages written since the checkpoint before
// it (the harts and devices mark the pages they write). Checkpoints belong
// to the machine that took them.
type Checkpoint struct {
	m            *Machine
	instructions uint64
	clock        uint64
	state        []byte
	script       int
	disks        []*blk.Contents
	// pages holds, for the first checkpoint of the timeline, every page
	// that is not zero; for later ones, the pages that may have changed
	// since the one before.
	pages   map[uint32][]byte
	dropped bool
}

// Instructions returns the instruction count at which c was taken.
func (c *Checkpoint) Instructions() uint64 { return c.instructions }

// Clock returns the machine clock at which c was taken.
func (c *Checkpoint) Clock() uint64 { return c.clock }

// Size returns the bytes of RAM and state c holds itself.
func (c *Checkpoint) Size() int {
	n := len(c.state)
	for _, p := range c.pages {
		n += len(p)
	}
	return n
}

// checkpointable reports why the machine cannot take checkpoints, if it
// cannot.
func (m *Machine) checkpointable() error {
	if m.cfg.Script != nil {
		if _, ok := m.cfg.Script.(Rewinder); !ok {
			return errors.New("checkpoint: the input script cannot rewind")
		}
	} else if m.cfg.ConsoleIn != nil || len(m.cfg.Net) > 0 || m.cfg.Vsock != nil || m.cfg.RNG {
		return errors.New("checkpoint: a machine taking live input cannot return to a checkpoint; replay a recording instead")
	}
	for _, s := range m.slots {
		switch d := s.transport.Device().(type) {
		case volatileDisk:
			if !d.Volatile() {
				return fmt.Errorf("checkpoint: disk %d writes to its image file; only volatile disks can be checkpointed", s.index)
			}
		case virtio.Stateful:
			// Including vsock: its state is the device's own, as its
			// host side holds none when it replays (a live one is
			// refused above).
		}
	}
	return nil
}

// Checkpoint captures the machine's whole state in memory and puts it on
// the machine's timeline. The machine must be paused (between RunTo
// calls) and must not take live input: checkpoints are for replays and
// for machines without outside input. If the timeline already holds a
// checkpoint at the current instruction count, that one is returned: a
// replay reaches the same state at the same count.
func (m *Machine) Checkpoint() (*Checkpoint, error) {
	if err := m.closedErr(); err != nil {
		return nil, err
	}
	if m.exit != nil {
		return nil, fmt.Errorf("checkpoint: the machine has stopped (%v)", m.exit.Kind)
	}
	if err := m.checkpointable(); err != nil {
		return nil, err
	}
	n := m.Instructions()
	i, found := slices.BinarySearchFunc(m.timeline, n, func(c *Checkpoint, n uint64) int {
		return cmp.Compare(c.instructions, n)
	})
	if found {
		c := m.timeline[i]
		// RAM now equals c's RAM: the pages written since the base are
		// accounted for in the checkpoints up to c.
		m.pages.drain()
		zeroBits(m.pages.ckpt)
		m.base = c
		return c, nil
	}
	c := &Checkpoint{m: m, instructions: n, clock: m.now, state: m.saveState()}
	if r, ok := m.cfg.Script.(Rewinder); ok {
		c.script = r.Position()
	}
	for _, s := range m.slots {
		if d, ok := s.transport.Device().(volatileDisk); ok && d.Volatile() {
			c.disks = append(c.disks, d.SaveContents())
		}
	}
	m.pages.drain()
	c.pages = make(map[uint32][]byte)
	if len(m.timeline) == 0 {
		// Pages never written are zero: they are neither read nor kept.
		var zero [pageSize]byte
		each(m.pages.touched, func(p uint32) {
			if b := m.page(p); !bytes.Equal(b, zero[:]) {
				c.pages[p] = slices.Clone(b)
			}
		})
	} else {
		each(m.pages.ckpt, func(p uint32) {
			c.pages[p] = slices.Clone(m.page(p))
		})
	}
	zeroBits(m.pages.ckpt)
	m.timeline = slices.Insert(m.timeline, i, c)
	m.base = c
	return c, nil
}

// Checkpoints returns the machine's checkpoints in instruction order.
func (m *Machine) Checkpoints() []*Checkpoint { return slices.Clone(m.timeline) }

// index returns c's position on the timeline.
func (m *Machine) index(c *Checkpoint) (int, error) {
	if c == nil || c.m != m {
		return 0, errors.New("checkpoint: it belongs to another machine")
	}
	if c.dropped {
		return 0, fmt.Errorf("checkpoint at instruction %d: it was dropped", c.instructions)
	}
	i, found := slices.BinarySearchFunc(m.timeline, c.instructions, func(c *Checkpoint, n uint64) int {
		return cmp.Compare(c.instructions, n)
	})
	if !found || m.timeline[i] != c {
		return 0, fmt.Errorf("checkpoint at instruction %d: not on the timeline", c.instructions)
	}
	return i, nil
}

// pageAt returns the content of page p at timeline position i.
func (m *Machine) pageAt(i int, p uint32) []byte {
	for ; i >= 0; i-- {
		if b, ok := m.timeline[i].pages[p]; ok {
			return b
		}
	}
	return zeroPage[:]
}

// zeroPage is a page of zeroes, never written.
var zeroPage [pageSize]byte

// Restore returns the machine to checkpoint c, which it took earlier: the
// harts, devices, disks, RAM and the input script's position become what
// they were, and the machine runs again even if it had stopped. Console
// output already written stays written.
func (m *Machine) Restore(c *Checkpoint) error {
	if err := m.closedErr(); err != nil {
		return err
	}
	to, err := m.index(c)
	if err != nil {
		return err
	}
	from, err := m.index(m.base)
	if err != nil {
		return fmt.Errorf("checkpoint: the machine's base: %w", err)
	}
	if err := m.restoreState(c.state); err != nil {
		return fmt.Errorf("checkpoint at instruction %d: %w", c.instructions, err)
	}
	if r, ok := m.cfg.Script.(Rewinder); ok {
		if err := r.Rewind(c.script); err != nil {
			return err
		}
	}
	k := 0
	for _, s := range m.slots {
		if d, ok := s.transport.Device().(volatileDisk); ok && d.Volatile() {
			if k >= len(c.disks) {
				return errors.New("checkpoint: it has fewer disks than the machine")
			}
			if err := d.RestoreContents(c.disks[k]); err != nil {
				return fmt.Errorf("checkpoint: disk %d: %w", s.index, err)
			}
			k++
		}
	}
	// The pages that may differ from c's: those written since the base,
	// and those that changed between the base and c.
	m.pages.drain()
	set := m.pages.ckpt
	lo, hi := min(from, to), max(from, to)
	for i := lo + 1; i <= hi; i++ {
		for p := range m.timeline[i].pages {
			set[p/64] |= 1 << (p % 64)
		}
	}
	each(set, func(p uint32) { copy(m.page(p), m.pageAt(to, p)) })
	// The pages rewritten changed for the summaries and digests too.
	for i, w := range set {
		m.pages.sum[i] |= w
		m.pages.touched[i] |= w
		m.pages.snap[i] |= w
		m.pages.mig[i] |= w
	}
	zeroBits(set)
	m.base = c
	m.exit, m.err = nil, nil
	return nil
}

// DropCheckpoint removes c from the timeline to free its memory. The first
// checkpoint, which holds all of RAM that is not zero, cannot be dropped
// while others exist.
func (m *Machine) DropCheckpoint(c *Checkpoint) error {
	i, err := m.index(c)
	if err != nil {
		return err
	}
	if i == 0 && len(m.timeline) > 1 {
		return errors.New("checkpoint: the first checkpoint holds all of RAM and cannot be dropped while others exist")
	}
	if i+1 < len(m.timeline) {
		// The next checkpoint must still know every page that changed
		// since the one before c; their content at c is their content
		// there if it did not change since.
		next := m.timeline[i+1]
		for p, b := range c.pages {
			if _, ok := next.pages[p]; !ok {
				next.pages[p] = b
			}
		}
	}
	if m.base == c {
		// RAM is c's plus the dirty pages; in terms of the checkpoint
		// before c, c's own pages may differ too.
		for p := range c.pages {
			m.pages.ckpt[p/64] |= 1 << (p % 64)
		}
		m.base = nil
		if i > 0 {
			m.base = m.timeline[i-1]
		}
	}
	m.timeline = slices.Delete(m.timeline, i, i+1)
	c.dropped = true
	c.pages, c.state = nil, nil
	return nil
}

// ReadVirtual reads len(p) bytes at virtual address va as hart i sees
// memory now (physical addresses when its translation is off), without
// side effects: no accessed or dirty bits are set and nothing traps. It
// reads RAM only; an error names the first address that is not mapped or
// not RAM.
func (m *Machine) ReadVirtual(hart int, va uint64, p []byte) error {
	return m.accessVirtual(hart, va, p, false)
}

// ReadPhysical reads len(p) bytes of RAM at physical address pa.
func (m *Machine) ReadPhysical(pa uint64, p []byte) error { return m.accessVirtual(-1, pa, p, false) }

// WritePhysical writes p to RAM at physical address pa; the pages written
// are marked for checkpoints and summaries.
func (m *Machine) WritePhysical(pa uint64, p []byte) error { return m.accessVirtual(-1, pa, p, true) }

// WriteVirtual writes p at virtual address va as hart i sees memory now,
// like ReadVirtual. The pages written are marked for checkpoints.
func (m *Machine) WriteVirtual(hart int, va uint64, p []byte) error {
	return m.accessVirtual(hart, va, p, true)
}

// accessVirtual reads or writes memory through hart's translation, or at
// physical addresses for hart -1.
func (m *Machine) accessVirtual(hart int, va uint64, p []byte, write bool) error {
	if err := m.closedErr(); err != nil {
		return err
	}
	if hart < -1 || hart >= len(m.harts) {
		return fmt.Errorf("memory: no hart %d", hart)
	}
	for len(p) > 0 {
		n := min(uint64(len(p)), pageSize-va%pageSize)
		pa, ok := va, true
		if hart >= 0 {
			pa, ok = m.harts[hart].Translate(va)
		}
		if !ok {
			return fmt.Errorf("memory: %#x is not mapped", va)
		}
		b, ok := m.ram.Slice(pa, n)
		if !ok {
			return fmt.Errorf("memory: %#x (physical %#x) is not RAM", va, pa)
		}
		if write {
			copy(b, p[:n])
			m.markDirty(pa, n)
		} else {
			copy(p[:n], b)
		}
		p = p[n:]
		va += n
	}
	return nil
}

// SavedCheckpoint is a checkpoint in a form that can be stored, and loaded
// into a new machine built from the same configuration.
type SavedCheckpoint struct {
	Instructions uint64
	Clock        uint64
	// Script is the input script's position.
	Script int
	// State is the encoded state of the harts, board and devices.
	State []byte
	// Disks holds the contents of each volatile disk, in slot order
	// (blk.Contents in binary form).
	Disks [][]byte
	// Pages holds RAM pages. For the first checkpoint of a machine's
	// timeline it is every page that is not zero; for later ones, the
	// pages that may have changed since the checkpoint before.
	Pages []SavedPage
}

// SavedPage is one 4 KiB page of RAM.
type SavedPage struct {
	Index uint32
	Data  []byte
}

// Save returns c in a form to store. Loading the saved forms of the
// checkpoints of a timeline in order, from the first, rebuilds c's RAM.
func (m *Machine) Save(c *Checkpoint) (SavedCheckpoint, error) {
	if _, err := m.index(c); err != nil {
		return SavedCheckpoint{}, err
	}
	s := SavedCheckpoint{Instructions: c.instructions, Clock: c.clock, Script: c.script, State: c.state}
	for _, d := range c.disks {
		b, err := d.MarshalBinary()
		if err != nil {
			return s, err
		}
		s.Disks = append(s.Disks, b)
	}
	for p, b := range c.pages {
		s.Pages = append(s.Pages, SavedPage{p, b})
	}
	slices.SortFunc(s.Pages, func(a, b SavedPage) int { return cmp.Compare(uint64(a.Index), uint64(b.Index)) })
	return s, nil
}

// LoadPages writes saved RAM pages into a machine that has not run; with
// first set it clears RAM before, as the first checkpoint of a timeline
// holds every page that is not zero.
func (m *Machine) LoadPages(pages []SavedPage, first bool) error {
	if err := m.closedErr(); err != nil {
		return err
	}
	if first {
		m.pages.drain()
		each(m.pages.touched, func(p uint32) { clear(m.page(p)) })
	}
	for _, pg := range pages {
		if len(pg.Data) != pageSize || !m.writeRAM(m.pageAddr(pg.Index), pg.Data) {
			return fmt.Errorf("checkpoint: page %d (%d bytes) is not a page of this machine's %d MiB of RAM", pg.Index, len(pg.Data), m.ram.Size()>>20)
		}
	}
	return nil
}

// LoadState makes the machine's harts, devices, disks and input script
// those of a saved checkpoint, after LoadPages gave it the checkpoint's
// RAM. The machine then runs on from there.
func (m *Machine) LoadState(s SavedCheckpoint) error {
	if err := m.closedErr(); err != nil {
		return err
	}
	if err := m.restoreState(s.State); err != nil {
		return fmt.Errorf("checkpoint at instruction %d: %w", s.Instructions, err)
	}
	if r, ok := m.cfg.Script.(Rewinder); ok {
		if err := r.Rewind(s.Script); err != nil {
			return err
		}
	}
	k := 0
	for _, sl := range m.slots {
		d, ok := sl.transport.Device().(volatileDisk)
		if !ok || !d.Volatile() {
			continue
		}
		if k >= len(s.Disks) {
			return errors.New("checkpoint: it has fewer disks than the machine")
		}
		var c blk.Contents
		if err := c.UnmarshalBinary(s.Disks[k]); err != nil {
			return fmt.Errorf("checkpoint: disk %d: %w", sl.index, err)
		}
		if err := d.RestoreContents(&c); err != nil {
			return fmt.Errorf("checkpoint: disk %d: %w", sl.index, err)
		}
		k++
	}
	if k != len(s.Disks) {
		return fmt.Errorf("checkpoint: it has %d disks, the machine %d", len(s.Disks), k)
	}
	m.pages.drain()
	zeroBits(m.pages.ckpt)
	m.exit, m.err = nil, nil
	return nil
}
