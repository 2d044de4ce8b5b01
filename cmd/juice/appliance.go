package main

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

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/appliance"
)

// An appliance folder, as `juice build` writes it, holds manifest.json, the
// kernel, the initramfs and the disk images it names. run, record and
// replay take one as their argument:
//
//	juice run hello.appliance
//	juice run kv.appliance --memory 512M --net user,hostfwd=tcp:127.0.0.1:9000-:80
//	juice record -o hello.jrr hello.appliance && juice replay hello.jrr

// applianceManifestName is the manifest's file name inside the folder.
const applianceManifestName = appliance.ManifestFile

// applianceFormat is the manifest format this Juice reads.
const applianceFormat = appliance.ManifestFormat

// applianceDir is a loaded and checked appliance folder. An appliance
// folder is untrusted input (it may come from a registry): every file of
// it is opened through root, which refuses a path or a symbolic link that
// leads out of the folder.
type applianceDir struct {
	dir      string // as given
	root     *os.Root
	manifest appliance.Manifest
	data     map[string][]byte // the kernel's and initrd's contents, by name
}

// path returns the absolute path of a file of the appliance.
func (a *applianceDir) path(name string) string {
	p := filepath.Join(a.dir, name)
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// loadAppliance reads and checks DIR/manifest.json: its fields, that the
// files it names are inside DIR and exist, and that the kernel and initrd
// match their digests.
func loadAppliance(dir string) (*applianceDir, error) {
	mpath := filepath.Join(dir, applianceManifestName)
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
	data, err := root.ReadFile(applianceManifestName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("appliance %s: no %s: not an appliance folder (juice build SPEC.yaml writes one)", dir, applianceManifestName)
	}
	if err != nil {
		return nil, fmt.Errorf("appliance %s: %w", mpath, unwrapPathError(err))
	}
	m, err := decodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("appliance %s: %w", mpath, err)
	}
	a := &applianceDir{dir: dir, root: root, manifest: m, data: map[string][]byte{}}
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
func (a *applianceDir) fileError(name string, err error) error {
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

// openDisk opens a disk image of the appliance, read-write if it can.
func (a *applianceDir) openDisk(name string) (*os.File, error) {
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

// decodeManifest decodes manifest.json strictly and names the field at
// fault.
func decodeManifest(data []byte) (appliance.Manifest, error) {
	var m appliance.Manifest
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
			return m, fmt.Errorf("unknown field %s (this Juice reads manifest format %d)", strings.TrimPrefix(err.Error(), "json: unknown field "), applianceFormat)
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
func (a *applianceDir) check() error {
	m := &a.manifest
	if m.Format != applianceFormat {
		if m.Format == 0 {
			return errors.New(`field "format": missing (want 1)`)
		}
		return fmt.Errorf(`field "format": %d, but this Juice reads format %d (rebuild the appliance with this Juice's juice build)`, m.Format, applianceFormat)
	}
	if m.Name == "" {
		return errors.New(`field "name": missing`)
	}
	if m.CPUs < 0 {
		return fmt.Errorf(`field "cpus": %d is not a number of harts`, m.CPUs)
	}
	if m.Memory != "" {
		if _, err := parseMemory(m.Memory); err != nil {
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
		if !filepath.IsLocal(name) || strings.ContainsAny(name, ",") {
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
				if fw == "" || strings.ContainsAny(fw, ", ") {
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
	if strings.Contains(a.path(""), ",") && len(m.Disks) > 0 {
		return fmt.Errorf("the folder's path %s has a comma, which a --disk option cannot hold: move the appliance", a.path(""))
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
		if strings.ContainsAny(d.Serial, ",= ") || len(d.Serial) > 20 {
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
func (a *applianceDir) verify(role string) error {
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
		return fmt.Errorf("%s: %s has no digest (field \"digests.%s\"): rebuild the appliance", applianceManifestName, role, role)
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
			role, filepath.Join(a.dir, name), applianceManifestName, short(got), short(hexWant))
	}
	return nil
}

// applyAppliance fills f from the appliance: the flags set on the command
// line win, except --append, whose arguments follow the manifest's command
// line. overlay, if not nil, names a new overlay file for each writable
// disk of the appliance (record uses it: a replay needs its disks as they
// were when the recording started).
func (f *runSpec) applyAppliance(cmd *cobra.Command, a *applianceDir, overlay func(disk string) string) error {
	set := cmd.Flags().Changed
	m := &a.manifest
	if f.Bare != "" {
		return fmt.Errorf("--bare runs a program alone: drop it or the appliance %s", a.dir)
	}
	if f.opened.data == nil {
		f.opened.data = map[string][]byte{}
	}
	if !set("kernel") {
		f.Kernel = a.path(m.Kernel)
		f.opened.data[f.Kernel] = a.data[m.Kernel]
	}
	if !set("initrd") && m.Initrd != "" {
		f.Initrd = a.path(m.Initrd)
		f.opened.data[f.Initrd] = a.data[m.Initrd]
	}
	cmdline := m.Cmdline
	if f.Console == "virtio" {
		cmdline = strings.ReplaceAll(cmdline, "console=ttyS0", "console=hvc0")
	}
	if set("append") {
		cmdline = strings.TrimSpace(cmdline + " " + f.Cmdline)
	}
	f.Cmdline = cmdline
	if !set("cpus") && m.CPUs > 0 {
		f.CPUs = m.CPUs
	}
	if !set("memory") && m.Memory != "" {
		f.Memory = m.Memory
	}
	if !set("net") && m.Network.Mode == "user" {
		n := "user"
		for _, fw := range m.Network.Forwards {
			n += ",hostfwd=" + fw
		}
		f.Nets = []string{n}
	}
	if !set("disk") {
		f.Disks = nil
		for _, d := range m.Disks {
			s := a.path(d.File)
			img, err := a.openDisk(d.File)
			if err != nil {
				return fmt.Errorf("appliance %s: disk %s: %w", a.dir, d.Name, err)
			}
			if f.opened.disks == nil {
				f.opened.disks = map[string]*os.File{}
			}
			f.opened.disks[s] = img
			if d.Serial != "" {
				s += ",serial=" + d.Serial
			}
			if overlay != nil {
				ovl := overlay(d.Name)
				if strings.Contains(ovl, ",") {
					return fmt.Errorf("the overlay path %s for disk %s has a comma: record to another place", ovl, d.Name)
				}
				s += ",overlay=" + ovl
			}
			f.Disks = append(f.Disks, s)
		}
	}
	f.Appliance = a.path("")
	f.ApplianceName = m.Name
	return nil
}

// useApplianceArg applies the appliance named by the command's argument,
// if it has one.
func (f *runSpec) useApplianceArg(cmd *cobra.Command, args []string, overlay func(disk string) string) error {
	if len(args) == 0 {
		return nil
	}
	a, err := loadAppliance(args[0])
	if err != nil {
		return err
	}
	defer a.root.Close()
	return f.applyAppliance(cmd, a, overlay)
}
