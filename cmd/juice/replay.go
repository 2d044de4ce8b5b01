package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/outfile"
	"github.com/juicevm/juice/internal/replay"
	"github.com/juicevm/juice/internal/riscv"
	"github.com/juicevm/juice/internal/vmm"
)

func newReplayCmd() *cobra.Command {
	var info, asJSON bool
	var until uint64
	var gdbAddr string
	var opts replayOptions
	var moved vmm.Moved
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
				return replayGDB(cmd.Context(), path, gdbAddr, moved)
			}
			opts.until, opts.asJSON = until, asJSON
			if cmd.Flags().Changed("until") && until == 0 {
				return errors.New("replay: --until 0: give an instruction count of 1 or more")
			}
			if opts.snapshot != "" && until == 0 {
				return errors.New("replay: --snapshot DIR writes the state where --until N stops the replay: give --until N")
			}
			return replayRun(cmd.Context(), path, moved, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&info, "info", false, "summarise the recording instead of replaying it")
	fl.Uint64Var(&until, "until", 0, "stop at instruction count `N` and print each hart's pc and registers")
	fl.BoolVar(&asJSON, "json", false, "with --until, print the harts' state as JSON")
	fl.Uint64Var(&opts.checkpointEvery, "checkpoint-every", 10_000_000, "while replaying, save the machine's state every `N` instructions in FILE.jrr.ckpt, from which --until starts (0: none)")
	fl.StringVar(&opts.snapshot, "snapshot", "", "with --until, write the state reached into the new folder `DIR` as a full snapshot, which juice restore DIR goes on from live (the harts' state is then printed only with --json)")
	fl.BoolVar(&opts.noCheckpoints, "no-checkpoints", false, "with --until, replay from the start even if FILE.jrr.ckpt has a state to start from")
	fl.StringVar(&gdbAddr, "gdb", "", "serve the gdb remote protocol on `ADDR` and let gdb run the replay, backwards too; PORT or :PORT listens on 127.0.0.1 only, HOST:PORT (e.g. 0.0.0.0:1234) where written")
	fl.StringVar(&moved.Kernel, "kernel", "", "the recording's kernel `IMAGE`, if it moved")
	fl.StringVar(&moved.Initrd, "initrd", "", "the recording's initrd `FILE`, if it moved")
	fl.StringVar(&moved.Firmware, "firmware", "", "the recording's firmware `FILE`, if it moved")
	fl.StringVar(&moved.Bare, "bare", "", "the recording's bare-metal `ELF`, if it moved")
	fl.StringVar(&moved.Snapshot, "from-snapshot", "", "the snapshot folder `DIR` a recording made with juice record --from-snapshot starts from, if it moved")
	fl.StringArrayVar(&moved.Disks, "disk", nil, "the recording's disk images, if they moved: `FILE` for each disk in order (repeatable; an empty value keeps that disk where the recording says)")
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

// replayOptions are the replay command's options.
type replayOptions struct {
	until           uint64
	asJSON          bool
	checkpointEvery uint64
	noCheckpoints   bool
	snapshot        string
}

// note tells the user something on stderr.
func note(format string, args ...any) { fmt.Fprintf(os.Stderr, "juice: "+format+"\n", args...) }

func replayRun(ctx context.Context, path string, moved vmm.Moved, o replayOptions) error {
	s, err := vmm.OpenReplay(path, moved)
	if err != nil {
		return err
	}
	defer s.Close()
	var res vmm.Replayed
	err = withConsole(ctx, func(ctx context.Context, vo vmm.Options, _ *console) error {
		if o.asJSON {
			vo.Console = os.Stderr // stdout is for the JSON
		}
		res, err = s.Run(ctx, vmm.ReplayOptions{Options: vo, Until: o.until, CheckpointEvery: o.checkpointEvery, NoCheckpoints: o.noCheckpoints, Note: note, Snapshot: o.snapshot})
		return err
	})
	if errors.Is(err, machine.ErrDiverged) {
		fmt.Fprintf(os.Stderr, "juice: %v\n", err)
		return exitStatus{exitDiverged}
	}
	if err != nil {
		return err
	}
	if res.Exit.Kind == machine.ExitCanceled {
		fmt.Fprintf(os.Stderr, "juice: replay interrupted at instruction %d\n", res.Exit.Instructions)
		return exitStatus{exitCanceled}
	}
	if res.Snapshot != nil {
		fmt.Fprintf(os.Stderr, "juice: full snapshot at instruction %d (clock %d) written to %s; juice restore %s goes on from there live\n",
			res.Snapshot.Instructions, res.Snapshot.Clock, res.Snapshot.Dir, res.Snapshot.Dir)
		if !o.asJSON {
			return nil // stdout holds the guest's console output only
		}
	}
	if o.until != 0 {
		return printHarts(res.Exit.Instructions, res.Harts, o.asJSON)
	}
	end := s.End()
	if end == nil {
		fmt.Fprintf(os.Stderr, "juice: recording truncated at instruction %d; replayed up to there (%v)\n", res.Exit.Instructions, s.Truncated())
		return nil
	}
	fmt.Fprintf(os.Stderr, "juice: replay matches the recording: %d instructions, digest %s; the recorded run ended there because %s\n", res.Exit.Instructions, res.Digest, vmm.EndedHow(end))
	return nil
}
