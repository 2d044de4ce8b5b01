package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/outfile"
	"github.com/juicevm/juice/internal/replay"
)

// Recorded input kinds in the file, by machine event kind.
var toFileKind = map[machine.EventKind]replay.Kind{
	machine.EventConsole: replay.KindConsole,
	machine.EventEntropy: replay.KindEntropy,
	machine.EventNet:     replay.KindNet,
	machine.EventVsock:   replay.KindVsock,
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

// openLog starts creating the recording at path; create does the work
// on another goroutine.
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

func (l *fileLog) Input(clock uint64, kind machine.EventKind, port int, data []byte) {
	l.n++
	l.put(replay.Event{At: clock, Kind: toFileKind[kind], Port: uint16(port), Data: data})
}

func (l *fileLog) digest(s machine.Summary) error {
	b, _ := s.AppendBinary(nil)
	l.put(replay.Event{At: s.Clock, Kind: replay.KindDigest, Data: b})
	return nil
}

// inputFiles hashes the files a run depends on.
func inputFiles(f *runSpec) ([]replay.InputFile, error) {
	var out []replay.InputFile
	add := func(role, path string) error {
		if path == "" {
			return nil
		}
		in, err := replay.HashFile(role, path)
		if err != nil {
			return fmt.Errorf("%s: %w", role, err)
		}
		out = append(out, in)
		return nil
	}
	for _, p := range [][2]string{{"kernel", f.Kernel}, {"initrd", f.Initrd}, {"firmware", f.Firmware}, {"bare", f.Bare}} {
		if err := add(p[0], p[1]); err != nil {
			return nil, err
		}
	}
	for i, d := range f.Disks {
		dc, err := parseDisk(d)
		if err != nil {
			return nil, err
		}
		if err := add(fmt.Sprintf("disk%d", i), dc.Path); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkRecordDisks refuses disks a replay could not start from: a
// writable image without an overlay (the guest would change it), or an
// overlay that exists already (its contents would be lost).
func checkRecordDisks(f *runSpec) error {
	for _, d := range f.Disks {
		dc, err := parseDisk(d)
		if err != nil {
			return err
		}
		if !dc.ReadOnly && dc.Overlay == "" {
			return fmt.Errorf("record: disk %s is writable: a replay needs the contents it starts from, so make it read-only (%s,ro) or give it a new overlay (%s,overlay=FILE)", dc.Path, dc.Path, dc.Path)
		}
		if dc.Overlay != "" {
			if _, err := os.Lstat(dc.Overlay); err == nil {
				return fmt.Errorf("record: overlay %s already exists: a recording starts from a new, empty overlay (remove it, or name another)", dc.Overlay)
			}
		}
	}
	return nil
}

// mapPaths returns a copy of f with every host path it names passed
// through fn.
func (f runSpec) mapPaths(fn func(string) string) (runSpec, error) {
	f.Kernel, f.Initrd, f.Firmware, f.Bare = fn(f.Kernel), fn(f.Initrd), fn(f.Firmware), fn(f.Bare)
	f.Appliance = fn(f.Appliance)
	disks := make([]string, len(f.Disks))
	for i, d := range f.Disks {
		dc, err := parseDisk(d)
		if err != nil {
			return f, err
		}
		dc.Path, dc.Overlay = fn(dc.Path), fn(dc.Overlay)
		if disks[i], err = formatDisk(dc); err != nil {
			return f, err
		}
	}
	f.Disks = disks
	if f.Vsock != "" {
		v, err := parseVsock(f.Vsock)
		if err != nil {
			return f, err
		}
		f.Vsock = fn(v.Path)
		if v.CID != 0 {
			f.Vsock += fmt.Sprintf(",cid=%d", v.CID)
		}
	}
	return f, nil
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

// recordOutputs are the files juice record writes.
type recordOutputs struct {
	out      string            // the recording
	file     *outfile.File     // the recording as it is written (out.partial)
	overlays map[string]string // the appliance disks' new overlays: as written → final name
	created  []string          // overlays this run created
}

// recordOverlay names the new overlay a recording to out gives an
// appliance disk: out.DISK.ovl beside it, written as out.partial.DISK.ovl
// and renamed with the recording.
func (o *recordOutputs) recordOverlay(disk string) string {
	p := outfile.PartialPath(o.out) + "." + disk + ".ovl"
	o.overlays[p] = o.out + "." + disk + ".ovl"
	return p
}

// check refuses outputs that are inputs, links or folders, before anything
// is written.
func (o *recordOutputs) check(f *runFlags) error {
	inputs, overlays := f.files()
	outs := []string{o.out}
	for _, ovl := range overlays {
		outs = append(outs, ovl)
		if final, ok := o.overlays[ovl]; ok {
			outs = append(outs, final)
		}
	}
	for i, p := range outs {
		if err := outfile.Check(p, slices.Concat(inputs, outs[:i])...); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	return f.checkOutputs(outs...)
}

// abort removes what the recording wrote, when the machine never ran.
func (o *recordOutputs) abort() {
	if o.file != nil {
		o.file.Abort()
	}
	for _, p := range o.created {
		os.Remove(p)
	}
}

// commit puts the recording and the appliance disks' overlays in place.
func (o *recordOutputs) commit() error {
	if err := o.file.Commit(); err != nil {
		return err
	}
	for from, to := range o.overlays {
		if _, err := os.Lstat(from); err != nil {
			continue
		}
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("record: putting overlay %s in place: %w", to, err)
		}
	}
	return nil
}

func newRecordCmd() *cobra.Command {
	var f runFlags
	var out string
	var digestEvery uint64
	cmd := &cobra.Command{
		Use:   "record -o FILE.jrr [run options] [APPLIANCE]",
		Short: "Run a virtual machine as juice run does, recording it for exact replay",
		Long: "Run a virtual machine as juice run does, recording it for exact replay.\n\n" +
			"The recording is written as FILE.jrr.partial and renamed to FILE.jrr when the run\n" +
			"ends, however it ends (power-off, Ctrl-A x, Ctrl-C, SIGTERM, --max-instructions); a\n" +
			"run killed outright leaves FILE.jrr.partial, which juice replay replays up to its last\n" +
			"complete event. FILE.jrr must not be one of the run's inputs.\n\n" +
			"The disks of an APPLIANCE stay as they are: the guest's writes go to a new overlay\n" +
			"beside the recording, FILE.jrr.DISK.ovl (replacing an old one), unless --disk is given.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("record: -o FILE.jrr is required")
			}
			defer f.opened.close()
			o := &recordOutputs{out: out, overlays: map[string]string{}}
			if err := f.useApplianceArg(cmd, args, o.recordOverlay); err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := f.resolve(ctx); err != nil {
				return err
			}
			if err := checkRecordDisks(&f.runSpec); err != nil {
				return err
			}
			if err := o.check(&f); err != nil {
				return err
			}
			// The header names files relative to the recording's folder
			// when they are beside it, and the appliance disks' overlays
			// by their final names.
			dir, err := filepath.Abs(filepath.Dir(out))
			if err != nil {
				return err
			}
			named, err := f.runSpec.mapPaths(func(p string) string {
				if final, ok := o.overlays[p]; ok {
					p = final
				}
				return recordedPath(dir, p)
			})
			if err != nil {
				return err
			}
			spec, err := json.Marshal(named)
			if err != nil {
				return err
			}
			if o.file, err = outfile.Create(out, outfile.Options{Partial: true}); err != nil {
				return fmt.Errorf("record: %w", err)
			}
			for _, d := range f.Disks {
				if dc, err := parseDisk(d); err == nil && dc.Overlay != "" {
					o.created = append(o.created, dc.Overlay)
				}
			}
			log := openLog(func() (*replay.Writer, error) {
				inputs, err := inputFiles(&f.runSpec)
				if err != nil {
					return nil, err
				}
				for i := range inputs {
					inputs[i].Path = recordedPath(dir, inputs[i].Path)
				}
				return replay.NewWriter(o.file.File, replay.Header{FormatVersion: replay.FormatVersion, JuiceVersion: juiceVersion,
					Config: spec, Inputs: inputs, DigestInterval: digestEvery, Paths: replay.PathsRelativeToRecording})
			})
			var end replay.End
			start := time.Now()
			e, started, runErr := bootMachine(ctx, &f, runHooks{
				prepare: func(cfg *machine.Config) {
					cfg.Log = log
					cfg.DigestInterval, cfg.OnDigest = digestEvery, log.digest
				},
				done: func(m *machine.Machine, e machine.Exit) {
					d := m.Digest()
					end = replay.End{Instructions: e.Instructions, Clock: m.Clock(), Digest: hex.EncodeToString(d[:]), Exit: e.Kind.String(), ExitCode: exitCode(e)}
				}})
			wall := time.Since(start)
			if !started {
				log.close(replay.End{})
				o.abort()
				return runErr
			}
			if err := log.close(end); err != nil {
				o.file.Close()
				return fmt.Errorf("record: writing %s: %w (what was recorded is in %s)", out, err, o.file.Name())
			}
			if err := o.commit(); err != nil {
				return fmt.Errorf("record: %w", err)
			}
			fmt.Fprintf(os.Stderr, "juice: recorded %d instructions, %d inputs, final digest %s to %s\n", end.Instructions, log.n, end.Digest, out)
			if runErr != nil {
				return runErr
			}
			return reportRun(&f, e, wall)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the recording to `FILE.jrr`")
	cmd.Flags().Uint64Var(&digestEvery, "digest-every", 30_000_000, "record a summary of the machine state every `N` instructions of the clock, for replays to check (0: none)")
	f.register(cmd)
	return cmd
}

// fileScript feeds a recording's inputs to the machine and checks its
// periodic state digests.
