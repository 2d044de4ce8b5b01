package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/replay"
)

// juiceVersion names this build in recordings.
const juiceVersion = "0.1.0-dev"

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
			if _, err := os.Stat(dc.Overlay); err == nil {
				return fmt.Errorf("record: overlay %s already exists: a recording starts from a new, empty overlay (remove it, or name another)", dc.Overlay)
			}
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
			"The disks of an APPLIANCE stay as they are: the guest's writes go to a new overlay\n" +
			"beside the recording, FILE.jrr.DISK.ovl (replacing an old one), unless --disk is given.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("record: -o FILE.jrr is required")
			}
			if err := f.useApplianceArg(cmd, args, recordOverlay(out)); err != nil {
				return err
			}
			ctx := cmd.Context()
			if err := f.resolve(ctx); err != nil {
				return err
			}
			spec, err := json.Marshal(f.runSpec)
			if err != nil {
				return err
			}
			// Fail early on a path that cannot be written; the recording
			// itself is created beside the run.
			fd, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE, 0o644)
			if err != nil {
				return fmt.Errorf("record: %w", err)
			}
			fd.Close()
			if err := checkRecordDisks(&f.runSpec); err != nil {
				return err
			}
			log := openLog(func() (*replay.Writer, error) {
				inputs, err := inputFiles(&f.runSpec)
				if err != nil {
					return nil, err
				}
				return replay.Create(out, replay.Header{FormatVersion: replay.FormatVersion, JuiceVersion: juiceVersion,
					Config: spec, Inputs: inputs, DigestInterval: digestEvery})
			})
			var end replay.End
			runErr := runMachineWith(ctx, &f, func(cfg *machine.Config) {
				cfg.Log = log
				cfg.DigestInterval, cfg.OnDigest = digestEvery, log.digest
			},
				func(m *machine.Machine, e machine.Exit) {
					d := m.Digest()
					end = replay.End{Instructions: e.Instructions, Clock: m.Clock(), Digest: hex.EncodeToString(d[:]), Exit: e.Kind.String(), ExitCode: exitCode(e)}
				})
			if err := log.close(end); err != nil {
				return fmt.Errorf("record: writing %s: %w", out, err)
			}
			fmt.Fprintf(os.Stderr, "juice: recorded %d instructions, %d inputs, final digest %s to %s\n", end.Instructions, log.n, end.Digest, out)
			return runErr
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the recording to `FILE.jrr`")
	cmd.Flags().Uint64Var(&digestEvery, "digest-every", 30_000_000, "record a summary of the machine state every `N` instructions of the clock, for replays to check (0: none)")
	f.register(cmd)
	return cmd
}

// fileScript feeds a recording's inputs to the machine and checks its
// periodic state digests.
