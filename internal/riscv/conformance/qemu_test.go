package conformance

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// qemuArgs runs a program on QEMU's spike machine, whose HTIF device
// follows the tohost symbol; it exits with status (tohost >> 1) & 0xff.
// The CPU is trimmed to RV64GC so that misa and CSR behaviour match Juice.
var qemuArgs = []string{
	"-M", "spike", "-bios", "none", "-nographic", "-monitor", "none",
	"-cpu", "rv64,h=false,v=false,zba=false,zbb=false,zbc=false,zbs=false,sstc=false,svpbmt=false,svinval=false,svnapot=false,Zihintpause=false,Zfh=false,Zfhmin=false,pmp=true,mmu=true",
	"-smp", "1", "-m", "256M",
}

// TestQEMU validates every conformance program on qemu-system-riscv64
// (the reference).  Run one with: go test -run 'TestQEMU/rv64i$'.
func TestQEMU(t *testing.T) {
	cc := requireToolchain(t)
	qemu, err := exec.LookPath("qemu-system-riscv64")
	if err != nil {
		t.Skip("qemu-system-riscv64 not found: install qemu-system-misc to validate the conformance programs")
	}
	for _, name := range programNames(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := buildProgram(t, cc, name)
			elfPath := filepath.Join(t.TempDir(), name+".elf")
			if err := os.WriteFile(elfPath, p.ELF, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := append(append([]string{}, qemuArgs...), "-kernel", elfPath)
			cmd := exec.CommandContext(ctx, qemu, args...)
			var out bytes.Buffer
			cmd.Stdout = &out
			cmd.Stderr = &out
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("QEMU timed out (program never wrote tohost); output:\n%s", out.String())
			}
			var ee *exec.ExitError
			switch {
			case strings.Contains(out.String(), "qemu-system-riscv64:"):
				t.Fatalf("QEMU failed to run: %v\n%s", err, out.String())
			case err == nil:
				t.Logf("%s: PASS on QEMU (%d checks)", name, p.checksCount())
			case errors.As(err, &ee) && ee.ExitCode() > 0:
				code := uint64(ee.ExitCode())
				// QEMU truncates the test number to 8 bits; list candidates.
				var cands []string
				var nums []uint64
				for n := range p.Lines {
					if n&0xff == code {
						nums = append(nums, n)
					}
				}
				if code == 255 {
					nums = append(nums, 255)
				}
				sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
				for _, n := range nums {
					cands = append(cands, p.describe(n))
				}
				t.Fatalf("FAIL on QEMU: exit status %d; failing check is one of:\n  %s\noutput:\n%s",
					code, strings.Join(cands, "\n  "), out.String())
			default:
				t.Fatalf("QEMU: %v\n%s", err, out.String())
			}
		})
	}
}
