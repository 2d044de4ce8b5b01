package vmm

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/outfile"
	"github.com/juicevm/juice/internal/replay"
	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/vmspec"
)

// Recorded input kinds in the file, by machine event kind.
var toFileKind = map[machine.EventKind]replay.Kind{
	machine.EventConsole: replay.KindConsole,
	machine.EventEntropy: replay.KindEntropy,
	machine.EventNet:     replay.KindNet,
	machine.EventVsock:   replay.KindVsock,
}

// Files lists the host files a spec names: those the machine only reads
// (the kernel, initrd, firmware, bare-metal program and disk images, and
// the vsock socket) and the disks' overlays, which it writes.
func SpecFiles(s *vmspec.Spec) (inputs, overlays []string) {
	for _, f := range []*vmspec.File{s.Boot.Kernel, s.Boot.Initrd, s.Boot.Firmware, s.Boot.Bare} {
		if f != nil {
			inputs = append(inputs, f.Path)
		}
	}
	for _, d := range s.Disks {
		inputs = append(inputs, d.Path)
		if d.Overlay != "" {
			overlays = append(overlays, d.Overlay)
		}
	}
	if s.Vsock != nil {
		inputs = append(inputs, s.Vsock.Path)
	}
	return inputs, overlays
}

// CheckOverlays refuses, before anything runs, disk overlays that are
// inputs of the spec, links or folders.
func CheckOverlays(s *vmspec.Spec) error {
	in, ovl := SpecFiles(s)
	for _, o := range ovl {
		if err := outfile.Check(o, in...); err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
	}
	return nil
}

// RecordOptions configure a recording.
type RecordOptions struct {
	Options
	// Output is the recording, FILE.jrr: written as FILE.jrr.partial and
	// renamed when the run ends.
	Output string
	// DigestEvery is the clock interval of the state summaries the
	// recording keeps for replays to check (0: none).
	DigestEvery uint64
	// Overlays are the spec's disk overlays that are renamed with the
	// recording, by the name they are written as (see RecordOverlay).
	Overlays map[string]string
}

// RecordOverlay names the new overlay a recording to out gives a disk it
// records: out.DISK.ovl beside it, written as out.partial.DISK.ovl and
// renamed with the recording. It adds the name to overlays.
func RecordOverlay(out, disk string, overlays map[string]string) string {
	p := outfile.PartialPath(out) + "." + disk + ".ovl"
	overlays[p] = out + "." + disk + ".ovl"
	return p
}

// Recorded is how a recording went.
type Recorded struct {
	// Started reports whether the machine was built and ran: if not,
	// nothing was written.
	Started bool
	// Exit is how the run ended; End is what the recording says of it.
	Exit machine.Exit
	End  replay.End
	// Inputs is the number of inputs recorded.
	Inputs int
}

// checkRecordDisks refuses disks a replay could not start from: a
// writable image without an overlay (the guest would change it), or an
// overlay that exists already (its contents would be lost).
func checkRecordDisks(s *vmspec.Spec) error {
	for _, d := range s.Disks {
		if !d.ReadOnly && d.Overlay == "" {
			return fmt.Errorf("record: disk %s is writable: a replay needs the contents it starts from, so make it read-only (%s,ro) or give it a new overlay (%s,overlay=FILE)", d.Path, d.Path, d.Path)
		}
		if d.Overlay != "" {
			if _, err := os.Lstat(d.Overlay); err == nil {
				return fmt.Errorf("record: overlay %s already exists: a recording starts from a new, empty overlay (remove it, or name another)", d.Overlay)
			}
		}
	}
	return nil
}

// checkRecordOutputs refuses outputs that are inputs, links or folders,
// before anything is written.
func checkRecordOutputs(s *vmspec.Spec, o *RecordOptions) error {
	inputs, overlays := SpecFiles(s)
	outs := []string{o.Output}
	for _, ovl := range overlays {
		outs = append(outs, ovl)
		if final, ok := o.Overlays[ovl]; ok {
			outs = append(outs, final)
		}
	}
	for i, p := range outs {
		if err := outfile.Check(p, slices.Concat(inputs, outs[:i])...); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	return nil
}

// recordedPath names the file at p as a recording in folder dir does:
// relative to dir when p is inside it (the two can move together), else
// absolute.
func recordedPath(dir, p string) string {
	if p == "" {
		return ""
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(dir, abs); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return abs
}

// inputFiles hashes the files a run depends on.
func inputFiles(s *vmspec.Spec) ([]replay.InputFile, error) {
	var out []replay.InputFile
	add := func(role, path string) error {
		in, err := replay.HashFile(role, path)
		if err != nil {
			return fmt.Errorf("%s: %w", role, err)
		}
		out = append(out, in)
		return nil
	}
	for _, b := range []struct {
		role string
		f    *vmspec.File
	}{{"kernel", s.Boot.Kernel}, {"initrd", s.Boot.Initrd}, {"firmware", s.Boot.Firmware}, {"bare", s.Boot.Bare}} {
		if b.f != nil {
			if err := add(b.role, b.f.Path); err != nil {
				return nil, err
			}
		}
	}
	for i, d := range s.Disks {
		if err := add(fmt.Sprintf("disk%d", i), d.Path); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Record runs the spec's machine, recording what comes in from outside.
// The recording is written as FILE.jrr.partial and renamed when the run
// ends, however it ends; the overlays o.Overlays names are renamed with
// it. If the machine never ran, nothing is left.
func Record(ctx context.Context, spec vmspec.Spec, o RecordOptions) (Recorded, error) {
	if err := spec.Validate(); err != nil {
		return Recorded{}, fmt.Errorf("vm spec: %w", err)
	}
	if err := checkRecordDisks(&spec); err != nil {
		return Recorded{}, err
	}
	return record(ctx, spec, o, recordSource{
		build:  func(vo Options) (*VM, error) { return New(spec, vo) },
		inputs: func() ([]replay.InputFile, error) { return inputFiles(&spec) },
	})
}

// SnapshotSource is the snapshot a recording starts from instead of
// booting, and what replaces its host resources (see RestoreOptions).
type SnapshotSource struct {
	Dir   string
	Net   []vmspec.Net
	Vsock *vmspec.Vsock
}

// RecordSnapshot restores the snapshot from.Dir and records the run that
// goes on from it, as Record does. The recording names the snapshot by
// its path and the SHA-256 of its snapshot.json, and a replay restores it
// again. The guest's writes to the snapshot's writable disks are kept in
// memory, so that the snapshot's disks stay what a replay starts from.
func RecordSnapshot(ctx context.Context, from SnapshotSource, o RecordOptions) (Recorded, error) {
	tip, err := snapshot.Open(from.Dir)
	if err != nil {
		return Recorded{}, fmt.Errorf("record: %w", err)
	}
	man, digest := tip.Manifest, tip.Digest
	tip.Close()
	spec := man.Spec.Clone()
	if from.Net != nil {
		spec.Net = from.Net
	}
	if from.Vsock != nil {
		spec.Vsock = from.Vsock
	}
	for i := range spec.Disks {
		spec.Disks[i].Overlay = "" // a restore does not use them
	}
	if err := spec.Validate(); err != nil {
		return Recorded{}, fmt.Errorf("vm spec: %w", err)
	}
	abs, err := filepath.Abs(from.Dir)
	if err != nil {
		return Recorded{}, err
	}
	ref := &replay.SnapshotRef{Path: abs, SHA256: digest, Instructions: man.Instructions, Clock: man.Clock}
	return record(ctx, spec, o, recordSource{
		snapshot: ref,
		build: func(vo Options) (*VM, error) {
			vm, err := Restore(from.Dir, RestoreOptions{Options: vo, Net: from.Net, Vsock: from.Vsock})
			if err != nil {
				return nil, err
			}
			if got := vm.snap.parent.SHA256; got != digest {
				vm.Close()
				return nil, fmt.Errorf("record: snapshot %s changed while it was being restored (snapshot.json sha256 %s, then %s)", from.Dir, short(digest), short(got))
			}
			return vm, nil
		},
		inputs: func() ([]replay.InputFile, error) { return nil, nil },
	})
}

// recordSource is what a recording's machine is built from: a spec that
// boots, or a snapshot.
type recordSource struct {
	// snapshot names the snapshot the run starts from (its path absolute),
	// or is nil.
	snapshot *replay.SnapshotRef
	build    func(Options) (*VM, error)
	// inputs hashes the files the run depends on.
	inputs func() ([]replay.InputFile, error)
}

// record records the run of the machine src builds, whose spec is spec.
func record(ctx context.Context, spec vmspec.Spec, o RecordOptions, src recordSource) (Recorded, error) {
	var res Recorded
	if err := checkRecordOutputs(&spec, &o); err != nil {
		return res, err
	}
	// The header names files relative to the recording's folder when they
	// are beside it, and the overlays by their final names.
	dir, err := filepath.Abs(filepath.Dir(o.Output))
	if err != nil {
		return res, err
	}
	named := spec.Clone()
	named.Paths(func(p *string) {
		if final, ok := o.Overlays[*p]; ok {
			*p = final
		}
		*p = recordedPath(dir, *p)
	})
	config, err := named.Marshal()
	if err != nil {
		return res, err
	}
	file, err := outfile.Create(o.Output, outfile.Options{Partial: true})
	if err != nil {
		return res, fmt.Errorf("record: %w", err)
	}
	var created []string // overlays this run creates
	for _, d := range spec.Disks {
		if d.Overlay != "" {
			created = append(created, d.Overlay)
		}
	}
	log := openLog(func() (*replay.Writer, error) {
		inputs, err := src.inputs()
		if err != nil {
			return nil, err
		}
		for i := range inputs {
			inputs[i].Path = recordedPath(dir, inputs[i].Path)
		}
		var snap *replay.SnapshotRef
		if src.snapshot != nil {
			ref := *src.snapshot
			ref.Path = recordedPath(dir, ref.Path)
			snap = &ref
		}
		return replay.NewWriter(file.File, replay.Header{FormatVersion: replay.FormatVersion, JuiceVersion: o.JuiceVersion,
			Config: bytes.TrimSpace(config), Inputs: inputs, DigestInterval: o.DigestEvery, Paths: replay.PathsRelativeToRecording,
			Snapshot: snap})
	})
	vo := o.Options
	vo.Log = log
	vo.DigestInterval, vo.OnDigest = o.DigestEvery, log.digest
	vm, err := src.build(vo)
	if err == nil && o.Started != nil {
		if err = o.Started(vm); err != nil {
			vm.Close()
		}
	}
	if err != nil {
		log.close(replay.End{})
		file.Abort()
		for _, p := range created {
			os.Remove(p)
		}
		return res, err
	}
	defer vm.Close()
	res.Started = true
	m := vm.Machine()
	res.Exit, err = vm.Run(ctx)
	if err == nil {
		d := m.Digest()
		res.End = replay.End{Instructions: res.Exit.Instructions, Clock: m.Clock(), Digest: hex.EncodeToString(d[:]), Exit: res.Exit.Kind.String(), ExitCode: ExitCode(res.Exit)}
		if cerr := vm.Close(); cerr != nil {
			err = fmt.Errorf("closing devices: %w", cerr)
		}
	}
	res.Inputs = log.n
	if lerr := log.close(res.End); lerr != nil {
		file.Close()
		return res, fmt.Errorf("record: writing %s: %w (what was recorded is in %s)", o.Output, lerr, file.Name())
	}
	if cerr := file.Commit(); cerr != nil {
		return res, fmt.Errorf("record: %w", cerr)
	}
	for from, to := range o.Overlays {
		if _, err := os.Lstat(from); err != nil {
			continue
		}
		if rerr := os.Rename(from, to); rerr != nil {
			return res, fmt.Errorf("record: putting overlay %s in place: %w", to, rerr)
		}
	}
	return res, err
}

// ExitCode is the status a recording keeps for an exit, the one juice
// exits with: the guest's own (1 to 119) for a power-off, else 120 reboot,
// 121 panic, 122 halted or the instruction limit, 130 canceled, 1 a failed
// bare-metal program.
func ExitCode(e machine.Exit) int {
	switch e.Kind {
	case machine.ExitPowerOff:
		return min(e.Code, 119)
	case machine.ExitReboot:
		return 120
	case machine.ExitPanic:
		return 121
	case machine.ExitHalted, machine.ExitLimit:
		return 122
	case machine.ExitCanceled:
		return 130
	case machine.ExitBareFail:
		return 1
	}
	return 125
}

// fileLog writes the machine's inputs to a recording. The recording is
// created beside the run (hashing the input files takes a while): until
// it is ready, inputs wait in memory. The first write error sticks and is
// reported when the run ends.
type fileLog struct {
	ready   chan struct{} // closed once w or err is set by open
	w       *replay.Writer
	pending []replay.Event
	err     error
	n       int
}

// openLog starts creating the recording; create does the work on another
// goroutine.
func openLog(create func() (*replay.Writer, error)) *fileLog {
	l := &fileLog{ready: make(chan struct{})}
	go func() {
		l.w, l.err = create()
		close(l.ready)
	}()
	return l
}

// put writes e, or keeps a copy of it while the recording is not ready.
func (l *fileLog) put(e replay.Event) {
	select {
	case <-l.ready:
	default:
		e.Data = bytes.Clone(e.Data)
		l.pending = append(l.pending, e)
		return
	}
	if l.err != nil {
		return
	}
	for _, p := range l.pending {
		if l.err = l.w.Write(p); l.err != nil {
			return
		}
	}
	l.pending = nil
	l.err = l.w.Write(e)
}

// close waits for the recording, writes what is pending and ends it.
func (l *fileLog) close(end replay.End) error {
	<-l.ready
	if l.w == nil {
		return l.err
	}
	for _, p := range l.pending {
		if l.err == nil {
			l.err = l.w.Write(p)
		}
	}
	l.pending = nil
	return errors.Join(l.err, l.w.Close(end))
}

// Input implements machine.InputLog.
func (l *fileLog) Input(clock uint64, kind machine.EventKind, port int, data []byte) {
	l.n++
	l.put(replay.Event{At: clock, Kind: toFileKind[kind], Port: uint16(port), Data: data})
}

func (l *fileLog) digest(s machine.Summary) error {
	b, _ := s.AppendBinary(nil)
	l.put(replay.Event{At: s.Clock, Kind: replay.KindDigest, Data: b})
	return nil
}
