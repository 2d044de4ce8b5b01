package vmm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/testenv"
	"github.com/juicevm/juice/internal/vmspec"
)

// The spec's bounds are the board's.
func TestBoundsAreTheBoards(t *testing.T) {
	if vmspec.MaxCPUs != machine.MaxCPUs || vmspec.MinMemory != machine.MinMemory || vmspec.MaxMemory != machine.MaxMemory {
		t.Fatalf("vmspec bounds (%d cpus, %d-%d bytes) differ from the machine's (%d, %d-%d)",
			vmspec.MaxCPUs, vmspec.MinMemory, vmspec.MaxMemory, machine.MaxCPUs, machine.MinMemory, machine.MaxMemory)
	}
}

// image is a tiny RISC-V Linux Image whose code writes to the power-off
// device: it powers off with status 3.
func image() []byte {
	return testenv.RISCVImage(0x001002b7, 0x00033337, 0x33330313, 0x0062a023, 0x0000006f)
}

func spec(t *testing.T) vmspec.Spec {
	k := filepath.Join(t.TempDir(), "Image")
	if err := os.WriteFile(k, image(), 0o644); err != nil {
		t.Fatal(err)
	}
	return vmspec.Spec{Version: vmspec.Version, Boot: vmspec.Boot{Kernel: &vmspec.File{Path: k}}, CPUs: 1, Memory: 16 << 20, Console: vmspec.ConsoleUART}
}

func TestNewRunsASpec(t *testing.T) {
	s := spec(t)
	img := filepath.Join(t.TempDir(), "disk,with=comma.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Disks = []vmspec.Disk{{Path: img, ReadOnly: true}}
	vm, err := New(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	e, err := vm.Machine().Run(context.Background())
	if err != nil || e.Kind != machine.ExitPowerOff || e.Code != 3 {
		t.Fatalf("run: %+v %v", e, err)
	}
	if got := vm.Spec().Boot.Kernel.SHA256; len(got) != 64 {
		t.Errorf("the VM's spec has no kernel digest: %q", got)
	}
	if s.Boot.Kernel.SHA256 != "" {
		t.Errorf("New changed its caller's spec")
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*vmspec.Spec)
		want string
	}{
		{"invalid", func(s *vmspec.Spec) { s.CPUs = 0 }, `field "cpus"`},
		{"missing kernel", func(s *vmspec.Spec) { s.Boot.Kernel.Path += ".gone" }, "no such file"},
		{"digest", func(s *vmspec.Spec) { s.Boot.Kernel.SHA256 = strings.Repeat("0", 64) }, "does not match its digest"},
		{"missing disk", func(s *vmspec.Spec) { s.Disks = []vmspec.Disk{{Path: "/nonexistent.img"}} }, "/nonexistent.img"},
		{"kernel too big", func(s *vmspec.Spec) {
			big := filepath.Join(filepath.Dir(s.Boot.Kernel.Path), "big")
			os.WriteFile(big, make([]byte, 17<<20), 0o644)
			s.Boot.Kernel.Path = big
		}, "larger than the guest's 16 MiB of RAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(t)
			tc.edit(&s)
			vm, err := New(s, Options{})
			if err == nil {
				vm.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}
