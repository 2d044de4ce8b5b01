package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/vmm"
	"github.com/juicevm/juice/internal/vmspec"
)

func newRecordCmd() *cobra.Command {
	var f runFlags
	var out string
	var digestEvery uint64
	var fromSnapshot string
	cmd := &cobra.Command{
		Use:   "record -o FILE.jrr [run options] [APPLIANCE]",
		Short: "Run a virtual machine as juice run does, recording it for exact replay",
		Long: "Run a virtual machine as juice run does, recording it for exact replay.\n\n" +
			"The recording is written as FILE.jrr.partial and renamed to FILE.jrr when the run\n" +
			"ends, however it ends (power-off, Ctrl-A x, Ctrl-C, SIGTERM, --max-instructions); a\n" +
			"run killed outright leaves FILE.jrr.partial, which juice replay replays up to its last\n" +
			"complete event. FILE.jrr must not be one of the run's inputs.\n\n" +
			"The disks of an APPLIANCE stay as they are: the guest's writes go to a new overlay\n" +
			"beside the recording, FILE.jrr.DISK.ovl (replacing an old one), unless --disk is given.\n\n" +
			"--from-snapshot DIR records a run that goes on from the snapshot folder DIR (juice\n" +
			"snapshot) instead of booting; --net and --vsock replace its host resources, as for\n" +
			"juice restore, and the guest's writes to its writable disks are kept in memory. The\n" +
			"recording names the snapshot by its path and the SHA-256 of its snapshot.json: juice\n" +
			"replay restores it again, and refuses a snapshot that is missing or changed.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("record: -o FILE.jrr is required")
			}
			ctx := cmd.Context()
			if fromSnapshot != "" {
				return f.recordSnapshot(cmd, args, fromSnapshot, vmm.RecordOptions{Output: out, DigestEvery: digestEvery})
			}
			overlays := map[string]string{}
			spec, files, err := f.specOf(ctx, cmd, args, func(disk string) string { return vmm.RecordOverlay(out, disk, overlays) })
			if err != nil {
				return err
			}
			defer files.Close()
			if err := vmm.CheckOverlays(&spec); err != nil {
				return err
			}
			outs := []string{out}
			for _, final := range overlays {
				outs = append(outs, final)
			}
			if err := f.checkStats(&spec, outs...); err != nil {
				return err
			}
			o := vmm.RecordOptions{Output: out, DigestEvery: digestEvery, Overlays: overlays}
			o.JuiceVersion = juiceVersion
			start := time.Now()
			var rec vmm.Recorded
			err = withConsole(ctx, func(ctx context.Context, vo vmm.Options, con *console) error {
				vo.Files = files
				stopAPI := func() {}
				vo.Started = func(vm *vmm.VM) error {
					stop, err := f.attach(ctx, vm, con)
					if err == nil {
						stopAPI = stop
					}
					return err
				}
				o.Options = vo
				rec, err = vmm.Record(ctx, spec, o)
				stopAPI()
				return err
			})
			wall := time.Since(start)
			if !rec.Started {
				return err
			}
			fmt.Fprintf(os.Stderr, "juice: recorded %d instructions, %d inputs, final digest %s to %s\n", rec.End.Instructions, rec.Inputs, rec.End.Digest, out)
			if err != nil {
				return err
			}
			f.digest = rec.End.Digest
			return f.report(&spec, rec.Exit, wall)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the recording to `FILE.jrr`")
	cmd.Flags().StringVar(&fromSnapshot, "from-snapshot", "", "start from the snapshot folder `DIR` instead of booting")
	cmd.Flags().Uint64Var(&digestEvery, "digest-every", 30_000_000, "record a summary of the machine state every `N` instructions of the clock, for replays to check (0: none)")
	f.register(cmd)
	return cmd
}

// specFlags are the run options that describe the machine, which a
// recording from a snapshot takes from the snapshot.
var specFlags = []string{"kernel", "initrd", "append", "cpus", "memory", "firmware", "bare", "max-instructions", "disk", "no-rng", "console"}

// recordSnapshot records a run that goes on from the snapshot folder dir.
func (f *runFlags) recordSnapshot(cmd *cobra.Command, args []string, dir string, o vmm.RecordOptions) error {
	if len(args) > 0 {
		return fmt.Errorf("record: --from-snapshot %s: the snapshot is the machine; give no appliance (%s)", dir, args[0])
	}
	for _, name := range specFlags {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("record: --from-snapshot %s: --%s: the snapshot says what the machine is (only --net and --vsock replace its host resources)", dir, name)
		}
	}
	from := vmm.SnapshotSource{Dir: dir}
	for _, s := range f.nets {
		n, err := parseNet(s)
		if err != nil {
			return fmt.Errorf("--net %s: %w", s, err)
		}
		from.Net = append(from.Net, n)
	}
	if f.vsock != "" {
		v, err := parseVsock(f.vsock)
		if err != nil {
			return fmt.Errorf("--vsock %s: %w", f.vsock, err)
		}
		from.Vsock = &v
	}
	if err := f.checkStats(&vmspec.Spec{}, o.Output); err != nil {
		return err
	}
	ctx := cmd.Context()
	o.JuiceVersion = juiceVersion
	start := time.Now()
	var rec vmm.Recorded
	var spec vmspec.Spec
	err := withConsole(ctx, func(ctx context.Context, vo vmm.Options, con *console) error {
		stopAPI := func() {}
		vo.Started = func(vm *vmm.VM) error {
			spec = vm.Spec()
			stop, err := f.attach(ctx, vm, con)
			if err == nil {
				stopAPI = stop
			}
			return err
		}
		o.Options = vo
		var err error
		rec, err = vmm.RecordSnapshot(ctx, from, o)
		stopAPI()
		return err
	})
	wall := time.Since(start)
	if !rec.Started {
		return err
	}
	fmt.Fprintf(os.Stderr, "juice: recorded %d instructions from snapshot %s, %d inputs, final digest %s to %s\n", rec.End.Instructions, dir, rec.Inputs, rec.End.Digest, o.Output)
	if err != nil {
		return err
	}
	f.digest = rec.End.Digest
	return f.report(&spec, rec.Exit, wall)
}
