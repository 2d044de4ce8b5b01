package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/internal/vmspec"
)

// A snapshot folder holds a VM's whole state at one instruction count, so
// that a Juice in another process or on another host goes on from it
// exactly:
//
//	snapshot.json  the Manifest: format version, the Juice that wrote it,
//	               the VM spec, the instruction count and clock, every
//	               section's version, the digest of every file
//	state          every component's state as sections (see WriteState)
//	memory         guest RAM, page i at offset i×4096; zero pages are
//	               holes, so an idle guest's snapshot takes little disk
//	memory.pages   for a diff snapshot: a bitmap of the pages memory holds
//	disk-N         a writable disk's contents at the snapshot point, sparse
//
// A read-only disk is named by path and SHA-256 instead. A diff snapshot
// holds only the pages written since its parent, which it names by path
// and by the SHA-256 of the parent's snapshot.json.
//
// Everything in a folder is hostile input: lengths and offsets are
// bounded, digests checked, and every error names the file and what is
// wrong with it.

// FormatVersion is the version of the snapshot folders this Juice writes;
// it reads this version and the ones before.
const FormatVersion = 1

// Names of the files of a snapshot folder.
const (
	ManifestFile = "snapshot.json"
	StateFile    = "state"
	MemoryFile   = "memory"
	PagesFile    = "memory.pages"
)

// Kinds of snapshot.
const (
	KindFull = "Full"
	KindDiff = "Diff"
)

// Bounds on what a folder may hold.
const (
	maxManifest    = 16 << 20
	maxStateFile   = 1 << 30
	maxSections    = 4096
	maxSectionName = 128
	maxSection     = 256 << 20
	maxChain       = 64
	pageSize       = 4096
	stateMagic     = "JUICESTA"
	stateVersion   = 1
)

// ErrExists is returned when the folder to write exists already.
var ErrExists = errors.New("exists")

// Section is one component's saved state: a named, versioned, length-
// prefixed part of the state file.
type Section struct {
	// Name names the component ("hart 0", "plic", "virtio slot 2").
	Name string
	// Version is the version of the component's encoding.
	Version uint16
	// Optional sections may be skipped by a Juice that does not know
	// them; a required one it does not know makes it refuse the state.
	Optional bool
	Data     []byte
}

// Manifest is snapshot.json.
type Manifest struct {
	Format       int    `json:"format"`
	JuiceVersion string `json:"juice_version"`
	Kind         string `json:"kind"`
	// Instructions and Clock are the machine's at the snapshot point.
	Instructions uint64      `json:"instructions"`
	Clock        uint64      `json:"clock"`
	Spec         vmspec.Spec `json:"spec"`
	// Parent names a diff snapshot's parent.
	Parent   *Parent       `json:"parent,omitempty"`
	Sections []SectionInfo `json:"sections"`
	Memory   MemoryInfo    `json:"memory"`
	Disks    []DiskInfo    `json:"disks"`
	// Files gives the size and SHA-256 of each file but memory (whose
	// digest is Memory's).
	Files map[string]FileInfo `json:"files"`
}

// Parent names the snapshot a diff snapshot was taken after.
type Parent struct {
	// Path is the parent folder, relative to the diff's folder unless
	// absolute.
	Path string `json:"path"`
	// SHA256 is the digest of the parent's snapshot.json.
	SHA256 string `json:"sha256"`
}

// SectionInfo describes a section of the state file.
type SectionInfo struct {
	Name     string `json:"name"`
	Version  uint16 `json:"version"`
	Optional bool   `json:"optional,omitempty"`
	Size     int    `json:"size"`
}

// MemoryInfo describes the memory file.
type MemoryInfo struct {
	// RAM is the guest's RAM size in bytes; the file is no longer.
	RAM uint64 `json:"ram"`
	// Pages is the number of pages the file holds: those not zero, or
	// for a diff those written since the parent.
	Pages uint64 `json:"pages"`
	// SHA256 is the digest of the pages it holds: of each page's index
	// (uint64, little-endian) and its 4096 bytes, in order.
	SHA256 string `json:"sha256"`
}

// DiskInfo describes one of the VM's disks, in the spec's order.
type DiskInfo struct {
	// File is the disk's contents at the snapshot point, in the folder
	// (a writable disk).
	File string `json:"file,omitempty"`
	// Path names a read-only disk the snapshot references; SHA256 is its
	// digest.
	Path   string `json:"path,omitempty"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// FileInfo is a file's size and digest.
type FileInfo struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// EncodeState encodes sections as the state file holds them: the magic
// "JUICESTA", a uint32 version and a uint32 count; then each section as a
// uint16 name length, the name, a uint16 version, a uint8 of flags (1:
// optional), a uint32 length and the data. All little-endian.
func EncodeState(ss []Section) []byte {
	var e Encoder
	e.Raw([]byte(stateMagic))
	e.Uint32(stateVersion)
	e.Uint32(uint32(len(ss)))
	for _, s := range ss {
		e.Uint16(uint16(len(s.Name)))
		e.Raw([]byte(s.Name))
		e.Uint16(s.Version)
		var flags uint8
		if s.Optional {
			flags |= 1
		}
		e.Uint8(flags)
		e.Uint32(uint32(len(s.Data)))
		e.Raw(s.Data)
	}
	return e.Bytes()
}

// DecodeState decodes a state file.
func DecodeState(b []byte) ([]Section, error) {
	if len(b) < len(stateMagic)+8 || string(b[:len(stateMagic)]) != stateMagic {
		return nil, errors.New("not a Juice state file (no JUICESTA magic)")
	}
	d := NewDecoder(b[len(stateMagic):])
	if v := d.Uint32("version"); v != stateVersion {
		return nil, fmt.Errorf("state file version %d; this Juice reads version %d", v, stateVersion)
	}
	n := d.Uint32("section count")
	if n > maxSections {
		return nil, fmt.Errorf("%d sections; at most %d", n, maxSections)
	}
	ss := make([]Section, 0, n)
	seen := map[string]bool{}
	for i := range n {
		nameLen := int(d.Uint16("section name length"))
		if nameLen == 0 || nameLen > maxSectionName {
			d.Failf("section %d: a name of %d bytes (1 to %d)", i, nameLen, maxSectionName)
		}
		name := string(d.take(nameLen, "section name"))
		if d.Err() == nil && !printable(name) {
			d.Failf("section %d: its name %q is not printable", i, name)
		}
		if seen[name] {
			d.Failf("section %q appears twice", name)
		}
		seen[name] = true
		ver := d.Uint16("section version")
		flags := d.Uint8("section flags")
		if flags&^1 != 0 {
			d.Failf("section %q: unknown flags %#x", name, flags)
		}
		size := d.Uint32("section length")
		if size > maxSection {
			d.Failf("section %q: %d bytes; at most %d", name, size, maxSection)
		}
		data := d.take(int(size), "section "+name)
		if d.Err() != nil {
			break
		}
		ss = append(ss, Section{Name: name, Version: ver, Optional: flags&1 != 0, Data: data})
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	if d.off != len(d.buf) {
		return nil, fmt.Errorf("%d bytes left over after the last section", len(d.buf)-d.off)
	}
	return ss, nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

// Writer writes a snapshot folder: into a temporary folder beside it,
// renamed into place by Commit, so that a reader never sees half of one
// and a run that ends early leaves nothing under the final name.
type Writer struct {
	dir, tmp string
	m        Manifest
	done     bool
	digest   string
}

// Create starts writing the snapshot folder dir, which must not exist.
func Create(dir string) (*Writer, error) {
	if dir == "" {
		return nil, errors.New("snapshot: no folder named")
	}
	dir = filepath.Clean(dir)
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("snapshot: %s %w: not replacing it (name a new folder)", dir, ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".partial-")
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &Writer{dir: dir, tmp: tmp, m: Manifest{Files: map[string]FileInfo{}}}, nil
}

// Dir is the folder the snapshot becomes at Commit.
func (w *Writer) Dir() string { return w.dir }

// writeFile writes a file of the folder and records its digest.
func (w *Writer) writeFile(name string, data []byte) error {
	if err := os.WriteFile(filepath.Join(w.tmp, name), data, 0o644); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	sum := sha256.Sum256(data)
	w.m.Files[name] = FileInfo{Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	return nil
}

// WriteState writes the state file.
func (w *Writer) WriteState(ss []Section) error {
	w.m.Sections = nil
	for _, s := range ss {
		w.m.Sections = append(w.m.Sections, SectionInfo{Name: s.Name, Version: s.Version, Optional: s.Optional, Size: len(s.Data)})
	}
	return w.writeFile(StateFile, EncodeState(ss))
}

// WriteMemory writes the memory file of a machine with ram bytes of RAM:
// pages calls its argument with each page to store, in increasing order.
// A full snapshot stores the pages that are not zero (a zero one is
// skipped); a diff stores every page given, zero or not, and lists them
// in memory.pages.
func (w *Writer) WriteMemory(ram uint64, diff bool, pages func(put func(p uint32, data []byte) error) error) error {
	f, err := os.OpenFile(filepath.Join(w.tmp, MemoryFile), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	var idx [8]byte
	var zero [pageSize]byte
	var bitmap []uint64
	if diff {
		bitmap = make([]uint64, (ram/pageSize+63)/64)
	}
	// Runs of consecutive pages are written together.
	var run []byte
	runStart := int64(-1)
	flush := func() error {
		if len(run) == 0 {
			runStart = -1
			return nil
		}
		_, err := f.WriteAt(run, runStart)
		run, runStart = run[:0], -1
		return err
	}
	var stored uint64
	last := int64(-1)
	err = pages(func(p uint32, data []byte) error {
		if len(data) != pageSize || uint64(p) >= ram/pageSize || int64(p) <= last {
			return fmt.Errorf("snapshot: page %d is not the next page of %d", p, ram/pageSize)
		}
		last = int64(p)
		if !diff && bytes.Equal(data, zero[:]) {
			return nil
		}
		if diff {
			bitmap[p/64] |= 1 << (p % 64)
		}
		binary.LittleEndian.PutUint64(idx[:], uint64(p))
		h.Write(idx[:])
		h.Write(data)
		stored++
		off := int64(p) * pageSize
		if runStart >= 0 && runStart+int64(len(run)) != off || len(run) >= 4<<20 {
			if err := flush(); err != nil {
				return err
			}
		}
		if runStart < 0 {
			runStart = off
		}
		if bytes.Equal(data, zero[:]) {
			// A zero page of a diff is a hole, listed in the bitmap.
			if err := flush(); err != nil {
				return err
			}
			return nil
		}
		run = append(run, data...)
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		// The file is as long as RAM, its tail a hole: restore maps it
		// whole.
		err = f.Truncate(int64(ram))
	}
	if err != nil {
		return fmt.Errorf("snapshot: memory: %w", err)
	}
	w.m.Memory = MemoryInfo{RAM: ram, Pages: stored, SHA256: hex.EncodeToString(h.Sum(nil))}
	if diff {
		var e Encoder
		for _, word := range bitmap {
			e.Uint64(word)
		}
		return w.writeFile(PagesFile, e.Bytes())
	}
	return nil
}

// WriteDisk writes the contents of the VM's disk number index into the
// folder as disk-N: copy writes them into the file it is given.
func (w *Writer) WriteDisk(index int, copyTo func(f *os.File) error) (DiskInfo, error) {
	name := fmt.Sprintf("disk-%d", index)
	f, err := os.OpenFile(filepath.Join(w.tmp, name), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return DiskInfo{}, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	if err := copyTo(f); err != nil {
		return DiskInfo{}, fmt.Errorf("snapshot: disk %d: %w", index, err)
	}
	sum, size, err := fileDigest(f)
	if err != nil {
		return DiskInfo{}, fmt.Errorf("snapshot: disk %d: %w", index, err)
	}
	w.m.Files[name] = FileInfo{Size: size, SHA256: sum}
	return DiskInfo{File: name, SHA256: sum, Size: size}, nil
}

// fileDigest returns the SHA-256 and size of an open file, read from its
// start: a regular file or a block device, not a pipe or a character
// device, which might never end.
func fileDigest(f *os.File) (string, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	if t := fi.Mode().Type(); t != 0 && t != fs.ModeDevice {
		return "", 0, fmt.Errorf("%s: not a regular file or a block device", f.Name())
	}
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// FileDigest returns the SHA-256 and size of the file at path.
func FileDigest(path string) (string, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return fileDigest(f)
}

// Commit makes the files written durable, writes snapshot.json from m
// (its Sections, Memory and Files are the writer's own) and gives the
// folder its name. What the files hold was fixed when they were written:
// a VM may run on before Commit.
func (w *Writer) Commit(m Manifest) error {
	if w.done {
		return errors.New("snapshot: committed already")
	}
	entries, err := os.ReadDir(w.tmp)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	for _, e := range entries {
		f, err := os.Open(filepath.Join(w.tmp, e.Name()))
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	m.Format = FormatVersion
	m.Sections, m.Memory, m.Files = w.m.Sections, w.m.Memory, w.m.Files
	if m.Kind == "" {
		m.Kind = KindFull
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	b = append(b, '\n')
	// What this Juice writes, it reads back.
	if _, err := DecodeManifest(b); err != nil {
		return fmt.Errorf("snapshot: the snapshot.json written would be refused: %w", err)
	}
	sum := sha256.Sum256(b)
	w.digest = hex.EncodeToString(sum[:])
	f, err := os.OpenFile(filepath.Join(w.tmp, ManifestFile), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	syncDir(w.tmp)
	if err := unix.Renameat2(unix.AT_FDCWD, w.tmp, unix.AT_FDCWD, w.dir, unix.RENAME_NOREPLACE); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return fmt.Errorf("snapshot: %s appeared while the snapshot was written: not replacing it; the snapshot is in %s", w.dir, w.tmp)
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("snapshot: %w", err)
		}
		if err := os.Rename(w.tmp, w.dir); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	syncDir(filepath.Dir(w.dir))
	w.done = true
	return nil
}

// Digest is the SHA-256 of the snapshot.json Commit wrote, by which a
// diff names the snapshot as its parent.
func (w *Writer) Digest() string { return w.digest }

// Abort removes what was written; the final name was never touched.
func (w *Writer) Abort() {
	if !w.done {
		os.RemoveAll(w.tmp)
		w.done = true
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Folder is a snapshot folder opened for reading, its manifest and state
// checked.
type Folder struct {
	Dir      string
	Manifest Manifest
	State    []Section
	// Digest is the SHA-256 of its snapshot.json, by which a diff names
	// it.
	Digest string
	root   *os.Root
}

// Open opens the snapshot folder dir and checks its manifest and state.
// Files are opened inside the folder only: a symbolic link out of it is
// refused.
func Open(dir string) (*Folder, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	f := &Folder{Dir: dir, root: root}
	if err := f.load(); err != nil {
		root.Close()
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	return f, nil
}

// Close releases the folder.
func (f *Folder) Close() error { return f.root.Close() }

// openFile opens a file of the folder for reading, inside the folder
// only, and without waiting: a named pipe in a hostile folder must not
// hang the reader. The error names the file.
func (f *Folder) openFile(name string) (*os.File, error) {
	fd, err := f.root.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		var pe *fs.PathError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%s: missing", name)
		case errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes"):
			return nil, fmt.Errorf("%s: a link out of the snapshot folder (refused)", name)
		case errors.As(err, &pe):
			return nil, fmt.Errorf("%s: %w", name, pe.Err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return fd, nil
}

// readBounded reads a file of the folder, refusing one larger than max.
func (f *Folder) readBounded(name string, max int64) ([]byte, error) {
	fd, err := f.openFile(name)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	fi, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes; at most %d", name, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(fd, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: more than %d bytes", name, max)
	}
	return b, nil
}

func (f *Folder) load() error {
	if _, err := f.root.Lstat(ManifestFile); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no %s: not a snapshot folder", ManifestFile)
	}
	b, err := f.readBounded(ManifestFile, maxManifest)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	f.Digest = hex.EncodeToString(sum[:])
	m, err := DecodeManifest(b)
	if err != nil {
		return fmt.Errorf("%s: %w", ManifestFile, err)
	}
	f.Manifest = m
	st, err := f.readChecked(StateFile, maxStateFile)
	if err != nil {
		return err
	}
	if f.State, err = DecodeState(st); err != nil {
		return fmt.Errorf("%s: %w", StateFile, err)
	}
	if len(f.State) != len(m.Sections) {
		return fmt.Errorf("%s lists %d sections, %s holds %d", ManifestFile, len(m.Sections), StateFile, len(f.State))
	}
	for i, s := range f.State {
		if si := m.Sections[i]; si.Name != s.Name || si.Version != s.Version || si.Optional != s.Optional || si.Size != len(s.Data) {
			return fmt.Errorf("%s: section %q does not match %s's list", StateFile, s.Name, ManifestFile)
		}
	}
	return nil
}

// readChecked reads a file of the folder and checks it against its
// digest in the manifest.
func (f *Folder) readChecked(name string, max int64) ([]byte, error) {
	fi, ok := f.Manifest.Files[name]
	if !ok {
		return nil, fmt.Errorf("%s does not list %s", ManifestFile, name)
	}
	b, err := f.readBounded(name, max)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != fi.Size {
		return nil, fmt.Errorf("%s: %d bytes, %s says %d: the snapshot is damaged (cut short or added to)", name, len(b), ManifestFile, fi.Size)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != fi.SHA256 {
		return nil, fmt.Errorf("%s does not match its digest in %s: the snapshot is damaged", name, ManifestFile)
	}
	return b, nil
}

// DecodeManifest decodes and checks snapshot.json.
func DecodeManifest(b []byte) (Manifest, error) {
	var probe struct {
		Format       *int   `json:"format"`
		JuiceVersion string `json:"juice_version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		// A manifest whose juice_version is not a string still says
		// which format it is.
		probe.JuiceVersion = ""
		var p2 struct {
			Format *int `json:"format"`
		}
		if json.Unmarshal(b, &p2) != nil {
			return Manifest{}, fmt.Errorf("not JSON: %w", err)
		}
		probe.Format = p2.Format
	}
	if probe.Format == nil {
		return Manifest{}, errors.New("no format version: not a Juice snapshot")
	}
	if *probe.Format > FormatVersion {
		by := ""
		if v := probe.JuiceVersion; v != "" && len(v) <= 64 && printable(v) {
			by = fmt.Sprintf(" (written by Juice %s)", v)
		}
		return Manifest{}, fmt.Errorf("format version %d%s is newer than this Juice reads (versions 1 to %d): restore it with a newer Juice", *probe.Format, by, FormatVersion)
	}
	if *probe.Format < 1 {
		return Manifest{}, fmt.Errorf("format version %d: not a Juice snapshot format (1 to %d)", *probe.Format, FormatVersion)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, err
	}
	if dec.More() {
		return Manifest{}, errors.New("data after the manifest")
	}
	if err := m.Spec.Validate(); err != nil {
		return Manifest{}, fmt.Errorf("spec: %w", err)
	}
	switch m.Kind {
	case KindFull:
		if m.Parent != nil {
			return Manifest{}, errors.New("a full snapshot names a parent")
		}
	case KindDiff:
		if m.Parent == nil || m.Parent.Path == "" || !isHexDigest(m.Parent.SHA256) {
			return Manifest{}, errors.New("a diff snapshot must name its parent by path and sha256")
		}
	default:
		return Manifest{}, fmt.Errorf("kind %q: not %s or %s", m.Kind, KindFull, KindDiff)
	}
	if m.Memory.RAM != uint64(m.Spec.Memory) {
		return Manifest{}, fmt.Errorf("memory: %d bytes of RAM, the spec says %d", m.Memory.RAM, uint64(m.Spec.Memory))
	}
	if m.Memory.Pages > m.Memory.RAM/pageSize || !isHexDigest(m.Memory.SHA256) {
		return Manifest{}, errors.New("memory: its page count or digest is out of range")
	}
	if len(m.Disks) != len(m.Spec.Disks) {
		return Manifest{}, fmt.Errorf("disks: %d listed, the spec has %d", len(m.Disks), len(m.Spec.Disks))
	}
	for i, d := range m.Disks {
		switch {
		case d.File != "" && d.Path != "":
			return Manifest{}, fmt.Errorf("disks[%d]: both a file and a path", i)
		case d.File != "":
			if d.File != fmt.Sprintf("disk-%d", i) {
				return Manifest{}, fmt.Errorf("disks[%d]: file %q: not disk-%d", i, d.File, i)
			}
			if _, ok := m.Files[d.File]; !ok {
				return Manifest{}, fmt.Errorf("disks[%d]: %s is not among the files", i, d.File)
			}
		case d.Path == "":
			return Manifest{}, fmt.Errorf("disks[%d]: neither a file nor a path", i)
		}
		if !isHexDigest(d.SHA256) || d.Size < 0 {
			return Manifest{}, fmt.Errorf("disks[%d]: a bad digest or size", i)
		}
	}
	for name, fi := range m.Files {
		if strings.ContainsAny(name, "/\\") || name == "." || name == ".." || name == "" {
			return Manifest{}, fmt.Errorf("files: %q is not a file name", name)
		}
		if !isHexDigest(fi.SHA256) || fi.Size < 0 {
			return Manifest{}, fmt.Errorf("files: %s: a bad digest or size", name)
		}
	}
	return m, nil
}

func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// OpenMemory opens the memory file, checked to be a regular file no
// longer than RAM. Its digest is checked by VerifyMemory.
func (f *Folder) OpenMemory() (*os.File, error) {
	fd, err := f.openFile(MemoryFile)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", f.Dir, err)
	}
	fi, err := fd.Stat()
	if err != nil {
		err = fmt.Errorf("memory: %w", err)
	} else if !fi.Mode().IsRegular() {
		err = errors.New("memory: not a regular file")
	}
	if err == nil && uint64(fi.Size()) > f.Manifest.Memory.RAM {
		err = fmt.Errorf("memory: %d bytes, more than the VM's %d of RAM", fi.Size(), f.Manifest.Memory.RAM)
	}
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("snapshot %s: %w", f.Dir, err)
	}
	return fd, nil
}

// DiffPages returns, for a diff snapshot, the bitmap of the pages its
// memory holds, checked to list only pages of RAM, as many as
// snapshot.json says.
func (f *Folder) DiffPages() ([]uint64, error) {
	pages := f.Manifest.Memory.RAM / pageSize
	words := (pages + 63) / 64
	b, err := f.readChecked(PagesFile, int64(words*8))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", f.Dir, err)
	}
	if uint64(len(b)) != words*8 {
		return nil, fmt.Errorf("snapshot %s: %s: %d bytes, not %d", f.Dir, PagesFile, len(b), words*8)
	}
	bm := make([]uint64, words)
	var n uint64
	for i := range bm {
		bm[i] = binary.LittleEndian.Uint64(b[8*i:])
		n += uint64(bits.OnesCount64(bm[i]))
	}
	if extra := pages % 64; extra != 0 && bm[words-1]>>extra != 0 {
		return nil, fmt.Errorf("snapshot %s: %s lists pages beyond the %d pages of RAM", f.Dir, PagesFile, pages)
	}
	if n != f.Manifest.Memory.Pages {
		return nil, fmt.Errorf("snapshot %s: %s lists %d pages, %s says %d", f.Dir, PagesFile, n, ManifestFile, f.Manifest.Memory.Pages)
	}
	return bm, nil
}

// EachPage calls fn with each page the memory file holds, in order: for
// a full snapshot those that are not zero, for a diff those its bitmap
// lists (a listed page beyond the end of the file is zero). The work is
// bounded by the data the file holds and the pages the bitmap lists, not
// by the size of RAM the manifest claims.
func (f *Folder) EachPage(mem *os.File, fn func(p uint32, data []byte) error) error {
	pages := f.Manifest.Memory.RAM / pageSize
	fi, err := mem.Stat()
	if err != nil {
		return fmt.Errorf("snapshot %s: memory: %w", f.Dir, err)
	}
	size := min(uint64(fi.Size()), pages*pageSize)
	// A window of the file, read a chunk at a time; what lies beyond
	// the file's end reads as zero.
	const chunkSize = 1 << 20
	buf := make([]byte, chunkSize)
	bufStart := int64(-1)
	var bufLen int64
	window := func(start, n int64) ([]byte, error) {
		if start != bufStart || n > bufLen {
			bufStart, bufLen = start, n
			chunk := buf[:n]
			got := 0
			if start < int64(size) {
				var err error
				got, err = mem.ReadAt(chunk[:min(n, int64(size)-start)], start)
				if err != nil && err != io.EOF {
					bufStart = -1
					return nil, fmt.Errorf("snapshot %s: memory: %w", f.Dir, err)
				}
			}
			clear(chunk[got:])
		}
		return buf[:n], nil
	}
	if f.Manifest.Kind == KindDiff {
		bm, err := f.DiffPages()
		if err != nil {
			return err
		}
		for w, word := range bm {
			for word != 0 {
				p := uint64(w)*64 + uint64(bits.TrailingZeros64(word))
				word &= word - 1
				off := int64(p * pageSize)
				start := off &^ (chunkSize - 1)
				chunk, err := window(start, min(chunkSize, int64(pages*pageSize)-start))
				if err != nil {
					return err
				}
				if err := fn(uint32(p), chunk[off-start:off-start+pageSize]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var zero [pageSize]byte
	return DataExtents(mem, int64(size), func(from, to int64) error {
		from &^= pageSize - 1
		to = min((to+pageSize-1)&^(pageSize-1), int64(pages*pageSize))
		for off := from; off < to; off += chunkSize {
			chunk, err := window(off, min(chunkSize, to-off))
			if err != nil {
				return err
			}
			for k := 0; k < len(chunk); k += pageSize {
				page := chunk[k : k+pageSize]
				if bytes.Equal(page, zero[:]) {
					continue
				}
				if err := fn(uint32((off+int64(k))/pageSize), page); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// DataExtents calls fn with each extent [from, to) of f below size that
// holds data (not a hole), in order; a file system that cannot tell
// reports all of it as data.
func DataExtents(f *os.File, size int64, fn func(from, to int64) error) error {
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole is left
		}
		if err != nil {
			return fn(off, size)
		}
		if start >= size {
			return nil
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil || end > size {
			end = size
		}
		if end <= start {
			return fn(start, size)
		}
		if err := fn(start, end); err != nil {
			return err
		}
		off = end
	}
	return nil
}

// VerifyMemory checks the memory file against its digest.
func (f *Folder) VerifyMemory() error {
	mem, err := f.OpenMemory()
	if err != nil {
		return err
	}
	defer mem.Close()
	h := sha256.New()
	var idx [8]byte
	var n uint64
	if err := f.EachPage(mem, func(p uint32, data []byte) error {
		binary.LittleEndian.PutUint64(idx[:], uint64(p))
		h.Write(idx[:])
		h.Write(data)
		n++
		return nil
	}); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != f.Manifest.Memory.SHA256 || (f.Manifest.Kind == KindDiff && n != f.Manifest.Memory.Pages) {
		return fmt.Errorf("snapshot %s: memory does not match its digest in %s: the snapshot is damaged", f.Dir, ManifestFile)
	}
	return nil
}

// OpenDisk opens the frozen contents of disk index, checked against its
// digest.
func (f *Folder) OpenDisk(index int) (*os.File, error) {
	if index < 0 || index >= len(f.Manifest.Disks) || f.Manifest.Disks[index].File == "" {
		return nil, fmt.Errorf("snapshot %s: disk %d has no contents in the folder", f.Dir, index)
	}
	d := f.Manifest.Disks[index]
	fd, err := f.openFile(d.File)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", f.Dir, err)
	}
	sum, size, err := fileDigest(fd)
	if err != nil {
		err = fmt.Errorf("%s: %w", d.File, err)
	} else if sum != d.SHA256 || size != d.Size {
		err = fmt.Errorf("%s does not match its digest in %s: the snapshot is damaged", d.File, ManifestFile)
	}
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("snapshot %s: %w", f.Dir, err)
	}
	return fd, nil
}

// Parent opens a diff snapshot's parent and checks that it is the one the
// diff names.
func (f *Folder) Parent() (*Folder, error) {
	p := f.Manifest.Parent
	if p == nil {
		return nil, nil
	}
	dir := p.Path
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(f.Dir, dir)
	}
	parent, err := Open(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: its parent: %w", f.Dir, err)
	}
	if parent.Digest != p.SHA256 {
		parent.Close()
		return nil, fmt.Errorf("snapshot %s: its parent %s is not the snapshot it was taken after (its %s has another digest)", f.Dir, dir, ManifestFile)
	}
	if parent.Manifest.Memory.RAM != f.Manifest.Memory.RAM {
		parent.Close()
		return nil, fmt.Errorf("snapshot %s: its parent %s has another RAM size", f.Dir, dir)
	}
	return parent, nil
}

// OpenChain opens the snapshot at dir and, for a diff, its parents: the
// full snapshot first, dir's last.
func OpenChain(dir string) ([]*Folder, error) {
	f, err := Open(dir)
	if err != nil {
		return nil, err
	}
	chain := []*Folder{f}
	closeAll := func() {
		for _, c := range chain {
			c.Close()
		}
	}
	for f.Manifest.Kind == KindDiff {
		if len(chain) >= maxChain {
			closeAll()
			return nil, fmt.Errorf("snapshot %s: a chain of more than %d diffs (flatten it: juice snapshot flatten)", dir, maxChain)
		}
		p, err := f.Parent()
		if err != nil {
			closeAll()
			return nil, err
		}
		chain = append(chain, p)
		f = p
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain, nil
}
