package machine

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/juicevm/juice/internal/virtio"
	"github.com/juicevm/juice/internal/virtio/console"
	vnet "github.com/juicevm/juice/internal/virtio/net"
	"github.com/juicevm/juice/internal/virtio/rng"
	"github.com/juicevm/juice/internal/virtio/vsock"
)

// VsockConfig is a virtio-vsock device.
type VsockConfig struct {
	// CID is the guest's context ID (default 3).
	CID uint64
	// Host is the device's host side (e.g. vsock.NewUnixHost's Unix
	// sockets), which the machine takes over. With Config.Script set it
	// must be nil: the recording supplies what the host side did.
	Host vsock.Host
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

// attach puts a device in the next free virtio-mmio slot.
func (m *Machine) attach(dev virtio.Device, closer io.Closer) error {
	i := len(m.slots)
	if i >= VirtioSlots {
		return fmt.Errorf("virtio: too many devices (at most %d)", VirtioSlots)
	}
	irq := VirtioIRQ + i
	t := virtio.NewTransport(dev, ramMemory{m}, func(level bool) { m.plic.setLevel(irq, level) })
	t.SetLogger(m.log)
	m.slots = append(m.slots, slot{index: i, transport: t, closer: closer})
	m.regions = append(m.regions, region{VirtioBase + uint64(i)*VirtioStride, VirtioStride, transportMMIO{t}})
	return nil
}

// CloseDevices closes the devices of a configuration that never became a
// machine's (New closes them itself when it fails).
func (cfg *Config) CloseDevices() {
	for _, d := range cfg.Disks {
		if d != nil {
			d.Close()
		}
	}
	for _, n := range cfg.Net {
		if n != nil {
			n.Close()
		}
	}
	if cfg.Vsock != nil && cfg.Vsock.Host != nil {
		cfg.Vsock.Host.Close()
	}
	cfg.Disks, cfg.Net = nil, nil
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
	// Each device's host side passes from m.cfg to its slot, so that
	// Close closes each once, however far this got.
	for i, d := range m.cfg.Disks {
		if err := m.attach(d, d); err != nil {
			return err
		}
		m.cfg.Disks[i] = nil
	}
	for i, host := range m.cfg.Net {
		var be vnet.Backend
		switch {
		case m.cfg.Script != nil:
			be = scriptedBackend{m: m, port: i, notify: make(chan struct{})}
		case host == nil:
			return fmt.Errorf("net %d: no host side", i)
		case m.cfg.Log != nil:
			be = recordedBackend{Backend: host, m: m, port: i}
		default:
			be = host
		}
		var cfg vnet.Config
		cfg.MAC = vnet.DefaultMAC
		cfg.MAC[5] += byte(i)
		cfg.Logger = m.log
		dev := vnet.New(be, cfg)
		m.cfg.Net[i] = nil // dev closes it
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
		dev, err := vsock.New(vsock.Config{GuestCID: v.CID, Host: host, Logger: m.log})
		if err != nil {
			return err
		}
		v.Host = nil // dev closes it
		if err := m.attach(dev, dev); err != nil {
			dev.Close()
			return err
		}
		m.pollers = append(m.pollers, dev)
		m.in.wakeOn(dev.Wake())
	}
	if m.cfg.VirtioConsole {
		m.vcon = console.New(consoleWriter{m}, m.log)
		if err := m.attach(m.vcon, nil); err != nil {
			return err
		}
	}
	if m.cfg.RNG {
		if err := m.attach(rng.New(entropy{m}, m.log), nil); err != nil {
			return err
		}
	}
	return nil
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
	m.cfg.CloseDevices()
	m.in.close()
	if err := m.unmapRAM(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
