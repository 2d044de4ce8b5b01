// Package replay reads and writes Juice recordings (.jrr files): the
// header that pins down a machine (configuration and input files by hash)
// followed by every outside input the machine took, each at the
// instruction count at which it entered, so that the run can be replayed
// exactly. The byte layout is described in docs/replay-format.md.
package replay

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
)

// FormatVersion is the version of the recording format this package writes,
// and the newest it reads.
const FormatVersion = 4

// oldestFormatVersion is the oldest format version this package reads.
// Version 3 is version 4 without the header's snapshot field.
const oldestFormatVersion = 3

// snapshotFormatVersion is the first format version whose header may name
// a snapshot the run started from.
const snapshotFormatVersion = 4

// MaxDataLen is the largest Data an event may carry, and the largest header
// a recording may have. Longer lengths in a file are reported as corruption.
const MaxDataLen = 16 << 20

// MaxDigestLen bounds the Data of a KindDigest event: a summary of the
// machine's state, whose layout is the machine's business.
const MaxDigestLen = 4096

// Errors that the errors returned by this package wrap; use errors.Is.
var (
	// ErrTruncated means the recording stops before its end event, as a
	// recording does when the recorder crashed or is still running.
	ErrTruncated = errors.New("recording is truncated")
	// ErrCorrupt means the recording is damaged (a checksum or a structural
	// check failed).
	ErrCorrupt = errors.New("recording is corrupt")
	// ErrForeign means the file is not a Juice recording at all.
	ErrForeign = errors.New("not a Juice recording")
	// ErrVersion means the file is a Juice recording in a format version
	// this Juice does not read.
	ErrVersion = errors.New("unsupported recording format version")
)

// magic opens every recording.
const magic = "JUICEREC"

// trailerMagic ends every recording that was closed properly.
const trailerMagic = "JUICEEND"

// Sizes of the fixed parts of the layout.
const (
	prefixLen  = 8 + 4 + 4         // magic, version, header length
	trailerLen = 8 + 8 + 4 + 4 + 8 // stream length, events, stream CRC, trailer CRC, magic
)

// castagnoli is the CRC-32C table. It is only ever read.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header opens every recording.
type Header struct {
	// FormatVersion is the format version of the file; Create fills it in.
	FormatVersion int `json:"format_version"`
	// JuiceVersion is the version of Juice that made the recording.
	JuiceVersion string `json:"juice_version"`
	// Created is when the recording was made; informational only.
	Created string `json:"created,omitempty"`
	// Config is the VM spec the run was made with (internal/vmspec's JSON
	// form, which carries its own version).
	Config json.RawMessage `json:"config"`
	// Inputs are the kernel, initrd, firmware, disk images and overlays,
	// by hash.
	Inputs []InputFile `json:"inputs"`
	// DigestInterval is the number of instructions between Digest events
	// (0: none).
	DigestInterval uint64 `json:"digest_interval"`
	// Paths says how the relative paths of Config and Inputs resolve:
	// PathsRelativeToRecording against the folder of the recording, or,
	// when empty (recordings made before this field), against the folder
	// the recorder ran in.
	Paths string `json:"paths,omitempty"`
	// Snapshot names the snapshot folder the run started from instead of
	// booting (juice record --from-snapshot); nil for a run that booted.
	// Its path resolves as Config's do. Format version 4 on.
	Snapshot *SnapshotRef `json:"snapshot,omitempty"`
}

// SnapshotRef names the snapshot a recorded run started from: a replay
// restores it, then follows the recording's inputs.
type SnapshotRef struct {
	// Path is the snapshot folder.
	Path string `json:"path"`
	// SHA256 is the lower-case hex SHA-256 of its snapshot.json, which
	// pins down the whole folder (it holds the digests of the other
	// files, and of a diff's parent).
	SHA256 string `json:"sha256"`
	// Instructions and Clock are where the snapshot was taken (as its
	// snapshot.json says); informational.
	Instructions uint64 `json:"instructions"`
	Clock        uint64 `json:"clock"`
}

// PathsRelativeToRecording is the Header.Paths of recordings whose
// relative paths name files beside the recording.
const PathsRelativeToRecording = "recording"

// InputFile identifies a file the machine was built from.
type InputFile struct {
	// Role says what the file is for ("kernel", "initrd", "disk0", ...).
	Role string `json:"role"`
	// Path is where the file was when recording.
	Path string `json:"path"`
	// Size is the file's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the lower-case hex SHA-256 of the file's contents.
	SHA256 string `json:"sha256"`
}

// HashFile describes the file at path for a Header: its size and the SHA-256
// of its contents, which it streams through the hash.
func HashFile(role, path string) (InputFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return InputFile{}, fmt.Errorf("hashing %s file: %w", role, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return InputFile{}, fmt.Errorf("hashing %s file %s: %w", role, path, err)
	}
	return InputFile{Role: role, Path: path, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Kind says what an Event is.
type Kind uint8

// The kinds of events.
const (
	// KindConsole is bytes the console took.
	KindConsole Kind = 1
	// KindEntropy is bytes given to virtio-rng.
	KindEntropy Kind = 2
	// KindNet is a frame a NIC took; Port is the NIC's index.
	KindNet Kind = 3
	// KindVsock is a vsock host event (opaque bytes).
	KindVsock Kind = 4
	// KindDigest is a summary of the machine's state (see machine.Summary),
	// without RAM; format version 1 stored a 32-byte digest instead.
	KindDigest Kind = 5
	// KindEnd ends a recording; Data is the JSON of an End. Writer.Close
	// writes it.
	KindEnd Kind = 6
)

// String returns the kind's name as used in Summary.Events: "console",
// "entropy", "net", "vsock", "digest", "end", or "kind(N)" for others.
func (k Kind) String() string {
	switch k {
	case KindConsole:
		return "console"
	case KindEntropy:
		return "entropy"
	case KindNet:
		return "net"
	case KindVsock:
		return "vsock"
	case KindDigest:
		return "digest"
	case KindEnd:
		return "end"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// valid reports whether k is a kind this format version knows.
func (k Kind) valid() bool { return k >= KindConsole && k <= KindEnd }

// Event is one thing that happened at instruction count At (total
// instructions executed by all harts).
type Event struct {
	// At is the instruction count at which the event entered the machine.
	At uint64
	// Kind says what the event is.
	Kind Kind
	// Port says which device of its kind took it (the NIC index for
	// KindNet); 0 otherwise.
	Port uint16
	// Data is the event's bytes; at most MaxDataLen.
	Data []byte
}

// End is how a recorded run ended; it is the Data of the KindEnd event.
type End struct {
	// Instructions is the total number of instructions executed by all
	// harts.
	Instructions uint64 `json:"instructions"`
	// Clock is the machine's clock at the end (the clock that stamps
	// events); it is also the At of the KindEnd event.
	Clock uint64 `json:"clock"`
	// Digest is the hex machine-state digest at the end.
	Digest string `json:"digest"`
	// Exit says why the run ended ("poweroff", "reboot", "panic", ...).
	Exit string `json:"exit"`
	// ExitCode is the exit status juice gave.
	ExitCode int `json:"exit_code"`
}

// DecodeEnd decodes the Data of a KindEnd event.
func DecodeEnd(data []byte) (End, error) {
	var e End
	if err := strictUnmarshal(data, &e); err != nil {
		return End{}, fmt.Errorf("decoding end event: %w", err)
	}
	return e, nil
}

// strictUnmarshal decodes one JSON value into v, refusing unknown fields and
// trailing data.
func strictUnmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON value")
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}
