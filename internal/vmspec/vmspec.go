// Package vmspec is the one description of a Juice virtual machine: what
// it boots, its CPUs and memory, its disks, network interfaces and other
// devices, and its limits. Every front end produces a Spec — the command
// line's flags, an appliance's manifest, later the REST API — and the VMM
// (internal/vmm) turns one into a running machine. A recording stores the
// Spec it was made with.
//
// A Spec is plain data: paths name host files, nothing is opened here. Its
// JSON form is strict and versioned (Version): Decode refuses unknown
// fields and other versions, and its errors name the field at fault.
package vmspec

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/juicevm/juice/internal/bytesize"
)

// Version is the version of the Spec's JSON form this package writes and
// reads.
const Version = 1

// Bounds of a machine (those of internal/machine's board).
const (
	MaxCPUs   = 32
	MinMemory = 16 << 20
	MaxMemory = 64 << 30
	// MaxSerial is the longest disk serial (virtio-blk's ID string).
	MaxSerial = 20
)

// Console devices.
const (
	ConsoleUART   = "uart"   // the ns16550a UART, ttyS0
	ConsoleVirtio = "virtio" // virtio-console, hvc0
)

// Network modes.
const (
	NetUser = "user" // Juice's user-mode network (QEMU's addresses)
	NetTap  = "tap"  // a host tap device
)

// Spec describes a virtual machine.
type Spec struct {
	// Version is the version of this form (Version).
	Version int `json:"version"`
	// Boot is what the machine starts.
	Boot Boot `json:"boot"`
	// CPUs is the number of harts, 1 to MaxCPUs.
	CPUs int `json:"cpus"`
	// Memory is the size of RAM.
	Memory Size `json:"memory"`
	// Disks are virtio-blk disks, /dev/vda first.
	Disks []Disk `json:"disks,omitempty"`
	// Net are virtio-net interfaces, eth0 first.
	Net []Net `json:"net,omitempty"`
	// Vsock, if set, attaches virtio-vsock.
	Vsock *Vsock `json:"vsock,omitempty"`
	// Entropy attaches virtio-rng, fed with host randomness.
	Entropy bool `json:"entropy,omitempty"`
	// Console is the guest console's device: ConsoleUART or
	// ConsoleVirtio.
	Console string `json:"console"`
	// Limits bound the machine's use of the host.
	Limits Limits `json:"limits,omitzero"`
	// Appliance names the appliance folder the spec was made from, if
	// any, for people reading it.
	Appliance *Appliance `json:"appliance,omitempty"`
}

// Boot is what a machine starts: a Linux kernel (with an optional initrd
// and firmware) or a bare-metal program.
type Boot struct {
	// Kernel is a RISC-V Linux Image or ELF.
	Kernel *File `json:"kernel,omitempty"`
	// Initrd is an initial RAM file system; it needs Kernel.
	Initrd *File `json:"initrd,omitempty"`
	// Firmware is an M-mode firmware ELF (e.g. OpenSBI fw_jump) started in
	// place of Juice's own SBI; it needs Kernel.
	Firmware *File `json:"firmware,omitempty"`
	// Bare is a bare-metal ELF run alone from its entry in M-mode.
	Bare *File `json:"bare,omitempty"`
	// Cmdline is the kernel command line.
	Cmdline string `json:"cmdline,omitempty"`
}

// File is a host file the machine reads whole.
type File struct {
	// Path is the file.
	Path string `json:"path"`
	// SHA256, if set, is the hex SHA-256 its contents must have.
	SHA256 string `json:"sha256,omitempty"`
}

// Disk is a virtio-blk disk backed by a raw image file.
type Disk struct {
	// Path is the image.
	Path string `json:"path"`
	// ReadOnly offers the disk read-only.
	ReadOnly bool `json:"read_only,omitempty"`
	// Overlay, if set, is a copy-on-write overlay file that takes every
	// write, so that the image is never modified.
	Overlay string `json:"overlay,omitempty"`
	// Serial is the disk's ID string, at most MaxSerial bytes (default
	// juice-vdX).
	Serial string `json:"serial,omitempty"`
}

// Net is a virtio-net interface and what it connects to.
type Net struct {
	// Mode is NetUser or NetTap.
	Mode string `json:"mode"`
	// Forwards are the user network's host port forwards.
	Forwards []Forward `json:"forwards,omitempty"`
	// Tap is the host tap device (NetTap).
	Tap string `json:"tap,omitempty"`
}

// Forward forwards a host port to a port of the guest on the user network.
type Forward struct {
	// Protocol is "tcp" or "udp".
	Protocol string `json:"protocol"`
	// Host is the host address and port to listen on, e.g.
	// "127.0.0.1:8080" (port 0 picks a free one).
	Host string `json:"host"`
	// GuestPort is the guest's port.
	GuestPort uint16 `json:"guest_port"`
}

// String returns f in QEMU's hostfwd syntax.
func (f Forward) String() string { return fmt.Sprintf("%s:%s-:%d", f.Protocol, f.Host, f.GuestPort) }

// Vsock is a virtio-vsock device whose host side is a Unix socket, as
// Firecracker's: a host program connects to Path and writes
// "CONNECT <port>\n"; guest connections to host port P reach Path_P.
type Vsock struct {
	// CID is the guest's context ID, 3 or more (0: 3).
	CID uint64 `json:"cid,omitempty"`
	// Path is the host Unix socket.
	Path string `json:"path"`
}

// Limits bound what a machine may use.
type Limits struct {
	// MaxInstructions stops the machine after that many instructions (0:
	// no limit).
	MaxInstructions uint64 `json:"max_instructions,omitempty"`
}

// Appliance names the appliance folder a spec was made from.
type Appliance struct {
	// Path is the folder.
	Path string `json:"path"`
	// Name is the appliance's name in its manifest.
	Name string `json:"name"`
}

// Size is a number of bytes, written in JSON as a string with a binary
// unit ("256M", see internal/bytesize).
type Size uint64

// String returns the size as bytesize writes it ("256M").
func (s Size) String() string { return bytesize.String(int64(s)) }

// MarshalJSON implements json.Marshaler.
func (s Size) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (s *Size) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return sizeError{fmt.Errorf("%s: want a size as a string with a unit, e.g. \"256M\"", b)}
	}
	n, err := bytesize.Parse(v)
	if err != nil {
		return sizeError{err}
	}
	if n < 0 {
		return sizeError{fmt.Errorf("%q is not a size", v)}
	}
	*s = Size(n)
	return nil
}

// sizeError is a Size that does not decode. Size is the type of one
// field, memory, which decodeError names.
type sizeError struct{ err error }

func (e sizeError) Error() string { return e.err.Error() }
func (e sizeError) Unwrap() error { return e.err }

// Paths calls fn with a pointer to every host path the spec names, so
// that a caller can read or rewrite them (a recording keeps paths beside
// it relative to it). Empty paths are included.
func (s *Spec) Paths(fn func(p *string)) {
	for _, f := range []*File{s.Boot.Kernel, s.Boot.Initrd, s.Boot.Firmware, s.Boot.Bare} {
		if f != nil {
			fn(&f.Path)
		}
	}
	for i := range s.Disks {
		fn(&s.Disks[i].Path)
		fn(&s.Disks[i].Overlay)
	}
	if s.Vsock != nil {
		fn(&s.Vsock.Path)
	}
	if s.Appliance != nil {
		fn(&s.Appliance.Path)
	}
}

// Clone returns a deep copy of s.
func (s Spec) Clone() Spec {
	c := s
	cp := func(f *File) *File {
		if f == nil {
			return nil
		}
		v := *f
		return &v
	}
	c.Boot.Kernel, c.Boot.Initrd, c.Boot.Firmware, c.Boot.Bare = cp(s.Boot.Kernel), cp(s.Boot.Initrd), cp(s.Boot.Firmware), cp(s.Boot.Bare)
	c.Disks = append([]Disk(nil), s.Disks...)
	c.Net = make([]Net, len(s.Net))
	for i, n := range s.Net {
		n.Forwards = append([]Forward(nil), n.Forwards...)
		c.Net[i] = n
	}
	if len(s.Net) == 0 {
		c.Net = nil
	}
	if s.Vsock != nil {
		v := *s.Vsock
		c.Vsock = &v
	}
	if s.Appliance != nil {
		a := *s.Appliance
		c.Appliance = &a
	}
	return c
}

// FieldError is an error in a spec's field.
type FieldError struct {
	// Field is the field's JSON path, such as "disks[1].serial".
	Field string
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %v", e.Field, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Validate checks the spec: each field on its own and the fields together.
// It does not look at the host: whether files exist is the VMM's to find.
func (s *Spec) Validate() error {
	if s.Version != Version {
		return fieldErr("version", "%d, but this Juice reads VM spec version %d", s.Version, Version)
	}
	if err := s.Boot.validate(); err != nil {
		return err
	}
	if s.CPUs < 1 || s.CPUs > MaxCPUs {
		return fieldErr("cpus", "%d is out of range (1 to %d harts)", s.CPUs, MaxCPUs)
	}
	switch m := uint64(s.Memory); {
	case m < MinMemory:
		return fieldErr("memory", "%s is too small (at least %s)", bytesize.Format(int64(m)), bytesize.Format(MinMemory))
	case m > MaxMemory:
		return fieldErr("memory", "%s is too large (at most %s)", bytesize.Format(int64(m)), bytesize.Format(MaxMemory))
	case m%4096 != 0:
		return fieldErr("memory", "%d bytes is not a multiple of 4 KiB", m)
	}
	for i, d := range s.Disks {
		f := fmt.Sprintf("disks[%d]", i)
		switch {
		case d.Path == "":
			return fieldErr(f+".path", "missing")
		case len(d.Serial) > MaxSerial:
			return fieldErr(f+".serial", "%q is longer than %d bytes", d.Serial, MaxSerial)
		case d.Overlay != "" && d.Overlay == d.Path:
			return fieldErr(f+".overlay", "%s is the image itself", d.Overlay)
		}
	}
	for i, n := range s.Net {
		f := fmt.Sprintf("net[%d]", i)
		switch n.Mode {
		case NetUser:
			if n.Tap != "" {
				return fieldErr(f+".tap", "a user-mode interface has no tap device")
			}
			for j, fw := range n.Forwards {
				if err := fw.validate(); err != nil {
					return fieldErr(fmt.Sprintf("%s.forwards[%d]", f, j), "%v", err)
				}
			}
		case NetTap:
			if n.Tap == "" {
				return fieldErr(f+".tap", "missing: name the host tap device")
			}
			if len(n.Forwards) > 0 {
				return fieldErr(f+".forwards", "host forwards belong to user-mode networking, not to a tap device")
			}
		case "":
			return fieldErr(f+".mode", "missing (want %q or %q)", NetUser, NetTap)
		default:
			return fieldErr(f+".mode", "%q (want %q or %q)", n.Mode, NetUser, NetTap)
		}
	}
	if v := s.Vsock; v != nil {
		if v.Path == "" {
			return fieldErr("vsock.path", "missing: name the host Unix socket")
		}
		if v.CID != 0 && (v.CID < 3 || v.CID > 1<<32-2) {
			return fieldErr("vsock.cid", "%d is not a guest context ID (3 to 4294967294)", v.CID)
		}
	}
	switch s.Console {
	case ConsoleUART, ConsoleVirtio:
	case "":
		return fieldErr("console", "missing (want %q or %q)", ConsoleUART, ConsoleVirtio)
	default:
		return fieldErr("console", "%q (want %q or %q)", s.Console, ConsoleUART, ConsoleVirtio)
	}
	if s.Boot.Bare != nil && s.Entropy {
		return fieldErr("entropy", "a bare-metal program has no virtio-rng driver")
	}
	return nil
}

func (b *Boot) validate() error {
	files := []struct {
		name string
		f    *File
	}{{"boot.kernel", b.Kernel}, {"boot.initrd", b.Initrd}, {"boot.firmware", b.Firmware}, {"boot.bare", b.Bare}}
	for _, f := range files {
		if f.f == nil {
			continue
		}
		if f.f.Path == "" {
			return fieldErr(f.name+".path", "missing")
		}
		if h := f.f.SHA256; h != "" {
			if b, err := hex.DecodeString(h); err != nil || len(b) != 32 || strings.ToLower(h) != h {
				return fieldErr(f.name+".sha256", "%q is not a SHA-256 (64 lower-case hex digits)", h)
			}
		}
	}
	switch {
	case b.Bare != nil && (b.Kernel != nil || b.Initrd != nil || b.Firmware != nil):
		return fieldErr("boot.bare", "a bare-metal program runs alone: no kernel, initrd or firmware")
	case b.Bare != nil && b.Cmdline != "":
		return fieldErr("boot.cmdline", "a bare-metal program has no command line")
	case b.Bare == nil && b.Kernel == nil:
		return fieldErr("boot.kernel", "missing: a machine boots a kernel or a bare-metal program")
	}
	return nil
}

func (f Forward) validate() error {
	if f.Protocol != "tcp" && f.Protocol != "udp" {
		return fmt.Errorf("protocol %q is neither tcp nor udp", f.Protocol)
	}
	if _, err := netip.ParseAddrPort(f.Host); err != nil {
		return fmt.Errorf("host %q is not IP:PORT", f.Host)
	}
	if f.GuestPort == 0 {
		return errors.New("guest_port 0: want 1 to 65535")
	}
	return nil
}

// Marshal returns the spec's JSON form, indented, the same way every time.
func (s *Spec) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Decode reads a spec from its JSON form, strictly: unknown fields,
// trailing data and another version are refused, and the error names the
// field at fault. The spec is validated.
func Decode(data []byte) (Spec, error) {
	var s Spec
	// The version first, so that a spec of another version is refused
	// as such rather than for a field it has and this one lacks.
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &v); err == nil {
		switch {
		case v.Version == nil:
			return s, fieldErr("version", "missing (this Juice reads VM spec version %d)", Version)
		case *v.Version != Version:
			return s, fieldErr("version", "%d, but this Juice reads VM spec version %d", *v.Version, Version)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return s, errors.New("trailing data after the JSON object")
	}
	if err := s.Validate(); err != nil {
		return s, err
	}
	return s, nil
}

// decodeError names the field of a JSON decoding error.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return fmt.Errorf("a JSON %s where an object belongs", te.Value)
		}
		return fieldErr(te.Field, "a JSON %s where %s belongs", te.Value, kind(te.Type.Kind().String()))
	case errors.As(err, &se):
		return fmt.Errorf("not valid JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.EOF):
		return errors.New("empty: no JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("not valid JSON: it ends too soon")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s (this Juice reads VM spec version %d)", strings.TrimPrefix(err.Error(), "json: unknown field "), Version)
	}
	var sz sizeError
	if errors.As(err, &sz) {
		return &FieldError{Field: "memory", Err: sz.err}
	}
	return err
}

func kind(k string) string {
	switch k {
	case "int", "int64", "uint64", "uint16", "uint32":
		return "a number"
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "bool":
		return "true or false"
	case "map", "struct", "ptr":
		return "an object"
	}
	return k
}
