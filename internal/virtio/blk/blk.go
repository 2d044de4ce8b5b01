// Package blk is Juice's virtio-blk device: a raw disk image file, or a raw
// base image under a copy-on-write overlay that keeps the base unmodified
// (see Overlay format below).
//
// Requests are completed synchronously inside Notify with ordinary pread,
// pwrite and fdatasync calls, so they finish at a point fixed by the
// guest's instruction count. A flush returns only after everything written
// before it is on stable storage. Host faults (disk full, EIO, an image that
// shrank) complete the request with VIRTIO_BLK_S_IOERR; the first one is
// logged.
//
// # Overlay format
//
// All integers are little-endian.
//
// An overlay records every change the guest makes to a base image, which is
// never modified. The virtual disk has the base's size and is divided into
// 64 KiB clusters; a cluster the guest has not changed is read from the
// base.
//
//	offset 0, 4096 bytes: header
//	    0  [8]byte  magic "JUICECOW"
//	    8  uint32   format version (1)
//	   12  uint32   log2 of the cluster size (16)
//	   16  uint64   virtual size in bytes (the base's size)
//	   24  uint64   size of the base image in bytes
//	   32  [32]byte base fingerprint: SHA-256 of the base's size (uint64)
//	                followed by its first MiB and its last MiB
//	   64  uint64   table offset (4096)
//	   72  uint64   table entries (virtual size / 64 KiB, rounded up)
//	   80  uint64   data offset (the end of the table, rounded up to 64 KiB)
//	   88  uint32   CRC-32 (IEEE) of bytes 0..87
//	    the rest is zero
//	offset 4096: the cluster table, one uint64 per cluster:
//	    0                       the cluster is the base's
//	    1                       the cluster reads as zeroes
//	    any multiple of 64 KiB  the file offset of the cluster's data
//	                            (at or after the data offset)
//	data offset: cluster data, 64 KiB per cluster, appended as the guest
//	    first writes a cluster (the rest of the cluster is copied from the
//	    base).
//
// Durability: new clusters are written past everything the on-disk table
// refers to, and table entries reach the file only on Flush, after the
// cluster data is on stable storage (fdatasync, table blocks, fdatasync).
// A crash therefore loses at most the changes since the last flush, as a
// disk with a volatile write cache does, and can leave unreferenced
// clusters at the end of the file, which reopening skips over.
//
// The cluster table is held in memory while the device is open: 8 bytes
// per 64 KiB of disk (128 MiB per TiB).
//
// # Volatile disks
//
// With Options.Volatile the image (and overlay, if any) is opened
// read-only and never modified: every change the guest makes is kept in
// memory, in 64 KiB copy-on-write clusters, and a flush does nothing. The
// guest sees the same disk, with the same features, as a writable one.
// SaveContents and RestoreContents take and put back versions of those
// changes cheaply (buffers are shared between versions, never modified once
// shared), which is what record/replay checkpoints need; Contents has a
// binary encoding for writing a version to a file. The memory used grows
// with the clusters the guest writes, up to the size of the disk.
//
// Base check: reopening an overlay compares the base's size and
// fingerprint with the header and refuses a base that changed. The
// fingerprint covers the first and last MiB only, so that opening a large
// image stays fast; a change confined to the middle of the base goes
// unnoticed. Modification times are deliberately not used: copying an image
// changes them without changing its contents.
package blk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/internal/virtio"
)

// Feature bits (virtio 1.x, section 5.2.3).
const (
	FSizeMax     = 1 << 1
	FSegMax      = 1 << 2
	FRO          = 1 << 5
	FBlkSize     = 1 << 6
	FFlush       = 1 << 9
	FDiscard     = 1 << 13
	FWriteZeroes = 1 << 14
)

// Request types and status values.
const (
	TypeIn          = 0
	TypeOut         = 1
	TypeFlush       = 4
	TypeGetID       = 8
	TypeGetLifetime = 10
	TypeDiscard     = 11
	TypeWriteZeroes = 13
	TypeSecureErase = 14

	StatusOK     = 0
	StatusIOErr  = 1
	StatusUnsupp = 2
)

// Device limits, advertised in the configuration space.
const (
	// SectorSize is the unit of sector numbers and of the capacity.
	SectorSize = 512
	// QueueSize is the size of the request queue.
	QueueSize = 256
	// SegMax is the most data segments a request may have.
	SegMax = QueueSize - 2
	// SizeMax is the largest data segment: SegMax*SizeMax stays below
	// MaxData, so a conforming driver never hits it.
	SizeMax = 256 << 10
	// MaxData caps the data bytes of one read or write request.
	MaxData = 64 << 20
	// MaxZeroSectors is the largest discard or write-zeroes segment, in
	// sectors (32 MiB), which bounds the work of one request when the file
	// system has to be written zeroes.
	MaxZeroSectors = 1 << 16
	// MaxZeroSegs is the most segments of one discard or write-zeroes request.
	MaxZeroSegs = 1
	// DiscardAlignment is the discard granularity in sectors (4 KiB).
	DiscardAlignment = 8
	// IDLen is the length of the GET_ID answer.
	IDLen = 20

	headerLen  = 16
	segmentLen = 16
	unmapFlag  = 1
)

// Options configure Open.
type Options struct {
	// ReadOnly offers the disk read-only (VIRTIO_BLK_F_RO): writes,
	// discards and write-zeroes fail with VIRTIO_BLK_S_IOERR, and no file
	// is modified. A read-only disk with an Overlay reads through the
	// overlay if it exists (and reads the base alone if it does not).
	ReadOnly bool
	// Overlay, if set, is a copy-on-write overlay file: created if missing,
	// continued if it exists, refused if its base image changed. The base
	// image is then opened read-only and never modified.
	Overlay string
	// Volatile opens the image (and the overlay, if it exists) read-only
	// and keeps every write, write-zeroes and discard in memory instead;
	// flushes do nothing, and the changes are gone when the device is
	// closed. The guest is offered the same disk as without Volatile. See
	// SaveContents and RestoreContents.
	Volatile bool
	// Serial is the GET_ID answer (at most 20 bytes are used).
	Serial string
	// File, if set, is the base image already open (read-write if the
	// disk is writable without an overlay): the caller opened it, e.g.
	// confined to an appliance folder, and Open takes it over; the base
	// argument then only names it.
	File *os.File
	// Logger receives host I/O faults (nil discards them).
	Logger *slog.Logger
}

// Device is a virtio-blk device over a disk image.
type Device struct {
	img      image
	name     string
	ro       bool
	serial   [IDLen]byte
	log      *slog.Logger
	capacity uint64 // sectors
	features uint64
	q        *virtio.Queue
	chain    virtio.Chain
	faulted  bool
	closed   bool
	hdr      [headerLen]byte
	seg      [segmentLen]byte
}

// Open opens the raw image base as a virtio-blk device.
func Open(base string, opts Options) (*Device, error) {
	var img image
	var err error
	switch {
	case opts.Overlay == "":
		img, err = openRaw(base, opts.File, !opts.ReadOnly && !opts.Volatile)
	case opts.ReadOnly || opts.Volatile:
		if _, serr := os.Stat(opts.Overlay); errors.Is(serr, os.ErrNotExist) {
			img, err = openRaw(base, opts.File, false)
		} else {
			img, err = openOverlay(base, opts.File, opts.Overlay, false)
		}
	default:
		img, err = openOverlay(base, opts.File, opts.Overlay, true)
	}
	if err != nil {
		return nil, err
	}
	if opts.Volatile {
		img = newVolatile(img)
	}
	d := &Device{img: img, name: base, ro: opts.ReadOnly, log: opts.Logger}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if opts.Overlay != "" {
		d.name = opts.Overlay
	}
	copy(d.serial[:], opts.Serial)
	d.capacity = uint64(img.Size()) / SectorSize
	return d, nil
}

// Close flushes the device and closes its files. Closing twice is a no-op.
func (d *Device) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	if err := d.img.Flush(); err != nil {
		d.img.Close()
		return err
	}
	return d.img.Close()
}

// Capacity returns the disk size in 512-byte sectors.
func (d *Device) Capacity() uint64 { return d.capacity }

// Type implements virtio.Device.
func (d *Device) Type() uint32 { return virtio.IDBlock }

// Features implements virtio.Device.
func (d *Device) Features() uint64 {
	f := uint64(FSizeMax | FSegMax | FBlkSize | FFlush | FDiscard | FWriteZeroes)
	if d.ro {
		f = FSizeMax | FSegMax | FBlkSize | FFlush | FRO
	}
	return f
}

// QueueSizes implements virtio.Device.
func (d *Device) QueueSizes() []uint16 { return []uint16{QueueSize} }

// config returns the virtio_blk_config structure.
func (d *Device) config() [60]byte {
	var c [60]byte
	le := binary.LittleEndian
	le.PutUint64(c[0:], d.capacity)
	le.PutUint32(c[8:], SizeMax)
	le.PutUint32(c[12:], SegMax)
	le.PutUint32(c[20:], SectorSize) // blk_size
	if !d.ro {
		le.PutUint32(c[36:], MaxZeroSectors) // max_discard_sectors
		le.PutUint32(c[40:], MaxZeroSegs)
		le.PutUint32(c[44:], DiscardAlignment)
		le.PutUint32(c[48:], MaxZeroSectors) // max_write_zeroes_sectors
		le.PutUint32(c[52:], MaxZeroSegs)
		c[56] = 1 // write_zeroes_may_unmap
	}
	return c
}

// ReadConfig implements virtio.Device.
func (d *Device) ReadConfig(off uint64, p []byte) {
	c := d.config()
	if off < uint64(len(c)) {
		copy(p, c[off:])
	}
}

// WriteConfig implements virtio.Device; the configuration is read-only.
func (d *Device) WriteConfig(off uint64, p []byte) {}

// Activate implements virtio.Device.
func (d *Device) Activate(q []*virtio.Queue, features uint64) error {
	d.q, d.features = q[0], features
	d.Notify(0)
	return nil
}

// Reset implements virtio.Device.
func (d *Device) Reset() { d.q, d.features = nil, 0 }

// Notify implements virtio.Device: it completes every available request.
func (d *Device) Notify(int) {
	if d.q == nil {
		return
	}
	for d.q.Pop(&d.chain) {
		written, ok := d.handle(&d.chain)
		if !ok {
			break
		}
		d.q.Push(&d.chain, written)
	}
	d.q.Signal()
}

// handle carries out one request and writes its status byte. It returns
// the number of bytes written to the chain, or false when the chain has no
// room for a status byte (the queue is then failed).
func (d *Device) handle(c *virtio.Chain) (uint32, bool) {
	if c.WritableLen == 0 {
		d.q.Fail(fmt.Errorf("%w: virtio-blk request without a status byte", virtio.ErrDevice))
		return 0, false
	}
	last := c.Writable[len(c.Writable)-1]
	status := &last[len(last)-1]
	in := c.WritableLen - 1 // device-writable bytes before the status byte
	if c.ReadableLen < headerLen {
		*status = StatusIOErr
		return 1, true
	}
	c.ReadAt(d.hdr[:], 0)
	typ := binary.LittleEndian.Uint32(d.hdr[0:])
	sector := binary.LittleEndian.Uint64(d.hdr[8:])
	written := uint32(1)
	var st byte
	switch typ {
	case TypeIn:
		st = d.read(c, sector, in)
		if st == StatusOK {
			written += uint32(in)
		}
	case TypeOut:
		st = d.write(c, sector, c.ReadableLen-headerLen)
	case TypeFlush:
		st = StatusOK
		if err := d.img.Flush(); err != nil {
			st = d.fault("flush", err)
		}
	case TypeGetID:
		n := min(in, IDLen)
		c.WriteAt(d.serial[:n], 0)
		written += uint32(n)
	case TypeDiscard, TypeWriteZeroes:
		st = d.zero(c, typ)
	default:
		st = StatusUnsupp
	}
	*status = st
	return written, true
}

// inRange checks that [sector, sector+n bytes) lies on the disk.
func (d *Device) inRange(sector, n uint64) bool {
	return sector <= d.capacity && n/SectorSize <= d.capacity-sector
}

func (d *Device) read(c *virtio.Chain, sector, n uint64) byte {
	if n%SectorSize != 0 || n > MaxData || !d.inRange(sector, n) {
		return StatusIOErr
	}
	off := int64(sector * SectorSize)
	for _, b := range c.Writable {
		if n == 0 {
			break
		}
		b = b[:min(uint64(len(b)), n)]
		if err := d.img.ReadAt(b, off); err != nil {
			return d.fault("read", err)
		}
		off += int64(len(b))
		n -= uint64(len(b))
	}
	return StatusOK
}

func (d *Device) write(c *virtio.Chain, sector, n uint64) byte {
	if d.ro || n%SectorSize != 0 || n > MaxData || !d.inRange(sector, n) {
		return StatusIOErr
	}
	off := int64(sector * SectorSize)
	skip := uint64(headerLen)
	for _, b := range c.Readable {
		if skip >= uint64(len(b)) {
			skip -= uint64(len(b))
			continue
		}
		b, skip = b[skip:], 0
		if err := d.img.WriteAt(b, off); err != nil {
			return d.fault("write", err)
		}
		off += int64(len(b))
	}
	return StatusOK
}

// zero carries out a discard or write-zeroes request.
func (d *Device) zero(c *virtio.Chain, typ uint32) byte {
	feature := uint64(FDiscard)
	if typ == TypeWriteZeroes {
		feature = FWriteZeroes
	}
	if d.features&feature == 0 {
		return StatusUnsupp
	}
	if d.ro {
		return StatusIOErr
	}
	n := c.ReadableLen - headerLen
	if n == 0 || n%segmentLen != 0 {
		return StatusIOErr
	}
	if n/segmentLen > MaxZeroSegs {
		return StatusUnsupp
	}
	for off := uint64(headerLen); off < c.ReadableLen; off += segmentLen {
		c.ReadAt(d.seg[:], off)
		sector := binary.LittleEndian.Uint64(d.seg[0:])
		num := binary.LittleEndian.Uint32(d.seg[8:])
		flags := binary.LittleEndian.Uint32(d.seg[12:])
		switch {
		case flags&^unmapFlag != 0, typ == TypeDiscard && flags&unmapFlag != 0, num > MaxZeroSectors:
			return StatusUnsupp
		case !d.inRange(sector, uint64(num)*SectorSize):
			return StatusIOErr
		}
		// A discard deallocates; its data reads back as zeroes.
		unmap := typ == TypeDiscard || flags&unmapFlag != 0
		if err := d.img.WriteZeroes(int64(sector*SectorSize), int64(num)*SectorSize, unmap); err != nil {
			return d.fault("write-zeroes", err)
		}
	}
	return StatusOK
}

// fault logs the first host I/O error and returns VIRTIO_BLK_S_IOERR.
func (d *Device) fault(op string, err error) byte {
	if !d.faulted {
		d.faulted = true
		d.log.Error("virtio-blk: host I/O error; failing guest requests with IOERR (logged once)",
			"image", d.name, "op", op, "err", err)
	}
	return StatusIOErr
}

// CopyTo writes the disk's contents, as the guest sees them now, into f
// (from its start; f becomes as long as the disk): zero stretches are left
// as holes. The device must not be handling requests meanwhile.
func (d *Device) CopyTo(f *os.File) error {
	if d.closed {
		return errors.New("blk: the device was closed")
	}
	if err := d.Contents(func(off int64, data []byte) error {
		_, err := f.WriteAt(data, off)
		return err
	}); err != nil {
		return err
	}
	return f.Truncate(d.img.Size())
}

// Unlock flushes the disk and lets go of the exclusive lock on the file
// it writes, so that another process (a migration's destination) can
// open it; the device must not handle requests until Relock.
func (d *Device) Unlock() error {
	if err := d.Flush(); err != nil {
		return err
	}
	if l, ok := d.img.(writeLocked); ok {
		if f := l.writeLock(); f != nil {
			return unix.Flock(int(f.Fd()), unix.LOCK_UN)
		}
	}
	return nil
}

// Relock takes back the lock Unlock let go of; it fails if another
// process holds it now.
func (d *Device) Relock() error {
	if l, ok := d.img.(writeLocked); ok {
		if f := l.writeLock(); f != nil {
			if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
				return fmt.Errorf("blk: %s is in use by another process: %w", d.name, err)
			}
		}
	}
	return nil
}

// Contents calls fn with each stretch of the disk, as the guest sees it
// now, that is not all zero, in order (chunks of at most 64 KiB; data is
// reused). The device must not be handling requests meanwhile.
func (d *Device) Contents(fn func(off int64, data []byte) error) error {
	if d.closed {
		return errors.New("blk: the device was closed")
	}
	size := d.img.Size()
	buf := make([]byte, copyChunk)
	zero := make([]byte, copyChunk)
	for off := int64(0); off < size; off += copyChunk {
		n := min(copyChunk, size-off)
		if err := d.img.ReadAt(buf[:n], off); err != nil {
			return fmt.Errorf("reading %s at %d: %w", d.name, off, err)
		}
		if bytes.Equal(buf[:n], zero[:n]) {
			continue
		}
		if err := fn(off, buf[:n]); err != nil {
			return err
		}
	}
	return nil
}

// InPlace reports whether the guest's writes go to the disk's image file
// itself (no overlay, not kept in memory), so that another process that
// opens the file sees the disk as the guest does.
func (d *Device) InPlace() bool {
	r, ok := d.img.(*rawImage)
	return ok && r.write
}

// Size returns the disk's size in bytes.
func (d *Device) Size() int64 { return d.img.Size() }

// copyChunk is the unit in which CopyTo reads a disk.
const copyChunk = 64 << 10

// Flush makes every completed write durable.
func (d *Device) Flush() error {
	if d.closed {
		return nil
	}
	return d.img.Flush()
}
