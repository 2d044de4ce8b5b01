// Package guestconfig is the contract between the appliance builder and
// Juice's guest init: the file Path in the initramfs, the Appliance type
// it holds, its strict decoder (Parse) and its validation (Check).
//
// The builder (internal/appliance) writes it; the init
// (guest/init/internal/pid1) reads it. The package is compiled into the
// linux/riscv64 init, so it stays small and imports the standard library
// only.
package guestconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"strings"
)

// Path is where the appliance builder puts the appliance's configuration
// in the initramfs.
const Path = "/etc/juice/appliance.json"

// Appliance is /etc/juice/appliance.json: what PID 1 sets up and which
// program it runs. Unknown keys are errors, null is the same as an absent
// key.
type Appliance struct {
	// Name names the appliance; it is the host name when Hostname is
	// empty.
	Name string `json:"name"`
	// Hostname is set with sethostname and written to /etc/hostname.
	Hostname string `json:"hostname"`
	// App is the program to run.
	App App `json:"app"`
	// Network configures eth0.
	Network Network `json:"network"`
	// Disks are mounted, in device order, before the app starts and
	// unmounted after it ends.
	Disks []Disk `json:"disks"`
	// OnExit is what happens when the app exits: OnExitPowerOff (the
	// default) or OnExitRestart.
	OnExit string `json:"on_exit"`
}

// The values of Appliance.OnExit.
const (
	// OnExitPowerOff powers the machine off, passing the app's exit
	// status to the host.
	OnExitPowerOff = "poweroff"
	// OnExitRestart runs the app again.
	OnExitRestart = "restart"
)

// App is the appliance's program.
type App struct {
	// Path is the program's absolute path in the guest (the builder puts
	// it at /app/NAME).
	Path string `json:"path"`
	// Args are its arguments, after argv[0] (which is Path).
	Args []string `json:"args"`
	// Env holds KEY=VALUE entries (the builder sorts them by key). PATH,
	// HOME and TERM get defaults when absent.
	Env []string `json:"env"`
	// Workdir is the working directory; "/" when empty.
	Workdir string `json:"workdir"`
	// UID and GID are the user and group the app runs as (supplementary
	// groups are cleared).
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// The values of Network.Mode.
const (
	// NetworkNone is loopback only.
	NetworkNone = "none"
	// NetworkDHCP asks for an address by DHCP (on Juice's user network).
	NetworkDHCP = "dhcp"
	// NetworkStatic uses Network.Address, Gateway and DNS.
	NetworkStatic = "static"
)

// Network configures eth0.
type Network struct {
	// Mode is NetworkNone (the default), NetworkDHCP or NetworkStatic.
	Mode string `json:"mode"`
	// Address (CIDR, "10.0.2.15/24"), Gateway and DNS are the static
	// configuration; they are only allowed with NetworkStatic.
	Address string   `json:"address,omitempty"`
	Gateway string   `json:"gateway,omitempty"`
	DNS     []string `json:"dns,omitempty"`
}

// Disk is a block device to mount.
type Disk struct {
	// Device is the block device, such as /dev/vda.
	Device string `json:"device"`
	// Mount is the absolute mount point, created if missing.
	Mount string `json:"mount"`
	// FS is the file system type; "ext4" when empty.
	FS string `json:"fs"`
}

// Parse decodes and checks an appliance configuration. Unknown keys,
// trailing data and invalid values are errors; every error starts with
// Path and names the field at fault.
func Parse(data []byte) (*Appliance, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var a *Appliance
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("%s: %w", Path, err)
	}
	if a == nil {
		return nil, fmt.Errorf("%s: want an object, not null", Path)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the JSON object", Path)
	}
	if err := a.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", Path, err)
	}
	return a, nil
}

// Read reads and parses a configuration file.
func Read(file string) (*Appliance, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Check validates the configuration and fills in the defaults: Hostname
// from Name, OnExit, App.Workdir, Network.Mode, each disk's FS; mount
// points are cleaned. The error joins one error per field at fault.
func (a *Appliance) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if a.Hostname == "" {
		a.Hostname = a.Name
	}
	if a.Hostname != "" && !validHostname(a.Hostname) {
		bad("hostname %q: want at most 64 letters, digits, '-' and '.'", a.Hostname)
	}
	switch a.OnExit {
	case "":
		a.OnExit = OnExitPowerOff
	case OnExitPowerOff, OnExitRestart:
	default:
		bad("on_exit %q: want %q or %q", a.OnExit, OnExitPowerOff, OnExitRestart)
	}

	app := &a.App
	switch {
	case app.Path == "":
		bad("app.path is missing")
	case !path.IsAbs(app.Path):
		bad("app.path %q is not absolute", app.Path)
	}
	for _, e := range app.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			bad("app.env entry %q: want KEY=VALUE", e)
		}
	}
	if app.Workdir == "" {
		app.Workdir = "/"
	} else if !path.IsAbs(app.Workdir) {
		bad("app.workdir %q is not absolute", app.Workdir)
	}

	n := &a.Network
	switch n.Mode {
	case "":
		n.Mode = NetworkNone
	case NetworkNone, NetworkDHCP, NetworkStatic:
	default:
		bad("network.mode %q: want %q, %q or %q", n.Mode, NetworkDHCP, NetworkStatic, NetworkNone)
	}
	if n.Mode == NetworkStatic {
		if _, err := n.Static(); err != nil {
			errs = append(errs, err)
		}
	} else if n.Address != "" || n.Gateway != "" || len(n.DNS) > 0 {
		bad("network.address, gateway and dns need network.mode %q", NetworkStatic)
	}

	mounts := map[string]bool{}
	for i := range a.Disks {
		d := &a.Disks[i]
		if !path.IsAbs(d.Device) {
			bad("disks[%d].device %q is not an absolute path", i, d.Device)
		}
		switch {
		case !path.IsAbs(d.Mount):
			bad("disks[%d].mount %q is not an absolute path", i, d.Mount)
		case path.Clean(d.Mount) == "/":
			bad("disks[%d].mount: cannot mount over /", i)
		case mounts[path.Clean(d.Mount)]:
			bad("disks[%d].mount %q is used twice", i, d.Mount)
		}
		d.Mount = path.Clean(d.Mount)
		mounts[d.Mount] = true
		if d.FS == "" {
			d.FS = "ext4"
		}
	}
	return errors.Join(errs...)
}

// Static is a parsed static network configuration.
type Static struct {
	Address netip.Prefix
	Gateway netip.Addr // invalid when there is none
	DNS     []netip.Addr
}

// Static parses the static configuration (Address, Gateway, DNS).
func (n Network) Static() (Static, error) {
	var s Static
	var err error
	if n.Address == "" {
		return s, errors.New(`network.address is missing (want CIDR, such as "10.0.2.15/24")`)
	}
	if s.Address, err = netip.ParsePrefix(n.Address); err != nil || !s.Address.Addr().Is4() {
		return s, fmt.Errorf(`network.address %q: want IPv4 CIDR, such as "10.0.2.15/24"`, n.Address)
	}
	if n.Gateway != "" {
		if s.Gateway, err = netip.ParseAddr(n.Gateway); err != nil || !s.Gateway.Is4() {
			return s, fmt.Errorf("network.gateway %q: want an IPv4 address", n.Gateway)
		}
	}
	for _, d := range n.DNS {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return s, fmt.Errorf("network.dns %q: want an IP address", d)
		}
		s.DNS = append(s.DNS, a)
	}
	return s, nil
}

// validHostname reports whether s can be a host name.
func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
