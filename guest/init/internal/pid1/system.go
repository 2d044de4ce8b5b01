package pid1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount describes one file system that init mounts.
type Mount struct {
	// Source is the device or pseudo-device name.
	Source string
	// Target is the mount point, created if missing.
	Target string
	// FSType is the file system type.
	FSType string
	// Flags are MS_* mount flags.
	Flags uintptr
	// Data is the file-system-specific option string.
	Data string
}

// StandardMounts returns the file systems every Juice guest gets: /proc,
// /sys, /dev (devtmpfs), /tmp and /run (tmpfs).
func StandardMounts() []Mount {
	const nosuid = unix.MS_NOSUID | unix.MS_NODEV
	return []Mount{
		{Source: "proc", Target: "/proc", FSType: "proc", Flags: nosuid | unix.MS_NOEXEC},
		{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: nosuid | unix.MS_NOEXEC},
		{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755"},
		{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: nosuid, Data: "mode=1777"},
		{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: nosuid, Data: "mode=0755"},
	}
}

// MountAll mounts each of mounts, creating the mount points, and returns
// every failure. A file system that is already mounted there (EBUSY) is
// not an error.
func MountAll(mounts []Mount) []error {
	var errs []error
	for _, m := range mounts {
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("mkdir %s: %w", m.Target, err))
			continue
		}
		err := unix.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.FSType, m.Target, err))
		}
	}
	return errs
}

// EnsureConsole makes file descriptors 0, 1 and 2 refer to /dev/console if
// the kernel could not set them up (no /dev/console in the initramfs, but
// devtmpfs now mounted).
func EnsureConsole() error {
	var st unix.Stat_t
	if unix.Fstat(1, &st) == nil {
		return nil
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("opening /dev/console: %w", err)
	}
	for target := 0; target <= 2; target++ {
		if fd == target {
			continue
		}
		if err := unix.Dup3(fd, target, 0); err != nil {
			return fmt.Errorf("dup /dev/console to fd %d: %w", target, err)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
	return nil
}

// SystemInfo is what the banner reports.
type SystemInfo struct {
	// Release is the kernel release (uname -r).
	Release string
	// CPUs lists the CPUs init may run on.
	CPUs []int
	// MemTotalKiB is MemTotal from /proc/meminfo.
	MemTotalKiB uint64
}

// Banner returns the one-line banner, without the trailing newline.
func (s SystemInfo) Banner() string {
	return fmt.Sprintf("juice: Linux %s on %d CPUs, %d MiB memory", s.Release, len(s.CPUs), s.MemTotalKiB/1024)
}

// ReadSystemInfo gathers the kernel release, the usable CPUs and the
// memory size. It returns what it could learn together with any errors.
func ReadSystemInfo() (SystemInfo, error) {
	var info SystemInfo
	var errs []error
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		errs = append(errs, fmt.Errorf("uname: %w", err))
	} else {
		info.Release = unix.ByteSliceToString(uts.Release[:])
	}
	cpus, err := UsableCPUs()
	if err != nil {
		errs = append(errs, err)
	}
	info.CPUs = cpus
	if f, err := os.Open("/proc/meminfo"); err != nil {
		errs = append(errs, fmt.Errorf("meminfo: %w", err))
	} else {
		info.MemTotalKiB, err = parseMemTotal(f)
		f.Close()
		if err != nil {
			errs = append(errs, err)
		}
	}
	return info, errors.Join(errs...)
}

// UsableCPUs returns the CPUs in the calling thread's affinity mask.
func UsableCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}

// parseMemTotal reads the MemTotal line of /proc/meminfo, in KiB.
func parseMemTotal(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("meminfo: MemTotal %q: %w", f[1], err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("meminfo: %w", err)
	}
	return 0, errors.New("meminfo: no MemTotal line")
}

// Options are the juice.* parameters of the kernel command line.
type Options struct {
	// Exec is a program to run after the self-check (juice.exec=PATH); its
	// exit status is reported before powering off.
	Exec string
	// SkipSelfCheck is set by juice.selfcheck=0 (or off, no, false).
	SkipSelfCheck bool
	// Modules are kernel modules to load, with their dependencies, from
	// /lib/modules/<release> (juice.modules=NAME,NAME,...).
	Modules []string
	// Appliance is set by juice.appliance=1 (or on, yes, true): run as
	// an appliance, from /etc/juice/appliance.json.
	Appliance bool
	// NoAppliance is set by juice.appliance=0 (or off, no, false): run
	// the self-check even if there is an appliance configuration.
	NoAppliance bool
	// Trace is set by juice.trace=1: appliance mode prints the guest's
	// monotonic time at each step ("juice: trace network 31.2ms").
	Trace bool
	// Unknown holds juice.* parameters that were not understood.
	Unknown []string
}

// ParseCmdline extracts Options from a kernel command line such as the
// contents of /proc/cmdline. Values may be double-quoted.
func ParseCmdline(cmdline string) Options {
	var o Options
	for _, field := range splitCmdline(cmdline) {
		key, val, _ := strings.Cut(field, "=")
		if !strings.HasPrefix(key, "juice.") {
			continue
		}
		switch key {
		case "juice.exec":
			o.Exec = val
		case "juice.modules":
			for _, m := range strings.Split(val, ",") {
				if m != "" {
					o.Modules = append(o.Modules, m)
				}
			}
		case "juice.appliance":
			switch strings.ToLower(val) {
			case "", "1", "on", "yes", "true":
				o.Appliance, o.NoAppliance = true, false
			case "0", "off", "no", "false":
				o.Appliance, o.NoAppliance = false, true
			default:
				o.Unknown = append(o.Unknown, field)
			}
		case "juice.trace":
			o.Trace = val == "" || val == "1"
		case "juice.selfcheck":
			switch strings.ToLower(val) {
			case "0", "off", "no", "false":
				o.SkipSelfCheck = true
			}
		default:
			o.Unknown = append(o.Unknown, field)
		}
	}
	return o
}

// splitCmdline splits at spaces outside double quotes and drops the quotes,
// as the kernel does.
func splitCmdline(s string) []string {
	var fields []string
	var cur bytes.Buffer
	inQuote, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (c == ' ' || c == '\t' || c == '\n'):
			if have {
				fields = append(fields, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		fields = append(fields, cur.String())
	}
	return fields
}
