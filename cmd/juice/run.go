package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/kernel"
	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/outfile"
)

// defaultCmdline is the kernel command line of the default appliance.
const defaultCmdline = "console=ttyS0"

// runSpec is what configures a machine from the command line: the options
// shared by run and record. A recording carries it (resolved) in its header.
type runSpec struct {
	Kernel          string   `json:"kernel,omitempty"`
	Initrd          string   `json:"initrd,omitempty"`
	Cmdline         string   `json:"cmdline"`
	Firmware        string   `json:"firmware,omitempty"`
	Bare            string   `json:"bare,omitempty"`
	CPUs            int      `json:"cpus"`
	Memory          string   `json:"memory"`
	MaxInstructions uint64   `json:"max_instructions,omitempty"`
	Disks           []string `json:"disks,omitempty"`
	Nets            []string `json:"nets,omitempty"`
	Vsock           string   `json:"vsock,omitempty"`
	NoRNG           bool     `json:"no_rng,omitempty"`
	Console         string   `json:"console"`
	// Appliance and ApplianceName name the appliance folder the rest was
	// filled from, if any (for people reading a recording's header).
	Appliance     string `json:"appliance,omitempty"`
	ApplianceName string `json:"appliance_name,omitempty"`

	// opened are files the front end has opened already (an appliance's,
	// confined to its folder), by the path the spec names them by.
	opened openedFiles
}

// openedFiles are input files opened (or read) before the machine is
// built, so that the machine uses exactly those.
type openedFiles struct {
	data  map[string][]byte   // kernel and initrd contents
	disks map[string]*os.File // disk images
}

// take returns the opened image for a disk path and forgets it: the
// machine takes it over.
func (o *openedFiles) take(path string) *os.File {
	f := o.disks[path]
	delete(o.disks, path)
	return f
}

// close closes the disk images nothing took.
func (o *openedFiles) close() {
	for p, f := range o.disks {
		f.Close()
		delete(o.disks, p)
	}
}

// runFlags are the options of run and record.
type runFlags struct {
	runSpec
	stats string
}

func (f *runFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.Kernel, "kernel", "", "kernel `IMAGE` (RISC-V Linux Image or ELF); default: the default appliance")
	fl.StringVar(&f.Initrd, "initrd", "", "initial RAM file system `FILE`")
	fl.StringVar(&f.Cmdline, "append", "", "kernel command line `ARGS`")
	fl.IntVar(&f.CPUs, "cpus", 1, "number of harts `N`")
	fl.StringVar(&f.Memory, "memory", "256M", "RAM `SIZE` with a binary unit (e.g. 512M, 1G; see docs/sizes.md)")
	fl.StringVar(&f.Firmware, "firmware", "", "M-mode firmware ELF `FILE` (e.g. OpenSBI fw_jump.elf) instead of Juice's SBI")
	fl.StringVar(&f.Bare, "bare", "", "run a bare-metal `ELF` from its entry in M-mode (HTIF tohost convention)")
	fl.StringVar(&f.stats, "stats", "", "write run statistics as JSON to `FILE` (- for stdout)")
	fl.Uint64Var(&f.MaxInstructions, "max-instructions", 0, "stop after `N` instructions (0: no limit)")
	fl.StringArrayVar(&f.Disks, "disk", nil, "attach a virtio-blk disk: `FILE[,ro][,overlay=FILE][,serial=ID]` (repeatable)")
	fl.StringArrayVar(&f.Nets, "net", nil, "attach a virtio-net interface: `user[,hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT]...` or tap=NAME (repeatable)")
	fl.StringVar(&f.Vsock, "vsock", "", "attach virtio-vsock with its host side on a Unix socket: `PATH[,cid=N]` (guest CID 3 by default)")
	fl.BoolVar(&f.NoRNG, "no-rng", false, "leave out the virtio-rng device")
	fl.StringVar(&f.Console, "console", "uart", "guest console device: `uart` (ttyS0) or virtio (hvc0)")
}

// parseNet parses a --net value: user[,hostfwd=RULE]... or tap=NAME.
func parseNet(s string) (machine.NetConfig, error) {
	parts := strings.Split(s, ",")
	var n machine.NetConfig
	switch k, v, _ := strings.Cut(parts[0], "="); {
	case parts[0] == "user":
		for _, p := range parts[1:] {
			rule, ok := strings.CutPrefix(p, "hostfwd=")
			if !ok {
				return n, fmt.Errorf("--net %q: unknown option %q (want hostfwd=RULE)", s, p)
			}
			n.HostForwards = append(n.HostForwards, rule)
		}
	case k == "tap" && v != "":
		if len(parts) > 1 {
			return n, fmt.Errorf("--net %q: tap takes no options", s)
		}
		n.Tap = v
	default:
		return n, fmt.Errorf("--net %q: want user[,hostfwd=...] or tap=NAME", s)
	}
	return n, nil
}

// parseVsock parses a --vsock value: PATH[,cid=N].
func parseVsock(s string) (machine.VsockConfig, error) {
	parts := strings.Split(s, ",")
	v := machine.VsockConfig{Path: parts[0]}
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
func parseDisk(s string) (machine.DiskConfig, error) {
	parts := strings.Split(s, ",")
	d := machine.DiskConfig{Path: parts[0]}
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

// formatDisk writes a disk configuration as a --disk value.
func formatDisk(d machine.DiskConfig) (string, error) {
	for _, v := range []string{d.Path, d.Overlay, d.Serial} {
		if strings.Contains(v, ",") {
			return "", fmt.Errorf("disk %s: %q has a comma, which a --disk value cannot hold", d.Path, v)
		}
	}
	s := d.Path
	if d.ReadOnly {
		s += ",ro"
	}
	if d.Overlay != "" {
		s += ",overlay=" + d.Overlay
	}
	if d.Serial != "" {
		s += ",serial=" + d.Serial
	}
	return s, nil
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

// readInput reads a kernel, initrd, firmware or bare-metal file, which
// must fit in the guest's RAM: a larger file (or a device such as
// /dev/zero, which never ends) is refused before it fills the host's
// memory. A pipe (--initrd <(zcat initrd.gz)) is read as it comes.
func (f *runSpec) readInput(what, path string, ram uint64) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	if b, ok := f.opened.data[path]; ok {
		return b, nil
	}
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer fd.Close()
	tooBig := fmt.Errorf("%s: %s is larger than the guest's %s of RAM", what, path, bytesize.Format(int64(ram)))
	size := uint64(64 << 10)
	if fi, err := fd.Stat(); err == nil && fi.Mode().IsRegular() {
		if uint64(fi.Size()) > ram {
			return nil, tooBig
		}
		size = uint64(fi.Size()) + 1 // room to see the end
	}
	b := make([]byte, 0, min(size, ram+1))
	for {
		if len(b) == cap(b) {
			// Grow, but never past what would be refused.
			b = append(make([]byte, 0, min(2*uint64(cap(b)), ram+1)), b...)
		}
		n, err := fd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case uint64(len(b)) > ram:
			return nil, tooBig
		case err == io.EOF:
			return b, nil
		case err != nil:
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
}

// resolve fills in what the spec leaves to defaults: with no kernel, the
// default appliance (built if needed) and its command line.
func (f *runSpec) resolve(ctx context.Context) error {
	if f.Kernel != "" || f.Bare != "" {
		return nil
	}
	if f.Initrd != "" {
		return errors.New("--initrd needs --kernel")
	}
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
	f.Kernel, f.Initrd = d.KernelPath, d.InitrdPath
	if f.Cmdline == "" {
		f.Cmdline = defaultCmdline
		if f.Console == "virtio" {
			f.Cmdline = "earlycon=sbi console=hvc0"
		}
	}
	return nil
}

// machineConfig turns a resolved spec into a machine configuration,
// reading the kernel, initrd and firmware files.
func (f *runSpec) machineConfig() (machine.Config, error) {
	var cfg machine.Config
	mem, err := parseMemory(f.Memory)
	if err != nil {
		return cfg, err
	}
	if f.CPUs < 1 || f.CPUs > machine.MaxCPUs {
		return cfg, fmt.Errorf("--cpus %d: want 1 to %d harts", f.CPUs, machine.MaxCPUs)
	}
	cfg.CPUs, cfg.Memory, cfg.Cmdline = f.CPUs, mem, f.Cmdline
	cfg.MaxInstructions = f.MaxInstructions
	for _, d := range f.Disks {
		dc, err := parseDisk(d)
		if err != nil {
			return cfg, err
		}
		dc.File = f.opened.take(dc.Path)
		cfg.Disks = append(cfg.Disks, dc)
	}
	for _, v := range f.Nets {
		n, err := parseNet(v)
		if err != nil {
			return cfg, err
		}
		cfg.Net = append(cfg.Net, n)
	}
	if f.Vsock != "" {
		v, err := parseVsock(f.Vsock)
		if err != nil {
			return cfg, err
		}
		cfg.Vsock = &v
	}
	cfg.RNG = !f.NoRNG && f.Bare == ""
	switch f.Console {
	case "uart":
	case "virtio":
		cfg.VirtioConsole = true
	default:
		return cfg, fmt.Errorf("--console %q: want uart or virtio", f.Console)
	}
	if f.Bare != "" {
		if f.Kernel != "" || f.Initrd != "" || f.Firmware != "" {
			return cfg, errors.New("--bare runs a program alone: drop --kernel, --initrd and --firmware")
		}
		cfg.Bare, err = f.readInput("bare", f.Bare, mem)
		return cfg, err
	}
	if cfg.Kernel, err = f.readInput("kernel", f.Kernel, mem); err != nil {
		return cfg, err
	}
	if cfg.Initrd, err = f.readInput("initrd", f.Initrd, mem); err != nil {
		return cfg, err
	}
	if cfg.Firmware, err = f.readInput("firmware", f.Firmware, mem); err != nil {
		return cfg, err
	}
	return cfg, nil
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
			defer f.opened.close()
			if err := f.useApplianceArg(cmd, args, nil); err != nil {
				return err
			}
			if err := f.resolve(cmd.Context()); err != nil {
				return err
			}
			if err := f.checkOutputs(); err != nil {
				return err
			}
			return runMachine(cmd.Context(), &f, runHooks{})
		},
	}
	f.register(cmd)
	return cmd
}

// stats is what --stats writes.
type stats struct {
	Instructions uint64  `json:"instructions"`
	WallSeconds  float64 `json:"wall_seconds"`
	MIPS         float64 `json:"mips"`
	Exit         string  `json:"exit"`
	ExitCode     int     `json:"exit_code"`
	CPUs         int     `json:"cpus"`
}

// files lists the files the spec names: those the machine only reads
// (the kernel, initrd, firmware, bare-metal program and disk images, and
// the vsock socket) and the disks' overlays, which it writes.
func (f *runSpec) files() (inputs, overlays []string) {
	inputs = []string{f.Kernel, f.Initrd, f.Firmware, f.Bare}
	for _, d := range f.Disks {
		if dc, err := parseDisk(d); err == nil {
			inputs = append(inputs, dc.Path)
			if dc.Overlay != "" {
				overlays = append(overlays, dc.Overlay)
			}
		}
	}
	if f.Vsock != "" {
		if v, err := parseVsock(f.Vsock); err == nil {
			inputs = append(inputs, v.Path)
		}
	}
	return inputs, overlays
}

// checkOutputs checks, before anything runs, the files the run writes:
// the disks' overlays are no input and no link, and --stats is none of
// the spec's files nor others.
func (f *runFlags) checkOutputs(others ...string) error {
	in, ovl := f.files()
	for _, o := range ovl {
		if err := outfile.Check(o, in...); err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
	}
	if f.stats == "" || f.stats == "-" {
		return nil
	}
	if err := outfile.Check(f.stats, slices.Concat(in, ovl, others)...); err != nil {
		return fmt.Errorf("--stats: %w", err)
	}
	return nil
}

// runHooks let a command adjust how a machine is run; each may be nil.
type runHooks struct {
	// prepare adjusts the configuration before the machine is built.
	prepare func(*machine.Config)
	// run runs the machine in place of m.Run.
	run func(context.Context, *machine.Machine) (machine.Exit, error)
	// done sees the machine when it stops.
	done func(*machine.Machine, machine.Exit)
}

// bootMachine builds the machine of a resolved spec and runs it with its
// console on this terminal. It returns how the run ended; started reports
// whether the machine was built and ran (a recording is worth keeping).
func bootMachine(ctx context.Context, f *runFlags, hooks runHooks) (e machine.Exit, started bool, err error) {
	cfg, err := f.machineConfig()
	if err != nil {
		return e, false, err
	}
	if hooks.prepare != nil {
		hooks.prepare(&cfg)
	}
	con, err := openConsole(os.Stdin, os.Stdout)
	if err != nil {
		return e, false, err
	}
	defer con.restore()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Console == nil { // prepare may have sent it elsewhere
		cfg.Console = con.out
	}
	cfg.ConsoleIn = con.input(cancel)
	cfg.Logger = logger(ctx)

	m, err := machine.New(cfg)
	if err != nil {
		return e, false, err
	}
	defer m.Close()
	run := hooks.run
	if run == nil {
		run = func(ctx context.Context, m *machine.Machine) (machine.Exit, error) { return m.Run(ctx) }
	}
	e, err = run(ctx, m)
	con.restore()
	if err != nil {
		return e, true, err
	}
	if hooks.done != nil {
		hooks.done(m, e)
	}
	if err := m.Close(); err != nil {
		return e, true, fmt.Errorf("closing devices: %w", err)
	}
	return e, true, nil
}

// runMachine runs a resolved spec as juice run does: it says how the run
// ended, writes --stats and returns the exit status.
func runMachine(ctx context.Context, f *runFlags, hooks runHooks) error {
	start := time.Now() // from here on: loading, booting and running the guest
	e, _, err := bootMachine(ctx, f, hooks)
	if err != nil {
		return err
	}
	return reportRun(f, e, time.Since(start))
}

// reportRun says how a run ended, writes --stats and returns the exit
// status.
func reportRun(f *runFlags, e machine.Exit, wall time.Duration) error {
	code := exitCode(e)
	if f.stats != "" {
		s := stats{Instructions: e.Instructions, WallSeconds: wall.Seconds(), Exit: e.Kind.String(), ExitCode: code, CPUs: f.CPUs}
		if s.WallSeconds > 0 {
			s.MIPS = float64(e.Instructions) / s.WallSeconds / 1e6
		}
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		in, ovl := f.files()
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

func exitCode(e machine.Exit) int {
	switch e.Kind {
	case machine.ExitPowerOff:
		return min(e.Code, 119)
	case machine.ExitReboot:
		return exitReboot
	case machine.ExitPanic:
		return exitPanic
	case machine.ExitHalted, machine.ExitLimit:
		return exitHalted
	case machine.ExitCanceled:
		return exitCanceled
	case machine.ExitBareFail:
		return 1
	}
	return exitError
}
