package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/juicevm/juice/internal/testenv"
)

var (
	buildOnce sync.Once
	juiceBin  string
	buildErr  error
)

// juice builds the juice command once for the CLI tests.
func juice(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "juice-cli")
		if err != nil {
			buildErr = err
			return
		}
		juiceBin = filepath.Join(dir, "juice")
		out, err := exec.Command("go", "build", "-o", juiceBin, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building juice: %v", buildErr)
	}
	return juiceBin
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// image returns a minimal RISC-V Image whose code (after the 64-byte
// header, which the first instruction jumps over) is the given words; by
// default it powers off through the test device:
// lui t0,0x100; lui t1,5; addi t1,t1,0x555; sw t1,0(t0).
func image(code ...uint32) []byte {
	if code == nil {
		code = []uint32{0x001002b7, 0x00005337, 0x55530313, 0x0062a023, 0x0000006f}
	}
	return testenv.RISCVImage(code...)
}

func TestBadInputGivesOneLineAndStatus125(t *testing.T) {
	bin := juice(t)
	good := writeTemp(t, "Image", image())
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing kernel file", []string{"run", "--kernel", "/nonexistent/Image"}, "no such file"},
		{"truncated kernel", []string{"run", "--kernel", writeTemp(t, "short", image()[:50])}, "too short"},
		{"not a RISC-V kernel", []string{"run", "--kernel", writeTemp(t, "x86", bytes.Repeat([]byte{0x90}, 8192))}, "not a RISC-V"},
		{"malformed ELF", []string{"run", "--kernel", writeTemp(t, "bad.elf", append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 30)...))}, "malformed ELF"},
		{"initrd too big", []string{"run", "--kernel", good, "--memory", "16M", "--initrd", writeTemp(t, "big", make([]byte, 17<<20))}, "initrd"},
		{"memory too small", []string{"run", "--kernel", good, "--memory", "1M"}, "too small"},
		{"memory not a size", []string{"run", "--kernel", good, "--memory", "lots"}, "not a size"},
		{"memory with an ambiguous unit", []string{"run", "--kernel", good, "--memory", "512MB"}, "ambiguous"},
		{"memory without a unit", []string{"run", "--kernel", good, "--memory", "1000"}, "has no unit"},
		{"disk size without a unit", []string{"disk", "create", "--size", "1000", filepath.Join(t.TempDir(), "d.img")}, "has no unit"},
		{"disk size with an ambiguous unit", []string{"disk", "create", "--size", "64MB", filepath.Join(t.TempDir(), "d.img")}, "ambiguous"},
		{"too many cpus", []string{"run", "--kernel", good, "--cpus", "100"}, "cpus"},
		{"no cpus", []string{"run", "--kernel", good, "--cpus", "0"}, "--cpus 0"},
		{"negative cpus", []string{"run", "--kernel", good, "--cpus", "-1"}, "--cpus -1"},
		{"bare and kernel", []string{"run", "--kernel", good, "--bare", good}, "--bare"},
		{"unknown flag", []string{"run", "--frobnicate"}, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitError {
				t.Fatalf("exit %v, want status %d; stderr: %s", err, exitError, stderr.String())
			}
			msg := strings.TrimSpace(stderr.String())
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.want) || strings.Contains(msg, "goroutine") {
				t.Fatalf("stderr %q: want one line mentioning %q", msg, tc.want)
			}
		})
	}
}

func TestRunPowersOffAndWritesStats(t *testing.T) {
	bin := juice(t)
	stats := filepath.Join(t.TempDir(), "stats.json")
	out, err := exec.Command(bin, "run", "--kernel", writeTemp(t, "Image", image()), "--stats", stats).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	b, err := os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"instructions": 5`, `"wall_seconds"`, `"mips"`, `"exit": "poweroff"`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Fatalf("stats lack %s:\n%s", key, b)
		}
	}
}

func TestStatsToStdout(t *testing.T) {
	out, err := exec.Command(juice(t), "run", "--kernel", writeTemp(t, "Image", image()), "--stats", "-").Output()
	if err != nil || !bytes.Contains(out, []byte(`"exit": "poweroff"`)) {
		t.Fatalf("--stats -: %v\n%s", err, out)
	}
}

func TestExitStatuses(t *testing.T) {
	bin := juice(t)
	for _, tc := range []struct {
		name  string
		words []uint32
		want  int
	}{
		// sw of 0x7777 to the test device: reboot.
		{"reboot", []uint32{0x001002b7, 0x00007337, 0x77730313, 0x0062a023, 0x0000006f}, exitReboot},
		// power-off with status 3: 0x33333 = (3 << 16) | 0x3333.
		{"guest status", []uint32{0x001002b7, 0x00033337, 0x33330313, 0x0062a023, 0x0000006f}, 3},
		// wfi with no interrupt enabled: halted.
		{"halted", []uint32{0x10500073, 0x0000006f}, exitHalted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := exec.Command(bin, "run", "--kernel", writeTemp(t, "Image", image(tc.words...))).Run()
			var ee *exec.ExitError
			code := 0
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if code != tc.want {
				t.Fatalf("exit status %d, want %d (%v)", code, tc.want, err)
			}
		})
	}
}
