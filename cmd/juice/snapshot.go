package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/api"
	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/vmm"
	"github.com/juicevm/juice/internal/vmspec"
)

func newSnapshotCmd() *cobra.Command {
	var sock, out string
	var diff, stop bool
	cmd := &cobra.Command{
		Use:   "snapshot --api SOCK -o DIR [--diff] [--stop]",
		Short: "Write a running virtual machine's whole state into a new folder",
		Long: "Write the whole state of the virtual machine that juice run, record or restore\n" +
			"serves on --api SOCK into the new folder DIR: it pauses the VM at the next\n" +
			"scheduling round, writes the snapshot and lets the VM run on (unless --stop).\n" +
			"It prints the instruction count the snapshot was taken at. juice restore DIR goes\n" +
			"on from there, in this process's place or on another host (docs/snapshots.md).\n\n" +
			"--diff writes only the memory written since the VM's previous snapshot, which\n" +
			"the new one names as its parent; juice snapshot flatten merges such a chain.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sock == "" {
				return errors.New("snapshot: --api SOCK is required (the socket juice run --api serves)")
			}
			if out == "" {
				return errors.New("snapshot: -o DIR is required (the new folder to write)")
			}
			abs, err := filepath.Abs(out)
			if err != nil {
				return err
			}
			body := api.SnapshotCreate{SnapshotPath: abs, SnapshotType: snapshot.KindFull, Stop: stop}
			if diff {
				body.SnapshotType = snapshot.KindDiff
			}
			var s vmm.Snapshotted
			if err := api.NewClient(sock).Do(cmd.Context(), http.MethodPut, "/snapshot/create", body, &s); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "juice: %s snapshot at instruction %d (clock %d) written to %s; the VM was paused %s\n",
				strings.ToLower(s.Kind), s.Instructions, s.Clock, out, s.Paused.Round(time.Microsecond))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&sock, "api", "", "the control API's Unix socket `SOCK`")
	fl.StringVarP(&out, "output", "o", "", "the snapshot folder `DIR` to write (must not exist)")
	fl.BoolVar(&diff, "diff", false, "write only the memory written since the previous snapshot")
	fl.BoolVar(&stop, "stop", false, "stop the VM once the snapshot is written")
	cmd.AddCommand(newFlattenCmd())
	return cmd
}

func newFlattenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "flatten DIR -o OUT",
		Short: "Merge a diff snapshot and its parents into one full snapshot",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("flatten: -o OUT is required (the new folder to write)")
			}
			n, err := snapshot.Flatten(args[0], out, juiceVersion)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "juice: %d snapshots merged into %s\n", n, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the full snapshot folder `OUT` to write (must not exist)")
	return cmd
}

// snapshotKey writes a snapshot of vm into a new folder in dir, for
// Ctrl-A s on the console.
func snapshotKey(ctx context.Context, vm *vmm.VM, dir string) {
	msg := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "\r\njuice: "+format+"\r\n", args...)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		msg("snapshot: %v", err)
		return
	}
	var path string
	for i := 1; ; i++ {
		path = filepath.Join(dir, fmt.Sprintf("snapshot-%d", i))
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	s, err := vm.Snapshot(ctx, path, vmm.SnapshotOptions{})
	if err != nil {
		msg("%v", err)
		return
	}
	msg("snapshot at instruction %d written to %s", s.Instructions, path)
}

// restoreFlags are juice restore's and juice receive's options: what
// replaces the snapshot's host resources.
type restoreFlags struct {
	nets        []string
	vsock       string
	disks       []string
	api         string
	stats       string
	snapshotDir string
}

func (f *restoreFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.nets, "net", nil, "replace the VM's network interfaces: `user[,hostfwd=...]` or tap=NAME (repeatable)")
	fl.StringVar(&f.vsock, "vsock", "", "replace the VM's vsock host socket: `PATH[,cid=N]`")
	fl.StringArrayVar(&f.disks, "disk", nil, "point disk `NAME=PATH` elsewhere (NAME: its index, serial or file name; repeatable)")
	fl.StringVar(&f.api, "api", "", "serve the control API (docs/api.md) on the Unix socket `SOCK`")
	fl.StringVar(&f.stats, "stats", "", "write run statistics as JSON to `FILE` (- for stdout)")
	fl.StringVar(&f.snapshotDir, "snapshot-dir", "", "on a terminal, Ctrl-A s writes a snapshot into a new folder in `DIR`")
}

// run builds a VM with build (from a snapshot or a migration) and runs it
// with its console on this terminal, as juice run does.
func (f *restoreFlags) run(ctx context.Context, build func(vmm.RestoreOptions) (*vmm.VM, error)) error {
	o, err := f.options()
	if err != nil {
		return err
	}
	start := time.Now()
	var e machine.Exit
	var spec vmspec.Spec
	var digest string
	var rt restoreTiming
	migrated := false
	err = withConsole(ctx, func(ctx context.Context, vo vmm.Options, con *console) error {
		o.Options = vo
		t := time.Now()
		vm, err := build(o)
		if err != nil {
			return err
		}
		rt.restore = time.Since(t)
		defer vm.Close()
		spec = vm.Spec()
		for _, n := range vm.Notes() {
			fmt.Fprintf(os.Stderr, "juice: %s\n", n)
		}
		if f.snapshotDir != "" {
			con.bind('s', func() { snapshotKey(ctx, vm, f.snapshotDir) })
		}
		stopAPI, err := serveAPI(ctx, f.api, vm)
		if err != nil {
			return err
		}
		e, err = vm.Run(ctx)
		stopAPI()
		rt.first = vm.Machine().FirstInstruction()
		if migrated = errors.Is(err, vmm.ErrMigrated); migrated {
			return reportMigrated(vm)
		}
		if err != nil {
			return err
		}
		digest = finalDigest(f.stats, vm)
		return vm.Close()
	})
	if err != nil || migrated {
		return err
	}
	rf := runFlags{stats: f.stats, digest: digest, restore: rt.stats(start)}
	return rf.report(&spec, e, time.Since(start))
}

// reportMigrated says where a VM that migrated went.
func reportMigrated(vm *vmm.VM) error {
	fmt.Fprintf(os.Stderr, "juice: the VM migrated to %s; it runs there now\n", vm.MigratedTo())
	return nil
}

// options turns the flags into restore options.
func (f *restoreFlags) options() (vmm.RestoreOptions, error) {
	var o vmm.RestoreOptions
	for _, s := range f.nets {
		n, err := parseNet(s)
		if err != nil {
			return o, fmt.Errorf("--net %s: %w", s, err)
		}
		o.Net = append(o.Net, n)
	}
	if f.vsock != "" {
		v, err := parseVsock(f.vsock)
		if err != nil {
			return o, fmt.Errorf("--vsock %s: %w", f.vsock, err)
		}
		o.Vsock = &v
	}
	for _, d := range f.disks {
		name, path, ok := strings.Cut(d, "=")
		if !ok || name == "" || path == "" {
			return o, fmt.Errorf("--disk %s: want NAME=PATH (NAME: the disk's index, serial or file name)", d)
		}
		if o.Disks == nil {
			o.Disks = map[string]string{}
		}
		o.Disks[name] = path
	}
	return o, nil
}

func newRestoreCmd() *cobra.Command {
	var f restoreFlags
	cmd := &cobra.Command{
		Use:   "restore DIR [--api SOCK] [--net ...] [--vsock ...] [--disk NAME=PATH]",
		Short: "Go on running a virtual machine from a snapshot folder",
		Long: "Go on running the virtual machine saved in the snapshot folder DIR (juice snapshot),\n" +
			"exactly where it was: the console on this terminal, as juice run. The snapshot\n" +
			"needs none of the VM's original files but the read-only disks it names (whose\n" +
			"digests are checked); --disk NAME=PATH points a disk elsewhere. A writable\n" +
			"disk's contents are in the snapshot: the guest's writes to it are kept in memory\n" +
			"unless --disk NAME=PATH names where to keep them (a new file is made a copy of\n" +
			"the snapshot's; an existing one is used as the disk as it is).\n\n" +
			"The network and vsock are made anew (--net and --vsock replace them): connections\n" +
			"through them are reset, as a real network would reset them. Exit statuses are\n" +
			"juice run's.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd.Context(), func(o vmm.RestoreOptions) (*vmm.VM, error) { return vmm.Restore(args[0], o) })
		},
	}
	f.register(cmd)
	return cmd
}

// restoreTiming is how long a restore took, for --stats.
type restoreTiming struct {
	restore time.Duration // vmm.Restore: open the folder, map memory, build the machine, load its state
	first   time.Time     // the first guest instruction after it began (zero: none ran)
}

// stats returns the --stats fields of a restore whose command began at start.
func (rt restoreTiming) stats(start time.Time) *RestoreStats {
	s := &RestoreStats{RestoreSeconds: rt.restore.Seconds()}
	if !rt.first.IsZero() {
		s.FirstInstructionSeconds = rt.first.Sub(start).Seconds()
		s.FirstInstructionUnixNano = rt.first.UnixNano()
	}
	return s
}

// RestoreStats are the fields juice restore adds to --stats.
type RestoreStats struct {
	// RestoreSeconds is the in-process restore: opening the snapshot
	// folder, mapping its memory, building the machine and loading its
	// state (vmm.Restore).
	RestoreSeconds float64 `json:"restore_seconds"`
	// FirstInstructionSeconds is the time from the start of the restore
	// command (after the process started and parsed its flags) to the
	// start of the first guest instruction after the restore;
	// FirstInstructionUnixNano is that instant on the host's wall clock,
	// for a caller to measure from the moment it started the process.
	// Both are left out when no instruction ran.
	FirstInstructionSeconds  float64 `json:"first_instruction_seconds,omitempty"`
	FirstInstructionUnixNano int64   `json:"first_instruction_unix_nano,omitempty"`
}
