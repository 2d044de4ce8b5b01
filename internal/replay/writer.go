package replay

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
)

// flushInterval is how often, at most, Write pushes buffered events to the
// file, so that a crash of the recorder loses at most about this much.
const flushInterval = time.Second

// encoderWindow is the zstd window the writer uses (readers accept up to
// maxDecoderWindow).
const (
	encoderWindow    = 1 << 20
	maxDecoderWindow = 8 << 20
)

// Writer writes a recording incrementally. It is not safe for concurrent
// use; the machine writes from its own thread.
type Writer struct {
	path   string
	f      *os.File
	owned  bool            // Close closes f
	count  *countingWriter // the file, counting the stream's bytes
	buf    *bufio.Writer
	enc    *zstd.Encoder
	events uint64 // frames written so far
	lastAt uint64

	now       func() time.Time // the host clock, replaceable in tests
	interval  time.Duration
	lastFlush time.Time

	scratch []byte  // a frame's fields before its data
	sum     [4]byte // a frame's CRC
	err     error   // sticky: the first failure, or errClosed
}

// errClosed is the sticky error of a closed Writer.
var errClosed = errors.New("writer is closed")

// countingWriter passes writes on, counting the bytes and their CRC-32C.
type countingWriter struct {
	w   io.Writer
	n   int64
	crc uint32
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

// Create creates the recording file at path (mode 0644, replacing any file
// there) and writes h to it. h.FormatVersion may be 0 or FormatVersion; the
// file records FormatVersion. Commands write recordings with NewWriter,
// into a file beside the final name (internal/outfile).
func Create(path string, h Header) (*Writer, error) {
	if _, err := encodeHeader(h); err != nil {
		return nil, fmt.Errorf("creating recording %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating recording: %w", err)
	}
	w, err := NewWriter(f, h)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.owned = true
	return w, nil
}

// NewWriter writes a recording with header h into f, an empty file open
// for writing. Close ends the recording and syncs f, but leaves closing f
// (and putting it in place) to the caller.
func NewWriter(f *os.File, h Header) (*Writer, error) {
	path := f.Name()
	hdr, err := encodeHeader(h)
	if err != nil {
		return nil, fmt.Errorf("creating recording %s: %w", path, err)
	}
	if _, err := f.Write(hdr); err != nil {
		return nil, fmt.Errorf("writing header of recording %s: %w", path, err)
	}
	count := &countingWriter{w: f}
	buf := bufio.NewWriterSize(count, 64<<10)
	enc, err := zstd.NewWriter(buf,
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(encoderWindow),
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, fmt.Errorf("creating recording %s: starting zstd: %w", path, err)
	}
	w := &Writer{path: path, f: f, count: count, buf: buf, enc: enc, now: time.Now, interval: flushInterval}
	w.lastFlush = w.now()
	return w, nil
}

// encodeHeader returns the fixed prefix, the zstd-compressed header JSON
// and its CRC.
func encodeHeader(h Header) ([]byte, error) {
	if h.FormatVersion != 0 && h.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("header asks for format version %d; this Juice writes %d", h.FormatVersion, FormatVersion)
	}
	return encodeHeaderVersion(h, FormatVersion)
}

// encodeHeaderVersion is encodeHeader for format version v (tests write
// older versions with it).
func encodeHeaderVersion(h Header, v uint32) ([]byte, error) {
	h.FormatVersion = int(v)
	if len(h.Config) == 0 {
		return nil, errors.New("header has no machine configuration")
	}
	if h.Inputs == nil {
		h.Inputs = []InputFile{}
	}
	js, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("encoding header: %w", err)
	}
	if len(js) > MaxDataLen {
		return nil, fmt.Errorf("header is %d bytes, more than the %d allowed", len(js), MaxDataLen)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(encoderWindow))
	if err != nil {
		return nil, err
	}
	js = enc.EncodeAll(js, nil)
	enc.Close()
	b := make([]byte, 0, prefixLen+len(js)+4)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, v)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(js)))
	b = append(b, js...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return b, nil
}

// Write appends e to the recording. Events must come in non-decreasing At
// order; e.Kind must be a known kind other than KindEnd (Close writes that);
// a KindDigest event carries 1 to MaxDigestLen bytes. About once a second
// Write pushes everything written so far to the file, so that a recorder
// that crashes loses at most about the last second.
//
// After a failed Write the Writer is unusable: every later call returns the
// same error (invalid events are refused without harming the Writer).
func (w *Writer) Write(e Event) error {
	if w.err != nil {
		return w.stickyErr()
	}
	if err := w.check(e); err != nil {
		return fmt.Errorf("recording %s: event %d (at %d): %w", w.path, w.events, e.At, err)
	}
	if err := w.writeFrame(e); err != nil {
		return err
	}
	// time.Now carries a monotonic reading, so host clock steps do not
	// matter; a negative interval (only from a replaced clock) flushes too.
	if now := w.now(); now.Sub(w.lastFlush) >= w.interval || now.Before(w.lastFlush) {
		w.lastFlush = now
		return w.Flush()
	}
	return nil
}

// check validates an event given to Write.
func (w *Writer) check(e Event) error {
	switch {
	case e.Kind == KindEnd:
		return errors.New("end events are written by Close")
	case !e.Kind.valid():
		return fmt.Errorf("unknown event kind %d", e.Kind)
	case e.At < w.lastAt:
		return fmt.Errorf("out of order: at %d comes after an event at %d", e.At, w.lastAt)
	case len(e.Data) > MaxDataLen:
		return fmt.Errorf("%s event carries %d bytes, more than the %d allowed", e.Kind, len(e.Data), MaxDataLen)
	case e.Kind == KindDigest && (len(e.Data) == 0 || len(e.Data) > MaxDigestLen):
		return fmt.Errorf("digest event carries %d bytes (1 to %d allowed)", len(e.Data), MaxDigestLen)
	}
	return nil
}

// writeFrame encodes e as the next frame of the event stream.
func (w *Writer) writeFrame(e Event) error {
	var idx [8]byte
	binary.LittleEndian.PutUint64(idx[:], w.events)
	b := w.scratch[:0]
	b = binary.AppendUvarint(b, e.At-w.lastAt)
	b = append(b, byte(e.Kind))
	b = binary.AppendUvarint(b, uint64(e.Port))
	b = binary.AppendUvarint(b, uint64(len(e.Data)))
	crc := crc32.Update(0, castagnoli, idx[:])
	crc = crc32.Update(crc, castagnoli, b)
	crc = crc32.Update(crc, castagnoli, e.Data)
	w.scratch = b
	binary.LittleEndian.PutUint32(w.sum[:], crc)
	for _, p := range [3][]byte{b, e.Data, w.sum[:]} {
		if _, err := w.enc.Write(p); err != nil {
			return w.fail(fmt.Errorf("recording %s: writing event %d: %w", w.path, w.events, err))
		}
	}
	w.events++
	w.lastAt = e.At
	return nil
}

// Flush pushes every event written so far to the file (but does not fsync
// it). Write does this by itself about once a second.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.stickyErr()
	}
	if err := w.enc.Flush(); err != nil {
		return w.fail(fmt.Errorf("recording %s: flushing compressor: %w", w.path, err))
	}
	if err := w.buf.Flush(); err != nil {
		return w.fail(fmt.Errorf("recording %s: flushing to file: %w", w.path, err))
	}
	return nil
}

// Close writes the KindEnd event for end (at end.Instructions, which must
// not be before the last event), ends the compressed stream, writes the
// trailer that marks the recording complete, fsyncs and closes the file.
// The Writer cannot be used afterwards. If end is refused, Close still
// flushes and closes the file, leaving a recording that reads as truncated.
func (w *Writer) Close(end End) error {
	if w.err != nil {
		return w.stickyErr()
	}
	if end.Clock < w.lastAt {
		return w.abandon(fmt.Errorf("recording %s: end at %d comes before the last event, at %d", w.path, end.Clock, w.lastAt))
	}
	data, err := json.Marshal(end)
	if err != nil {
		return w.abandon(fmt.Errorf("recording %s: encoding end event: %w", w.path, err))
	}
	if err := w.writeFrame(Event{At: end.Clock, Kind: KindEnd, Data: data}); err != nil {
		return err
	}
	if err := w.enc.Close(); err != nil {
		return w.fail(fmt.Errorf("recording %s: ending compressed stream: %w", w.path, err))
	}
	if err := w.buf.Flush(); err != nil {
		return w.fail(fmt.Errorf("recording %s: flushing to file: %w", w.path, err))
	}
	t := make([]byte, 0, trailerLen)
	t = binary.LittleEndian.AppendUint64(t, uint64(w.count.n))
	t = binary.LittleEndian.AppendUint64(t, w.events)
	t = binary.LittleEndian.AppendUint32(t, w.count.crc)
	t = binary.LittleEndian.AppendUint32(t, crc32.Checksum(t, castagnoli))
	t = append(t, trailerMagic...)
	if _, err := w.f.Write(t); err != nil {
		return w.fail(fmt.Errorf("recording %s: writing trailer: %w", w.path, err))
	}
	if err := w.f.Sync(); err != nil {
		return w.fail(fmt.Errorf("recording %s: syncing: %w", w.path, err))
	}
	w.err = errClosed
	if !w.owned {
		return nil
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("recording %s: closing: %w", w.path, err)
	}
	syncDir(filepath.Dir(w.path))
	return nil
}

// syncDir makes a new file's directory entry durable, as far as the file
// system allows; failures are ignored (some file systems refuse it, and the
// recording's own data is already synced).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// abandon flushes what was written, closes the file without ending the
// recording, and makes err the Writer's sticky error.
func (w *Writer) abandon(err error) error {
	if ferr := w.Flush(); ferr != nil {
		return errors.Join(err, ferr)
	}
	w.err = err
	w.enc.Close()
	if !w.owned {
		return err
	}
	if cerr := w.f.Close(); cerr != nil {
		return errors.Join(err, fmt.Errorf("recording %s: closing: %w", w.path, cerr))
	}
	return err
}

// fail records err as the Writer's sticky error, releases the file, and
// returns err.
func (w *Writer) fail(err error) error {
	w.err = err
	w.enc.Close()
	if w.owned {
		w.f.Close()
	}
	return err
}

// stickyErr returns the error for a call on a failed or closed Writer.
func (w *Writer) stickyErr() error {
	if w.err == errClosed {
		return fmt.Errorf("recording %s: %w", w.path, errClosed)
	}
	return w.err
}
