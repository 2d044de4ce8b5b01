// Package vmm turns a VM spec (internal/vmspec) into a running machine.
// It opens the host resources the spec names — the kernel and initrd
// files, disk images, the user network or a tap device, the vsock socket,
// the host's entropy — builds the board (internal/machine) with them, and
// owns the sessions that run it: a plain run, a recording and a replay
// (record.go, replay.go).
//
// The layers, and what each may know:
//
//	front ends (cmd/juice)  flags, manifests, terminals → a vmspec.Spec
//	vmspec                  the description of a VM; plain data
//	vmm                     host resources and sessions; the only layer
//	                        below the front ends that opens host files
//	machine                 the board; gets its devices ready-made
//	devices (virtio/...)    know nothing of who records them
package vmm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/usernet"
	"github.com/juicevm/juice/internal/virtio/blk"
	vnet "github.com/juicevm/juice/internal/virtio/net"
	"github.com/juicevm/juice/internal/virtio/vsock"
	"github.com/juicevm/juice/internal/vmspec"
)

// Files are host files a front end opened already, by the path the spec
// names them by: an appliance's, which it opens confined to the
// appliance's folder. The VMM uses them in place of opening those paths.
type Files struct {
	// Data holds boot files' contents (kernel, initrd).
	Data map[string][]byte
	// Disks holds open disk images (read-write if they can be); the VMM
	// takes over those it uses.
	Disks map[string]*os.File
}

// take returns the open image for a disk path and forgets it.
func (f *Files) take(path string) *os.File {
	if f == nil {
		return nil
	}
	d := f.Disks[path]
	delete(f.Disks, path)
	return d
}

// Close closes the disk images nothing took.
func (f *Files) Close() {
	if f == nil {
		return
	}
	for p, d := range f.Disks {
		d.Close()
		delete(f.Disks, p)
	}
}

// Options are how a VM is built, beyond its spec.
type Options struct {
	// Logger receives the VMM's and the machine's log lines; nil
	// discards them.
	Logger *slog.Logger
	// Console receives the guest's console output (nil: discarded);
	// ConsoleIn, if set, supplies its input.
	Console   io.Writer
	ConsoleIn io.Reader
	// Files are host files opened already.
	Files *Files

	// Log, if set, receives every input from outside (a recording).
	Log machine.InputLog
	// Script, if set, supplies recorded input in place of live input (a
	// replay): the VMM opens no network, vsock socket or entropy then,
	// and the disks keep the guest's writes in memory over their images.
	Script machine.InputScript
	// DigestInterval and OnDigest are machine.Config's.
	DigestInterval uint64
	OnDigest       func(machine.Summary) error
	// Quantum is machine.Config's (0: the default).
	Quantum uint64
	// Started, if set, is called with the VM once it is built, before it
	// runs, by the sessions that build one (Record): a front end serves
	// its API from there. An error ends the session before the VM runs.
	Started func(*VM) error
	// JuiceVersion names this Juice in the recordings and snapshots of
	// the VM.
	JuiceVersion string

	// restore, if set, builds the VM from a snapshot (Restore).
	restore *restoring
}

// VM is a machine built from a spec, with the host resources it uses.
type VM struct {
	spec  vmspec.Spec
	m     *machine.Machine
	ctl   control
	snap  snapshots
	notes []string
	// version names this Juice in snapshots.
	version string
	// migratedTo is where the VM went (under ctl.mu).
	migratedTo string
}

// New opens the host resources of spec and builds its machine. The
// returned VM's Spec has the boot files' digests filled in.
func New(spec vmspec.Spec, o Options) (*VM, error) {
	spec = spec.Clone()
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("vm spec: %w", err)
	}
	return build(spec, o)
}

// Spec returns the VM's spec, with its boot files' digests.
func (vm *VM) Spec() vmspec.Spec { return vm.spec.Clone() }

// Machine returns the VM's machine.
func (vm *VM) Machine() *machine.Machine { return vm.m }

// Close releases the machine and its host resources.
func (vm *VM) Close() error { return vm.m.Close() }

// configure reads the boot files and opens the devices of spec, filling
// in the boot files' digests.
func configure(spec *vmspec.Spec, o Options) (cfg machine.Config, err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			cfg.CloseDevices()
		}
	}()
	mem := uint64(spec.Memory)
	cfg = machine.Config{
		CPUs: spec.CPUs, Memory: mem, Cmdline: spec.Boot.Cmdline,
		Console: o.Console, ConsoleIn: o.ConsoleIn, Logger: log,
		Log: o.Log, Script: o.Script, DigestInterval: o.DigestInterval, OnDigest: o.OnDigest,
		MaxInstructions: spec.Limits.MaxInstructions, Quantum: o.Quantum,
		VirtioConsole: spec.Console == vmspec.ConsoleVirtio,
		RNG:           spec.Entropy,
	}
	if o.restore != nil {
		cfg.Restore = o.restore.machine
		err = openDevices(spec, o, &cfg, log)
		return cfg, err
	}
	for _, b := range []struct {
		what string
		f    *vmspec.File
		into *[]byte
	}{{"kernel", spec.Boot.Kernel, &cfg.Kernel}, {"initrd", spec.Boot.Initrd, &cfg.Initrd}, {"firmware", spec.Boot.Firmware, &cfg.Firmware}, {"bare", spec.Boot.Bare, &cfg.Bare}} {
		if b.f == nil {
			continue
		}
		if *b.into, err = readBootFile(b.what, b.f, mem, o.Files); err != nil {
			return cfg, err
		}
	}
	err = openDevices(spec, o, &cfg, log)
	return cfg, err
}

// openDevices opens the disks, network interfaces and vsock of spec into
// cfg.
func openDevices(spec *vmspec.Spec, o Options, cfg *machine.Config, log *slog.Logger) (err error) {
	replaying := o.Script != nil
	for i, d := range spec.Disks {
		if o.restore != nil {
			dev, err := o.restore.open(spec, i, replaying, log)
			if err != nil {
				return err
			}
			cfg.Disks = append(cfg.Disks, dev)
			continue
		}
		dev, err := OpenDisk(d, i, o.Files.take(d.Path), replaying, log)
		if err != nil {
			return err
		}
		cfg.Disks = append(cfg.Disks, dev)
	}
	for i, n := range spec.Net {
		var be vnet.Backend
		if !replaying {
			if be, err = OpenNet(n, log); err != nil {
				return fmt.Errorf("net %d: %w", i, err)
			}
		}
		cfg.Net = append(cfg.Net, be)
	}
	if v := spec.Vsock; v != nil {
		cfg.Vsock = &machine.VsockConfig{CID: v.CID}
		if !replaying {
			// The vsock package's errors say "vsock:" already.
			host, err := vsock.NewUnixHost(vsock.Config{UnixPath: v.Path, Logger: log})
			if err != nil {
				return err
			}
			cfg.Vsock.Host = host
		}
	}
	return nil
}

// OpenDisk opens the image of disk number index. file, if not nil, is the
// image opened already. A volatile disk (a replay's) is opened read-only
// and keeps the guest's writes in memory, over the image and the overlay
// as they were when the recording started (an overlay the recording
// created was empty then, and is not read).
func OpenDisk(d vmspec.Disk, index int, file *os.File, volatile bool, log *slog.Logger) (*blk.Device, error) {
	serial := d.Serial
	if serial == "" {
		serial = fmt.Sprintf("juice-vd%c", 'a'+index)
	}
	opts := blk.Options{ReadOnly: d.ReadOnly, Overlay: d.Overlay, Serial: serial, File: file, Logger: log}
	if volatile {
		opts.Volatile, opts.Overlay = true, ""
	}
	dev, err := blk.Open(d.Path, opts)
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", d.Path, err)
	}
	return dev, nil
}

// OpenNet opens the host side of a network interface.
func OpenNet(n vmspec.Net, log *slog.Logger) (vnet.Backend, error) {
	if n.Mode == vmspec.NetTap {
		tap, err := vnet.OpenTap(n.Tap, log)
		if err != nil {
			return nil, err
		}
		return tap, nil
	}
	cfg := usernet.Config{Logger: log}
	for _, f := range n.Forwards {
		cfg.HostForwards = append(cfg.HostForwards, usernet.Forward{Proto: f.Protocol, HostAddr: f.Host, GuestPort: f.GuestPort})
	}
	un, err := usernet.New(cfg)
	if err != nil {
		return nil, err
	}
	return vnet.Usernet(un), nil
}

// readBootFile reads a kernel, initrd, firmware or bare-metal file, which
// must fit in the guest's RAM: a larger file (or a device such as
// /dev/zero, which never ends) is refused before it fills the host's
// memory. A pipe (--initrd <(zcat initrd.gz)) is read as it comes. A file
// with a digest must match it; one without gets one.
func readBootFile(what string, f *vmspec.File, ram uint64, opened *Files) ([]byte, error) {
	b, ok := []byte(nil), false
	if opened != nil {
		b, ok = opened.Data[f.Path]
	}
	if !ok {
		var err error
		if b, err = readBounded(what, f.Path, ram); err != nil {
			return nil, err
		}
	}
	if uint64(len(b)) > ram {
		return nil, fmt.Errorf("%s: %s is larger than the guest's %s of RAM", what, f.Path, bytesize.Format(int64(ram)))
	}
	sum := sha256.Sum256(b)
	got := hex.EncodeToString(sum[:])
	if f.SHA256 != "" && f.SHA256 != got {
		return nil, fmt.Errorf("%s %s does not match its digest (sha256 %s, the spec says %s): the file was modified", what, f.Path, got[:16], f.SHA256[:16])
	}
	f.SHA256 = got
	return b, nil
}

// readBounded reads the file at path, refusing one larger than ram.
func readBounded(what, path string, ram uint64) ([]byte, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer fd.Close()
	tooBig := fmt.Errorf("%s: %s is larger than the guest's %s of RAM", what, path, bytesize.Format(int64(ram)))
	size := uint64(64 << 10)
	if fi, err := fd.Stat(); err == nil && fi.Mode().IsRegular() {
		if uint64(fi.Size()) > ram {
			return nil, tooBig
		}
		size = uint64(fi.Size()) + 1 // room to see the end
	}
	b := make([]byte, 0, min(size, ram+1))
	for {
		if len(b) == cap(b) {
			// Grow, but never past what would be refused.
			b = append(make([]byte, 0, min(2*uint64(cap(b)), ram+1)), b...)
		}
		n, err := fd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case uint64(len(b)) > ram:
			return nil, tooBig
		case err == io.EOF:
			return b, nil
		case err != nil:
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
}
