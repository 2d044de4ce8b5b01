// Package conformance holds Juice's own bare-metal RISC-V conformance
// programs (testdata/*.S) and the tests that build them with Debian's
// riscv64 cross toolchain and run them on QEMU (to validate the programs)
// and on Juice (to validate the emulator).
package conformance

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const (
	ccName = "riscv64-linux-gnu-gcc"
	// loadBase is where link.ld places the programs.
	loadBase = 0x80000000
)

// program is one conformance program, built.
type program struct {
	Name   string            // file name without .S, e.g. "rv64i"
	Source string            // path of the .S file
	ELF    []byte            // linked image
	Lines  map[uint64]uint32 // test number -> line in Source
}

// programNames lists testdata/*.S (sorted), without the extension.
func programNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.S"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".S"))
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no testdata/*.S programs found")
	}
	return names
}

// requireToolchain skips the test when the cross compiler is missing.
func requireToolchain(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath(ccName)
	if err != nil {
		t.Skipf("%s not found: install gcc-riscv64-linux-gnu and binutils-riscv64-linux-gnu to run the RISC-V conformance programs", ccName)
	}
	return cc
}

// buildProgram assembles and links testdata/<name>.S into a temporary
// directory and reads back its ELF image and test-number table.
func buildProgram(t *testing.T, cc, name string) *program {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", name+".S"))
	if err != nil {
		t.Fatal(err)
	}
	tdir, _ := filepath.Abs("testdata")
	out := filepath.Join(t.TempDir(), name+".elf")
	args := []string{
		"-march=rv64gc", "-mabi=lp64d",
		"-nostdlib", "-nostartfiles", "-static", "-fno-pic",
		"-I", tdir,
		"-T", filepath.Join(tdir, "link.ld"),
		"-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments",
		"-o", out, src,
	}
	cmd := exec.Command(cc, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("building %s: %v\n%s %s\n%s", name, err, cc, strings.Join(args, " "), stderr.String())
	}
	image, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := readTestMap(image)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &program{Name: name, Source: src, ELF: image, Lines: lines}
}

// readTestMap decodes the .testmap section: pairs of little-endian uint32
// (test number, source line) emitted by next_test in test.h.
func readTestMap(image []byte) (map[uint64]uint32, error) {
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Entry != loadBase {
		return nil, fmt.Errorf("entry point %#x, want %#x", f.Entry, loadBase)
	}
	sec := f.Section(".testmap")
	if sec == nil {
		return nil, fmt.Errorf("no .testmap section (no checks?)")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	m := make(map[uint64]uint32, len(data)/8)
	for i := 0; i+8 <= len(data); i += 8 {
		num := binary.LittleEndian.Uint32(data[i:])
		line := binary.LittleEndian.Uint32(data[i+4:])
		if _, dup := m[uint64(num)]; dup {
			return nil, fmt.Errorf("test number %d used twice", num)
		}
		m[uint64(num)] = line
	}
	return m, nil
}

// describe renders "check N (file.S:LINE: source text)".
func (p *program) describe(num uint64) string {
	line, ok := p.Lines[num]
	if !ok && num == 255 {
		return "check 255 (failure before the first check: startup code or an unexpected trap there)"
	}
	if !ok {
		return fmt.Sprintf("check %d (not in the test map)", num)
	}
	text := ""
	if src, err := os.ReadFile(p.Source); err == nil {
		ls := strings.Split(string(src), "\n")
		if int(line) >= 1 && int(line) <= len(ls) {
			text = strings.TrimSpace(ls[line-1])
		}
	}
	return fmt.Sprintf("check %d (%s.S:%d: %s)", num, p.Name, line, text)
}

// juiceImage returns a copy of the ELF image with the juice_only_checks
// doubleword set to 1, enabling the checks guarded by JUICE_ONLY_BEGIN.
func (p *program) juiceImage() ([]byte, error) {
	f, err := elf.NewFile(bytes.NewReader(p.ELF))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	for _, s := range syms {
		if s.Name != "juice_only_checks" {
			continue
		}
		for _, sec := range f.Sections {
			if sec.Type == elf.SHT_PROGBITS && s.Value >= sec.Addr && s.Value+8 <= sec.Addr+sec.Size {
				img := append([]byte(nil), p.ELF...)
				off := sec.Offset + (s.Value - sec.Addr)
				binary.LittleEndian.PutUint64(img[off:], 1)
				return img, nil
			}
		}
		return nil, fmt.Errorf("juice_only_checks at %#x is in no PROGBITS section", s.Value)
	}
	return nil, fmt.Errorf("no juice_only_checks symbol")
}

// checksCount is the number of numbered checks in the program.
func (p *program) checksCount() int { return len(p.Lines) }
