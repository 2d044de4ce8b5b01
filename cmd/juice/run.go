package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/kernel"
	"github.com/juicevm/juice/internal/machine"
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
	fl.StringVar(&f.stats, "stats", "", "write run statistics as JSON to `FILE`")
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
// memory.
func readInput(what, path string, ram uint64) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	tooBig := fmt.Errorf("%s: %s is larger than the guest's %s of RAM", what, path, bytesize.Format(int64(ram)))
	size := uint64(64 << 10)
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
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
		n, err := f.Read(b[len(b):cap(b)])
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
	d, err := appliance.BuildDefault(ctx, appliance.Options{
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
		cfg.Bare, err = readInput("bare", f.Bare, mem)
		return cfg, err
	}
	if cfg.Kernel, err = readInput("kernel", f.Kernel, mem); err != nil {
		return cfg, err
	}
	if cfg.Initrd, err = readInput("initrd", f.Initrd, mem); err != nil {
		return cfg, err
	}
	if cfg.Firmware, err = readInput("firmware", f.Firmware, mem); err != nil {
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
			if err := f.useApplianceArg(cmd, args, nil); err != nil {
				return err
			}
			return runMachine(cmd.Context(), &f)
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

func runMachine(ctx context.Context, f *runFlags) error {
	return runMachineWith(ctx, f, nil, nil)
}

// runMachineWith runs a machine with its console on this terminal; prepare
// may adjust the configuration and done sees the machine when it stops.
func runMachineWith(ctx context.Context, f *runFlags, prepare func(*machine.Config), done func(*machine.Machine, machine.Exit)) error {
	return runMachineHooks(ctx, f, runHooks{prepare: prepare, done: done})
}

// runHooks let a command adjust how runMachineHooks runs a machine; each
// may be nil.
type runHooks struct {
	// prepare adjusts the configuration before the machine is built.
	prepare func(*machine.Config)
	// run runs the machine in place of m.Run.
	run func(context.Context, *machine.Machine) (machine.Exit, error)
	// done sees the machine when it stops.
	done func(*machine.Machine, machine.Exit)
}

// runMachineHooks is runMachineWith with every hook.
func runMachineHooks(ctx context.Context, f *runFlags, hooks runHooks) error {
	prepare, done := hooks.prepare, hooks.done
	if err := f.resolve(ctx); err != nil {
		return err
	}
	cfg, err := f.machineConfig()
	if err != nil {
		return err
	}
	if prepare != nil {
		prepare(&cfg)
	}
	start := time.Now() // from here on: loading, booting and running the guest
	con, err := openConsole(os.Stdin, os.Stdout)
	if err != nil {
		return err
	}
	defer con.restore()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Console == nil { // prepare may have sent it elsewhere
		cfg.Console = con.out
	}
	cfg.ConsoleIn = con.input(cancel)

	m, err := machine.New(cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	run := hooks.run
	if run == nil {
		run = func(ctx context.Context, m *machine.Machine) (machine.Exit, error) { return m.Run(ctx) }
	}
	e, err := run(ctx, m)
	con.restore()
	if err != nil {
		return err
	}
	if done != nil {
		done(m, e)
	}
	if err := m.Close(); err != nil {
		return fmt.Errorf("closing devices: %w", err)
	}
	code := exitCode(e)
	if f.stats != "" {
		wall := time.Since(start).Seconds()
		s := stats{Instructions: e.Instructions, WallSeconds: wall, Exit: e.Kind.String(), ExitCode: code, CPUs: cfg.CPUs}
		if wall > 0 {
			s.MIPS = float64(e.Instructions) / wall / 1e6
		}
		if err := writeJSON(f.stats, s); err != nil {
			return err
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

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	return nil
}
