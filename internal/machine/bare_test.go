package machine_test

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/machine"
)

// The bare tests run what the Linux tests check of the machine itself —
// pausing, checkpoints, state summaries, recording input — on a bare-metal
// program (testdata/bare), so that they run with -short too: they need
// Debian's riscv64 cross compiler, not a kernel.

var (
	bareOnce sync.Once
	bareELF  map[string][]byte
	bareErr  error
)

// bareProgram returns testdata/bare/NAME.S built with the riscv64 cross
// compiler, skipping the test when the compiler is missing.
func bareProgram(t *testing.T, name string) []byte {
	t.Helper()
	cc, err := exec.LookPath("riscv64-linux-gnu-gcc")
	if err != nil {
		t.Skip("riscv64-linux-gnu-gcc not found: install gcc-riscv64-linux-gnu to run the bare-metal machine tests")
	}
	bareOnce.Do(func() { bareELF, bareErr = buildBarePrograms(cc) })
	if bareErr != nil {
		t.Fatal(bareErr)
	}
	p, ok := bareELF[name]
	if !ok {
		t.Fatalf("no testdata/bare/%s.S", name)
	}
	return p
}

// buildBarePrograms builds every testdata/bare/*.S.
func buildBarePrograms(cc string) (map[string][]byte, error) {
	dir, err := filepath.Abs(filepath.Join("testdata", "bare"))
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "juice-bare-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	srcs, _ := filepath.Glob(filepath.Join(dir, "*.S"))
	progs := map[string][]byte{}
	for _, src := range srcs {
		name := strings.TrimSuffix(filepath.Base(src), ".S")
		out := filepath.Join(tmp, name+".elf")
		b, err := exec.Command(cc, "-march=rv64gc", "-mabi=lp64d", "-nostdlib", "-nostartfiles", "-static",
			"-T", filepath.Join(dir, "link.ld"), "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments",
			"-o", out, src).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("building %s: %v\n%s", src, err, b)
		}
		if progs[name], err = os.ReadFile(out); err != nil {
			return nil, err
		}
	}
	return progs, nil
}

// slowReader is console input typed during the run: each part after a
// pause.
func slowReader(parts []string) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for _, s := range parts {
			time.Sleep(30 * time.Millisecond)
			pw.Write([]byte(s))
		}
		pw.Close()
	}()
	return pr
}

// newBareMachine is newBootMachine for the workload program: a machine
// that runs for ever, with its UART on out.
func newBareMachine(t *testing.T, cpus int, out *bytes.Buffer) *machine.Machine {
	t.Helper()
	m, err := machine.New(machine.Config{CPUs: cpus, Memory: 32 << 20, Bare: bareProgram(t, "workload"), Console: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestBareRunToPausesWithoutChangingTheRun(t *testing.T) {
	testRunToPauses(t, newBareMachine)
}

func TestBareCheckpointRestore(t *testing.T) {
	testCheckpointRestore(t, newBareMachine)
}

func TestBareSummaryNamesWhatDiffers(t *testing.T) {
	testSummaryNamesWhatDiffers(t, newBareMachine)
}

// TestBareReadVirtual reads the program through a hart (M-mode: no
// translation) and checks it against the ELF file.
func TestBareReadVirtual(t *testing.T) {
	var out bytes.Buffer
	m := newBareMachine(t, 1, &out)
	runTo(t, m, 1_000_000)
	f, err := elf.NewFile(bytes.NewReader(bareProgram(t, "workload")))
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text.init")
	want, err := text.Data()
	if err != nil {
		t.Fatal(err)
	}
	pc := m.Harts()[0].PC
	if pc < text.Addr || pc >= text.Addr+text.Size {
		t.Fatalf("pc %#x is outside the program's text", pc)
	}
	got := make([]byte, 4)
	if err := m.ReadVirtual(0, pc, got[:2]); err != nil {
		t.Fatalf("reading the instruction at pc %#x: %v", pc, err)
	}
	if off := pc - text.Addr; !bytes.Equal(got[:2], want[off:off+2]) {
		t.Fatalf("at pc %#x: read %x, the program has %x", pc, got[:2], want[off:off+2])
	}
	if err := m.ReadVirtual(0, 0x10, got); err == nil {
		t.Fatal("reading an unmapped address succeeded")
	}
	if err := m.ReadVirtual(5, pc, got); err == nil {
		t.Fatal("reading through a hart that does not exist succeeded")
	}
}

// TestBareRecordReplayConsole records the workload echoing console input
// typed during the run until a newline powers it off, and replays it
// from the log alone.
func TestBareRecordReplayConsole(t *testing.T) {
	base := machine.Config{CPUs: 2, Memory: 32 << 20, Bare: bareProgram(t, "workload")}
	typed := []string{"typed ", "during ", "the run\n"}
	log := &memLog{}
	rec := base
	rec.ConsoleIn, rec.Log = slowReader(typed), log
	e1, out1, d1, err := runWith(t, rec)
	if err != nil || e1.Kind != machine.ExitPowerOff {
		t.Fatalf("record: %v %v\n%s", e1.Kind, err, out1)
	}
	var in []byte
	for _, i := range log.inputs {
		if i.Kind != machine.EventConsole {
			t.Fatalf("recorded a %v event", i.Kind)
		}
		in = append(in, i.Data...)
	}
	echoed := strings.ReplaceAll(out1, ".", "") // the progress dots
	if string(in) != "typed during the run\n" || !strings.HasSuffix(echoed, "typed during the run\n") {
		t.Fatalf("recorded %q; console %q", in, out1)
	}
	t.Logf("recorded %d inputs in %d instructions", len(log.inputs), e1.Instructions)

	play := base
	play.Script = log
	e2, out2, d2, err := runWith(t, play)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if out1 != out2 || e1 != e2 || d1 != d2 {
		t.Fatalf("replay differs: exits %+v / %+v, digests %x / %x, consoles equal %v", e1, e2, d1, d2, out1 == out2)
	}
	if log.next != len(log.inputs) {
		t.Fatalf("replay took %d of %d recorded inputs", log.next, len(log.inputs))
	}

	// Without the input, the run is not the same.
	alone := base
	alone.MaxInstructions = e1.Instructions
	e3, _, d3, err := runWith(t, alone)
	if err != nil || e3.Kind != machine.ExitLimit {
		t.Fatalf("a run without input: %+v, %v", e3, err)
	}
	if d3 == d1 {
		t.Fatal("a run without the input reached the same state")
	}
}

// TestBareDeterministic runs the workload twice on two harts and checks
// that the runs are the same, and that another quantum is another run.
func TestBareDeterministic(t *testing.T) {
	run := func(quantum uint64) (string, [32]byte) {
		e, out, d, err := runWith(t, machine.Config{CPUs: 2, Memory: 32 << 20, Bare: bareProgram(t, "workload"),
			MaxInstructions: 3_000_000, Quantum: quantum})
		if err != nil || e.Kind != machine.ExitLimit || e.Instructions != 3_000_000 {
			t.Fatalf("run: %+v, %v", e, err)
		}
		return out, d
	}
	o1, d1 := run(0)
	o2, d2 := run(0)
	if o1 != o2 || d1 != d2 {
		t.Fatal("two runs of the same program differ")
	}
	if _, d3 := run(1000); d3 == d1 {
		t.Fatal("another quantum reached the same state")
	}
}

// TestLoggerReachesTheDevices checks that Config.Logger receives what a
// virtio transport logs (a driver's mistake), and that a nil Logger
// discards it.
func TestLoggerReachesTheDevices(t *testing.T) {
	prog := bareProgram(t, "virtiobad")
	var logged bytes.Buffer
	e, _, _, err := runWith(t, machine.Config{Memory: 32 << 20, Bare: prog, RNG: true,
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil || e.Kind != machine.ExitPowerOff {
		t.Fatalf("run: %+v, %v", e, err)
	}
	if !strings.Contains(logged.String(), "DRIVER_OK without FEATURES_OK") {
		t.Fatalf("the driver error was not logged: %q", logged.String())
	}
	if e, _, _, err := runWith(t, machine.Config{Memory: 32 << 20, Bare: prog, RNG: true}); err != nil || e.Kind != machine.ExitPowerOff {
		t.Fatalf("run without a logger: %+v, %v", e, err)
	}
}
