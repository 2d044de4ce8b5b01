package machine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/guestram"
	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio/blk"
)

// A snapshot is the machine's state written out so that another machine,
// in another process or on another host, goes on from it: the state of
// every component as a named, versioned section, and RAM. Unlike a
// checkpoint it may be taken from a machine that takes live input — what
// the host side of a device holds (connections of the user network or of
// vsock) is not the guest's state and is made anew by the restoring side —
// and it is not put on the timeline.

// Section is one component's saved state.
type Section = snapshot.Section

// sectionVersion is the version of every component's encoding today. A
// component whose encoding changes gets its own, and its restore learns to
// read the versions before.
const sectionVersion = 1

// htifSection names the section of a bare-metal program's HTIF addresses,
// which are not guest state but where the board looks for its reports.
const htifSection = "htif"

// SnapshotState returns the state of every component as sections, in the
// machine's order. The machine must be paused (between runs).
func (m *Machine) SnapshotState() ([]Section, error) {
	if err := m.closedErr(); err != nil {
		return nil, err
	}
	if m.exit != nil {
		return nil, fmt.Errorf("snapshot: the machine has stopped (%v)", m.exit.Kind)
	}
	var ss []Section
	for _, c := range m.comps {
		var e snapshot.Encoder
		c.save(&e)
		ss = append(ss, Section{Name: c.name, Version: sectionVersion, Data: e.Bytes()})
	}
	if m.tohost != 0 {
		var e snapshot.Encoder
		e.Uint64(m.tohost)
		e.Uint64(m.fromhost)
		ss = append(ss, Section{Name: htifSection, Version: sectionVersion, Data: e.Bytes()})
	}
	return ss, nil
}

// loadSections restores the components from sections, all or none: every
// component needs its section, a required section that names no component
// is refused by name, and an optional one is skipped.
func (m *Machine) loadSections(ss []Section) error {
	byName := make(map[string]Section, len(ss))
	for _, s := range ss {
		if _, dup := byName[s.Name]; dup {
			return fmt.Errorf("state: section %q appears twice", s.Name)
		}
		byName[s.Name] = s
	}
	known := map[string]bool{htifSection: true}
	for _, c := range m.comps {
		known[c.name] = true
	}
	for _, s := range ss {
		if !known[s.Name] && !s.Optional {
			return fmt.Errorf("state: section %q is required but this machine has no such component (another board, or a newer Juice wrote it)", s.Name)
		}
		if known[s.Name] && s.Version > sectionVersion {
			return fmt.Errorf("state: section %q is version %d; this Juice reads up to version %d", s.Name, s.Version, sectionVersion)
		}
	}
	var all snapshot.Encoder
	for _, c := range m.comps {
		s, ok := byName[c.name]
		if !ok {
			return fmt.Errorf("state: no section for %q", c.name)
		}
		// Each section must decode alone: a component may not read into
		// the next one's bytes.
		if err := m.checkSection(c, s.Data); err != nil {
			return err
		}
		all.Raw(s.Data)
	}
	if err := m.restoreState(all.Bytes()); err != nil {
		return err
	}
	if s, ok := byName[htifSection]; ok {
		d := snapshot.NewDecoder(s.Data)
		to, from := d.Uint64("tohost"), d.Uint64("fromhost")
		if err := d.Finish(htifSection); err != nil {
			return err
		}
		if _, ok := m.ram.Slice(to, 8); !ok {
			return fmt.Errorf("state: section %q: tohost %#x is not in RAM", htifSection, to)
		}
		if _, ok := m.ram.Slice(from, 8); from != 0 && !ok {
			return fmt.Errorf("state: section %q: fromhost %#x is not in RAM", htifSection, from)
		}
		m.tohost, m.fromhost = to, from
	}
	return nil
}

// checkSection reports whether b is exactly one encoding of component c,
// decoding it into c and then putting c's state back.
func (m *Machine) checkSection(c component, b []byte) error {
	var before snapshot.Encoder
	c.save(&before)
	d := snapshot.NewDecoder(b)
	c.restore(d)
	err := d.Finish(c.name)
	back := snapshot.NewDecoder(before.Bytes())
	c.restore(back)
	if err2 := back.Finish(c.name); err2 != nil {
		return errors.Join(err, err2)
	}
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	return nil
}

// Restored is what a machine is built from when it goes on from a
// snapshot instead of booting (Config.Restore).
type Restored struct {
	// Memory is the RAM image: page i at offset i×4096, holes (or zero
	// pages) for zero RAM, no longer than RAM. New maps it copy-on-write
	// (MAP_PRIVATE): a page is read from the file when the guest first
	// touches it, and the guest's writes never reach the file. New does
	// not keep the file open.
	Memory *os.File
	// State holds every component's section.
	State []Section
}

// mapRestored maps RAM from a snapshot's memory image and marks the pages
// it holds data for as written (they may not be zero).
func (m *Machine) mapRestored(r *Restored) error {
	size := m.cfg.Memory
	if size > uint64(maxInt) {
		return fmt.Errorf("memory: %s does not fit in this host's address space", bytesize.Format(int64(size)))
	}
	fi, err := r.Memory.Stat()
	if err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("memory: %s is not a regular file", r.Memory.Name())
	}
	if uint64(fi.Size()) > size {
		return fmt.Errorf("memory: %s holds %s, more than the machine's %s of RAM", r.Memory.Name(), bytesize.Format(fi.Size()), bytesize.Format(int64(size)))
	}
	// The file may be shorter than RAM (its zero tail cut off); the
	// mapping beyond its end is anonymous zero memory.
	mem, err := mapRAM(size)
	if err != nil {
		return err
	}
	fileLen := (fi.Size() + pageSize - 1) &^ (pageSize - 1)
	if fileLen > 0 {
		_, err := mmapFixed(mem[:fileLen], r.Memory)
		if err != nil {
			unix.Munmap(mem)
			return fmt.Errorf("memory: mapping %s: %w", r.Memory.Name(), err)
		}
	}
	m.ram = guestram.New(mem, RAMBase)
	m.ramMap.cleanup = runtime.AddCleanup(m, func(b []byte) { unix.Munmap(b) }, mem)
	m.pages = newPageTracker(m, size/pageSize)
	m.ramSum = newRAMSummary(size / pageSize)
	return snapshot.DataExtents(r.Memory, fi.Size(), func(from, to int64) error {
		m.pages.mark(uint64(from), uint64(to-from))
		return nil
	})
}

// mmapFixed maps f over the start of the mapping b, private and writable.
func mmapFixed(b []byte, f *os.File) (uintptr, error) {
	addr, _, errno := unix.Syscall6(unix.SYS_MMAP, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED|unix.MAP_NORESERVE, f.Fd(), 0)
	if errno != 0 {
		return 0, errno
	}
	return addr, nil
}

// RAMPages calls fn with each page of RAM that is not zero, in order:
// with dirty set only those written since the previous call to RAMPages
// (or since the machine was built), otherwise all of them. Each call
// starts a new span for the next dirty call. The machine must be paused;
// fn must not keep data.
func (m *Machine) RAMPages(dirty bool, fn func(page uint32, data []byte) error) error {
	if err := m.closedErr(); err != nil {
		return err
	}
	m.pages.drain()
	set := m.pages.touched
	if dirty {
		set = m.pages.snap
	}
	var zero [pageSize]byte
	var err error
	each(set, func(p uint32) {
		if err != nil {
			return
		}
		b := m.page(p)
		if !dirty && bytes.Equal(b, zero[:]) {
			return
		}
		err = fn(p, b)
	})
	zeroBits(m.pages.snap)
	return err
}

// DirtyPages returns the pages of RAM written since the previous call (or
// since the machine was built, for the first), for a live migration's
// rounds of copying. It is a span of its own, apart from RAMPages'. The
// machine must be paused.
func (m *Machine) DirtyPages() []uint32 {
	m.pages.drain()
	var ps []uint32
	each(m.pages.mig, func(p uint32) { ps = append(ps, p) })
	zeroBits(m.pages.mig)
	return ps
}

// Page returns a copy of RAM page p. The machine must be paused.
func (m *Machine) Page(p uint32, into []byte) error {
	if uint64(p) >= m.ram.Size()/pageSize || len(into) != pageSize {
		return fmt.Errorf("memory: page %d is not one of this machine's %d", p, m.ram.Size()/pageSize)
	}
	copy(into, m.page(p))
	return nil
}

// Pages returns the number of pages of RAM.
func (m *Machine) Pages() uint32 { return uint32(m.ram.Size() / pageSize) }

// PageSize is the size of a page of RAM, the unit of snapshots and
// migrations.
const PageSize = pageSize

// ResetVsockTransport tells a restored machine's vsock device that its
// host side is new: the snapshot's connections are dropped and the guest
// gets a transport-reset event (see vsock.Device.TransportReset).
func (m *Machine) ResetVsockTransport() {
	for _, s := range m.slots {
		if d, ok := s.transport.Device().(interface{ TransportReset() }); ok {
			d.TransportReset()
		}
	}
}

// Disks returns the machine's disks, in slot order, for a snapshot to
// copy while the machine is paused.
func (m *Machine) Disks() []*blk.Device {
	var ds []*blk.Device
	for _, s := range m.slots {
		if d, ok := s.transport.Device().(*blk.Device); ok {
			ds = append(ds, d)
		}
	}
	return ds
}
