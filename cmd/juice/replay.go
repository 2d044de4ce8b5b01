package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/outfile"
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
	last    uint64 // the clock of the last event read
	err     error
	// truncated is the reader's error when the recording stops before
	// its end record (its recorder was killed); err is nil then.
	truncated error
}

var fromFileKind = map[replay.Kind]machine.EventKind{
	replay.KindConsole: machine.EventConsole,
	replay.KindEntropy: machine.EventEntropy,
	replay.KindNet:     machine.EventNet,
	replay.KindVsock:   machine.EventVsock,
}

// fill reads one more event; it returns false at the end, where a
// truncated recording stops, or on an error.
func (s *fileScript) fill() bool {
	if s.end != nil || s.err != nil || s.truncated != nil {
		return false
	}
	e, err := s.r.Next()
	if err == nil {
		s.last = e.At
	}
	switch {
	case err == io.EOF:
		s.err = errors.New("the recording has no end record")
	case errors.Is(err, replay.ErrTruncated):
		s.truncated = err
		return false
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

// checkInput checks that the file at path is the recording's input in;
// flag names the option that named path, if one did.
func checkInput(in replay.InputFile, path, flag string) error {
	now, err := replay.HashFile(in.Role, path)
	if err != nil {
		if flag == "" && errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("replay: %s %s: %w (if it moved, name it with --%s)", in.Role, path, unwrapPathError(err), inputFlag(in.Role))
		}
		return fmt.Errorf("replay: %s %s: %w", in.Role, path, unwrapPathError(err))
	}
	if now.Size != in.Size || now.SHA256 != in.SHA256 {
		if flag != "" {
			return fmt.Errorf("replay: --%s %s is not the recording's %s (sha256 %s, recorded %s)", flag, path, in.Role, short(now.SHA256), short(in.SHA256))
		}
		return fmt.Errorf("replay: %s %s differs from the recording (sha256 %s, recorded %s): it was modified", in.Role, path, short(now.SHA256), short(in.SHA256))
	}
	return nil
}

// inputFlag is the replay option that points at an input of a role.
func inputFlag(role string) string {
	if strings.HasPrefix(role, "disk") {
		return "disk"
	}
	return role
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// replayInputs are files given on the command line in place of the
// recording's inputs that moved (each checked by digest).
type replayInputs struct {
	kernel, initrd, firmware, bare string
	disks                          []string // in the recording's order
}

func newReplayCmd() *cobra.Command {
	var info, asJSON bool
	var until uint64
	var gdbAddr string
	var opts replayOptions
	cmd := &cobra.Command{
		Use:   "replay FILE.jrr",
		Short: "Re-execute a recording and check that it ends where the recording did",
		Long: "Re-execute a recording and check that it ends where the recording did: at the\n" +
			"guest's power-off, or exactly where a run stopped by Ctrl-C, a signal or\n" +
			"--max-instructions stopped. A recording cut short (its recorder was killed) replays\n" +
			"up to its last complete event. Files the recording names by relative paths are\n" +
			"looked for beside it; --kernel, --initrd, --firmware, --bare and --disk point at\n" +
			"files that moved (each is checked against the recording's digest).\n\n" +
			"Exit status: 0 the replay matches, 123 it diverged, 125 bad input, 130 interrupted.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := replayPath(args[0])
			if info {
				return replayInfo(path)
			}
			if gdbAddr != "" {
				return replayGDB(cmd.Context(), path, gdbAddr, opts.inputs)
			}
			opts.until, opts.asJSON = until, asJSON
			if cmd.Flags().Changed("until") && until == 0 {
				return errors.New("replay: --until 0: give an instruction count of 1 or more")
			}
			return replayRun(cmd.Context(), path, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&info, "info", false, "summarise the recording instead of replaying it")
	fl.Uint64Var(&until, "until", 0, "stop at instruction count `N` and print each hart's pc and registers")
	fl.BoolVar(&asJSON, "json", false, "with --until, print the harts' state as JSON")
	fl.Uint64Var(&opts.checkpointEvery, "checkpoint-every", 10_000_000, "while replaying, save the machine's state every `N` instructions in FILE.jrr.ckpt, from which --until starts (0: none)")
	fl.BoolVar(&opts.noCheckpoints, "no-checkpoints", false, "with --until, replay from the start even if FILE.jrr.ckpt has a state to start from")
	fl.StringVar(&gdbAddr, "gdb", "", "serve the gdb remote protocol on `ADDR` and let gdb run the replay, backwards too; PORT or :PORT listens on 127.0.0.1 only, HOST:PORT (e.g. 0.0.0.0:1234) where written")
	fl.StringVar(&opts.inputs.kernel, "kernel", "", "the recording's kernel `IMAGE`, if it moved")
	fl.StringVar(&opts.inputs.initrd, "initrd", "", "the recording's initrd `FILE`, if it moved")
	fl.StringVar(&opts.inputs.firmware, "firmware", "", "the recording's firmware `FILE`, if it moved")
	fl.StringVar(&opts.inputs.bare, "bare", "", "the recording's bare-metal `ELF`, if it moved")
	fl.StringArrayVar(&opts.inputs.disks, "disk", nil, "the recording's disk images, if they moved: `FILE` for each disk in order (repeatable; an empty value keeps that disk where the recording says)")
	return cmd
}

// replayPath is the recording to replay: path, or, when there is no file
// there but an interrupted `juice record -o path` left path.partial, that.
func replayPath(path string) string {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(outfile.PartialPath(path)); err == nil {
			fmt.Fprintf(os.Stderr, "juice: %s does not exist; replaying %s, which an interrupted juice record left\n", path, outfile.PartialPath(path))
			return outfile.PartialPath(path)
		}
	}
	return path
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
	truncated := errors.Is(err, replay.ErrTruncated)
	if err != nil && !truncated {
		return err
	}
	out := struct {
		replay.Summary
		// Truncated says where a recording cut short stops.
		Truncated string `json:"Truncated,omitempty"`
	}{Summary: s}
	if truncated {
		out.Truncated = err.Error()
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
	if truncated {
		fmt.Fprintf(os.Stderr, "juice: %v; juice replay replays it up to its last complete event\n", err)
	}
	return nil
}

// replaySetup is what a replay needs before its machine is built: the
// open recording, the run configuration it was made with and the script
// that feeds its inputs back, read to its end.
type replaySetup struct {
	path   string
	r      *replay.Reader
	h      replay.Header
	f      runFlags
	script *fileScript
}

// openReplay opens a recording, reads its configuration and all of its
// events, finds the files it names (given ones in place of those that
// moved) and checks that they are unchanged.
func openReplay(path string, given replayInputs) (*replaySetup, error) {
	r, err := replay.Open(path)
	if err != nil {
		return nil, err
	}
	s := &replaySetup{path: path, r: r, h: r.Header(), script: &fileScript{r: r}}
	if err := s.setup(given); err != nil {
		r.Close()
		return nil, err
	}
	// The whole recording is read first: where it ends says where the
	// replay stops, and its inputs must be at hand if it goes back.
	for s.script.fill() {
	}
	if s.script.err != nil {
		r.Close()
		return nil, fmt.Errorf("replay: %s: %w", path, s.script.err)
	}
	return s, nil
}

// setup reads the recording's configuration and resolves its files.
func (s *replaySetup) setup(given replayInputs) error {
	if err := json.Unmarshal(s.h.Config, &s.f.runSpec); err != nil {
		return fmt.Errorf("replay: %s: the configuration in the header is unreadable: %w", s.path, err)
	}
	// Relative paths name files beside the recording (or, in recordings
	// made before Header.Paths, in the folder the recorder ran in).
	dir := "."
	if s.h.Paths == replay.PathsRelativeToRecording {
		dir = filepath.Dir(s.path)
	}
	resolve := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	spec, err := s.f.runSpec.mapPaths(resolve)
	if err != nil {
		return fmt.Errorf("replay: %s: %w", s.path, err)
	}
	s.f.runSpec = spec
	for i := range s.h.Inputs {
		s.h.Inputs[i].Path = resolve(s.h.Inputs[i].Path)
	}
	byRole := map[string]*replay.InputFile{}
	for i := range s.h.Inputs {
		byRole[s.h.Inputs[i].Role] = &s.h.Inputs[i]
	}
	givenBy := map[string]string{} // role → the option that named its file
	use := func(role, flag, path string, set func(string) error) error {
		if path == "" {
			return nil
		}
		in, ok := byRole[role]
		if !ok {
			return fmt.Errorf("replay: --%s %s: the recording has no %s", flag, path, role)
		}
		in.Path = path
		givenBy[role] = flag
		return set(path)
	}
	for _, g := range []struct {
		role, path string
		field      *string
	}{{"kernel", given.kernel, &s.f.Kernel}, {"initrd", given.initrd, &s.f.Initrd}, {"firmware", given.firmware, &s.f.Firmware}, {"bare", given.bare, &s.f.Bare}} {
		if err := use(g.role, g.role, g.path, func(p string) error { *g.field = p; return nil }); err != nil {
			return err
		}
	}
	if len(given.disks) > len(s.f.Disks) {
		return fmt.Errorf("replay: %d --disk options, but the recording has %d disks", len(given.disks), len(s.f.Disks))
	}
	for i, p := range given.disks {
		err := use(fmt.Sprintf("disk%d", i), "disk", p, func(p string) error {
			dc, err := parseDisk(s.f.Disks[i])
			if err != nil {
				return err
			}
			dc.Path = p
			s.f.Disks[i], err = formatDisk(dc)
			return err
		})
		if err != nil {
			return err
		}
	}
	for _, in := range s.h.Inputs {
		if err := checkInput(in, in.Path, givenBy[in.Role]); err != nil {
			return err
		}
	}
	return nil
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
	cfg.MaxInstructions = 0 // the end of the recording bounds the run
	for i := range cfg.Disks {
		cfg.Disks[i].Volatile = true
		cfg.Disks[i].Overlay = ""
	}
}

// replayStop is where a replay pauses: after exactly limit instructions,
// or at the first round boundary at which the clock has reached clock
// with no recorded input due (0: no such bound).
type replayStop struct{ limit, clock uint64 }

// stop is where the recording ends. A run that powered off (or otherwise
// stopped by itself) ends by itself: the replay is bounded one
// instruction past it, to catch one that runs on. A run stopped at
// --max-instructions stopped after exactly that many; one stopped from
// outside (Ctrl-C, a signal), at a round boundary. A truncated recording
// replays through the round of its last event.
func (s *replaySetup) stop() replayStop {
	e := s.script.end
	switch {
	case e == nil:
		return replayStop{clock: s.script.last + 1}
	case e.Exit == machine.ExitLimit.String():
		return replayStop{limit: e.Instructions}
	case e.Exit == machine.ExitCanceled.String():
		return replayStop{limit: e.Instructions + 1, clock: e.Clock}
	}
	return replayStop{limit: e.Instructions + 1}
}

// run runs m to the stop, or to n instructions if that comes first (0:
// no such bound).
func (st replayStop) run(ctx context.Context, m *machine.Machine, n uint64) (machine.Exit, error) {
	limit := st.limit
	if n != 0 && (limit == 0 || n < limit) {
		limit = n
	}
	if st.clock != 0 {
		return m.RunToClock(ctx, st.clock, limit)
	}
	return m.RunTo(ctx, limit)
}

// replayOptions are the replay command's options.
type replayOptions struct {
	until           uint64
	asJSON          bool
	checkpointEvery uint64
	noCheckpoints   bool
	inputs          replayInputs
}

// endedHow says, for people, how a recorded run ended.
func endedHow(e *replay.End) string {
	switch e.Exit {
	case machine.ExitPowerOff.String():
		if e.ExitCode != 0 {
			return fmt.Sprintf("the guest powered off with status %d", e.ExitCode)
		}
		return "the guest powered off"
	case machine.ExitCanceled.String():
		return "it was stopped from outside (Ctrl-C, Ctrl-A x or a signal)"
	case machine.ExitLimit.String():
		return "it reached its instruction limit (--max-instructions)"
	case machine.ExitHalted.String():
		return "the guest halted"
	case machine.ExitReboot.String():
		return "the guest asked for a reboot"
	case machine.ExitPanic.String():
		return "the guest kernel panicked"
	case machine.ExitBareFail.String():
		return fmt.Sprintf("the bare-metal program failed check %d", e.ExitCode)
	}
	return e.Exit
}

func replayRun(ctx context.Context, path string, o replayOptions) error {
	s, err := openReplay(path, o.inputs)
	if err != nil {
		return err
	}
	defer s.Close()
	f, script := &s.f, s.script
	if err := f.resolve(ctx); err != nil {
		return err
	}
	end := script.end
	if o.until != 0 && end != nil && o.until > end.Instructions {
		return fmt.Errorf("replay: --until %d is past the end of the recording, which ends at instruction %d", o.until, end.Instructions)
	}
	stop := s.stop()
	var digest [32]byte
	var clock uint64
	var harts []riscv.State
	ckpt := &replayCheckpoints{recording: path, every: o.checkpointEvery, use: !o.noCheckpoints, until: o.until, stop: stop,
		note: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "juice: "+format+"\n", args...) }}
	defer ckpt.abort()
	exit, _, runErr := bootMachine(ctx, f, runHooks{prepare: func(cfg *machine.Config) {
		s.prepare(cfg)
		if o.asJSON {
			cfg.Console = os.Stderr // stdout is for the JSON
		}
	}, run: ckpt.run,
		done: func(m *machine.Machine, e machine.Exit) {
			digest, clock = m.Digest(), m.Clock()
			for _, h := range m.Harts() {
				harts = append(harts, h.State())
			}
		}})
	if errors.Is(runErr, machine.ErrDiverged) {
		fmt.Fprintf(os.Stderr, "juice: %v\n", runErr)
		return exitStatus{exitDiverged}
	}
	if runErr != nil {
		return runErr
	}
	if exit.Kind == machine.ExitCanceled {
		fmt.Fprintf(os.Stderr, "juice: replay interrupted at instruction %d\n", exit.Instructions)
		return exitStatus{exitCanceled}
	}
	if o.until != 0 {
		if exit.Instructions != o.until {
			at := "where it ends"
			if end == nil {
				at = "where it was cut short"
			}
			return fmt.Errorf("replay: --until %d is past the end of the recording: it stops at instruction %d, %s", o.until, exit.Instructions, at)
		}
		return printHarts(exit.Instructions, harts, o.asJSON)
	}
	if in, ok := script.pending(); ok {
		fmt.Fprintf(os.Stderr, "juice: replay diverged: recorded input at clock %d was never taken\n", in.Clock)
		return exitStatus{exitDiverged}
	}
	got := hex.EncodeToString(digest[:])
	if end == nil {
		ckpt.finish(true)
		fmt.Fprintf(os.Stderr, "juice: recording truncated at instruction %d; replayed up to there (%v)\n", exit.Instructions, script.truncated)
		return nil
	}
	stopped := end.Exit == machine.ExitLimit.String() || end.Exit == machine.ExitCanceled.String()
	switch {
	case stopped && exit.Kind != machine.ExitLimit, !stopped && exit.Kind.String() != end.Exit:
		fmt.Fprintf(os.Stderr, "juice: replay diverged: the replay ended (%s) at instruction %d; in the recording %s at instruction %d\n",
			exit.Kind, exit.Instructions, endedHow(end), end.Instructions)
		return exitStatus{exitDiverged}
	case exit.Instructions > end.Instructions:
		fmt.Fprintf(os.Stderr, "juice: replay diverged: the replay ran past instruction %d, where in the recording %s\n", end.Instructions, endedHow(end))
		return exitStatus{exitDiverged}
	case exit.Instructions != end.Instructions || clock != end.Clock || got != end.Digest || exitCode(exit) != end.ExitCode && !stopped:
		fmt.Fprintf(os.Stderr, "juice: replay diverged: %d instructions (clock %d), digest %s; recorded %d instructions (clock %d), digest %s\n",
			exit.Instructions, clock, got, end.Instructions, end.Clock, end.Digest)
		return exitStatus{exitDiverged}
	}
	ckpt.finish(true)
	fmt.Fprintf(os.Stderr, "juice: replay matches the recording: %d instructions, digest %s; the recorded run ended there because %s\n", exit.Instructions, got, endedHow(end))
	return nil
}
