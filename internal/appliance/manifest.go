package appliance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/juicevm/juice/internal/appliance/spec"
)

// Names of the files of an appliance folder.
const (
	// ManifestFile is the appliance's manifest.
	ManifestFile = "manifest.json"
	// KernelFile is the kernel Image, zstd-compressed (Juice expands it as
	// it loads it).
	KernelFile = "kernel"
	// InitrdFile is the zstd-compressed newc initramfs.
	InitrdFile = "initrd.cpio.zst"
	// DiskSuffix follows a disk's name to make its file name.
	DiskSuffix = ".img"
)

// ManifestFormat is the version of the manifest written by Build.
const ManifestFormat = 1

// Cmdline is the kernel command line of every appliance.
const Cmdline = "console=ttyS0 quiet juice.appliance=1"

// AppDir is the guest folder holding the app: /app/NAME.
const AppDir = "/app"

// Manifest is an appliance folder's manifest.json.
type Manifest struct {
	// Format is ManifestFormat.
	Format int `json:"format"`
	// Name is the appliance's name.
	Name string `json:"name"`
	// Kernel and Initrd name the kernel Image and the initramfs in the
	// folder (KernelFile, InitrdFile).
	Kernel string `json:"kernel"`
	Initrd string `json:"initrd"`
	// Cmdline is the kernel command line.
	Cmdline string `json:"cmdline"`
	// CPUs is the number of harts.
	CPUs int `json:"cpus"`
	// Memory is the RAM size as `juice run --memory` takes it (e.g. "256M").
	Memory string `json:"memory"`
	// Network is the network device: Mode "user" (with Forwards in QEMU's
	// hostfwd syntax) or "none" (no device).
	Network ManifestNetwork `json:"network"`
	// Disks are the disk images, in the order they are attached
	// (/dev/vda, /dev/vdb, ...).
	Disks []ManifestDisk `json:"disks"`
	// Digests maps "kernel", "initrd.cpio.zst" and each disk's file name to
	// "sha256:HEX" of its contents as built (for a disk image kept from an
	// earlier build, as it was then).
	Digests map[string]string `json:"digests"`
	// Sizes is the size breakdown in bytes.
	Sizes Sizes `json:"sizes"`
	// Spec is the spec as parsed, with its defaults filled in (paths as
	// written in the spec).
	Spec *spec.Spec `json:"spec"`
}

// ManifestNetwork is the manifest's network.
type ManifestNetwork struct {
	Mode     string   `json:"mode"`
	Forwards []string `json:"forwards"`
}

// ManifestDisk is a disk image of the appliance.
type ManifestDisk struct {
	// Name is the disk's name in the spec.
	Name string `json:"name"`
	// File is the image's file name in the folder (NAME.img).
	File string `json:"file"`
	// Serial is the virtio-blk serial to give it (the name).
	Serial string `json:"serial"`
	// Size is the image's size in bytes: the spec's, or for an image kept
	// from an earlier build, its own.
	Size int64 `json:"size"`
}

// Sizes is an appliance's size breakdown, in bytes. Kernel and Initrd are
// file sizes; Init, App, Libraries and Files are the uncompressed sizes of
// what the initramfs holds.
type Sizes struct {
	Kernel    int64 `json:"kernel"`
	Init      int64 `json:"init"`
	App       int64 `json:"app"`
	Libraries int64 `json:"libraries"`
	Files     int64 `json:"files"`
	Initrd    int64 `json:"initrd"`
}

// ReadManifest reads DIR/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	p := filepath.Join(dir, ManifestFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("appliance: %w", err)
	}
	m, err := DecodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("appliance: %s: %w", p, err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("appliance: %s: format %d, want %d", p, m.Format, ManifestFormat)
	}
	return &m, nil
}

// marshalJSON encodes v indented, with a final newline and without HTML
// escaping, the same way every time.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
