package machine

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/blk"
	"github.com/juicevm/juice/internal/virtio/console"
	"github.com/juicevm/juice/internal/virtio/rng"
)

// DiskConfig describes a virtio-blk disk.
type DiskConfig struct {
	// Path is the raw image file.
	Path string `json:"path"`
	// ReadOnly offers the disk read-only.
	ReadOnly bool `json:"read_only,omitempty"`
	// Overlay, if set, is a copy-on-write overlay file that takes every
	// write, so the image at Path is never modified.
	Overlay string `json:"overlay,omitempty"`
	// Serial is the disk's ID string (default "juice-vdN").
	Serial string `json:"serial,omitempty"`
}

// slot is a virtio-mmio slot in use.
type slot struct {
	index     int
	transport *virtio.Transport
	closer    io.Closer
}

// ramMemory gives devices bounds-checked access to guest RAM.
type ramMemory struct{ ram []byte }

// Slice implements virtio.Memory.
func (r ramMemory) Slice(addr, n uint64) ([]byte, bool) {
	off := addr - RAMBase
	if addr < RAMBase || off > uint64(len(r.ram)) || uint64(len(r.ram))-off < n {
		return nil, false
	}
	return r.ram[off : off+n : off+n], true
}

// hostEntropy is where virtio-rng's randomness comes from. It is input
// from outside the machine: a recording must log what it returns.
type hostEntropy struct{}

func (hostEntropy) Read(p []byte) (int, error) { return rand.Read(p) }

// attach puts a device in the next free virtio-mmio slot.
func (m *Machine) attach(dev virtio.Device, closer io.Closer) error {
	i := len(m.slots)
	if i >= VirtioSlots {
		return fmt.Errorf("virtio: too many devices (at most %d)", VirtioSlots)
	}
	irq := VirtioIRQ + i
	t := virtio.NewTransport(dev, ramMemory{m.ram}, func(level bool) { m.plic.setLevel(irq, level) })
	m.slots = append(m.slots, slot{index: i, transport: t, closer: closer})
	m.regions = append(m.regions, region{VirtioBase + uint64(i)*VirtioStride, VirtioStride, transportMMIO{t}})
	return nil
}

// transportMMIO adapts a virtio transport to the board's bus.
type transportMMIO struct{ t *virtio.Transport }

func (t transportMMIO) load(off uint64, size int) (uint64, bool) { return t.t.Load(off, size) }
func (t transportMMIO) store(off uint64, size int, v uint64) bool {
	return t.t.Store(off, size, v)
}

// addDevices creates the configured virtio devices.
func (m *Machine) addDevices() error {
	for i, d := range m.cfg.Disks {
		serial := d.Serial
		if serial == "" {
			serial = fmt.Sprintf("juice-vd%c", 'a'+i)
		}
		dev, err := blk.Open(d.Path, blk.Options{ReadOnly: d.ReadOnly, Overlay: d.Overlay, Serial: serial})
		if err != nil {
			return fmt.Errorf("disk %s: %w", d.Path, err)
		}
		if err := m.attach(dev, dev); err != nil {
			dev.Close()
			return err
		}
	}
	if m.cfg.VirtioConsole {
		m.vcon = console.New(consoleWriter{m}, nil)
		if err := m.attach(m.vcon, nil); err != nil {
			return err
		}
	}
	if m.cfg.RNG {
		if err := m.attach(rng.New(hostEntropy{}, nil), nil); err != nil {
			return err
		}
	}
	return nil
}

// consoleWriter sends virtio-console output to the machine's console.
type consoleWriter struct{ m *Machine }

func (c consoleWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		c.m.consoleOut(b)
	}
	return len(p), nil
}

// Close releases the machine's host resources (disk images are flushed and
// closed). The machine cannot run afterwards.
func (m *Machine) Close() error {
	var errs []error
	for _, s := range m.slots {
		if s.closer != nil {
			if err := s.closer.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	m.slots = nil
	return errors.Join(errs...)
}
