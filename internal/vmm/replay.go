package vmm

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/replay"
	"github.com/juicevm/juice/internal/riscv"
	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/vmspec"
)

// Moved are files given in place of a recording's inputs that moved, each
// checked against the recording's digest; empty ones stay where the
// recording says.
type Moved struct {
	Kernel, Initrd, Firmware, Bare string
	Disks                          []string // in the recording's order
	// Snapshot is the snapshot folder a recording made from one starts
	// from, if it moved (its snapshot.json is checked against the
	// recording's digest).
	Snapshot string
}

// Replay is an open recording, ready to be re-executed: its spec with its
// files found and checked, and its inputs, read to the end.
type Replay struct {
	path   string
	r      *replay.Reader
	h      replay.Header
	spec   vmspec.Spec
	script *fileScript
	// snapshot is the folder a recording made from a snapshot restores
	// ("": it boots), and disks the restore's disk overrides.
	snapshot string
	disks    map[string]string
}

// OpenReplay opens a recording, reads its spec and all of its events,
// finds the files it names (moved ones in place of those that moved) and
// checks that they are unchanged.
func OpenReplay(path string, moved Moved) (*Replay, error) {
	r, err := replay.Open(path)
	if err != nil {
		return nil, err
	}
	s := &Replay{path: path, r: r, h: r.Header(), script: &fileScript{r: r}}
	if err := s.setup(moved); err != nil {
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

// setup reads the recording's spec and resolves its files.
func (s *Replay) setup(moved Moved) error {
	spec, err := vmspec.Decode(s.h.Config)
	if err != nil {
		return fmt.Errorf("replay: %s: the VM spec in the header: %w", s.path, err)
	}
	// Relative paths name files beside the recording.
	dir := filepath.Dir(s.path)
	resolve := func(p string) string {
		if p == "" || filepath.IsAbs(p) || s.h.Paths != replay.PathsRelativeToRecording {
			return p
		}
		return filepath.Join(dir, p)
	}
	spec.Paths(func(p *string) { *p = resolve(*p) })
	for i := range s.h.Inputs {
		s.h.Inputs[i].Path = resolve(s.h.Inputs[i].Path)
	}
	if s.h.Snapshot != nil {
		if err := s.findSnapshot(resolve(s.h.Snapshot.Path), moved); err != nil {
			return err
		}
		s.spec = spec
		return nil
	} else if moved.Snapshot != "" {
		return fmt.Errorf("replay: --from-snapshot %s: the recording does not start from a snapshot", moved.Snapshot)
	}
	byRole := map[string]*replay.InputFile{}
	for i := range s.h.Inputs {
		byRole[s.h.Inputs[i].Role] = &s.h.Inputs[i]
	}
	givenBy := map[string]string{} // role → the option that named its file
	use := func(role, flag, path string, set func(string)) error {
		if path == "" {
			return nil
		}
		in, ok := byRole[role]
		if !ok {
			return fmt.Errorf("replay: --%s %s: the recording has no %s", flag, path, role)
		}
		in.Path = path
		givenBy[role] = flag
		set(path)
		return nil
	}
	for _, g := range []struct {
		role, path string
		f          *vmspec.File
	}{{"kernel", moved.Kernel, spec.Boot.Kernel}, {"initrd", moved.Initrd, spec.Boot.Initrd}, {"firmware", moved.Firmware, spec.Boot.Firmware}, {"bare", moved.Bare, spec.Boot.Bare}} {
		if err := use(g.role, g.role, g.path, func(p string) { g.f.Path = p }); err != nil {
			return err
		}
	}
	if len(moved.Disks) > len(spec.Disks) {
		return fmt.Errorf("replay: %d --disk options, but the recording has %d disks", len(moved.Disks), len(spec.Disks))
	}
	for i, p := range moved.Disks {
		if err := use(fmt.Sprintf("disk%d", i), "disk", p, func(p string) { spec.Disks[i].Path = p }); err != nil {
			return err
		}
	}
	for _, in := range s.h.Inputs {
		if err := checkInput(in, in.Path, givenBy[in.Role]); err != nil {
			return err
		}
	}
	s.spec = spec
	return nil
}

// findSnapshot checks that the snapshot a recording starts from is at
// path (or where moved says) and unchanged, and takes the disks moved
// names as the restore's.
func (s *Replay) findSnapshot(path string, moved Moved) error {
	ref := s.h.Snapshot
	flag, what := "", "snapshot "+path
	if moved.Snapshot != "" {
		path, flag = moved.Snapshot, "--from-snapshot "
		what = flag + path
	}
	for _, g := range []struct{ flag, path string }{{"kernel", moved.Kernel}, {"initrd", moved.Initrd}, {"firmware", moved.Firmware}, {"bare", moved.Bare}} {
		if g.path != "" {
			return fmt.Errorf("replay: --%s %s: the recording starts from snapshot %s, not from a %s", g.flag, g.path, path, g.flag)
		}
	}
	f, err := snapshot.Open(path)
	if err != nil {
		if flag == "" && errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("replay: the recording starts from snapshot %s, which is missing: %w (if it moved, name it with --from-snapshot DIR)", path, err)
		}
		return fmt.Errorf("replay: the recording starts from %s: %w", what, err)
	}
	digest := f.Digest
	f.Close()
	if digest != ref.SHA256 {
		return fmt.Errorf("replay: %s is not the snapshot the recording starts from: its snapshot.json has sha256 %s, the recording's %s (it was modified, or is another snapshot)",
			what, short(digest), short(ref.SHA256))
	}
	for i, p := range moved.Disks {
		if p == "" {
			continue
		}
		if s.disks == nil {
			s.disks = map[string]string{}
		}
		s.disks[fmt.Sprint(i)] = p
	}
	s.snapshot = path
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

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
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

// Close closes the recording.
func (s *Replay) Close() error { return s.r.Close() }

// Path is the recording's file.
func (s *Replay) Path() string { return s.path }

// Spec is the spec the recording was made with, its files where they are
// now.
func (s *Replay) Spec() vmspec.Spec { return s.spec.Clone() }

// End is the recording's end record, or nil when the recording was cut
// short (see Truncated).
func (s *Replay) End() *replay.End { return s.script.end }

// Truncated says where a recording cut short (its recorder was killed)
// stops, or is nil.
func (s *Replay) Truncated() error { return s.script.truncated }

// New builds the replaying machine: recorded input in place of live
// input, the recording's state summaries to check, and disks that keep
// the guest's writes in memory over the images as they were when the
// recording started. The end of the recording bounds the run, not the
// spec's instruction limit.
func (s *Replay) New(o Options) (*VM, error) {
	spec := s.spec.Clone()
	spec.Limits.MaxInstructions = 0
	o.Script = s.script
	o.Log = nil
	o.DigestInterval, o.OnDigest = s.h.DigestInterval, s.script.checkDigest
	if s.snapshot == "" {
		return New(spec, o)
	}
	// The recorded run's spec is the snapshot's with its network and
	// vsock replaced, as they were then.
	vm, err := Restore(s.snapshot, RestoreOptions{Options: o, Net: spec.Net, Vsock: spec.Vsock, Disks: s.disks})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if got := vm.snap.parent.SHA256; got != s.h.Snapshot.SHA256 {
		vm.Close()
		return nil, fmt.Errorf("replay: snapshot %s changed while it was being restored", s.snapshot)
	}
	return vm, nil
}

// StartsFrom is the snapshot folder the recording starts from, or "" for
// one that boots.
func (s *Replay) StartsFrom() string { return s.snapshot }

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
func (s *Replay) stop() replayStop {
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

// ReplayOptions configure Run.
type ReplayOptions struct {
	Options
	// Until stops the replay at that instruction count (0: at the end).
	Until uint64
	// CheckpointEvery writes the machine's state every that many
	// instructions to the checkpoint file beside the recording, for
	// later Until runs (0: none).
	CheckpointEvery uint64
	// NoCheckpoints makes an Until run start from the beginning even if
	// the checkpoint file has a state to start from.
	NoCheckpoints bool
	// Note receives what the user should know (a stale checkpoint file
	// ignored, where the replay starts).
	Note func(format string, args ...any)
	// Snapshot, with Until, writes the state the replay reached into
	// that new folder as a full snapshot, which Restore goes on from
	// live (Replayed.Snapshot says what was written).
	Snapshot string
}

// Replayed is where a replay stopped.
type Replayed struct {
	Exit   machine.Exit
	Clock  uint64
	Digest string // hex
	Harts  []riscv.State
	// Snapshot is the snapshot ReplayOptions.Snapshot asked for, once
	// written.
	Snapshot *Snapshotted
}

// Divergence is a replay that did not follow its recording.
type Divergence struct{ msg string }

func (d *Divergence) Error() string { return "replay diverged: " + d.msg }

// Unwrap makes a Divergence a machine.ErrDiverged.
func (d *Divergence) Unwrap() error { return machine.ErrDiverged }

// Run re-executes the recording to its end, or to o.Until, and checks
// that it ended where the recording did. An error wrapping
// machine.ErrDiverged says how it did not; a Replayed of kind
// ExitCanceled, that ctx was canceled first.
func (s *Replay) Run(ctx context.Context, o ReplayOptions) (Replayed, error) {
	var res Replayed
	end := s.script.end
	if o.Snapshot != "" && o.Until == 0 {
		return res, errors.New("replay: a snapshot is written where --until stops the replay: give --until N")
	}
	if o.Until != 0 && end != nil && o.Until > end.Instructions {
		return res, fmt.Errorf("replay: --until %d is past the end of the recording, which ends at instruction %d", o.Until, end.Instructions)
	}
	note := o.Note
	if note == nil {
		note = func(string, ...any) {}
	}
	ckpt := &replayCheckpoints{recording: s.path, every: o.CheckpointEvery, use: !o.NoCheckpoints, until: o.Until, stop: s.stop(), note: note}
	defer ckpt.abort()
	vm, err := s.New(o.Options)
	if err != nil {
		return res, err
	}
	defer vm.Close()
	m := vm.Machine()
	if at := m.Instructions(); o.Until != 0 && o.Until <= at {
		return res, fmt.Errorf("replay: --until %d: the recording starts from snapshot %s, taken at instruction %d: give a later one", o.Until, s.snapshot, at)
	}
	res.Exit, err = ckpt.run(ctx, m)
	if err != nil {
		return res, err
	}
	d := m.Digest()
	res.Digest, res.Clock = hex.EncodeToString(d[:]), m.Clock()
	for _, h := range m.Harts() {
		res.Harts = append(res.Harts, h.State())
	}
	if ch := vm.snap.verify; ch != nil && res.Exit.Kind != machine.ExitCanceled {
		// The snapshot's memory images, mapped as they were, are checked
		// against their digests beside the run.
		if err := <-ch; err != nil {
			return res, fmt.Errorf("replay: %w", err)
		}
	}
	if o.Snapshot != "" && res.Exit.Kind == machine.ExitLimit && res.Exit.Instructions == o.Until {
		ss, err := s.writeSnapshot(vm, o)
		if err != nil {
			return res, err
		}
		res.Snapshot = &ss
	}
	if err := vm.Close(); err != nil {
		return res, fmt.Errorf("closing devices: %w", err)
	}
	if res.Exit.Kind == machine.ExitCanceled {
		return res, nil
	}
	if o.Until != 0 {
		if res.Exit.Instructions != o.Until {
			at := "where it ends"
			if end == nil {
				at = "where it was cut short"
			}
			return res, fmt.Errorf("replay: --until %d is past the end of the recording: it stops at instruction %d, %s", o.Until, res.Exit.Instructions, at)
		}
		return res, nil
	}
	if err := s.check(res); err != nil {
		return res, err
	}
	ckpt.finish(true)
	return res, nil
}

// writeSnapshot writes the state the replaying vm reached as a snapshot
// for a live run: its spec is the recording's, instruction limit
// included, and its disks hold what the guest wrote to them (kept in
// memory by the replay).
func (s *Replay) writeSnapshot(vm *VM, o ReplayOptions) (Snapshotted, error) {
	spec := vm.Spec()
	spec.Limits = s.spec.Limits
	// A restore looks for read-only disks where the manifest says, from
	// wherever it runs.
	for i := range spec.Disks {
		if abs, err := filepath.Abs(spec.Disks[i].Path); err == nil {
			spec.Disks[i].Path = abs
		}
	}
	if o.JuiceVersion == "" {
		o.JuiceVersion = vm.version
	}
	ss, err := SnapshotMachine(o.Snapshot, vm.Machine(), spec, SnapshotOptions{JuiceVersion: o.JuiceVersion})
	if err != nil {
		return ss, fmt.Errorf("replay: %w", err)
	}
	return ss, nil
}

// check compares where a full replay stopped with where the recording
// ended.
func (s *Replay) check(res Replayed) error {
	exit, end := res.Exit, s.script.end
	if in, ok := s.script.pending(); ok {
		return &Divergence{fmt.Sprintf("recorded input at clock %d was never taken", in.Clock)}
	}
	if end == nil {
		return nil // truncated: replayed up to its last event
	}
	stopped := end.Exit == machine.ExitLimit.String() || end.Exit == machine.ExitCanceled.String()
	switch {
	case stopped && exit.Kind != machine.ExitLimit, !stopped && exit.Kind.String() != end.Exit:
		return &Divergence{fmt.Sprintf("the replay ended (%s) at instruction %d; in the recording %s at instruction %d",
			exit.Kind, exit.Instructions, EndedHow(end), end.Instructions)}
	case exit.Instructions > end.Instructions:
		return &Divergence{fmt.Sprintf("the replay ran past instruction %d, where in the recording %s", end.Instructions, EndedHow(end))}
	case exit.Instructions != end.Instructions || res.Clock != end.Clock || res.Digest != end.Digest || ExitCode(exit) != end.ExitCode && !stopped:
		return &Divergence{fmt.Sprintf("%d instructions (clock %d), digest %s; recorded %d instructions (clock %d), digest %s",
			exit.Instructions, res.Clock, res.Digest, end.Instructions, end.Clock, end.Digest)}
	}
	return nil
}

// EndedHow says, for people, how a recorded run ended.
func EndedHow(e *replay.End) string {
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
