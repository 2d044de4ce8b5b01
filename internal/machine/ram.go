package machine

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/guestram"
)

// Guest RAM is an anonymous private mapping made with MAP_NORESERVE: the
// host gives the machine a page only when the guest (or a loader) first
// touches it, and untouched RAM costs neither memory nor commit charge.
// It is outside Go's heap, so the garbage collector neither scans nor
// zeroes it. It is unmapped when the machine closes, or when a machine
// that was never closed becomes unreachable.

// mapRAM maps size bytes of zeroed guest RAM.
func mapRAM(size uint64) ([]byte, error) {
	if size > uint64(maxInt) {
		return nil, fmt.Errorf("memory: %s does not fit in this host's address space", bytesize.Format(int64(size)))
	}
	b, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		why := ""
		if errors.Is(err, unix.ENOMEM) {
			why = mapFailureHint()
		}
		return nil, fmt.Errorf("memory: mapping %s of guest RAM: %w%s", bytesize.Format(int64(size)), err, why)
	}
	return b, nil
}

const maxInt = int(^uint(0) >> 1)

// ramMapping is what unmaps a machine's RAM: by Close, or by the cleanup
// of a machine that was never closed.
type ramMapping struct {
	cleanup runtime.Cleanup
}

// setRAM maps the machine's RAM and arranges for it to be unmapped if the
// machine is dropped without Close. Nothing that outlives the machine may
// hold m.ram: the harts reach the machine (as their bus) and so keep it
// alive while they can touch RAM.
func (m *Machine) setRAM(size uint64) error {
	mem, err := mapRAM(size)
	if err != nil {
		return err
	}
	m.ram = guestram.New(mem, RAMBase)
	m.ramMap.cleanup = runtime.AddCleanup(m, func(b []byte) { unix.Munmap(b) }, mem)
	return nil
}

// unmapRAM detaches RAM from the harts and devices and unmaps it. Every
// path that touches RAM after that finds none: the harts' and devices'
// accesses fail their bounds checks, and the machine's own methods refuse
// to run (see closedErr).
func (m *Machine) unmapRAM() error {
	mem := m.ram.Bytes()
	if mem == nil {
		return nil
	}
	for _, h := range m.harts {
		h.DetachRAM()
	}
	m.ram = guestram.RAM{}
	// The page tracker's sets name pages of the RAM that is gone.
	m.pages = pageTracker{m: m}
	m.ramMap.cleanup.Stop()
	if err := unix.Munmap(mem); err != nil {
		return fmt.Errorf("memory: unmapping guest RAM: %w", err)
	}
	return nil
}

// errClosed is what a closed machine's methods return.
var errClosed = errors.New("machine: it was closed")

// closedErr returns errClosed if the machine was closed.
func (m *Machine) closedErr() error {
	if m.closed {
		return errClosed
	}
	return nil
}

// markDirty records that the machine wrote the n bytes of RAM at physical
// address addr, which lie in RAM.
func (m *Machine) markDirty(addr, n uint64) { m.pages.mark(addr-m.ram.Base(), n) }

// ramWrite returns the n bytes of RAM at physical address addr for the
// machine or a device to write, and marks their pages written; ok is false,
// and nothing is marked, unless all of them lie in RAM.
func (m *Machine) ramWrite(addr, n uint64) ([]byte, bool) {
	b, ok := m.ram.Slice(addr, n)
	if ok {
		m.markDirty(addr, n)
	}
	return b, ok
}

// writeRAM copies p into RAM at physical address addr, if all of it fits.
func (m *Machine) writeRAM(addr uint64, p []byte) bool {
	b, ok := m.ramWrite(addr, uint64(len(p)))
	copy(b, p)
	return ok
}

// pageAddr returns the physical address of RAM page p.
func (m *Machine) pageAddr(p uint32) uint64 { return m.ram.Base() + uint64(p)*pageSize }

// page returns RAM page p, one of the pages the page sets name (p is below
// the number of pages of RAM).
func (m *Machine) page(p uint32) []byte {
	off := uint64(p) * pageSize
	return m.ram.Bytes()[off : off+pageSize : off+pageSize]
}
