package machine

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/juicevm/juice/internal/usernet"
	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/blk"
	"github.com/juicevm/juice/internal/virtio/console"
	vnet "github.com/juicevm/juice/internal/virtio/net"
	"github.com/juicevm/juice/internal/virtio/rng"
	"github.com/juicevm/juice/internal/virtio/vsock"
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
	// Volatile opens the image (and overlay) read-only and keeps the
	// guest's writes in memory (blk.Options.Volatile), as a replay does;
	// it is not part of a recorded configuration.
	Volatile bool `json:"-"`
	// File, if set, is the image at Path already open (read-write if the
	// disk is writable without an overlay), as the front end opened it;
	// the machine takes it over.
	File *os.File `json:"-"`
}

// NetConfig describes a virtio-net interface and what it connects to: user
// mode networking (the default) or a host tap device.
type NetConfig struct {
	// Tap, if set, is the host tap device to attach to.
	Tap string `json:"tap,omitempty"`
	// HostForwards are user-mode host port forwards in QEMU's syntax,
	// e.g. "tcp:127.0.0.1:8080-:80".
	HostForwards []string `json:"host_forwards,omitempty"`
}

// VsockConfig describes a virtio-vsock device whose host side is a Unix
// socket, as Firecracker's: a host program connects to Path and writes
// "CONNECT <port>\n"; guest connections to host port P reach Path_P.
type VsockConfig struct {
	// CID is the guest's context ID (default 3).
	CID uint64 `json:"cid,omitempty"`
	// Path is the host Unix socket.
	Path string `json:"path"`
}

// slot is a virtio-mmio slot in use.
type slot struct {
	index     int
	transport *virtio.Transport
	closer    io.Closer
}

// ramMemory gives devices bounds-checked access to guest RAM. Devices may
// write what they get, so every page handed out is marked written.
type ramMemory struct{ m *Machine }

// Slice implements virtio.Memory.
func (r ramMemory) Slice(addr, n uint64) ([]byte, bool) { return r.m.ramWrite(addr, n) }

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
	t := virtio.NewTransport(dev, ramMemory{m}, func(level bool) { m.plic.setLevel(irq, level) })
	m.slots = append(m.slots, slot{index: i, transport: t, closer: closer})
	m.regions = append(m.regions, region{VirtioBase + uint64(i)*VirtioStride, VirtioStride, transportMMIO{t}})
	return nil
}

// checkSlots refuses a configuration with more virtio devices than the
// board has slots, before any device is opened, saying what takes them.
func (cfg *Config) checkSlots() error {
	var uses []string
	count := func(k int, one, many string) {
		switch {
		case k == 1:
			uses = append(uses, one)
		case k > 1:
			uses = append(uses, fmt.Sprintf("%d %s", k, many))
		}
	}
	count(len(cfg.Disks), "1 disk", "disks")
	count(len(cfg.Net), "1 network interface", "network interfaces")
	n := len(cfg.Disks) + len(cfg.Net)
	for _, d := range []struct {
		on   bool
		name string
	}{{cfg.Vsock != nil, "vsock"}, {cfg.VirtioConsole, "the virtio console"}, {cfg.RNG, "virtio-rng"}} {
		if d.on {
			uses = append(uses, d.name)
			n++
		}
	}
	if n <= VirtioSlots {
		return nil
	}
	hint := ""
	if cfg.RNG {
		hint = " (--no-rng frees one)"
	}
	return fmt.Errorf("virtio: %d devices (%s) are more than the board's %d virtio slots%s", n, strings.Join(uses, ", "), VirtioSlots, hint)
}

// transportMMIO adapts a virtio transport to the board's bus.
type transportMMIO struct{ t *virtio.Transport }

func (t transportMMIO) load(off uint64, size int) (uint64, bool) { return t.t.Load(off, size) }
func (t transportMMIO) store(off uint64, size int, v uint64) bool {
	return t.t.Store(off, size, v)
}

// addDevices creates the configured virtio devices.
func (m *Machine) addDevices() error {
	if err := m.cfg.checkSlots(); err != nil {
		return err
	}
	for i, d := range m.cfg.Disks {
		serial := d.Serial
		if serial == "" {
			serial = fmt.Sprintf("juice-vd%c", 'a'+i)
		}
		dev, err := blk.Open(d.Path, blk.Options{ReadOnly: d.ReadOnly, Overlay: d.Overlay, Serial: serial, Volatile: d.Volatile, File: d.File})
		if err != nil {
			return fmt.Errorf("disk %s: %w", d.Path, err)
		}
		if err := m.attach(dev, dev); err != nil {
			dev.Close()
			return err
		}
	}
	for i, n := range m.cfg.Net {
		var be vnet.Backend
		if m.cfg.Script != nil {
			be = scriptedBackend{m: m, port: i, notify: make(chan struct{})}
		} else {
			var err error
			if be, err = openNetBackend(n); err != nil {
				return fmt.Errorf("net %d: %w", i, err)
			}
			if m.cfg.Log != nil {
				be = recordedBackend{Backend: be, m: m, port: i}
			}
		}
		var cfg vnet.Config
		cfg.MAC = vnet.DefaultMAC
		cfg.MAC[5] += byte(i)
		dev := vnet.New(be, cfg)
		if err := m.attach(dev, dev); err != nil {
			dev.Close()
			return err
		}
		m.pollers = append(m.pollers, dev)
		m.in.wakeOn(dev.Wake())
	}
	if v := m.cfg.Vsock; v != nil {
		// The vsock package's errors say "vsock:" already.
		host, err := m.vsockHost(v)
		if err != nil {
			return err
		}
		dev, err := vsock.New(vsock.Config{GuestCID: v.CID, Host: host})
		if err != nil {
			return err
		}
		if err := m.attach(dev, dev); err != nil {
			dev.Close()
			return err
		}
		m.pollers = append(m.pollers, dev)
		m.in.wakeOn(dev.Wake())
	}
	if m.cfg.VirtioConsole {
		m.vcon = console.New(consoleWriter{m}, nil)
		if err := m.attach(m.vcon, nil); err != nil {
			return err
		}
	}
	if m.cfg.RNG {
		if err := m.attach(rng.New(entropy{m}, nil), nil); err != nil {
			return err
		}
	}
	return nil
}

func openNetBackend(n NetConfig) (vnet.Backend, error) {
	if n.Tap != "" {
		if len(n.HostForwards) > 0 {
			return nil, errors.New("host forwards apply to user-mode networking, not to a tap device")
		}
		return vnet.OpenTap(n.Tap, nil)
	}
	var cfg usernet.Config
	for _, f := range n.HostForwards {
		fw, err := usernet.ParseForward(f)
		if err != nil {
			return nil, err
		}
		cfg.HostForwards = append(cfg.HostForwards, fw)
	}
	un, err := usernet.New(cfg)
	if err != nil {
		return nil, err
	}
	return vnet.Usernet(un), nil
}

// poller is a device that takes input from outside at round boundaries.
type poller interface {
	Poll() (took bool)
}

// pollDevices lets devices take input that arrived from outside (received
// frames). It runs between scheduling rounds; like applyInput, it is a
// point where outside input becomes guest-visible.
func (m *Machine) pollDevices() {
	for _, d := range m.pollers {
		d.Poll()
	}
}

// consoleWriter sends virtio-console output to the machine's console.
type consoleWriter struct{ m *Machine }

func (c consoleWriter) Write(p []byte) (int, error) {
	for _, b := range p {
		c.m.consoleOut(b)
	}
	return len(p), nil
}

// Close releases the machine's host resources: disk images are flushed
// and closed, host sockets closed, and guest RAM unmapped. The machine
// cannot run afterwards (Run, RunTo and the checkpoint and memory methods
// return an error); a second Close does nothing. Like the machine's other
// methods, Close must not be called while Run or RunTo runs: cancel the
// run's context and wait for it to return.
func (m *Machine) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	for _, s := range m.slots {
		if s.closer != nil {
			if err := s.closer.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	m.slots = nil
	m.in.close()
	if err := m.unmapRAM(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
