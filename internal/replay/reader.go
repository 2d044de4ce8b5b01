package replay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// Reader reads a recording event by event. It is not safe for concurrent use.
type Reader struct {
	name   string
	file   io.Closer // nil when reading from memory
	header Header
	closed bool   // the file has a valid trailer: the recorder finished it
	want   uint64 // from the trailer: number of events
	crc    uint32 // from the trailer: CRC-32C of the compressed stream

	raw *crcReader // the compressed stream
	dec *zstd.Decoder
	br  *bufio.Reader // the decompressed stream

	off    int64  // offset in the decompressed stream
	events uint64 // events returned so far
	lastAt uint64
	hdr    []byte // scratch for a frame's fixed fields
	err    error  // sticky: io.EOF after the end event, or the first failure
}

// crcReader passes reads on, keeping the CRC-32C of what went through.
type crcReader struct {
	r   io.Reader
	crc uint32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

// Open opens the recording at path and reads and validates its header.
// The Reader must be closed.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening recording: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening recording: %w", err)
	}
	r, err := newReader(path, f, fi.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	r.file = f
	return r, nil
}

// newReader reads the recording held in the size bytes of ra; name names it
// in errors.
func newReader(name string, ra io.ReaderAt, size int64) (*Reader, error) {
	fail := func(off int64, sentinel error, format string, args ...any) error {
		return fmt.Errorf("%s: byte offset %d: %s: %w", name, off, fmt.Sprintf(format, args...), sentinel)
	}
	var pre [prefixLen]byte
	n, err := ra.ReadAt(pre[:], 0)
	if n < len(pre) && err != io.EOF {
		return nil, fmt.Errorf("%s: reading header: %w", name, err)
	}
	if n < len(magic) {
		if n == 0 {
			return nil, fail(0, ErrTruncated, "empty file")
		}
		if bytes.HasPrefix([]byte(magic), pre[:n]) {
			return nil, fail(0, ErrTruncated, "file ends inside the magic")
		}
		return nil, fail(0, ErrForeign, "file does not start with %q", magic)
	}
	if string(pre[:len(magic)]) != magic {
		return nil, fail(0, ErrForeign, "file does not start with %q", magic)
	}
	if n < len(magic)+4 {
		return nil, fail(int64(n), ErrTruncated, "file ends inside the format version")
	}
	version := binary.LittleEndian.Uint32(pre[len(magic):])
	switch {
	case version > FormatVersion:
		return nil, fail(int64(len(magic)), ErrVersion, "format version %d is newer than this Juice reads (%d)", version, FormatVersion)
	case version == 2:
		return nil, fail(int64(len(magic)), ErrVersion, "format version 2 is older than this Juice reads (%d to %d): its header holds the recorder's command-line options, not a VM spec; record the run again with this Juice", oldestFormatVersion, FormatVersion)
	case version < oldestFormatVersion:
		return nil, fail(int64(len(magic)), ErrVersion, "format version %d is older than this Juice reads (%d to %d)", version, oldestFormatVersion, FormatVersion)
	}
	if n < prefixLen {
		return nil, fail(int64(n), ErrTruncated, "file ends inside the header length")
	}
	hlen := int64(binary.LittleEndian.Uint32(pre[len(magic)+4:]))
	if hlen > MaxDataLen {
		return nil, fail(int64(len(magic)+4), ErrCorrupt, "header length %d is more than the %d allowed", hlen, MaxDataLen)
	}
	headerEnd := int64(prefixLen) + hlen + 4

	r := &Reader{name: name}
	streamEnd := size
	if t, ok := readTrailer(ra, size); ok {
		if t.streamLen > uint64(size) || headerEnd+int64(t.streamLen)+int64(trailerLen) != size {
			return nil, fail(int64(len(magic)+4), ErrCorrupt, "header length %d disagrees with the trailer's stream length %d and the file size %d", hlen, t.streamLen, size)
		}
		r.closed, r.want, r.crc = true, t.events, t.crc
		streamEnd = size - int64(trailerLen)
	}
	if size < headerEnd {
		return nil, fail(size, ErrTruncated, "file ends inside the %d-byte header", hlen)
	}
	buf := make([]byte, prefixLen+hlen+4)
	copy(buf, pre[:])
	if _, err := ra.ReadAt(buf[prefixLen:], prefixLen); err != nil {
		return nil, fmt.Errorf("%s: reading header: %w", name, err)
	}
	js := buf[prefixLen : prefixLen+hlen]
	sum := binary.LittleEndian.Uint32(buf[prefixLen+hlen:])
	if got := crc32.Checksum(buf[:prefixLen+hlen], castagnoli); got != sum {
		return nil, fail(prefixLen+hlen, ErrCorrupt, "header checksum mismatch (stored %08x, computed %08x)", sum, got)
	}
	js, err = decompressHeader(js)
	if err != nil {
		return nil, fail(prefixLen, ErrCorrupt, "header: %v", err)
	}
	if err := strictUnmarshal(js, &r.header); err != nil {
		return nil, fail(prefixLen, ErrCorrupt, "header: %v", err)
	}
	if r.header.FormatVersion != int(version) {
		return nil, fail(prefixLen, ErrCorrupt, "header says format version %d, the file %d", r.header.FormatVersion, version)
	}
	if sn := r.header.Snapshot; sn != nil {
		if version < snapshotFormatVersion {
			return nil, fail(prefixLen, ErrCorrupt, "header: the snapshot field is format version %d's, the file is version %d", snapshotFormatVersion, version)
		}
		if sn.Path == "" || !isHexSHA256(sn.SHA256) {
			return nil, fail(prefixLen, ErrCorrupt, "header: the snapshot field needs a path and the SHA-256 of its snapshot.json (64 hex digits)")
		}
	}
	if len(r.header.Config) == 0 || string(r.header.Config) == "null" {
		return nil, fail(prefixLen, ErrCorrupt, "header has no machine configuration")
	}

	r.raw = &crcReader{r: io.NewSectionReader(ra, headerEnd, streamEnd-headerEnd)}
	r.dec, err = zstd.NewReader(r.raw,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxDecoderWindow),
		zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, fmt.Errorf("%s: starting zstd: %w", name, err)
	}
	r.br = bufio.NewReaderSize(r.dec, 32<<10)
	return r, nil
}

// trailer is the end of a recording that was closed properly.
type trailer struct {
	streamLen uint64
	events    uint64
	crc       uint32
}

// readTrailer reads the trailer at the end of ra, if there is a valid one.
func readTrailer(ra io.ReaderAt, size int64) (trailer, bool) {
	if size < int64(prefixLen+4+trailerLen) {
		return trailer{}, false
	}
	var b [trailerLen]byte
	if _, err := ra.ReadAt(b[:], size-int64(trailerLen)); err != nil {
		return trailer{}, false
	}
	if string(b[trailerLen-len(trailerMagic):]) != trailerMagic ||
		crc32.Checksum(b[:20], castagnoli) != binary.LittleEndian.Uint32(b[20:]) {
		return trailer{}, false
	}
	return trailer{
		streamLen: binary.LittleEndian.Uint64(b[0:]),
		events:    binary.LittleEndian.Uint64(b[8:]),
		crc:       binary.LittleEndian.Uint32(b[16:]),
	}, true
}

// Header returns the recording's header.
func (r *Reader) Header() Header { return r.header }

// Close releases the Reader's file.
func (r *Reader) Close() error {
	if r.dec != nil {
		r.dec.Close()
		r.dec = nil
	}
	if r.file != nil {
		err := r.file.Close()
		r.file = nil
		if err != nil {
			return fmt.Errorf("closing recording %s: %w", r.name, err)
		}
	}
	return nil
}

// Next returns the next event. The last event of a complete recording is
// KindEnd, returned only once the whole file has been verified; after it
// Next returns io.EOF. A recording that stops without an end event (its
// recorder crashed, or is still writing) gives an error wrapping
// ErrTruncated after the last complete event; damage gives one wrapping
// ErrCorrupt that names the event (its index and instruction count) and
// where it is in the decompressed stream. Errors are sticky.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	e, err := r.next()
	if err != nil {
		r.err = err
		return Event{}, err
	}
	return e, nil
}

// next reads one frame.
func (r *Reader) next() (Event, error) {
	if r.dec == nil {
		return Event{}, fmt.Errorf("%s: reader is closed", r.name)
	}
	start := r.off
	idx := r.events
	corrupt := func(at uint64, format string, args ...any) error {
		return fmt.Errorf("%s: event %d (at %d, stream offset %d): %s: %w", r.name, idx, at, start, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	// stopped classifies a read error inside the event stream.
	stopped := func(err error, atStart bool) error {
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return corrupt(r.lastAt, "decompressing: %v", err)
		}
		if r.closed {
			return corrupt(r.lastAt, "compressed stream ends early, though the recording was closed")
		}
		where := fmt.Sprintf("after event %d (at %d)", idx-1, r.lastAt)
		switch {
		case idx == 0 && atStart:
			where = "before its first event"
		case idx == 0:
			where = "inside its first event"
		case !atStart:
			where = fmt.Sprintf("inside the event after event %d (at %d)", idx-1, r.lastAt)
		}
		return fmt.Errorf("%s: recording stops %s without an end event (stream offset %d): %w",
			r.name, where, r.off, ErrTruncated)
	}

	h := r.hdr[:0]
	delta, h, err := r.uvarint(h)
	if err != nil {
		if errors.Is(err, errOverlong) {
			return Event{}, corrupt(r.lastAt, "instruction delta: %v", err)
		}
		return Event{}, stopped(err, len(h) == 0)
	}
	kind, err := r.br.ReadByte()
	if err != nil {
		return Event{}, stopped(err, false)
	}
	r.off++
	h = append(h, kind)
	port, h, err := r.uvarint(h)
	if err != nil {
		if errors.Is(err, errOverlong) {
			return Event{}, corrupt(r.lastAt, "port: %v", err)
		}
		return Event{}, stopped(err, false)
	}
	length, h, err := r.uvarint(h)
	if err != nil {
		if errors.Is(err, errOverlong) {
			return Event{}, corrupt(r.lastAt, "length: %v", err)
		}
		return Event{}, stopped(err, false)
	}
	r.hdr = h
	at := r.lastAt + delta
	if at < r.lastAt {
		return Event{}, corrupt(r.lastAt, "instruction count overflows")
	}
	if length > MaxDataLen {
		return Event{}, corrupt(at, "data length %d is more than the %d allowed", length, MaxDataLen)
	}
	if port > 0xffff {
		return Event{}, corrupt(at, "port %d is out of range", port)
	}
	data, err := r.readData(int(length))
	if err != nil {
		return Event{}, stopped(err, false)
	}
	var sum [4]byte
	if _, err := io.ReadFull(r.br, sum[:]); err != nil {
		return Event{}, stopped(err, false)
	}
	r.off += 4
	var ib [8]byte
	binary.LittleEndian.PutUint64(ib[:], idx)
	crc := crc32.Update(0, castagnoli, ib[:])
	crc = crc32.Update(crc, castagnoli, h)
	crc = crc32.Update(crc, castagnoli, data)
	if stored := binary.LittleEndian.Uint32(sum[:]); stored != crc {
		return Event{}, corrupt(at, "checksum mismatch (stored %08x, computed %08x)", stored, crc)
	}
	e := Event{At: at, Kind: Kind(kind), Port: uint16(port), Data: data}
	switch {
	case !e.Kind.valid():
		return Event{}, corrupt(at, "unknown event kind %d", kind)
	case e.Kind == KindDigest && (len(data) == 0 || len(data) > MaxDigestLen):
		return Event{}, corrupt(at, "digest event carries %d bytes (1 to %d allowed)", len(data), MaxDigestLen)
	case e.Kind == KindEnd:
		end, err := DecodeEnd(data)
		if err != nil {
			return Event{}, corrupt(at, "%v", err)
		}
		if end.Clock != at {
			return Event{}, corrupt(at, "end event says clock %d", end.Clock)
		}
	}
	r.events++
	r.lastAt = at
	if e.Kind == KindEnd {
		if err := r.finish(); err != nil {
			return Event{}, err
		}
	}
	return e, nil
}

// finish checks, after the end event, that the stream ends there and
// matches the trailer, and leaves io.EOF as the sticky result.
func (r *Reader) finish() error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%s: after the end event (event %d, at %d): %s: %w", r.name, r.events-1, r.lastAt, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	truncated := func(where string) error {
		return fmt.Errorf("%s: recording stops %s, after its end event (event %d, at %d): %w", r.name, where, r.events-1, r.lastAt, ErrTruncated)
	}
	if _, err := r.br.ReadByte(); err == nil {
		return corrupt("data follows the end event")
	} else if err != io.EOF {
		if !r.closed && errors.Is(err, io.ErrUnexpectedEOF) {
			return truncated("inside its trailer")
		}
		return corrupt("decompressing: %v", err)
	}
	if !r.closed {
		return truncated("before its trailer")
	}
	if _, err := io.Copy(io.Discard, r.raw); err != nil {
		return fmt.Errorf("%s: reading recording: %w", r.name, err)
	}
	if r.raw.crc != r.crc {
		return corrupt("compressed stream checksum mismatch (trailer %08x, computed %08x)", r.crc, r.raw.crc)
	}
	if r.events != r.want {
		return corrupt("%d events, the trailer says %d", r.events, r.want)
	}
	r.err = io.EOF
	return nil
}

// errOverlong reports a varint longer than any this format writes.
var errOverlong = errors.New("varint is too long")

// uvarint reads a uvarint from the decompressed stream, appending its bytes
// to h.
func (r *Reader) uvarint(h []byte) (uint64, []byte, error) {
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b, err := r.br.ReadByte()
		if err != nil {
			return 0, h, err
		}
		r.off++
		h = append(h, b)
		if i == binary.MaxVarintLen64-1 && b > 1 {
			return 0, h, errOverlong
		}
		x |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return x, h, nil
		}
	}
	return 0, h, errOverlong
}

// readData reads n bytes (n already checked against MaxDataLen), growing the
// buffer as the bytes arrive rather than trusting n up front beyond 1 MiB.
func (r *Reader) readData(n int) ([]byte, error) {
	if n <= 1<<20 {
		data := make([]byte, n)
		m, err := io.ReadFull(r.br, data)
		r.off += int64(m)
		return data, err
	}
	var b bytes.Buffer
	m, err := io.CopyN(&b, r.br, int64(n))
	r.off += m
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b.Bytes(), nil
}

// Summary describes a recording.
type Summary struct {
	// Header is the recording's header.
	Header Header
	// Events counts the events by kind name (Kind.String), the end event
	// included.
	Events map[string]int
	// Bytes is the size of the file.
	Bytes int64
	// Instructions is the instruction count at the end (End.Instructions),
	// or, for a recording without an end, at its last readable event.
	Instructions uint64
	// End is how the run ended; nil if the recording has no end event.
	End *End
}

// Summarize reads the whole recording at path and describes it. When the
// recording is damaged or truncated it returns what it could read together
// with the error.
func Summarize(path string) (Summary, error) {
	s := Summary{Events: map[string]int{}}
	if fi, err := os.Stat(path); err == nil {
		s.Bytes = fi.Size()
	}
	r, err := Open(path)
	if err != nil {
		return s, err
	}
	defer r.Close()
	s.Header = r.Header()
	for {
		e, err := r.Next()
		if err == io.EOF {
			return s, nil
		}
		if err != nil {
			return s, err
		}
		s.Events[e.Kind.String()]++
		if e.Kind == KindEnd {
			end, err := DecodeEnd(e.Data)
			if err != nil { // Next has checked it already
				return s, fmt.Errorf("%s: %w", path, err)
			}
			s.Instructions = end.Instructions
			s.End = &end
		}
	}
}

// decompressHeader expands the zstd-compressed header JSON, refusing more
// than MaxDataLen bytes.
func decompressHeader(z []byte) ([]byte, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxDataLen),
		zstd.WithDecoderMaxWindow(maxDecoderWindow))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	js, err := dec.DecodeAll(z, nil)
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	return js, nil
}

// isHexSHA256 reports whether s is a lower-case hex SHA-256.
func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
