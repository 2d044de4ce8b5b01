// Package migration is the wire protocol of Juice's live migration: the
// framed, versioned messages a source VMM and a destination exchange over
// one stream (TCP or a Unix socket). The VMM (internal/vmm) drives the
// protocol; this package only encodes and decodes, bounding everything it
// reads: the stream comes from another host and is hostile input.
//
// Every message is a frame: a uint8 type, a uint32 little-endian length
// and that many bytes of payload, at most the type's bound. The exchange:
//
//	source                         destination
//	Hello (version, token, spec) →
//	                             ← Accept (which disks it shares) | Refuse
//	Pages …  (pre-copy rounds, the guest running on the source)
//	Pages, Disk …, State, Done →  (the guest paused)
//	                             ← Ready (the VM is built) | Refuse
//	Commit                       →
//	                             ← Started
//
// Until the source has sent Commit, either side may give up (a Refuse, an
// Abort, or a closed stream) and the VM goes on running on the source.
package migration

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/juicevm/juice/internal/vmspec"
)

// Version is the protocol version this Juice speaks.
const Version = 1

// Magic starts every Hello.
const Magic = "JUICEMIG"

// Type is a frame's type.
type Type uint8

// Frame types.
const (
	THello Type = iota + 1
	TAccept
	TRefuse
	TPages
	TDisk
	TState
	TDone
	TReady
	TCommit
	TStarted
	TAbort
)

func (t Type) String() string {
	names := [...]string{"", "Hello", "Accept", "Refuse", "Pages", "Disk", "State", "Done", "Ready", "Commit", "Started", "Abort"}
	if int(t) < len(names) && t != 0 {
		return names[t]
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// PageSize is the size of a page of guest RAM.
const PageSize = 4096

// Bounds of frames.
const (
	// MaxPagesPerFrame bounds the pages of one Pages frame.
	MaxPagesPerFrame = 1024
	// MaxDiskChunk bounds the data of one Disk frame.
	MaxDiskChunk = 1 << 20
	maxJSON      = 1 << 20
	maxState     = 256 << 20
)

// maxLen returns the largest payload a frame of type t may have.
func maxLen(t Type) (uint32, bool) {
	switch t {
	case THello, TAccept, TRefuse, TDone, TReady, TAbort, TStarted, TCommit:
		return maxJSON, true
	case TPages:
		return 4 + MaxPagesPerFrame*(5+PageSize), true
	case TDisk:
		return 12 + MaxDiskChunk, true
	case TState:
		return maxState, true
	}
	return 0, false
}

// Hello opens a migration.
type Hello struct {
	Magic        string      `json:"magic"`
	Version      int         `json:"version"`
	Token        string      `json:"token"`
	JuiceVersion string      `json:"juice_version"`
	Spec         vmspec.Spec `json:"spec"`
	// Disks describes the VM's disks, in the spec's order.
	Disks []Disk `json:"disks"`
}

// Disk is what the destination needs to know of a disk to decide whether
// it can reach it: a read-only one must be the same file (by digest), a
// writable one is shared if the destination sees the same file at the
// same path (size and fingerprint), and otherwise its contents are sent.
type Disk struct {
	Path     string `json:"path"`
	ReadOnly bool   `json:"read_only,omitempty"`
	Size     int64  `json:"size"`
	// SHA256 is a read-only disk's digest; Fingerprint a writable one's
	// (see Fingerprint).
	SHA256      string `json:"sha256,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Accept answers a Hello the destination can honour.
type Accept struct {
	// Shared says, for each disk, whether the destination reopens it by
	// path (shared storage) rather than receiving its contents.
	Shared []bool `json:"shared"`
}

// Refuse ends a migration with the reason.
type Refuse struct {
	Message string `json:"message"`
}

// Done ends the transfer of the paused VM.
type Done struct {
	Instructions uint64 `json:"instructions"`
	Clock        uint64 `json:"clock"`
}

// Page is one page of a Pages frame; Data nil is a zero page.
type Page struct {
	Index uint32
	Data  []byte
}

// Writer writes frames.
type Writer struct {
	w   *bufio.Writer
	buf []byte
}

// NewWriter returns a writer of frames to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 256<<10)} }

// frame writes one frame and flushes it.
func (w *Writer) frame(t Type, payload []byte) error {
	var hdr [5]byte
	hdr[0] = byte(t)
	binary.LittleEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := w.w.Write(payload); err != nil {
		return err
	}
	return w.w.Flush()
}

// JSON writes a frame whose payload is v as JSON.
func (w *Writer) JSON(t Type, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxJSON {
		return fmt.Errorf("migration: %v message of %d bytes is too large", t, len(b))
	}
	return w.frame(t, b)
}

// Pages writes a Pages frame (at most MaxPagesPerFrame pages).
func (w *Writer) Pages(ps []Page) error {
	if len(ps) > MaxPagesPerFrame {
		return fmt.Errorf("migration: %d pages in one frame", len(ps))
	}
	b := w.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ps)))
	for _, p := range ps {
		b = binary.LittleEndian.AppendUint32(b, p.Index)
		if p.Data == nil {
			b = append(b, 0)
			continue
		}
		if len(p.Data) != PageSize {
			return fmt.Errorf("migration: page %d of %d bytes", p.Index, len(p.Data))
		}
		b = append(b, 1)
		b = append(b, p.Data...)
	}
	w.buf = b
	return w.frame(TPages, b)
}

// Disk writes a chunk of disk index's contents at offset.
func (w *Writer) Disk(index uint32, offset int64, data []byte) error {
	if len(data) > MaxDiskChunk {
		return fmt.Errorf("migration: a disk chunk of %d bytes", len(data))
	}
	b := w.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, index)
	b = binary.LittleEndian.AppendUint64(b, uint64(offset))
	b = append(b, data...)
	w.buf = b
	return w.frame(TDisk, b)
}

// State writes the VM's state sections (snapshot.EncodeState's form).
func (w *Writer) State(b []byte) error {
	if len(b) > maxState {
		return fmt.Errorf("migration: %d bytes of state", len(b))
	}
	return w.frame(TState, b)
}

// Reader reads frames.
type Reader struct {
	r   *bufio.Reader
	buf []byte
}

// NewReader returns a reader of frames from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 256<<10)} }

// Next reads the next frame. Its payload is valid until the next call.
func (r *Reader) Next() (Type, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil, io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	t := Type(hdr[0])
	n := binary.LittleEndian.Uint32(hdr[1:])
	max, ok := maxLen(t)
	if !ok {
		return 0, nil, fmt.Errorf("migration: unknown frame type %d", hdr[0])
	}
	if n > max {
		return 0, nil, fmt.Errorf("migration: a %v frame of %d bytes (at most %d)", t, n, max)
	}
	if cap(r.buf) < int(n) {
		// Grow with what arrives, not with what the header claims.
		r.buf = make([]byte, 0, min(int(n), 8<<20))
	}
	b := r.buf[:0]
	for uint32(len(b)) < n {
		chunk := min(int(n)-len(b), 8<<20)
		if cap(b)-len(b) < chunk {
			b = append(b, make([]byte, chunk)...)[:len(b)]
		}
		k, err := io.ReadFull(r.r, b[len(b):len(b)+chunk])
		b = b[:len(b)+k]
		if err != nil {
			return 0, nil, fmt.Errorf("migration: a %v frame cut short: %w", t, err)
		}
	}
	r.buf = b
	return t, b, nil
}

// DecodeJSON decodes a JSON payload strictly into v.
func DecodeJSON(t Type, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("migration: a bad %v message: %w", t, err)
	}
	return nil
}

// DecodePages decodes a Pages payload; pages must be below limit. The
// pages' data alias b.
func DecodePages(b []byte, limit uint32, into []Page) ([]Page, error) {
	if len(b) < 4 {
		return nil, errors.New("migration: a Pages frame without a count")
	}
	n := binary.LittleEndian.Uint32(b)
	if n > MaxPagesPerFrame {
		return nil, fmt.Errorf("migration: %d pages in one frame (at most %d)", n, MaxPagesPerFrame)
	}
	b = b[4:]
	ps := into[:0]
	for range n {
		if len(b) < 5 {
			return nil, errors.New("migration: a Pages frame cut short")
		}
		p := Page{Index: binary.LittleEndian.Uint32(b)}
		kind := b[4]
		b = b[5:]
		if p.Index >= limit {
			return nil, fmt.Errorf("migration: page %d is beyond the VM's %d pages", p.Index, limit)
		}
		switch kind {
		case 0:
		case 1:
			if len(b) < PageSize {
				return nil, errors.New("migration: a Pages frame cut short")
			}
			p.Data, b = b[:PageSize], b[PageSize:]
		default:
			return nil, fmt.Errorf("migration: page %d of unknown kind %d", p.Index, kind)
		}
		ps = append(ps, p)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("migration: %d bytes left over in a Pages frame", len(b))
	}
	return ps, nil
}

// DecodeDisk decodes a Disk payload.
func DecodeDisk(b []byte) (index uint32, offset int64, data []byte, err error) {
	if len(b) < 12 {
		return 0, 0, nil, errors.New("migration: a Disk frame cut short")
	}
	index = binary.LittleEndian.Uint32(b)
	off := binary.LittleEndian.Uint64(b[4:])
	if off > 1<<62 {
		return 0, 0, nil, fmt.Errorf("migration: a disk offset of %d", off)
	}
	return index, int64(off), b[12:], nil
}
