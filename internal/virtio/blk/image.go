package blk

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// image is the storage behind a block device: a raw file, or a raw base
// file under a copy-on-write overlay. Offsets and lengths are in bytes and
// lie within Size (the device checks).
type image interface {
	Size() int64
	ReadAt(p []byte, off int64) error
	WriteAt(p []byte, off int64) error
	// WriteZeroes makes [off, off+n) read as zeroes; with unmap it may
	// deallocate the range.
	WriteZeroes(off, n int64, unmap bool) error
	// Flush makes every completed write durable.
	Flush() error
	Close() error
}

// zeroChunk is the size of the zero buffer used when the file system cannot
// zero or punch a range itself.
const zeroChunk = 64 << 10

// rawImage is a raw disk image file.
type rawImage struct {
	f     *os.File
	size  int64
	write bool
	zero  []byte // zeroChunk zero bytes, allocated on first need
}

// openLocked opens path (or takes given, the same file opened already)
// and takes a BSD lock on it: exclusive for writing, shared for reading,
// so two Juice processes cannot write one image.
func openLocked(path string, given *os.File, write bool) (*os.File, error) {
	flag, how := os.O_RDONLY, unix.LOCK_SH
	if write {
		flag, how = os.O_RDWR, unix.LOCK_EX
	}
	f := given
	if f == nil {
		var err error
		if f, err = os.OpenFile(path, flag, 0); err != nil {
			return nil, fmt.Errorf("blk: %w", err)
		}
	} else if write {
		fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_ACCMODE != unix.O_RDWR {
			f.Close()
			return nil, fmt.Errorf("blk: %s is writable but was opened read-only", path)
		}
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("blk: %s is in use by another process: %w", path, err)
	}
	return f, nil
}

func openRaw(path string, given *os.File, write bool) (*rawImage, error) {
	f, err := openLocked(path, given, write)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blk: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("blk: %s is not a regular file", path)
	}
	return &rawImage{f: f, size: st.Size(), write: write}, nil
}

func (r *rawImage) Size() int64 { return r.size }

func (r *rawImage) ReadAt(p []byte, off int64) error {
	return readFull(r.f, p, off)
}

func (r *rawImage) WriteAt(p []byte, off int64) error {
	if _, err := r.f.WriteAt(p, off); err != nil {
		return fmt.Errorf("blk: %w", err)
	}
	return nil
}

func (r *rawImage) WriteZeroes(off, n int64, unmap bool) error {
	return zeroRange(r.f, off, n, unmap, &r.zero)
}

func (r *rawImage) Flush() error {
	if err := unix.Fdatasync(int(r.f.Fd())); err != nil {
		return fmt.Errorf("blk: fdatasync %s: %w", r.f.Name(), err)
	}
	return nil
}

func (r *rawImage) Close() error { return r.f.Close() }

// readFull reads len(p) bytes at off; a file that ends early is an error
// (the image shrank under the device).
func readFull(f *os.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("blk: reading %s at %d: %w", f.Name(), off+int64(n), err)
}

// zeroRange makes [off, off+n) of f read as zeroes without changing its
// size: a punched hole (unmap) or a zeroed range where the file system
// supports them, written zeroes otherwise.
func zeroRange(f *os.File, off, n int64, unmap bool, zero *[]byte) error {
	if n <= 0 {
		return nil
	}
	mode := uint32(unix.FALLOC_FL_ZERO_RANGE | unix.FALLOC_FL_KEEP_SIZE)
	if unmap {
		mode = unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE
	}
	err := unix.Fallocate(int(f.Fd()), mode, off, n)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("blk: fallocate %s [%d, +%d): %w", f.Name(), off, n, err)
	}
	return writeZeroes(f, off, n, zero)
}

// writeZeroes writes n zero bytes at off.
func writeZeroes(f *os.File, off, n int64, zero *[]byte) error {
	if *zero == nil {
		*zero = make([]byte, zeroChunk)
	}
	for n > 0 {
		c := min(n, zeroChunk)
		if _, err := f.WriteAt((*zero)[:c], off); err != nil {
			return fmt.Errorf("blk: writing zeroes to %s: %w", f.Name(), err)
		}
		off += c
		n -= c
	}
	return nil
}

// writeLocked is an image that holds an exclusive lock on a file it writes.
type writeLocked interface {
	// writeLock returns the file it holds the exclusive lock of, or nil.
	writeLock() *os.File
}

func (r *rawImage) writeLock() *os.File {
	if r.write {
		return r.f
	}
	return nil
}

func (o *overlay) writeLock() *os.File {
	if o.write {
		return o.f
	}
	return nil
}
