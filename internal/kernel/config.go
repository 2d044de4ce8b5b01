package kernel

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed jeos.config
var jeosFragment []byte

// Fragment returns a copy of the embedded JeOS configuration fragment that
// Build merges on top of tinyconfig.
func Fragment() []byte {
	return bytes.Clone(jeosFragment)
}

// RequiredOptions returns the configuration options (without the CONFIG_
// prefix) that every Juice guest kernel must have set to "y", whatever
// fragments are merged. Build checks the final .config against this list.
func RequiredOptions() []string {
	return []string{
		"64BIT", "MMU", "SOC_VIRT", "SMP", "FPU", "RISCV_ISA_C",
		"RISCV_SBI", "RISCV_SBI_V01", "SIFIVE_PLIC",
		"SERIAL_8250", "SERIAL_8250_CONSOLE", "SERIAL_OF_PLATFORM", "SERIAL_EARLYCON",
		"BLK_DEV_INITRD", "RD_GZIP", "BINFMT_ELF",
		"DEVTMPFS", "DEVTMPFS_MOUNT", "PROC_FS", "SYSFS", "SHMEM", "TMPFS",
		"FUTEX", "EPOLL", "POSIX_TIMERS", "PRINTK", "PRINTK_TIME",
		"POWER_RESET", "POWER_RESET_SYSCON", "POWER_RESET_SYSCON_POWEROFF",
		"VIRTIO_MMIO", "VIRTIO_MMIO_CMDLINE_DEVICES", "VIRTIO_BLK", "VIRTIO_NET",
		"VIRTIO_CONSOLE", "HW_RANDOM_VIRTIO", "VSOCKETS", "VIRTIO_VSOCKETS",
		"EXT4_FS", "NET", "INET", "UNIX", "PACKET",
	}
}

// minNRCPUs is the least CONFIG_NR_CPUS a Juice guest kernel accepts.
const minNRCPUs = 8

// Config is a parsed kernel configuration: option name (without CONFIG_)
// to value. Options written as "# CONFIG_X is not set" have the value "n".
type Config map[string]string

// ParseConfig parses a .config file or a configuration fragment. It accepts
// "CONFIG_X=value" lines and "# CONFIG_X is not set" comments and ignores
// everything else. Later lines override earlier ones, as in merge_config.sh.
func ParseConfig(data []byte) Config {
	c := Config{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# CONFIG_"); ok {
			if name, ok := strings.CutSuffix(rest, " is not set"); ok {
				c[name] = "n"
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "CONFIG_"); ok {
			if name, val, ok := strings.Cut(rest, "="); ok {
				c[name] = val
			}
		}
	}
	return c
}

// ConfigMismatch is one option whose final value differs from what a
// fragment asked for.
type ConfigMismatch struct {
	// Option is the option name without the CONFIG_ prefix.
	Option string
	// Want is the value the fragment set.
	Want string
	// Got is the value in the final configuration, "n" when unset.
	Got string
}

// ConfigError reports options a fragment set that did not survive into the
// final configuration, usually because of an unmet dependency or a typo.
type ConfigError struct {
	// Source names the fragment or requirement list that was checked.
	Source string
	// Mismatches lists the offending options, sorted by name.
	Mismatches []ConfigMismatch
}

// Error implements error.
func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel config: %d option(s) from %s missing from the final .config:", len(e.Mismatches), e.Source)
	for _, m := range e.Mismatches {
		fmt.Fprintf(&b, " CONFIG_%s (want %s, got %s);", m.Option, m.Want, m.Got)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Options returns the names of the offending options.
func (e *ConfigError) Options() []string {
	names := make([]string, len(e.Mismatches))
	for i, m := range e.Mismatches {
		names[i] = "CONFIG_" + m.Option
	}
	return names
}

// CheckFragment verifies that every option the fragment sets to a value
// (=y, =m, numbers, strings) has that value in the final configuration
// final. "is not set" lines are not checked, because other options may
// legitimately select them. source names the fragment in the error, which
// is a *ConfigError.
func CheckFragment(source string, fragment, final []byte) error {
	want := ParseConfig(fragment)
	got := ParseConfig(final)
	var bad []ConfigMismatch
	for name, w := range want {
		if w == "n" {
			continue
		}
		g, ok := got[name]
		if !ok {
			g = "n"
		}
		if g != w {
			bad = append(bad, ConfigMismatch{Option: name, Want: w, Got: g})
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Slice(bad, func(i, j int) bool { return bad[i].Option < bad[j].Option })
	return &ConfigError{Source: source, Mismatches: bad}
}

// CheckRequired verifies that the final configuration has every option of
// RequiredOptions set to y and at least 8 CPUs. The error is a *ConfigError.
func CheckRequired(final []byte) error {
	got := ParseConfig(final)
	var bad []ConfigMismatch
	for _, name := range RequiredOptions() {
		if g := got[name]; g != "y" {
			if g == "" {
				g = "n"
			}
			bad = append(bad, ConfigMismatch{Option: name, Want: "y", Got: g})
		}
	}
	var n int
	if _, err := fmt.Sscanf(got["NR_CPUS"], "%d", &n); err != nil || n < minNRCPUs {
		g := got["NR_CPUS"]
		if g == "" {
			g = "unset"
		}
		bad = append(bad, ConfigMismatch{Option: "NR_CPUS", Want: fmt.Sprintf(">=%d", minNRCPUs), Got: g})
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Slice(bad, func(i, j int) bool { return bad[i].Option < bad[j].Option })
	return &ConfigError{Source: "Juice's required options", Mismatches: bad}
}
