package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/replay"
	"github.com/juicevm/juice/internal/riscv"
)

type fileScript struct {
	r       *replay.Reader
	queue   []machine.Input
	digests []replay.Event
	end     *replay.End
	err     error
}

var fromFileKind = map[replay.Kind]machine.EventKind{
	replay.KindConsole: machine.EventConsole,
	replay.KindEntropy: machine.EventEntropy,
	replay.KindNet:     machine.EventNet,
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
		s.queue = append(s.queue, machine.Input{Clock: e.At, Kind: k, Port: int(e.Port), Data: e.Data})
	}
	return s.err == nil
}

func (s *fileScript) Peek() (machine.Input, bool) {
	for len(s.queue) == 0 && s.fill() {
	}
	if len(s.queue) == 0 {
		return machine.Input{}, false
	}
	return s.queue[0], true
}

func (s *fileScript) Take() { s.queue = s.queue[1:] }

// checkDigest compares the machine's state digest at clock with the
// recording's, if it has one there.
func (s *fileScript) checkDigest(clock uint64, d [32]byte) error {
	for (len(s.digests) == 0 || s.digests[len(s.digests)-1].At < clock) && s.fill() {
	}
	for len(s.digests) > 0 && s.digests[0].At < clock {
		s.digests = s.digests[1:]
	}
	if len(s.digests) == 0 || s.digests[0].At != clock {
		return nil
	}
	want := s.digests[0].Data
	s.digests = s.digests[1:]
	if !bytes.Equal(want, d[:]) {
		return fmt.Errorf("%w: the machine state first differs at clock %d (instruction clock; digest %x, recorded %x)",
			machine.ErrDiverged, clock, d[:8], want[:min(8, len(want))])
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
	cmd := &cobra.Command{
		Use:   "replay FILE.jrr",
		Short: "Re-execute a recording and check that it ends where the recording did",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if info {
				return replayInfo(args[0])
			}
			return replayRun(cmd.Context(), args[0], until, asJSON)
		},
	}
	cmd.Flags().BoolVar(&info, "info", false, "summarise the recording instead of replaying it")
	cmd.Flags().Uint64Var(&until, "until", 0, "stop at instruction count `N` and print each hart's pc and registers")
	cmd.Flags().BoolVar(&asJSON, "json", false, "with --until, print the harts' state as JSON")
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

func replayRun(ctx context.Context, path string, until uint64, asJSON bool) error {
	r, err := replay.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	h := r.Header()
	var f runFlags
	if err := json.Unmarshal(h.Config, &f.runSpec); err != nil {
		return fmt.Errorf("replay: %s: the configuration in the header is unreadable: %w", path, err)
	}
	if err := checkInputs(h.Inputs); err != nil {
		return err
	}
	// Disks are replayed through throw-away overlays: the images stay as
	// they were recorded from.
	tmp, err := os.MkdirTemp("", "juice-replay")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for i, d := range f.Disks {
		dc, err := parseDisk(d)
		if err != nil {
			return err
		}
		if dc.Overlay != "" {
			return errors.New("replay: disks recorded with an overlay cannot be replayed yet")
		}
		f.Disks[i] = fmt.Sprintf("%s,overlay=%s", d, filepath.Join(tmp, fmt.Sprintf("vd%d.ovl", i)))
	}
	script := &fileScript{r: r}
	var exit machine.Exit
	var digest [32]byte
	var harts []riscv.State
	runErr := runMachineWith(ctx, &f, func(cfg *machine.Config) {
		cfg.Script = script
		cfg.DigestInterval, cfg.OnDigest = h.DigestInterval, script.checkDigest
		if until != 0 {
			cfg.MaxInstructions = until
		}
		if asJSON {
			cfg.Console = os.Stderr // stdout is for the JSON
		}
	},
		func(m *machine.Machine, e machine.Exit) {
			exit, digest = e, m.Digest()
			for _, h := range m.Harts() {
				harts = append(harts, h.State())
			}
		})
	if until != 0 && exit.Kind == machine.ExitLimit {
		return printHarts(exit.Instructions, harts, asJSON)
	}
	var es exitStatus
	if errors.Is(runErr, machine.ErrDiverged) {
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
	if len(script.queue) > 0 {
		fmt.Fprintf(os.Stderr, "juice: replay diverged: recorded input at clock %d was never taken\n", script.queue[0].Clock)
		return exitStatus{exitDiverged}
	}
	got := hex.EncodeToString(digest[:])
	if exit.Instructions != script.end.Instructions || got != script.end.Digest {
		fmt.Fprintf(os.Stderr, "juice: replay diverged: %d instructions, digest %s; recorded %d instructions, digest %s\n",
			exit.Instructions, got, script.end.Instructions, script.end.Digest)
		return exitStatus{exitDiverged}
	}
	fmt.Fprintf(os.Stderr, "juice: replay matches the recording: %d instructions, digest %s\n", exit.Instructions, got)
	return nil
}
