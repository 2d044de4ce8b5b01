package machine

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/dt"
)

// fakeImage returns a minimal, well-formed RISC-V Image header followed by
// code that loops forever.
func fakeImage(size int, imageSize uint64) []byte {
	b := make([]byte, size)
	binary.LittleEndian.PutUint32(b[0:], 0x0000006f) // j .
	binary.LittleEndian.PutUint64(b[8:], 0x20_0000)
	binary.LittleEndian.PutUint64(b[16:], imageSize)
	copy(b[48:], "RISCV\x00\x00\x00")
	copy(b[56:], "RSC\x05")
	return b
}

func TestBadInput(t *testing.T) {
	elfHeader := []byte("\x7fELF\x02\x01\x01\x00")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no kernel", Config{Memory: 64 << 20}, "no kernel"},
		{"truncated header", Config{Memory: 64 << 20, Kernel: fakeImage(64, 0)[:40]}, "too short"},
		{"not RISC-V", Config{Memory: 64 << 20, Kernel: bytes.Repeat([]byte{0x90}, 4096)}, "not a RISC-V"},
		{"image size below file size", Config{Memory: 64 << 20, Kernel: fakeImage(8192, 4096)}, "smaller than the file"},
		{"malformed ELF", Config{Memory: 64 << 20, Kernel: append(elfHeader, make([]byte, 20)...)}, "malformed ELF"},
		{"memory too small", Config{Memory: 1 << 20, Kernel: fakeImage(4096, 4096)}, "too small"},
		{"kernel bigger than memory", Config{Memory: 16 << 20, Kernel: fakeImage(4096, 32<<20)}, "too small for the kernel"},
		{"absurd image size", Config{Memory: 16 << 20, Kernel: fakeImage(4096, ^uint64(0)-1<<20)}, "too small for the kernel"},
		{"initrd too big", Config{Memory: 16 << 20, Kernel: fakeImage(4096, 4096), Initrd: make([]byte, 16<<20)}, "initrd"},
		{"too many cpus", Config{CPUs: 99, Memory: 64 << 20, Kernel: fakeImage(4096, 4096)}, "cpus"},
		{"odd memory size", Config{Memory: 64<<20 + 1, Kernel: fakeImage(4096, 4096)}, "multiple of 4 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q does not say %q on one line", err, tc.want)
			}
		})
	}
}

func TestDeviceTree(t *testing.T) {
	m, err := New(Config{CPUs: 4, Memory: 64 << 20, Kernel: fakeImage(4096, 4096), Initrd: []byte("initrd"), Cmdline: "console=ttyS0"})
	if err != nil {
		t.Fatal(err)
	}
	fdt, err := dt.ReadFDT(bytes.NewReader(m.ram.Bytes()[m.dtbAddr-RAMBase:]))
	if err != nil {
		t.Fatalf("reading back the DTB: %v", err)
	}
	root := fdt.Root()
	if s, err := root.Walk("chosen").Property("bootargs").AsString(); err != nil || s != "console=ttyS0" {
		t.Fatalf("bootargs %q %v", s, err)
	}
	start, _ := root.Walk("chosen").Property("linux,initrd-start").AsU64()
	end, _ := root.Walk("chosen").Property("linux,initrd-end").AsU64()
	if end-start != 6 || string(m.ram.Bytes()[start-RAMBase:end-RAMBase]) != "initrd" {
		t.Fatalf("initrd at %#x-%#x", start, end)
	}
	cpus, err := root.Walk("cpus").ListChildNodes()
	if err != nil || len(cpus) != 4 {
		t.Fatalf("cpus %v %v", cpus, err)
	}
	isa, _ := root.Walk("cpus").Walk("cpu@3").Property("riscv,isa").AsString()
	if isa != "rv64imafdc_zicntr_zicsr_zifencei" {
		t.Fatalf("isa %q", isa)
	}
	// Hart 0 starts the kernel in S-mode with a1 = the DTB; the others wait.
	h := m.harts[0]
	if h.PC != RAMBase || h.X[11] != m.dtbAddr || h.Priv() != 1 {
		t.Fatalf("hart 0: pc %#x a1 %#x priv %d", h.PC, h.X[11], h.Priv())
	}
	for _, h := range m.harts[1:] {
		if !h.Stopped() {
			t.Fatalf("hart %d not stopped", h.HartID())
		}
	}
}

func TestParseSizeOfEFIStub(t *testing.T) {
	img := fakeImage(4096, 8192)
	img[0], img[1] = 'M', 'Z'
	binary.LittleEndian.PutUint32(img[60:], 0x80)
	copy(img[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(img[0x80+6:], 1)     // one section
	binary.LittleEndian.PutUint16(img[0x80+20:], 0)    // no optional header
	binary.LittleEndian.PutUint32(img[0x98+16:], 8000) // raw size
	binary.LittleEndian.PutUint32(img[0x98+20:], 0x1000)
	if _, err := parseImage(img); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated EFI image: %v", err)
	}
	binary.LittleEndian.PutUint32(img[0x98+16:], 0)
	if _, err := parseImage(img); err != nil {
		t.Fatalf("complete EFI image: %v", err)
	}
}

// bareELF returns a 64-bit RISC-V ELF executable with one PT_LOAD segment
// for each of segs: its physical address, its bytes from the file and its
// size in memory.
func bareELF(entry uint64, segs ...struct {
	pa    uint64
	data  []byte
	memsz uint64
}) []byte {
	const ehsize, phsize = 64, 56
	b := make([]byte, ehsize+phsize*len(segs))
	copy(b, "\x7fELF\x02\x01\x01")
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)   // ET_EXEC
	le.PutUint16(b[18:], 243) // EM_RISCV
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], entry)
	le.PutUint64(b[32:], ehsize) // program headers
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], uint16(len(segs)))
	for i, s := range segs {
		ph := b[ehsize+phsize*i:]
		le.PutUint32(ph[0:], 1) // PT_LOAD
		le.PutUint32(ph[4:], 7) // RWX
		off := uint64(len(b))
		if len(s.data) == 0 {
			off = 0
		}
		le.PutUint64(ph[8:], off)
		le.PutUint64(ph[16:], s.pa)
		le.PutUint64(ph[24:], s.pa)
		le.PutUint64(ph[32:], uint64(len(s.data)))
		le.PutUint64(ph[40:], s.memsz)
		le.PutUint64(ph[48:], 0x1000)
		b = append(b, s.data...)
	}
	return b
}

// TestLoadELFSegments checks that a bare-metal ELF's segments land in RAM,
// a segment with no bytes in the file (.bss alone) included, and that one
// that does not fit in RAM is refused.
func TestLoadELFSegments(t *testing.T) {
	type seg = struct {
		pa    uint64
		data  []byte
		memsz uint64
	}
	code := []byte{0x6f, 0, 0, 0} // j .
	m, err := New(Config{Memory: MinMemory, Bare: bareELF(RAMBase, seg{RAMBase, code, 8}, seg{RAMBase + 0x10000, nil, 0x2000})})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.ram.Bytes()[:8]; !bytes.Equal(got, append(code, 0, 0, 0, 0)) {
		t.Errorf("the code segment reads %x", got)
	}
	end := uint64(RAMBase + MinMemory)
	for _, s := range []seg{{end - 4, code, 8}, {RAMBase - 4, code, 4}, {end, nil, 1}} {
		if m, err := New(Config{Memory: MinMemory, Bare: bareELF(RAMBase, seg{RAMBase, code, 4}, s)}); err == nil || !strings.Contains(err.Error(), "does not fit in RAM") {
			if err == nil {
				m.Close()
			}
			t.Errorf("a segment at %#x (%d bytes): %v", s.pa, s.memsz, err)
		}
	}
}
