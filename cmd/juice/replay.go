package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/replay"
	"github.com/juicevm/juice/internal/riscv"
)

// fileScript feeds a recording's inputs to a replaying machine. It keeps
// every input it has read, so that the machine can rewind it to an earlier
// position when it returns to a checkpoint.
type fileScript struct {
	r       *replay.Reader
	inputs  []machine.Input // every input read so far
	pos     int             // the next input to deliver
	digests []replay.Event  // every digest read so far, by clock
	end     *replay.End
	err     error
}

var fromFileKind = map[replay.Kind]machine.EventKind{
	replay.KindConsole: machine.EventConsole,
	replay.KindEntropy: machine.EventEntropy,
	replay.KindNet:     machine.EventNet,
	replay.KindVsock:   machine.EventVsock,
}

// fill reads one more event; it returns false at the end or on an error.
func (s *fileScript) fill() bool {
	if s.end != nil || s.err != nil {
		return false
	}
	e, err := s.r.Next()
	switch {
	case err == io.EOF:
		s.err = errors.New("the recording has no end record")
	case err != nil:
		s.err = err
	case e.Kind == replay.KindEnd:
		end, err := replay.DecodeEnd(e.Data)
		if err != nil {
			s.err = err
		} else {
			s.end = &end
		}
	case e.Kind == replay.KindDigest:
		s.digests = append(s.digests, e)
	default:
		k, ok := fromFileKind[e.Kind]
		if !ok {
			s.err = fmt.Errorf("event at clock %d has a kind this Juice cannot replay (%v)", e.At, e.Kind)
			return false
		}
		s.inputs = append(s.inputs, machine.Input{Clock: e.At, Kind: k, Port: int(e.Port), Data: e.Data})
	}
	return s.err == nil
}

// Peek implements machine.InputScript.
func (s *fileScript) Peek() (machine.Input, bool) {
	for s.pos >= len(s.inputs) && s.fill() {
	}
	if s.pos >= len(s.inputs) {
		return machine.Input{}, false
	}
	return s.inputs[s.pos], true
}

// Take implements machine.InputScript.
func (s *fileScript) Take() { s.pos++ }

// Position implements machine.Rewinder.
func (s *fileScript) Position() int { return s.pos }

// Rewind implements machine.Rewinder.
func (s *fileScript) Rewind(pos int) error {
	for len(s.inputs) < pos && s.fill() {
	}
	if pos < 0 || pos > len(s.inputs) {
		return fmt.Errorf("replay: no input at position %d (%d read)", pos, len(s.inputs))
	}
	s.pos = pos
	return nil
}

// pending reports whether recorded input is left that the machine never
// took.
func (s *fileScript) pending() (machine.Input, bool) {
	if s.pos < len(s.inputs) {
		return s.inputs[s.pos], true
	}
	return machine.Input{}, false
}

// checkDigest compares the machine's state summary with the recording's
// at the same clock, if it has one there, and says what differs.
func (s *fileScript) checkDigest(got machine.Summary) error {
	clock := got.Clock
	for (len(s.digests) == 0 || s.digests[len(s.digests)-1].At < clock) && s.fill() {
	}
	i := sort.Search(len(s.digests), func(i int) bool { return s.digests[i].At >= clock })
	if i == len(s.digests) || s.digests[i].At != clock {
		return nil
	}
	want, err := machine.ParseSummary(clock, s.digests[i].Data)
	if err != nil {
		return fmt.Errorf("%w: the recording's state summary at clock %d is unreadable: %v", machine.ErrDiverged, clock, err)
	}
	if diff := got.Diff(want); diff != "" {
		since := "the start"
		if i > 0 {
			if prev, err := machine.ParseSummary(s.digests[i-1].At, s.digests[i-1].Data); err == nil {
				since = fmt.Sprintf("instruction %d (clock %d), where it last matched", prev.Instructions, prev.Clock)
			}
		}
		return fmt.Errorf("%w at instruction %d (clock %d), somewhere after %s: %s",
			machine.ErrDiverged, got.Instructions, clock, since, diff)
	}
	return nil
}

// checkInputs verifies that the files a recording names are unchanged.
func checkInputs(inputs []replay.InputFile) error {
	for _, in := range inputs {
		now, err := replay.HashFile(in.Role, in.Path)
		if err != nil {
			return fmt.Errorf("replay: %s %s: %w", in.Role, in.Path, err)
		}
		if now.Size != in.Size || now.SHA256 != in.SHA256 {
			return fmt.Errorf("replay: %s %s differs from the recording (sha256 %s, recorded %s): it was modified", in.Role, in.Path, short(now.SHA256), short(in.SHA256))
		}
	}
	return nil
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

func newReplayCmd() *cobra.Command {
	var info, asJSON bool
	var until uint64
	var gdbAddr string
	var opts replayOptions
	cmd := &cobra.Command{
		Use:   "replay FILE.jrr",
		Short: "Re-execute a recording and check that it ends where the recording did",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if info {
				return replayInfo(args[0])
			}
			if gdbAddr != "" {
				return replayGDB(cmd.Context(), args[0], gdbAddr)
			}
			opts.until, opts.asJSON = until, asJSON
			return replayRun(cmd.Context(), args[0], opts)
		},
	}
	cmd.Flags().BoolVar(&info, "info", false, "summarise the recording instead of replaying it")
	cmd.Flags().Uint64Var(&until, "until", 0, "stop at instruction count `N` and print each hart's pc and registers")
	cmd.Flags().BoolVar(&asJSON, "json", false, "with --until, print the harts' state as JSON")
	cmd.Flags().Uint64Var(&opts.checkpointEvery, "checkpoint-every", 10_000_000, "while replaying, save the machine's state every `N` instructions in FILE.jrr.ckpt, from which --until starts (0: none)")
	cmd.Flags().BoolVar(&opts.noCheckpoints, "no-checkpoints", false, "with --until, replay from the start even if FILE.jrr.ckpt has a state to start from")
	cmd.Flags().StringVar(&gdbAddr, "gdb", "", "serve the gdb remote protocol on `ADDR` and let gdb run the replay, backwards too; PORT or :PORT listens on 127.0.0.1 only, HOST:PORT (e.g. 0.0.0.0:1234) where written")
	return cmd
}

// printHarts prints each hart's pc and registers where a replay stopped.
func printHarts(at uint64, harts []riscv.State, asJSON bool) error {
	if asJSON {
		b, err := json.MarshalIndent(struct {
			Instructions uint64        `json:"instructions"`
			Harts        []riscv.State `json:"harts"`
		}{at, harts}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		return nil
	}
	fmt.Printf("stopped at instruction %d\n", at)
	for i, h := range harts {
		fmt.Printf("hart %d: pc %#016x priv %d instret %d\n", i, h.PC, h.Priv, h.Instret)
		for r := 0; r < 32; r += 4 {
			fmt.Printf("  x%-2d %#016x  x%-2d %#016x  x%-2d %#016x  x%-2d %#016x\n",
				r, h.X[r], r+1, h.X[r+1], r+2, h.X[r+2], r+3, h.X[r+3])
		}
	}
	return nil
}

func replayInfo(path string) error {
	s, err := replay.Summarize(path)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	fmt.Println(string(b))
	return nil
}

// replaySetup is what a replay needs before its machine is built: the
// open recording, the run configuration it was made with and the script
// that feeds its inputs back.
type replaySetup struct {
	path   string
	r      *replay.Reader
	h      replay.Header
	f      runFlags
	script *fileScript
}

// openReplay opens a recording, reads its configuration and checks that
// the files it names are unchanged.
func openReplay(path string) (*replaySetup, error) {
	r, err := replay.Open(path)
	if err != nil {
		return nil, err
	}
	s := &replaySetup{path: path, r: r, h: r.Header(), script: &fileScript{r: r}}
	if err := json.Unmarshal(s.h.Config, &s.f.runSpec); err != nil {
		r.Close()
		return nil, fmt.Errorf("replay: %s: the configuration in the header is unreadable: %w", path, err)
	}
	if err := checkInputs(s.h.Inputs); err != nil {
		r.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the recording.
func (s *replaySetup) Close() error { return s.r.Close() }

// prepare configures the replaying machine: recorded input in place of
// live input, the recording's state summaries to check, and disks that
// keep the guest's writes in memory over the images as they were when the
// recording started (an overlay the recording created was empty then).
func (s *replaySetup) prepare(cfg *machine.Config) {
	cfg.Script = s.script
	cfg.DigestInterval, cfg.OnDigest = s.h.DigestInterval, s.script.checkDigest
	for i := range cfg.Disks {
		cfg.Disks[i].Volatile = true
		cfg.Disks[i].Overlay = ""
	}
}

// replayOptions are the replay command's options.
type replayOptions struct {
	until           uint64
	asJSON          bool
	checkpointEvery uint64
	noCheckpoints   bool
}

func replayRun(ctx context.Context, path string, o replayOptions) error {
	until, asJSON := o.until, o.asJSON
	s, err := openReplay(path)
	if err != nil {
		return err
	}
	defer s.Close()
	f, script := &s.f, s.script
	var exit machine.Exit
	var digest [32]byte
	var harts []riscv.State
	ckpt := &replayCheckpoints{recording: path, every: o.checkpointEvery, use: !o.noCheckpoints, until: until,
		note: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "juice: "+format+"\n", args...) }}
	defer ckpt.abort()
	runErr := runMachineHooks(ctx, f, runHooks{prepare: func(cfg *machine.Config) {
		s.prepare(cfg)
		if asJSON {
			cfg.Console = os.Stderr // stdout is for the JSON
		}
	}, run: ckpt.run,
		done: func(m *machine.Machine, e machine.Exit) {
			exit = e
			if until == 0 || e.Kind != machine.ExitLimit {
				digest = m.Digest()
			}
			for _, h := range m.Harts() {
				harts = append(harts, h.State())
			}
		}})
	if until != 0 && exit.Kind == machine.ExitLimit {
		return printHarts(exit.Instructions, harts, asJSON)
	}
	var es exitStatus
	if errors.Is(runErr, machine.ErrDiverged) {
		// A damaged recording, not the machine, may be why: read the
		// rest of it and report the damage first.
		for script.fill() {
		}
		if script.err != nil {
			return fmt.Errorf("replay: %s: %w", path, script.err)
		}
		fmt.Fprintf(os.Stderr, "juice: %v\n", runErr)
		return exitStatus{exitDiverged}
	}
	if runErr != nil && !errors.As(runErr, &es) {
		return runErr
	}
	for script.fill() { // read up to the end record
	}
	if script.err != nil {
		return fmt.Errorf("replay: %s: %w", path, script.err)
	}
	if in, ok := script.pending(); ok {
		fmt.Fprintf(os.Stderr, "juice: replay diverged: recorded input at clock %d was never taken\n", in.Clock)
		return exitStatus{exitDiverged}
	}
	got := hex.EncodeToString(digest[:])
	if exit.Instructions != script.end.Instructions || got != script.end.Digest {
		fmt.Fprintf(os.Stderr, "juice: replay diverged: %d instructions, digest %s; recorded %d instructions, digest %s\n",
			exit.Instructions, got, script.end.Instructions, script.end.Digest)
		return exitStatus{exitDiverged}
	}
	ckpt.finish(true)
	fmt.Fprintf(os.Stderr, "juice: replay matches the recording: %d instructions, digest %s\n", exit.Instructions, got)
	return nil
}
