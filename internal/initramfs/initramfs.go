// Package initramfs builds reproducible Linux initramfs images: cpio archives
// in the "newc" format that the kernel unpacks into its root file system at
// boot.
//
// A Builder collects entries in memory and writes them sorted by path, with
// every parent directory present, modification times of 0, owner root and
// inode numbers given by position, so that the same entries always give the
// same bytes. The newc encoding itself is done by u-root's cpio package.
package initramfs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"
)

// kind is the type of an archive entry.
type kind int

const (
	kindDir kind = iota
	kindFile
	kindHostFile
	kindSymlink
	kindCharDev
	kindBlockDev
)

// String names the kind for error messages.
func (k kind) String() string {
	switch k {
	case kindDir:
		return "directory"
	case kindFile, kindHostFile:
		return "file"
	case kindSymlink:
		return "symlink"
	case kindCharDev:
		return "character device"
	case kindBlockDev:
		return "block device"
	}
	return "unknown"
}

// entry is one file system object to be archived.
type entry struct {
	kind     kind
	perm     fs.FileMode
	data     []byte // file contents or symlink target
	hostPath string // for kindHostFile
	major    uint32 // device number, for devices
	minor    uint32
	implicit bool // a directory created only as someone's parent
}

// DefaultDirMode is the permission given to directories that the Builder
// creates implicitly as parents of other entries.
const DefaultDirMode fs.FileMode = 0o755

// Builder accumulates the entries of an initramfs. The zero value is not
// usable; create one with New. A Builder is not safe for concurrent use.
type Builder struct {
	entries map[string]*entry
}

// New returns an empty Builder.
func New() *Builder {
	return &Builder{entries: make(map[string]*entry)}
}

// cleanPath turns a guest path such as "/bin/sh" or "bin/sh" into the
// archive form "bin/sh", rejecting paths that cannot be archived.
func cleanPath(p string) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %q contains a NUL byte", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", fmt.Errorf("path %q contains \"..\"", p)
		}
	}
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" {
		return "", fmt.Errorf("path %q names the archive root", p)
	}
	return c, nil
}

// unixSpecial are the Unix setuid, setgid and sticky bits, which the
// Builder also accepts in their traditional octal form (0o4000, 0o2000,
// 0o1000) as an alternative to fs.ModeSetuid, fs.ModeSetgid, fs.ModeSticky.
const unixSpecial fs.FileMode = 0o7000

// checkPerm rejects mode bits other than permissions, setuid, setgid and
// sticky.
func checkPerm(p string, perm fs.FileMode) error {
	if perm&^(fs.ModePerm|unixSpecial|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		return fmt.Errorf("%s: mode %v has bits other than permissions", p, perm)
	}
	return nil
}

// add inserts e at guest path p, creating its parents. Adding a directory
// where one already exists updates its permissions; any other duplicate is an
// error.
func (b *Builder) add(p string, e *entry) error {
	name, err := cleanPath(p)
	if err != nil {
		return err
	}
	if err := checkPerm(name, e.perm); err != nil {
		return err
	}
	if old, ok := b.entries[name]; ok {
		if old.kind == kindDir && e.kind == kindDir {
			if e.implicit {
				return nil
			}
			old.perm, old.implicit = e.perm, false
			return nil
		}
		return fmt.Errorf("%s: already added as a %s", name, old.kind)
	}
	if dir := path.Dir(name); dir != "." {
		if err := b.add(dir, &entry{kind: kindDir, perm: DefaultDirMode, implicit: true}); err != nil {
			return fmt.Errorf("parent of %s: %w", name, err)
		}
	}
	b.entries[name] = e
	return nil
}

// AddDir adds a directory with permissions perm (for example 0o755, or
// 0o1777 for a sticky directory). Adding
// a directory that already exists, explicitly or as a parent, sets its
// permissions.
func (b *Builder) AddDir(p string, perm fs.FileMode) error {
	return b.add(p, &entry{kind: kindDir, perm: perm})
}

// AddFile adds a regular file with permissions perm and contents data. The
// Builder keeps a reference to data, which must not change until the archive
// has been written.
func (b *Builder) AddFile(p string, perm fs.FileMode, data []byte) error {
	return b.add(p, &entry{kind: kindFile, perm: perm, data: data})
}

// AddHostFile adds a regular file at guest path guestPath whose contents are
// read from the host file hostPath when the archive is written. The guest
// permissions are perm, not the host file's, so that the archive does not
// depend on the host's umask.
func (b *Builder) AddHostFile(guestPath, hostPath string, perm fs.FileMode) error {
	st, err := os.Stat(hostPath)
	if err != nil {
		return fmt.Errorf("initramfs: adding host file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("initramfs: host file %s is not a regular file", hostPath)
	}
	return b.add(guestPath, &entry{kind: kindHostFile, perm: perm, hostPath: hostPath})
}

// AddSymlink adds a symbolic link at p pointing to target.
func (b *Builder) AddSymlink(p, target string) error {
	if target == "" {
		return fmt.Errorf("%s: empty symlink target", p)
	}
	return b.add(p, &entry{kind: kindSymlink, perm: 0o777, data: []byte(target)})
}

// AddCharDev adds a character device node, such as /dev/console (5, 1).
func (b *Builder) AddCharDev(p string, perm fs.FileMode, major, minor uint32) error {
	return b.add(p, &entry{kind: kindCharDev, perm: perm, major: major, minor: minor})
}

// AddBlockDev adds a block device node.
func (b *Builder) AddBlockDev(p string, perm fs.FileMode, major, minor uint32) error {
	return b.add(p, &entry{kind: kindBlockDev, perm: perm, major: major, minor: minor})
}

// Paths returns the archive paths of all entries, including implicit parent
// directories, in the order they are written (without a leading slash).
func (b *Builder) Paths() []string {
	names := make([]string, 0, len(b.entries))
	for n := range b.entries {
		names = append(names, n)
	}
	// A plain byte-wise sort puts every directory before its contents,
	// because a path sorts before any longer path it is a prefix of.
	sort.Strings(names)
	return names
}

// linuxMode converts permissions to the Linux st_mode permission bits.
func linuxMode(perm fs.FileMode) uint64 {
	m := uint64(perm & (fs.ModePerm | unixSpecial))
	if perm&fs.ModeSetuid != 0 {
		m |= cpio.S_ISUID
	}
	if perm&fs.ModeSetgid != 0 {
		m |= cpio.S_ISGID
	}
	if perm&fs.ModeSticky != 0 {
		m |= cpio.S_ISVTX
	}
	return m
}

// record turns an entry into a cpio record with reproducible metadata.
func record(name string, ino uint64, e *entry) (cpio.Record, error) {
	info := cpio.Info{Name: name, Ino: ino, NLink: 1, Mode: linuxMode(e.perm)}
	var r cpio.Record
	switch e.kind {
	case kindDir:
		info.Mode |= cpio.S_IFDIR
		info.NLink = 2
		r = cpio.Record{Info: info}
	case kindFile:
		info.Mode |= cpio.S_IFREG
		r = cpio.StaticRecord(e.data, info)
	case kindSymlink:
		info.Mode |= cpio.S_IFLNK
		r = cpio.StaticRecord(e.data, info)
	case kindCharDev, kindBlockDev:
		info.Mode |= cpio.S_IFCHR
		if e.kind == kindBlockDev {
			info.Mode = info.Mode&^cpio.S_IFMT | cpio.S_IFBLK
		}
		info.Rmajor, info.Rminor = uint64(e.major), uint64(e.minor)
		r = cpio.Record{Info: info}
	case kindHostFile:
		f, err := os.Open(e.hostPath)
		if err != nil {
			return cpio.Record{}, fmt.Errorf("opening host file for %s: %w", name, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return cpio.Record{}, fmt.Errorf("stat of host file for %s: %w", name, err)
		}
		if st.Size() > 1<<32-1 {
			f.Close()
			return cpio.Record{}, fmt.Errorf("host file %s for %s is larger than newc allows", e.hostPath, name)
		}
		info.Mode |= cpio.S_IFREG
		info.FileSize = uint64(st.Size())
		// The cpio writer closes the file after copying it.
		r = cpio.Record{ReaderAt: f, Info: info}
	default:
		return cpio.Record{}, fmt.Errorf("%s: unknown entry kind %d", name, e.kind)
	}
	return r, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

// Write implements io.Writer.
func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteTo writes the archive, uncompressed, to w. It implements io.WriterTo.
// Entries are written in the order of Paths, each with inode number equal
// to its position (starting at 1), mtime 0 and uid/gid 0, followed by the
// newc trailer.
func (b *Builder) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	rw := cpio.Newc.Writer(cw)
	for i, name := range b.Paths() {
		rec, err := record(name, uint64(i+1), b.entries[name])
		if err != nil {
			return cw.n, fmt.Errorf("initramfs: %w", err)
		}
		if err := rw.WriteRecord(rec); err != nil {
			if c, ok := rec.ReaderAt.(io.Closer); ok {
				c.Close()
			}
			return cw.n, fmt.Errorf("initramfs: writing %s: %w", name, err)
		}
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return cw.n, fmt.Errorf("initramfs: writing trailer: %w", err)
	}
	return cw.n, nil
}

// WriteGzipTo writes the archive compressed with gzip to w. The gzip header
// carries no name and a zero modification time, so the output depends only
// on the entries (and the Go version's compressor).
func (b *Builder) WriteGzipTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	zw, err := gzip.NewWriterLevel(cw, gzip.BestCompression)
	if err != nil {
		return 0, fmt.Errorf("initramfs: gzip: %w", err)
	}
	zw.Header.OS = 3 // Unix, fixed rather than "unknown".
	if _, err := b.WriteTo(zw); err != nil {
		return cw.n, err
	}
	if err := zw.Close(); err != nil {
		return cw.n, fmt.Errorf("initramfs: finishing gzip stream: %w", err)
	}
	return cw.n, nil
}

// Bytes returns the archive, gzip-compressed if compress is true.
func (b *Builder) Bytes(compress bool) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	if compress {
		_, err = b.WriteGzipTo(&buf)
	} else {
		_, err = b.WriteTo(&buf)
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
