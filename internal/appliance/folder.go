package appliance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/usernet"
	"github.com/juicevm/juice/internal/vmspec"
)

// An appliance folder, as Build writes it, holds manifest.json, the
// kernel, the initramfs and the disk images it names. Open loads one, and
// Folder.Spec describes the VM that boots it:
//
//	juice run hello.appliance
//	juice run kv.appliance --memory 512M --net user,hostfwd=tcp:127.0.0.1:9000-:80
//	juice record -o hello.jrr hello.appliance && juice replay hello.jrr

// Folder is a loaded and checked appliance folder. An appliance folder is
// untrusted input (it may come from a registry): every file of it is
// opened through root, which refuses a path or a symbolic link that leads
// out of the folder.
type Folder struct {
	dir      string // as given
	root     *os.Root
	manifest Manifest
	data     map[string][]byte // the kernel's and initrd's contents, by name
}

// Manifest returns the folder's manifest.
func (a *Folder) Manifest() *Manifest { return &a.manifest }

// Close closes the folder.
func (a *Folder) Close() error { return a.root.Close() }

// path returns the absolute path of a file of the appliance.
func (a *Folder) path(name string) string {
	p := filepath.Join(a.dir, name)
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// Open reads and checks DIR/manifest.json, strictly: its fields, that the
// files it names are inside DIR and exist, and that the kernel and initrd
// match their digests.
func Open(dir string) (*Folder, error) {
	mpath := filepath.Join(dir, ManifestFile)
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return nil, fmt.Errorf("appliance %s: %w", dir, unwrapPathError(err))
	case !st.IsDir():
		return nil, fmt.Errorf("appliance %s: not a folder (an appliance is the folder juice build writes)", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("appliance %s: %w", dir, unwrapPathError(err))
	}
	ok := false
	defer func() {
		if !ok {
			root.Close()
		}
	}()
	data, err := root.ReadFile(ManifestFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("appliance %s: no %s: not an appliance folder (juice build SPEC.yaml writes one)", dir, ManifestFile)
	}
	if err != nil {
		return nil, fmt.Errorf("appliance %s: %w", mpath, unwrapPathError(err))
	}
	m, err := DecodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("appliance %s: %w", mpath, err)
	}
	a := &Folder{dir: dir, root: root, manifest: m, data: map[string][]byte{}}
	if err := a.check(); err != nil {
		return nil, fmt.Errorf("appliance %s: %w", mpath, err)
	}
	for _, role := range []string{"kernel", "initrd"} {
		if err := a.verify(role); err != nil {
			return nil, fmt.Errorf("appliance %s: %w", dir, err)
		}
	}
	ok = true
	return a, nil
}

// fileError describes a failure to reach a file of the appliance.
func (a *Folder) fileError(name string, err error) error {
	p := filepath.Join(a.dir, name)
	if strings.Contains(err.Error(), "escapes") {
		return fmt.Errorf("%s leads out of the appliance folder (a symbolic link to %s?): refused", p, linkTarget(p))
	}
	return fmt.Errorf("%s: %w", p, unwrapPathError(err))
}

// linkTarget says where a symbolic link points, for messages.
func linkTarget(p string) string {
	if t, err := os.Readlink(p); err == nil {
		return t
	}
	return "elsewhere"
}

// OpenDisk opens a disk image of the appliance, read-write if it can.
func (a *Folder) OpenDisk(name string) (*os.File, error) {
	f, err := a.root.OpenFile(name, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		f, err = a.root.Open(name)
	}
	if err != nil {
		return nil, a.fileError(name, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", filepath.Join(a.dir, name))
	}
	return f, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// DecodeManifest decodes manifest.json strictly and names the field at
// fault.
func DecodeManifest(data []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return m, fmt.Errorf("field %q: a JSON %s where %s belongs", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
		case errors.As(err, &se):
			return m, fmt.Errorf("not valid JSON at byte %d: %v", se.Offset, se)
		case errors.Is(err, io.EOF):
			return m, errors.New("empty file")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return m, errors.New("not valid JSON: it ends too soon")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return m, fmt.Errorf("unknown field %s (this Juice reads manifest format %d)", strings.TrimPrefix(err.Error(), "json: unknown field "), ManifestFormat)
		}
		return m, err
	}
	if dec.More() {
		return m, errors.New("trailing data after the JSON object")
	}
	return m, nil
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "uint64":
		return "a number"
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "map", "struct", "ptr":
		return "an object"
	}
	return k
}

// check validates the manifest's fields and the files they name.
func (a *Folder) check() error {
	m := &a.manifest
	if m.Format != ManifestFormat {
		if m.Format == 0 {
			return errors.New(`field "format": missing (want 1)`)
		}
		return fmt.Errorf(`field "format": %d, but this Juice reads format %d (rebuild the appliance with this Juice's juice build)`, m.Format, ManifestFormat)
	}
	if m.Name == "" {
		return errors.New(`field "name": missing`)
	}
	if m.CPUs < 0 {
		return fmt.Errorf(`field "cpus": %d is not a number of harts`, m.CPUs)
	}
	if m.Memory != "" {
		if n, err := bytesize.Parse(m.Memory); err != nil || n <= 0 {
			return fmt.Errorf(`field "memory": %q is not a size (e.g. 256M)`, m.Memory)
		}
	}
	file := func(field, name string, required bool) error {
		if name == "" {
			if required {
				return fmt.Errorf("field %q: missing", field)
			}
			return nil
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("field %q: %q is not a file name inside the appliance folder", field, name)
		}
		st, err := a.root.Stat(name)
		if err != nil {
			return fmt.Errorf("field %q: %w", field, a.fileError(name, err))
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("field %q: %s is not a regular file", field, filepath.Join(a.dir, name))
		}
		return nil
	}
	if err := file("kernel", m.Kernel, true); err != nil {
		return err
	}
	if err := file("initrd", m.Initrd, false); err != nil {
		return err
	}
	{
		n := m.Network
		switch n.Mode {
		case "user":
			for i, fw := range n.Forwards {
				if _, err := usernet.ParseForward(fw); err != nil || strings.ContainsAny(fw, ", ") {
					return fmt.Errorf(`field "network.forwards[%d]": %q is not a forward (want tcp:127.0.0.1:HOSTPORT-:GUESTPORT)`, i, fw)
				}
			}
		case "none", "":
			if len(n.Forwards) > 0 {
				return errors.New(`field "network.forwards": forwards need "mode": "user"`)
			}
		default:
			return fmt.Errorf(`field "network.mode": %q (want user or none)`, n.Mode)
		}
	}
	names := map[string]bool{}
	for i, d := range m.Disks {
		field := fmt.Sprintf("disks[%d]", i)
		if d.Name == "" || strings.ContainsAny(d.Name, ",=/ ") {
			return fmt.Errorf("field %q: %q is not a disk name", field+".name", d.Name)
		}
		if names[d.Name] {
			return fmt.Errorf("field %q: disk %q is named twice", field+".name", d.Name)
		}
		names[d.Name] = true
		if err := file(field+".file", d.File, true); err != nil {
			return err
		}
		if strings.ContainsAny(d.Serial, ",= ") || len(d.Serial) > vmspec.MaxSerial {
			return fmt.Errorf("field %q: %q is not a disk serial (at most 20 characters, no commas, spaces or =)", field+".serial", d.Serial)
		}
	}
	for role, dg := range m.Digests {
		if _, ok := strings.CutPrefix(dg, "sha256:"); !ok {
			return fmt.Errorf("field %q: %q is not a digest (want sha256:HEX)", "digests."+role, dg)
		}
	}
	return nil
}

// verify checks a file of the appliance against its digest in the
// manifest, looked up by role ("kernel", "initrd") or by file name.
func (a *Folder) verify(role string) error {
	name := a.manifest.Kernel
	if role == "initrd" {
		name = a.manifest.Initrd
	}
	if name == "" {
		return nil
	}
	want, ok := a.manifest.Digests[role]
	if !ok {
		want, ok = a.manifest.Digests[name]
	}
	if !ok {
		return fmt.Errorf("%s: %s has no digest (field \"digests.%s\"): rebuild the appliance", ManifestFile, role, role)
	}
	hexWant := strings.TrimPrefix(want, "sha256:")
	b, err := a.root.ReadFile(name)
	if err != nil {
		return fmt.Errorf("%s: %w", role, a.fileError(name, err))
	}
	a.data[name] = b
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != strings.ToLower(hexWant) {
		return fmt.Errorf("%s %s does not match its digest in %s (sha256 %s, manifest says %s): the file was modified; rebuild the appliance",
			role, filepath.Join(a.dir, name), ManifestFile, shortHex(got), shortHex(hexWant))
	}
	return nil
}

// Spec describes the VM that boots the appliance: its kernel and initrd
// with their digests, command line, CPUs, memory, network and disks
// (writable, in the folder), starting from base for what the manifest
// leaves out. Paths are absolute. Data holds the kernel's and initrd's
// contents as read and checked, by those paths.
func (a *Folder) Spec(base vmspec.Spec) (spec vmspec.Spec, data map[string][]byte) {
	m := &a.manifest
	spec = base.Clone()
	data = map[string][]byte{}
	// The kernel and initrd were checked against the manifest's digests
	// as they were read.
	digest := func(name string) string {
		sum := sha256.Sum256(a.data[name])
		return hex.EncodeToString(sum[:])
	}
	spec.Boot = vmspec.Boot{Kernel: &vmspec.File{Path: a.path(m.Kernel), SHA256: digest(m.Kernel)}, Cmdline: m.Cmdline}
	data[spec.Boot.Kernel.Path] = a.data[m.Kernel]
	if m.Initrd != "" {
		spec.Boot.Initrd = &vmspec.File{Path: a.path(m.Initrd), SHA256: digest(m.Initrd)}
		data[spec.Boot.Initrd.Path] = a.data[m.Initrd]
	}
	if m.CPUs > 0 {
		spec.CPUs = m.CPUs
	}
	if n, err := bytesize.Parse(m.Memory); err == nil && n > 0 {
		spec.Memory = vmspec.Size(n)
	}
	spec.Net = nil
	if m.Network.Mode == "user" {
		n := vmspec.Net{Mode: vmspec.NetUser}
		for _, s := range m.Network.Forwards {
			if f, err := usernet.ParseForward(s); err == nil { // checked by Open
				n.Forwards = append(n.Forwards, vmspec.Forward{Protocol: f.Proto, Host: f.HostAddr, GuestPort: f.GuestPort})
			}
		}
		spec.Net = []vmspec.Net{n}
	}
	spec.Disks = nil
	for _, d := range m.Disks {
		spec.Disks = append(spec.Disks, vmspec.Disk{Path: a.path(d.File), Serial: d.Serial})
	}
	spec.Appliance = &vmspec.Appliance{Path: a.path(""), Name: m.Name}
	return spec, data
}

// shortHex shortens a hex digest for messages.
func shortHex(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}
