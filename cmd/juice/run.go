package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/juicevm/juice/internal/api"
	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/kernel"
	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/outfile"
	"github.com/juicevm/juice/internal/usernet"
	"github.com/juicevm/juice/internal/vmm"
	"github.com/juicevm/juice/internal/vmspec"
)

// defaultCmdline is the kernel command line of the default appliance.
const defaultCmdline = "console=ttyS0"

// runFlags are the options of run and record: what they make a VM spec
// from, with an appliance's manifest or the default appliance.
type runFlags struct {
	kernel, initrd, cmdline, firmware, bare string
	cpus                                    int
	memory                                  string
	maxInstructions                         uint64
	disks, nets                             []string
	vsock                                   string
	noRNG                                   bool
	console                                 string
	stats                                   string
	api                                     string
	snapshotDir                             string
	// digest is the final state's digest, for --stats.
	digest string
	// restore is juice restore's timing, for --stats.
	restore *RestoreStats
}

func (f *runFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.kernel, "kernel", "", "kernel `IMAGE` (RISC-V Linux Image or ELF); default: the default appliance")
	fl.StringVar(&f.initrd, "initrd", "", "initial RAM file system `FILE`")
	fl.StringVar(&f.cmdline, "append", "", "kernel command line `ARGS`")
	fl.IntVar(&f.cpus, "cpus", 1, "number of harts `N`")
	fl.StringVar(&f.memory, "memory", "256M", "RAM `SIZE` with a binary unit (e.g. 512M, 1G; see docs/sizes.md)")
	fl.StringVar(&f.firmware, "firmware", "", "M-mode firmware ELF `FILE` (e.g. OpenSBI fw_jump.elf) instead of Juice's SBI")
	fl.StringVar(&f.bare, "bare", "", "run a bare-metal `ELF` from its entry in M-mode (HTIF tohost convention)")
	fl.StringVar(&f.stats, "stats", "", "write run statistics as JSON to `FILE` (- for stdout)")
	fl.Uint64Var(&f.maxInstructions, "max-instructions", 0, "stop after `N` instructions (0: no limit)")
	fl.StringArrayVar(&f.disks, "disk", nil, "attach a virtio-blk disk: `FILE[,ro][,overlay=FILE][,serial=ID]` (repeatable)")
	fl.StringArrayVar(&f.nets, "net", nil, "attach a virtio-net interface: `user[,hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT]...` or tap=NAME (repeatable)")
	fl.StringVar(&f.vsock, "vsock", "", "attach virtio-vsock with its host side on a Unix socket: `PATH[,cid=N]` (guest CID 3 by default)")
	fl.BoolVar(&f.noRNG, "no-rng", false, "leave out the virtio-rng device")
	fl.StringVar(&f.console, "console", "uart", "guest console device: `uart` (ttyS0) or virtio (hvc0)")
	fl.StringVar(&f.api, "api", "", "serve the control API (docs/api.md) on the Unix socket `SOCK`")
	fl.StringVar(&f.snapshotDir, "snapshot-dir", "", "on a terminal, Ctrl-A s writes a snapshot into a new folder in `DIR`")
}

// serveAPI serves the control API of vm on --api, if it is given; stop
// ends it.
func (f *runFlags) attach(ctx context.Context, vm *vmm.VM, con *console) (stop func(), err error) {
	if f.snapshotDir != "" {
		con.bind('s', func() { snapshotKey(ctx, vm, f.snapshotDir) })
	}
	return serveAPI(ctx, f.api, vm)
}

// serveAPI serves the control API of vm on the socket path, if one is
// given; stop ends it.
func serveAPI(ctx context.Context, path string, vm *vmm.VM) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	s, err := api.Serve(path, api.Handler(vm, logger(ctx)))
	if err != nil {
		return nil, err
	}
	return func() { s.Close() }, nil
}

// parseNet parses a --net value: user[,hostfwd=RULE]... or tap=NAME.
func parseNet(s string) (vmspec.Net, error) {
	parts := strings.Split(s, ",")
	var n vmspec.Net
	switch k, v, _ := strings.Cut(parts[0], "="); {
	case parts[0] == "user":
		n.Mode = vmspec.NetUser
		for _, p := range parts[1:] {
			rule, ok := strings.CutPrefix(p, "hostfwd=")
			if !ok {
				return n, fmt.Errorf("--net %q: unknown option %q (want hostfwd=RULE)", s, p)
			}
			fw, err := usernet.ParseForward(rule)
			if err != nil {
				return n, fmt.Errorf("--net %q: %w", s, err)
			}
			n.Forwards = append(n.Forwards, vmspec.Forward{Protocol: fw.Proto, Host: fw.HostAddr, GuestPort: fw.GuestPort})
		}
	case k == "tap" && v != "":
		if len(parts) > 1 {
			return n, fmt.Errorf("--net %q: tap takes no options", s)
		}
		n.Mode, n.Tap = vmspec.NetTap, v
	default:
		return n, fmt.Errorf("--net %q: want user[,hostfwd=...] or tap=NAME", s)
	}
	return n, nil
}

// parseVsock parses a --vsock value: PATH[,cid=N].
func parseVsock(s string) (vmspec.Vsock, error) {
	parts := strings.Split(s, ",")
	v := vmspec.Vsock{Path: parts[0]}
	if v.Path == "" {
		return v, fmt.Errorf("--vsock %q: no socket path", s)
	}
	for _, p := range parts[1:] {
		n, ok := strings.CutPrefix(p, "cid=")
		cid, err := strconv.ParseUint(n, 10, 32)
		if !ok || err != nil || cid < 3 {
			return v, fmt.Errorf("--vsock %q: bad option %q (want cid=N with N >= 3)", s, p)
		}
		v.CID = cid
	}
	return v, nil
}

// parseDisk parses a --disk value: FILE[,ro][,overlay=FILE][,serial=ID].
func parseDisk(s string) (vmspec.Disk, error) {
	parts := strings.Split(s, ",")
	d := vmspec.Disk{Path: parts[0]}
	if d.Path == "" {
		return d, fmt.Errorf("--disk %q: no image file", s)
	}
	for _, p := range parts[1:] {
		k, v, hasValue := strings.Cut(p, "=")
		switch {
		case k == "ro" && !hasValue:
			d.ReadOnly = true
		case k == "overlay" && v != "":
			d.Overlay = v
		case k == "serial" && v != "":
			d.Serial = v
		default:
			return d, fmt.Errorf("--disk %q: unknown option %q (want ro, overlay=FILE or serial=ID)", s, p)
		}
	}
	return d, nil
}

// parseMemory parses a RAM size (internal/bytesize: a unit is required).
func parseMemory(s string) (uint64, error) {
	n, err := bytesize.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("memory: %w", err)
	}
	if n <= 0 {
		return 0, fmt.Errorf("memory: %q is not a size of RAM (try 256M or 1G)", s)
	}
	return uint64(n), nil
}

// defaultSpec is a VM spec with the defaults of run's flags.
func defaultSpec() vmspec.Spec {
	return vmspec.Spec{Version: vmspec.Version, CPUs: 1, Memory: 256 << 20, Console: vmspec.ConsoleUART, Entropy: true}
}

// specOf makes the VM spec of run and record from their flags and
// argument: an appliance folder (args[0]), whose manifest the flags set on
// the command line win over, or else the flags alone, with the default
// appliance when they name no kernel. overlay, if not nil, names a new
// overlay for each disk of the appliance (record: a replay needs its
// disks as they were when the recording started). The files the spec
// names that were opened already (an appliance's) come back in files.
func (f *runFlags) specOf(ctx context.Context, cmd *cobra.Command, args []string, overlay func(disk string) string) (spec vmspec.Spec, files *vmm.Files, err error) {
	set := cmd.Flags().Changed
	spec = defaultSpec()
	files = &vmm.Files{}
	defer func() {
		if err != nil {
			files.Close()
		}
	}()
	if f.bare != "" && (f.kernel != "" || f.initrd != "" || f.firmware != "") {
		return spec, files, errors.New("--bare runs a program alone: drop --kernel, --initrd and --firmware")
	}
	if len(args) > 0 {
		if f.bare != "" {
			return spec, files, fmt.Errorf("--bare runs a program alone: drop it or the appliance %s", args[0])
		}
		if spec, err = f.applianceSpec(args[0], spec, files, overlay); err != nil {
			return spec, files, err
		}
	}
	file := func(p string) *vmspec.File { return &vmspec.File{Path: p} }
	switch {
	case f.bare != "":
		spec.Boot = vmspec.Boot{Bare: file(f.bare)}
	case f.kernel != "":
		spec.Boot.Kernel = file(f.kernel)
	}
	if set("initrd") {
		spec.Boot.Initrd = file(f.initrd)
	}
	if f.firmware != "" {
		spec.Boot.Firmware = file(f.firmware)
	}
	switch f.console {
	case vmspec.ConsoleUART, vmspec.ConsoleVirtio:
		spec.Console = f.console
	default:
		return spec, files, fmt.Errorf("--console %q: want uart or virtio", f.console)
	}
	switch {
	case spec.Appliance != nil:
		// An appliance's command line, with --append's arguments after it.
		if spec.Console == vmspec.ConsoleVirtio {
			spec.Boot.Cmdline = strings.ReplaceAll(spec.Boot.Cmdline, "console=ttyS0", "console=hvc0")
		}
		if set("append") {
			spec.Boot.Cmdline = strings.TrimSpace(spec.Boot.Cmdline + " " + f.cmdline)
		}
	case spec.Boot.Kernel == nil && spec.Boot.Bare == nil:
		if f.initrd != "" {
			return spec, files, errors.New("--initrd needs --kernel")
		}
		if err := f.defaultAppliance(ctx, &spec); err != nil {
			return spec, files, err
		}
	default:
		spec.Boot.Cmdline = f.cmdline
	}
	if set("cpus") || spec.Appliance == nil {
		if f.cpus < 1 || f.cpus > machine.MaxCPUs {
			return spec, files, fmt.Errorf("--cpus %d: want 1 to %d harts", f.cpus, machine.MaxCPUs)
		}
		spec.CPUs = f.cpus
	}
	if set("memory") || spec.Appliance == nil {
		mem, err := parseMemory(f.memory)
		if err != nil {
			return spec, files, err
		}
		spec.Memory = vmspec.Size(mem)
	}
	if set("disk") {
		spec.Disks = nil
		for _, d := range f.disks {
			dc, err := parseDisk(d)
			if err != nil {
				return spec, files, err
			}
			spec.Disks = append(spec.Disks, dc)
		}
	}
	if set("net") {
		spec.Net = nil
		for _, v := range f.nets {
			n, err := parseNet(v)
			if err != nil {
				return spec, files, err
			}
			spec.Net = append(spec.Net, n)
		}
	}
	if f.vsock != "" {
		v, err := parseVsock(f.vsock)
		if err != nil {
			return spec, files, err
		}
		spec.Vsock = &v
	}
	spec.Entropy = !f.noRNG && spec.Boot.Bare == nil
	spec.Limits.MaxInstructions = f.maxInstructions
	if err := spec.Validate(); err != nil {
		return spec, files, fmt.Errorf("vm spec: %w", err)
	}
	return spec, files, nil
}

// applianceSpec fills spec from the appliance folder dir, opening its
// kernel, initrd and disk images (confined to the folder) into files.
func (f *runFlags) applianceSpec(dir string, spec vmspec.Spec, files *vmm.Files, overlay func(disk string) string) (vmspec.Spec, error) {
	a, err := appliance.Open(dir)
	if err != nil {
		return spec, err
	}
	defer a.Close()
	spec, files.Data = a.Spec(spec)
	files.Disks = map[string]*os.File{}
	for i, d := range a.Manifest().Disks {
		img, err := a.OpenDisk(d.File)
		if err != nil {
			return spec, fmt.Errorf("appliance %s: disk %s: %w", dir, d.Name, err)
		}
		files.Disks[spec.Disks[i].Path] = img
		if overlay != nil {
			spec.Disks[i].Overlay = overlay(d.Name)
		}
	}
	return spec, nil
}

// defaultAppliance boots the default appliance (built if needed) with its
// command line, unless --append gives one.
func (f *runFlags) defaultAppliance(ctx context.Context, spec *vmspec.Spec) error {
	cache, err := cacheDirFrom(ctx)
	if err != nil {
		return err
	}
	d, err := appliance.BuildDefault(ctx, appliance.Options{
		CacheDir: cache,
		Logger:   logger(ctx),
		Kernel: kernel.BuildOptions{
			Progress:     os.Stderr,
			ShowProgress: term.IsTerminal(int(os.Stderr.Fd())),
		},
	})
	if err != nil {
		return fmt.Errorf("default appliance: %w", err)
	}
	spec.Boot.Kernel = &vmspec.File{Path: d.KernelPath}
	spec.Boot.Initrd = &vmspec.File{Path: d.InitrdPath}
	spec.Boot.Cmdline = f.cmdline
	if spec.Boot.Cmdline == "" {
		spec.Boot.Cmdline = defaultCmdline
		if spec.Console == vmspec.ConsoleVirtio {
			spec.Boot.Cmdline = "earlycon=sbi console=hvc0"
		}
	}
	return nil
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [APPLIANCE]",
		Short: "Boot a virtual machine with its console on this terminal",
		Long: "Boot a virtual machine. The guest console is on stdin/stdout; on a terminal, type\n" +
			"Ctrl-A x to quit. With no --kernel, boots the default appliance.\n\n" +
			"APPLIANCE is a folder written by juice build: its manifest.json gives the kernel,\n" +
			"initrd, command line, cpus, memory, network and disks. Options given on the command\n" +
			"line win over the manifest (--net and --disk replace its network and disks); --append\n" +
			"adds to its command line. The kernel and initrd are checked against their digests.\n\n" +
			"Exit status: 0 when the guest powers off (or the guest's own status), 120 reboot\n" +
			"requested, 121 guest kernel panic, 122 guest halted or instruction limit reached,\n" +
			"125 Juice error, 130 quit by the user.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			spec, files, err := f.specOf(ctx, cmd, args, nil)
			if err != nil {
				return err
			}
			defer files.Close()
			if err := vmm.CheckOverlays(&spec); err != nil {
				return err
			}
			if err := f.checkStats(&spec); err != nil {
				return err
			}
			start := time.Now() // from here on: loading, booting and running the guest
			var e machine.Exit
			migrated := false
			err = withConsole(ctx, func(ctx context.Context, o vmm.Options, con *console) error {
				o.Files = files
				vm, err := vmm.New(spec, o)
				if err != nil {
					return err
				}
				defer vm.Close()
				stopAPI, err := f.attach(ctx, vm, con)
				if err != nil {
					return err
				}
				e, err = vm.Run(ctx)
				stopAPI()
				if migrated = errors.Is(err, vmm.ErrMigrated); migrated {
					return reportMigrated(vm)
				}
				if err != nil {
					return err
				}
				f.digest = finalDigest(f.stats, vm)
				if err := vm.Close(); err != nil {
					return fmt.Errorf("closing devices: %w", err)
				}
				return nil
			})
			if err != nil || migrated {
				return err
			}
			return f.report(&spec, e, time.Since(start))
		},
	}
	f.register(cmd)
	return cmd
}

// withConsole runs fn with the guest console on this terminal (stdin and
// stdout), and gives the terminal back when fn returns. Ctrl-A x cancels
// fn's context.
func withConsole(ctx context.Context, fn func(context.Context, vmm.Options, *console) error) error {
	con, err := openConsole(os.Stdin, os.Stdout)
	if err != nil {
		return err
	}
	defer con.restore()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return fn(ctx, vmm.Options{Console: con.out, ConsoleIn: con.input(cancel), Logger: logger(ctx), JuiceVersion: juiceVersion}, con)
}

// stats is what --stats writes.
type stats struct {
	Instructions uint64  `json:"instructions"`
	WallSeconds  float64 `json:"wall_seconds"`
	MIPS         float64 `json:"mips"`
	Exit         string  `json:"exit"`
	ExitCode     int     `json:"exit_code"`
	CPUs         int     `json:"cpus"`
	// Digest is the SHA-256 of the machine's state at the end (hex).
	Digest string `json:"digest,omitempty"`
	// juice restore only.
	*RestoreStats
}

// checkStats checks, before anything runs, that --stats is none of the
// spec's files nor others, and no link or folder.
func (f *runFlags) checkStats(spec *vmspec.Spec, others ...string) error {
	if f.stats == "" || f.stats == "-" {
		return nil
	}
	in, ovl := vmm.SpecFiles(spec)
	if err := outfile.Check(f.stats, slices.Concat(in, ovl, others)...); err != nil {
		return fmt.Errorf("--stats: %w", err)
	}
	return nil
}

// report says how a run ended, writes --stats and returns the exit
// status.
func (f *runFlags) report(spec *vmspec.Spec, e machine.Exit, wall time.Duration) error {
	code := exitCode(e)
	if f.stats != "" {
		s := stats{Instructions: e.Instructions, WallSeconds: wall.Seconds(), Exit: e.Kind.String(), ExitCode: code, CPUs: spec.CPUs, Digest: f.digest, RestoreStats: f.restore}
		if s.WallSeconds > 0 {
			s.MIPS = float64(e.Instructions) / s.WallSeconds / 1e6
		}
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		in, ovl := vmm.SpecFiles(spec)
		if f.stats == "-" {
			os.Stdout.Write(append(b, '\n'))
		} else if err := outfile.WriteFile(f.stats, append(b, '\n'), outfile.Options{Inputs: slices.Concat(in, ovl)}); err != nil {
			return fmt.Errorf("--stats: %w", err)
		}
	}
	switch e.Kind {
	case machine.ExitHalted:
		fmt.Fprintln(os.Stderr, "juice: the guest halted: every hart is idle and nothing can wake it")
	case machine.ExitLimit:
		fmt.Fprintf(os.Stderr, "juice: stopped at the instruction limit (%d instructions)\n", e.Instructions)
	case machine.ExitPanic:
		fmt.Fprintln(os.Stderr, "juice: the guest kernel panicked")
	case machine.ExitBareFail:
		fmt.Fprintf(os.Stderr, "juice: bare-metal program failed check %d\n", e.Code)
	}
	if code != 0 {
		return exitStatus{code}
	}
	return nil
}

// exitCode is juice's exit status for how a machine stopped.
// finalDigest returns the digest of vm's state, when --stats asks for it.
func finalDigest(stats string, vm *vmm.VM) string {
	if stats == "" {
		return ""
	}
	d := vm.Machine().Digest()
	return hex.EncodeToString(d[:])
}

func exitCode(e machine.Exit) int { return vmm.ExitCode(e) }
