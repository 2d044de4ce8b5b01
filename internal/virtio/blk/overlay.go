package blk

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// OverlayFormatVersion is the version of the copy-on-write overlay files
// (a recording's FILE.jrr.DISK.ovl) this package writes and reads.
const OverlayFormatVersion = overlayVersion

// Overlay layout constants; the format is described in the package doc.
const (
	overlayMagic   = "JUICECOW"
	overlayVersion = 1
	clusterBits    = 16
	clusterSize    = 1 << clusterBits
	headerSize     = 4096
	fingerprintLen = 1 << 20
	tableBlock     = 4096 // bytes of table written per dirty block
	entriesPerBlk  = tableBlock / 8

	entryBase = 0
	entryZero = 1
)

var (
	// ErrBaseChanged is returned when reopening an overlay whose base image
	// is not the one it was created over.
	ErrBaseChanged = errors.New("blk: base image changed since the overlay was created")
	// ErrBadOverlay is returned for a file that is not a valid overlay.
	ErrBadOverlay = errors.New("blk: not a valid overlay file")
)

type overlay struct {
	base     *os.File
	f        *os.File
	write    bool
	size     int64
	table    []uint64
	dirty    []bool // per table block
	dataOff  int64
	next     int64  // file offset of the next new cluster
	buf      []byte // one cluster of scratch
	blockBuf []byte
	zero     []byte
}

// fingerprint hashes the base's size, first MiB and last MiB.
func fingerprint(f *os.File, size int64) ([32]byte, error) {
	h := sha256.New()
	var sz [8]byte
	binary.LittleEndian.PutUint64(sz[:], uint64(size))
	h.Write(sz[:])
	n := min(size, fingerprintLen)
	buf := make([]byte, n)
	for _, off := range []int64{0, size - n} {
		if err := readFull(f, buf, off); err != nil {
			return [32]byte{}, err
		}
		h.Write(buf)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}

type overlayHeader struct {
	virtSize, baseSize      uint64
	fp                      [32]byte
	tableOff, entries, data uint64
}

func layout(size int64) (entries, dataOff int64) {
	entries = (size + clusterSize - 1) / clusterSize
	dataOff = (headerSize + 8*entries + clusterSize - 1) &^ (clusterSize - 1)
	return entries, dataOff
}

func (h *overlayHeader) encode() []byte {
	b := make([]byte, headerSize)
	copy(b, overlayMagic)
	binary.LittleEndian.PutUint32(b[8:], overlayVersion)
	binary.LittleEndian.PutUint32(b[12:], clusterBits)
	binary.LittleEndian.PutUint64(b[16:], h.virtSize)
	binary.LittleEndian.PutUint64(b[24:], h.baseSize)
	copy(b[32:64], h.fp[:])
	binary.LittleEndian.PutUint64(b[64:], h.tableOff)
	binary.LittleEndian.PutUint64(b[72:], h.entries)
	binary.LittleEndian.PutUint64(b[80:], h.data)
	binary.LittleEndian.PutUint32(b[88:], crc32.ChecksumIEEE(b[:88]))
	return b
}

func decodeHeader(b []byte) (overlayHeader, error) {
	var h overlayHeader
	switch {
	case len(b) < headerSize || string(b[:8]) != overlayMagic:
		return h, fmt.Errorf("%w: bad magic", ErrBadOverlay)
	case binary.LittleEndian.Uint32(b[88:]) != crc32.ChecksumIEEE(b[:88]):
		return h, fmt.Errorf("%w: header checksum mismatch", ErrBadOverlay)
	case binary.LittleEndian.Uint32(b[8:]) != overlayVersion:
		return h, fmt.Errorf("%w: unsupported version %d", ErrBadOverlay, binary.LittleEndian.Uint32(b[8:]))
	case binary.LittleEndian.Uint32(b[12:]) != clusterBits:
		return h, fmt.Errorf("%w: unsupported cluster size 2^%d", ErrBadOverlay, binary.LittleEndian.Uint32(b[12:]))
	}
	h.virtSize = binary.LittleEndian.Uint64(b[16:])
	h.baseSize = binary.LittleEndian.Uint64(b[24:])
	copy(h.fp[:], b[32:64])
	h.tableOff = binary.LittleEndian.Uint64(b[64:])
	h.entries = binary.LittleEndian.Uint64(b[72:])
	h.data = binary.LittleEndian.Uint64(b[80:])
	return h, nil
}

// openOverlay opens (or, when write is set and the file is missing or
// empty, creates) the overlay at path over the base image at basePath.
func openOverlay(basePath string, given *os.File, path string, write bool) (_ *overlay, err error) {
	base, err := openLocked(basePath, given, false)
	if err != nil {
		return nil, err
	}
	o := &overlay{base: base, write: write}
	defer func() {
		if err != nil {
			o.Close()
		}
	}()
	st, err := base.Stat()
	if err != nil {
		return nil, fmt.Errorf("blk: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("blk: %s is not a regular file", basePath)
	}
	o.size = st.Size()
	fp, err := fingerprint(base, o.size)
	if err != nil {
		return nil, err
	}
	if write {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("blk: %w", err)
		}
		o.f = f
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			return nil, fmt.Errorf("blk: overlay %s is in use by another process: %w", path, err)
		}
	} else if o.f, err = openLocked(path, nil, false); err != nil {
		return nil, err
	}
	ost, err := o.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("blk: %w", err)
	}
	entries, dataOff := layout(o.size)
	o.dataOff = dataOff
	if ost.Size() == 0 && write {
		if err := o.create(fp, entries); err != nil {
			return nil, err
		}
		ost, err = o.f.Stat()
		if err != nil {
			return nil, fmt.Errorf("blk: %w", err)
		}
	}
	hb := make([]byte, headerSize)
	if err := readFull(o.f, hb, 0); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadOverlay, path, err)
	}
	h, err := decodeHeader(hb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if h.baseSize != uint64(o.size) || h.fp != fp {
		return nil, fmt.Errorf("%w: %s was made over a base of %d bytes, %s now has %d bytes and a different fingerprint",
			ErrBaseChanged, path, h.baseSize, basePath, o.size)
	}
	if h.virtSize != uint64(o.size) || h.tableOff != headerSize || h.entries != uint64(entries) || h.data != uint64(dataOff) {
		return nil, fmt.Errorf("%w: %s: inconsistent layout", ErrBadOverlay, path)
	}
	if err := o.loadTable(ost.Size()); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	o.next = max(dataOff, (ost.Size()+clusterSize-1)&^(clusterSize-1))
	o.buf = make([]byte, clusterSize)
	o.blockBuf = make([]byte, tableBlock)
	return o, nil
}

func (o *overlay) create(fp [32]byte, entries int64) error {
	h := overlayHeader{
		virtSize: uint64(o.size), baseSize: uint64(o.size), fp: fp,
		tableOff: headerSize, entries: uint64(entries), data: uint64(o.dataOff),
	}
	if _, err := o.f.WriteAt(h.encode(), 0); err != nil {
		return fmt.Errorf("blk: creating overlay: %w", err)
	}
	if err := o.f.Truncate(o.dataOff); err != nil {
		return fmt.Errorf("blk: creating overlay: %w", err)
	}
	if err := unix.Fdatasync(int(o.f.Fd())); err != nil {
		return fmt.Errorf("blk: creating overlay: %w", err)
	}
	// Make the new directory entry durable too.
	if d, err := os.Open(filepath.Dir(o.f.Name())); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (o *overlay) loadTable(fileSize int64) error {
	entries, _ := layout(o.size)
	o.table = make([]uint64, entries)
	o.dirty = make([]bool, (entries+entriesPerBlk-1)/entriesPerBlk)
	buf := make([]byte, tableBlock)
	for i := int64(0); i < entries; i += entriesPerBlk {
		m := min(entries-i, entriesPerBlk)
		b := buf[:8*m]
		if err := readFull(o.f, b, headerSize+8*i); err != nil {
			return fmt.Errorf("%w: table: %w", ErrBadOverlay, err)
		}
		for j := range m {
			e := binary.LittleEndian.Uint64(b[8*j:])
			if e > entryZero && (e%clusterSize != 0 || e < uint64(o.dataOff) || e > uint64(fileSize) || uint64(fileSize)-e < clusterSize) {
				return fmt.Errorf("%w: cluster %d at bad offset %#x", ErrBadOverlay, i+j, e)
			}
			o.table[i+j] = e
		}
	}
	return nil
}

func (o *overlay) Size() int64 { return o.size }

// clusterLen is the number of virtual-disk bytes in cluster ci.
func (o *overlay) clusterLen(ci int64) int64 {
	return min(clusterSize, o.size-ci<<clusterBits)
}

func (o *overlay) ReadAt(p []byte, off int64) error {
	for len(p) > 0 {
		ci, co := off>>clusterBits, off&(clusterSize-1)
		n := min(int64(len(p)), clusterSize-co)
		switch e := o.table[ci]; e {
		case entryBase:
			if err := readFull(o.base, p[:n], off); err != nil {
				return err
			}
		case entryZero:
			clear(p[:n])
		default:
			if err := readFull(o.f, p[:n], int64(e)+co); err != nil {
				return err
			}
		}
		p, off = p[n:], off+n
	}
	return nil
}

func (o *overlay) WriteAt(p []byte, off int64) error {
	if !o.write {
		return fmt.Errorf("blk: overlay is read-only")
	}
	for len(p) > 0 {
		ci, co := off>>clusterBits, off&(clusterSize-1)
		n := min(int64(len(p)), clusterSize-co)
		if err := o.writeCluster(ci, co, p[:n]); err != nil {
			return err
		}
		p, off = p[n:], off+n
	}
	return nil
}

// writeCluster writes p at offset co of cluster ci, allocating the cluster
// in the overlay (copied from the base or zero) on its first write.
func (o *overlay) writeCluster(ci, co int64, p []byte) error {
	if e := o.table[ci]; e > entryZero {
		if _, err := o.f.WriteAt(p, int64(e)+co); err != nil {
			return fmt.Errorf("blk: writing overlay: %w", err)
		}
		return nil
	}
	clen := o.clusterLen(ci)
	buf := o.buf
	if o.table[ci] == entryBase && int64(len(p)) < clen {
		if err := readFull(o.base, buf[:clen], ci<<clusterBits); err != nil {
			return err
		}
		clear(buf[clen:])
	} else {
		clear(buf)
	}
	copy(buf[co:], p)
	at := o.next
	if _, err := o.f.WriteAt(buf, at); err != nil {
		return fmt.Errorf("blk: growing overlay: %w", err)
	}
	o.next += clusterSize
	o.setEntry(ci, uint64(at))
	return nil
}

func (o *overlay) setEntry(ci int64, e uint64) {
	o.table[ci] = e
	o.dirty[ci/entriesPerBlk] = true
}

func (o *overlay) WriteZeroes(off, n int64, unmap bool) error {
	if !o.write {
		return fmt.Errorf("blk: overlay is read-only")
	}
	for n > 0 {
		ci, co := off>>clusterBits, off&(clusterSize-1)
		m := min(n, clusterSize-co)
		switch e := o.table[ci]; {
		case e == entryZero:
		case e == entryBase && co == 0 && m == o.clusterLen(ci):
			o.setEntry(ci, entryZero)
		case e == entryBase:
			if o.zero == nil {
				o.zero = make([]byte, clusterSize)
			}
			if err := o.writeCluster(ci, co, o.zero[:m]); err != nil {
				return err
			}
		default:
			if err := zeroRange(o.f, int64(e)+co, m, unmap, &o.zero); err != nil {
				return err
			}
		}
		off, n = off+m, n-m
	}
	return nil
}

func (o *overlay) Flush() error {
	if !o.write {
		return nil
	}
	fd := int(o.f.Fd())
	if err := unix.Fdatasync(fd); err != nil {
		return fmt.Errorf("blk: fdatasync overlay: %w", err)
	}
	wrote := false
	for b, d := range o.dirty {
		if !d {
			continue
		}
		first := b * entriesPerBlk
		m := min(len(o.table)-first, entriesPerBlk)
		buf := o.blockBuf[:8*m]
		for j := range m {
			binary.LittleEndian.PutUint64(buf[8*j:], o.table[first+j])
		}
		if _, err := o.f.WriteAt(buf, headerSize+8*int64(first)); err != nil {
			return fmt.Errorf("blk: writing overlay table: %w", err)
		}
		o.dirty[b] = false
		wrote = true
	}
	if wrote {
		if err := unix.Fdatasync(fd); err != nil {
			return fmt.Errorf("blk: fdatasync overlay: %w", err)
		}
	}
	return nil
}

func (o *overlay) Close() error {
	var err error
	if o.f != nil {
		if o.table != nil {
			err = o.Flush()
		}
		if cerr := o.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("blk: %w", cerr)
		}
	}
	if cerr := o.base.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("blk: %w", cerr)
	}
	return err
}
