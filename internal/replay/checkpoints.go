package replay

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"

	"github.com/juicevm/juice/internal/outfile"
	"github.com/juicevm/juice/internal/snapshot"
)

// A checkpoint file (FILE.jrr.ckpt) sits beside a recording and holds
// states of the replayed machine at increasing instruction counts, so that
// a replay can start from the latest one before where it must stop instead
// of from the beginning. It is an index, not part of the recording: it can
// be deleted and rebuilt by replaying.
//
// Layout: the magic "JUICECKP", a uint32 version, the SHA-256 of the
// recording it belongs to; then records, each a uint32 length, a uint32
// CRC-32C of the compressed bytes and that many bytes of a zstd frame. A
// record's content is a CheckpointRecord in package snapshot's encoding.
// The first record holds every RAM page that is not zero, each later one
// the pages that may have changed since the record before.

// CheckpointFormatVersion is the version of the checkpoint files
// (FILE.jrr.ckpt) this Juice writes and reads.
const CheckpointFormatVersion = ckptVersion

const (
	ckptMagic   = "JUICECKP"
	ckptVersion = 1
	// maxCheckpointRecord bounds a record's compressed and expanded size.
	maxCheckpointRecord = 1 << 36
	maxPages            = 64 << 30 / 4096
	maxDisks            = 64
)

// CheckpointRecord is one saved machine state in a checkpoint file.
type CheckpointRecord struct {
	Instructions uint64
	Clock        uint64
	Script       uint64
	State        []byte
	Disks        [][]byte
	Pages        []CheckpointPage
}

// CheckpointPage is a 4 KiB page of guest RAM.
type CheckpointPage struct {
	Index uint32
	Data  []byte
}

// CheckpointPath returns the checkpoint file's path for a recording.
func CheckpointPath(recording string) string { return recording + ".ckpt" }

// RecordingSum returns the SHA-256 of a recording file, which its
// checkpoint file names.
func RecordingSum(recording string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(recording)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

// CheckpointWriter writes a checkpoint file.
type CheckpointWriter struct {
	f    *os.File
	tmp  string
	path string
	enc  *zstd.Encoder
	err  error
}

// CreateCheckpoints starts a checkpoint file for the recording whose
// SHA-256 is sum. It is written under a temporary name and takes the
// file's place at Close, so a reader never sees a half-written one.
func CreateCheckpoints(path string, sum [32]byte) (*CheckpointWriter, error) {
	if err := outfile.Check(path); err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	if old, err := os.Open(path); err == nil {
		var m [len(ckptMagic)]byte
		_, rerr := io.ReadFull(old, m[:])
		old.Close()
		if rerr != nil || string(m[:]) != ckptMagic {
			return nil, fmt.Errorf("checkpoints: %s exists and is not a checkpoint file: not replacing it", path)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".juice-ckpt-*")
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	w := &CheckpointWriter{f: f, tmp: f.Name(), path: path, enc: enc}
	if err := f.Chmod(0o644); err != nil {
		w.Abort()
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	var hdr []byte
	hdr = append(hdr, ckptMagic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, ckptVersion)
	hdr = append(hdr, sum[:]...)
	if _, err := f.Write(hdr); err != nil {
		w.Abort()
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	return w, nil
}

// Write appends a record.
func (w *CheckpointWriter) Write(r CheckpointRecord) error {
	if w.err != nil {
		return w.err
	}
	var e snapshot.Encoder
	n := 64 + len(r.State) + len(r.Pages)*(8+4096)
	for _, d := range r.Disks {
		n += 4 + len(d)
	}
	e.Grow(n)
	e.Uint64(r.Instructions)
	e.Uint64(r.Clock)
	e.Uint64(r.Script)
	e.Blob(r.State)
	e.Count(len(r.Disks))
	for _, d := range r.Disks {
		e.Blob(d)
	}
	e.Count(len(r.Pages))
	for _, p := range r.Pages {
		e.Uint32(p.Index)
		e.Blob(p.Data)
	}
	z := w.enc.EncodeAll(e.Bytes(), make([]byte, 0, n/2))
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:], uint32(len(z)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(z, castagnoli))
	if _, err := w.f.Write(hdr[:]); err != nil {
		w.err = err
	} else if _, err := w.f.Write(z); err != nil {
		w.err = err
	}
	return w.err
}

// Close finishes the file and puts it in place.
func (w *CheckpointWriter) Close() error {
	w.enc.Close()
	err := errors.Join(w.err, w.f.Close())
	if err == nil {
		err = os.Rename(w.tmp, w.path)
	}
	if err != nil {
		os.Remove(w.tmp)
		return fmt.Errorf("checkpoints: %s: %w", w.path, err)
	}
	return nil
}

// Abort drops the file being written.
func (w *CheckpointWriter) Abort() {
	w.enc.Close()
	w.f.Close()
	os.Remove(w.tmp)
}

// CheckpointReader reads a checkpoint file's records in order.
type CheckpointReader struct {
	f    *os.File
	r    *bufio.Reader
	dec  *zstd.Decoder
	name string
	n    int
	left int64 // bytes of the file not read yet
}

// ErrStale means a checkpoint file belongs to another recording (or to an
// earlier version of this one).
var ErrStale = errors.New("checkpoint file does not belong to this recording")

// OpenCheckpoints opens the checkpoint file at path, which must belong to
// the recording whose SHA-256 is sum.
func OpenCheckpoints(path string, sum [32]byte) (*CheckpointReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var hdr [len(ckptMagic) + 4 + 32]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: header: %w", path, ErrTruncated)
	}
	switch {
	case string(hdr[:len(ckptMagic)]) != ckptMagic:
		f.Close()
		return nil, fmt.Errorf("%s: not a Juice checkpoint file: %w", path, ErrCorrupt)
	case binary.LittleEndian.Uint32(hdr[len(ckptMagic):]) != ckptVersion:
		f.Close()
		return nil, fmt.Errorf("%s: checkpoint format version %d: %w", path, binary.LittleEndian.Uint32(hdr[len(ckptMagic):]), ErrVersion)
	case !bytes.Equal(hdr[len(ckptMagic)+4:], sum[:]):
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrStale)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxCheckpointRecord))
	if err != nil {
		f.Close()
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &CheckpointReader{f: f, r: bufio.NewReaderSize(f, 1<<20), dec: dec, name: path,
		left: st.Size() - int64(len(hdr))}, nil
}

// Next returns the next record, or io.EOF after the last.
func (c *CheckpointReader) Next() (CheckpointRecord, error) {
	var rec CheckpointRecord
	var hdr [8]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err == io.EOF {
		return rec, io.EOF
	} else if err != nil {
		return rec, fmt.Errorf("%s: record %d: %w", c.name, c.n, ErrTruncated)
	}
	n, sum := binary.LittleEndian.Uint32(hdr[:]), binary.LittleEndian.Uint32(hdr[4:])
	c.left -= int64(len(hdr))
	if int64(n) > c.left {
		return rec, fmt.Errorf("%s: record %d: %d bytes, more than the file has left: %w", c.name, c.n, n, ErrTruncated)
	}
	c.left -= int64(n)
	z := make([]byte, n)
	if _, err := io.ReadFull(c.r, z); err != nil {
		return rec, fmt.Errorf("%s: record %d: %w", c.name, c.n, ErrTruncated)
	}
	if crc32.Checksum(z, castagnoli) != sum {
		return rec, fmt.Errorf("%s: record %d: checksum mismatch: %w", c.name, c.n, ErrCorrupt)
	}
	b, err := c.dec.DecodeAll(z, nil)
	if err != nil {
		return rec, fmt.Errorf("%s: record %d: %v: %w", c.name, c.n, err, ErrCorrupt)
	}
	d := snapshot.NewDecoder(b)
	rec.Instructions = d.Uint64("instructions")
	rec.Clock = d.Uint64("clock")
	rec.Script = d.Uint64("script position")
	rec.State = d.Blob("state", len(b))
	for range d.Count("disks", maxDisks) {
		rec.Disks = append(rec.Disks, d.Blob("disk", len(b)))
	}
	for range d.Count("pages", min(maxPages, len(b)/4096)) {
		rec.Pages = append(rec.Pages, CheckpointPage{Index: d.Uint32("page index"), Data: d.Blob("page", 4096)})
	}
	if err := d.Finish("checkpoint record"); err != nil {
		return rec, fmt.Errorf("%s: record %d: %v: %w", c.name, c.n, err, ErrCorrupt)
	}
	c.n++
	return rec, nil
}

// Close closes the file.
func (c *CheckpointReader) Close() error {
	c.dec.Close()
	return c.f.Close()
}
