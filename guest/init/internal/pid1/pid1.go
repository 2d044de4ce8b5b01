// Package pid1 is the body of Juice's guest init. It mounts the standard
// file systems and then works in one of two modes:
//
//   - Appliance mode (juice.appliance=1 on the kernel command line, or an
//     /etc/juice/appliance.json in the initramfs): it sets the machine up
//     as that file says, runs the appliance's app, and powers off with the
//     app's exit status. See the command's documentation (guest/init).
//   - Check mode, otherwise: it prints a banner, runs a built-in
//     self-check, optionally runs a program named on the kernel command
//     line (juice.exec), and powers the machine off.
//
// Every line it prints starts with "juice: " so that the host can pick the
// protocol out of the kernel's console output.
package pid1

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/internal/guestconfig"
)

// Console lines that the host matches on.
const (
	// SelfCheckOK is printed when every self-check passes.
	SelfCheckOK = "juice: self-check ok"
	// SelfCheckFailedPrefix starts the line printed when a check fails.
	SelfCheckFailedPrefix = "juice: self-check FAILED: "
	// ExitStatusPrefix starts the line that reports juice.exec's status.
	ExitStatusPrefix = "juice: exit status "
	// PowerOffLine is printed just before the power-off request.
	PowerOffLine = "juice: powering off"
)

// Init is PID 1's configuration. Its zero value is not useful; use
// Default.
type Init struct {
	// Out receives the juice: lines, normally the console.
	Out io.Writer
	// Mounts are mounted first.
	Mounts []Mount
	// TmpDir is the tmpfs directory used by the self-check.
	TmpDir string
	// CmdlinePath is read for juice.* options.
	CmdlinePath string
	// PowerOff ends the machine. It returns only on failure.
	PowerOff func() error
	// ConfigPath is the appliance configuration.
	ConfigPath string
	// PowerOffStatus ends the machine in appliance mode, passing the
	// status (0 to MaxHostStatus) to the host. It returns only on failure.
	PowerOffStatus func(code int) error
	// Trace prints the time of each step in appliance mode.
	Trace bool
}

// Default returns the configuration used when running as the real PID 1.
func Default() Init {
	return Init{
		Out:         os.Stdout,
		Mounts:      StandardMounts(),
		TmpDir:      "/tmp",
		CmdlinePath: "/proc/cmdline",
		PowerOff:    PowerOff,
		ConfigPath:  guestconfig.Path,
		PowerOffStatus: func(code int) error {
			return PowerOffStatus(code, func(format string, args ...any) {
				fmt.Fprintf(os.Stdout, "juice: "+format+"\n", args...)
			})
		},
	}
}

// trace prints, with juice.trace=1, the guest's monotonic time (on Juice,
// the instruction clock) when a step ends.
func (in Init) trace(step string) {
	if !in.Trace {
		return
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	in.printf("trace %s %.1fms", step, float64(ts.Nano())/1e6)
}

// printf writes one "juice: " line.
func (in Init) printf(format string, args ...any) {
	fmt.Fprintf(in.Out, "juice: "+format+"\n", args...)
}

// Run does init's whole job and then powers off. It never returns while
// power-off works; it does not panic, whatever fails.
func (in Init) Run() {
	status := -1 // the appliance's status for the host; -1 in check mode
	defer func() {
		if r := recover(); r != nil {
			in.printf("internal error: %v\n%s", r, debug.Stack())
			if status >= 0 {
				status = MaxHostStatus
			}
		}
		in.shutdown(status)
	}()
	opts := in.start()
	if opts.Appliance || !opts.NoAppliance && configExists(in.ConfigPath) {
		if opts.Exec != "" {
			in.printf("warning: juice.exec is ignored in appliance mode")
		}
		status = MaxHostStatus
		in.Trace = opts.Trace
		status = in.runAppliance()
		return
	}
	in.boot(opts)
}

// start mounts the standard file systems, reads the command line and
// loads the modules it names.
func (in Init) start() Options {
	for _, err := range MountAll(in.Mounts) {
		in.printf("warning: %v", err)
	}
	if err := EnsureConsole(); err != nil {
		in.printf("warning: %v", err)
	}
	var opts Options
	if data, err := os.ReadFile(in.CmdlinePath); err != nil {
		in.printf("warning: reading kernel command line: %v", err)
	} else {
		opts = ParseCmdline(string(data))
	}
	for _, u := range opts.Unknown {
		in.printf("warning: unknown option %s", u)
	}
	if len(opts.Modules) > 0 {
		var uts unix.Utsname
		if err := unix.Uname(&uts); err != nil {
			in.printf("warning: uname: %v", err)
		} else if err := LoadModules(ModulesDir(unix.ByteSliceToString(uts.Release[:])), opts.Modules); err != nil {
			in.printf("warning: %v", err)
		}
	}
	return opts
}

// boot is check mode: the banner, the self-check and juice.exec.
func (in Init) boot(opts Options) {
	info, err := ReadSystemInfo()
	if err != nil {
		in.printf("warning: %v", err)
	}
	fmt.Fprintln(in.Out, info.Banner())

	if opts.SkipSelfCheck {
		in.printf("self-check skipped")
	} else {
		errs := RunChecks(SelfChecks(in.TmpDir, info.CPUs))
		if len(errs) == 0 {
			fmt.Fprintln(in.Out, SelfCheckOK)
		}
		for _, err := range errs {
			fmt.Fprintf(in.Out, "%s%v\n", SelfCheckFailedPrefix, err)
		}
	}

	if opts.Exec != "" {
		code, err := RunProgram(opts.Exec, in.Out)
		if err != nil {
			in.printf("exec %s: %v", opts.Exec, err)
		}
		fmt.Fprintf(in.Out, "%s%d\n", ExitStatusPrefix, code)
	}
}

// shutdown syncs and powers off, in appliance mode (status >= 0) passing
// the status to the host; if that fails it says so and idles forever,
// because PID 1 must not exit.
func (in Init) shutdown(status int) {
	var err error
	if status >= 0 {
		unix.Sync()
		err = in.PowerOffStatus(status)
	} else {
		fmt.Fprintln(in.Out, PowerOffLine)
		unix.Sync()
		err = in.PowerOff()
	}
	in.printf("power-off failed: %v; halting", err)
	for {
		time.Sleep(time.Hour)
	}
}

// PowerOff syncs the file systems and asks the kernel to power off. It
// returns only if the request failed.
func PowerOff() error {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	if err == nil {
		err = errors.New("reboot(POWER_OFF) returned")
	}
	return fmt.Errorf("power off: %w", err)
}

// RunProgram runs path with no arguments, with stdin from the console and
// stdout/stderr going to out, and returns its exit status: the exit code,
// 128+signal if it was killed, or -1 if it could not be started.
func RunProgram(path string, out io.Writer) (int, error) {
	cmd := exec.Command(path)
	cmd.Stdin = os.Stdin
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Env = []string{
		"PATH=/bin:/sbin:/usr/bin:/usr/sbin",
		"HOME=/",
		"TERM=" + termOr("linux"),
	}
	err := cmd.Run()
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), fmt.Errorf("killed by %v", ws.Signal())
		}
		return ee.ExitCode(), nil
	}
	return -1, fmt.Errorf("starting: %w", err)
}

// termOr returns $TERM, or def when it is empty or unhelpful.
func termOr(def string) string {
	if t := os.Getenv("TERM"); t != "" && !strings.EqualFold(t, "dumb") {
		return t
	}
	return def
}
