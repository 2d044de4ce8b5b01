package machine

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/juicevm/juice/internal/riscv"
)

const (
	// fwJumpAddr is where OpenSBI's fw_jump expects the next stage.
	fwJumpAddr = RAMBase + 0x20_0000
	pageSize   = 0x1000
)

// imageHeader is the part of the RISC-V Linux Image header Juice uses.
type imageHeader struct {
	textOffset uint64
	imageSize  uint64
}

// parseImage validates a RISC-V Linux Image (see the kernel's
// Documentation/riscv/boot-image-header.rst) and returns its header.
func parseImage(b []byte) (imageHeader, error) {
	if len(b) < 64 {
		return imageHeader{}, fmt.Errorf("kernel: file is %d bytes, too short for a RISC-V Linux Image header (64 bytes)", len(b))
	}
	magic := string(b[48:56])
	magic2 := string(b[56:60])
	if magic != "RISCV\x00\x00\x00" && magic2 != "RSC\x05" {
		return imageHeader{}, errors.New("kernel: not a RISC-V Linux Image or ELF file (no RISC-V Image magic)")
	}
	h := imageHeader{
		textOffset: binary.LittleEndian.Uint64(b[8:]),
		imageSize:  binary.LittleEndian.Uint64(b[16:]),
	}
	if h.imageSize == 0 {
		h.imageSize = uint64(len(b))
	}
	if h.imageSize < uint64(len(b)) {
		return imageHeader{}, fmt.Errorf("kernel: header gives an image size of %d bytes, smaller than the file (%d bytes)", h.imageSize, len(b))
	}
	if h.textOffset%pageSize != 0 || h.textOffset > 1<<30 {
		return imageHeader{}, fmt.Errorf("kernel: header has an invalid text offset %#x", h.textOffset)
	}
	if err := checkPE(b); err != nil {
		return imageHeader{}, err
	}
	return h, nil
}

// checkPE verifies, for an Image with an EFI stub, that the file holds all
// the sections its PE/COFF header lists (it catches truncated files).
func checkPE(b []byte) error {
	if b[0] != 'M' || b[1] != 'Z' {
		return nil
	}
	peOff := uint64(binary.LittleEndian.Uint32(b[60:]))
	if peOff+24 > uint64(len(b)) || string(b[peOff:peOff+4]) != "PE\x00\x00" {
		return errors.New("kernel: EFI stub header points outside the file (truncated?)")
	}
	nsect := uint64(binary.LittleEndian.Uint16(b[peOff+6:]))
	optSize := uint64(binary.LittleEndian.Uint16(b[peOff+20:]))
	sect := peOff + 24 + optSize
	for i := uint64(0); i < nsect; i++ {
		s := sect + 40*i
		if s+40 > uint64(len(b)) {
			return errors.New("kernel: EFI stub section table is cut short (truncated file?)")
		}
		size := uint64(binary.LittleEndian.Uint32(b[s+16:]))
		ptr := uint64(binary.LittleEndian.Uint32(b[s+20:]))
		if ptr+size > uint64(len(b)) {
			return fmt.Errorf("kernel: file is %d bytes but its sections extend to %d bytes (truncated?)", len(b), ptr+size)
		}
	}
	return nil
}

func isELF(b []byte) bool { return len(b) >= 4 && string(b[:4]) == elf.ELFMAG }

// loadedELF is an ELF program placed in RAM.
type loadedELF struct {
	entry, low, high uint64
	tohost, fromhost uint64
}

// loadELF copies an ELF's loadable segments into RAM. With relocate set,
// segments are placed at base + (vaddr - lowest vaddr), as for a Linux
// vmlinux linked at virtual addresses; otherwise at their physical
// addresses.
func (m *Machine) loadELF(what string, b []byte, relocate bool, base uint64) (loadedELF, error) {
	var out loadedELF
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return out, fmt.Errorf("%s: malformed ELF: %w", what, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_RISCV {
		return out, fmt.Errorf("%s: ELF is %v %v, not 64-bit RISC-V", what, f.Class, f.Machine)
	}
	low := ^uint64(0)
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Memsz > 0 {
			low = min(low, p.Vaddr)
		}
	}
	if low == ^uint64(0) {
		return out, fmt.Errorf("%s: ELF has no loadable segments", what)
	}
	out.low, out.high = ^uint64(0), 0
	place := func(p *elf.Prog) uint64 {
		if relocate {
			return base + p.Vaddr - low
		}
		return p.Paddr
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		if p.Filesz > p.Memsz {
			return out, fmt.Errorf("%s: malformed ELF: segment file size %d exceeds memory size %d", what, p.Filesz, p.Memsz)
		}
		pa := place(p)
		seg, ok := m.ramWrite(pa, p.Memsz)
		if !ok {
			return out, fmt.Errorf("%s: segment at %#x (%d bytes) does not fit in RAM (%#x-%#x)", what, pa, p.Memsz, m.ram.Base(), m.ram.End())
		}
		// A segment with nothing in the file (.bss alone) reads nothing:
		// its empty reader would say EOF.
		if p.Filesz > 0 {
			if _, err := p.ReadAt(seg[:p.Filesz], 0); err != nil {
				return out, fmt.Errorf("%s: malformed ELF: segment data: %w", what, err)
			}
		}
		clear(seg[p.Filesz:])
		out.low, out.high = min(out.low, pa), max(out.high, pa+p.Memsz)
	}
	out.entry = f.Entry
	if relocate {
		out.entry = base + f.Entry - low
	}
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			switch s.Name {
			case "tohost":
				out.tohost = s.Value
			case "fromhost":
				out.fromhost = s.Value
			}
		}
	}
	return out, nil
}

// load places the programs in RAM, builds the device tree and sets up the
// harts' starting state.
func (m *Machine) load() error {
	cfg := &m.cfg
	ramEnd := m.ram.End()
	if cfg.Bare != nil {
		if cfg.Kernel != nil || cfg.Initrd != nil || cfg.Firmware != nil {
			return errors.New("bare: a bare-metal program runs alone (no kernel, initrd or firmware)")
		}
		p, err := m.loadELF("bare", cfg.Bare, false, 0)
		if err != nil {
			return err
		}
		m.tohost, m.fromhost = p.tohost, p.fromhost
		dtb, err := m.placeDTB(dtbOptions{}, ramEnd)
		if err != nil {
			return err
		}
		for _, h := range m.harts {
			h.Start(p.entry, riscv.PrivM, h.HartID(), dtb)
		}
		return nil
	}
	if cfg.Kernel == nil {
		return errors.New("kernel: no kernel given")
	}
	// A gzip- or zstd-compressed kernel Image or initramfs is expanded
	// here, on the host: a RISC-V Image cannot expand itself, and the
	// guest would spend far longer expanding an initramfs than the host.
	var err error
	if cfg.Kernel, err = expandIfCompressed("kernel", cfg.Kernel, m.ram.Size()); err != nil {
		return err
	}
	if cfg.Initrd, err = expandIfCompressed("initrd", cfg.Initrd, m.ram.Size()); err != nil {
		return err
	}

	// The kernel.
	kernelAt := uint64(fwJumpAddr)
	var kernelEnd, entry uint64
	if isELF(cfg.Kernel) {
		p, err := m.loadELF("kernel", cfg.Kernel, true, kernelAt)
		if err != nil {
			return err
		}
		kernelEnd, entry = p.high, p.entry
	} else {
		h, err := parseImage(cfg.Kernel)
		if err != nil {
			return err
		}
		if cfg.Firmware == nil {
			kernelAt = RAMBase // Juice's SBI needs no room below the kernel
		}
		// The image's size covers the file (parseImage checks it).
		if !m.ram.Contains(kernelAt, h.imageSize) || !m.writeRAM(kernelAt, cfg.Kernel) {
			return fmt.Errorf("memory: %d MiB is too small for the kernel (its image takes %d MiB from %#x)", m.ram.Size()>>20, h.imageSize>>20, kernelAt)
		}
		kernelEnd, entry = kernelAt+h.imageSize, kernelAt
	}

	// The device tree goes at the top of RAM, the initrd below it.
	var o dtbOptions
	dtbTop := ramEnd
	if len(cfg.Initrd) > 0 {
		size, err := m.deviceTree(dtbOptions{initrdStart: 1, initrdEnd: 2})
		if err != nil {
			return err
		}
		top := (ramEnd - uint64(len(size)) - pageSize) &^ (pageSize - 1)
		need := uint64(len(cfg.Initrd))
		if need > top || top-need < kernelEnd {
			return fmt.Errorf("initrd: %d MiB does not fit in memory beside the kernel (%d MiB of RAM; use --memory to give more)", need>>20, m.ram.Size()>>20)
		}
		start := (top - need) &^ (pageSize - 1)
		if !m.writeRAM(start, cfg.Initrd) {
			return fmt.Errorf("initrd: %d MiB does not fit in RAM at %#x", need>>20, start)
		}
		o = dtbOptions{initrdStart: start, initrdEnd: start + need}
	}
	dtb, err := m.placeDTB(o, dtbTop)
	if err != nil {
		return err
	}
	if dtb < kernelEnd {
		return fmt.Errorf("memory: %d MiB is too small for the kernel and device tree", m.ram.Size()>>20)
	}

	if cfg.Firmware != nil {
		p, err := m.loadELF("firmware", cfg.Firmware, false, 0)
		if err != nil {
			return err
		}
		if p.high > kernelAt {
			return fmt.Errorf("firmware: it extends to %#x, over the kernel at %#x", p.high, kernelAt)
		}
		for _, h := range m.harts {
			h.Start(p.entry, riscv.PrivM, h.HartID(), dtb)
		}
		return nil
	}
	// Juice is the SBI: the kernel starts in S-mode on hart 0; the other
	// harts wait for an HSM hart_start.
	for i, h := range m.harts {
		h.SetMedeleg(1<<riscv.CauseInsnMisaligned | 1<<riscv.CauseInsnAccess | 1<<riscv.CauseIllegal |
			1<<riscv.CauseBreakpoint | 1<<riscv.CauseLoadMisaligned | 1<<riscv.CauseLoadAccess |
			1<<riscv.CauseStoreMisalign | 1<<riscv.CauseStoreAccess | 1<<riscv.CauseEcallU |
			1<<riscv.CauseInsnPage | 1<<riscv.CauseLoadPage | 1<<riscv.CauseStorePage)
		h.SetMideleg(riscv.IrqSSI | riscv.IrqSTI | riscv.IrqSEI)
		h.SetCounteren(0xffffffff, 0x7) // cycle, time, instret
		if i == 0 {
			h.Start(entry, riscv.PrivS, 0, dtb)
		} else {
			h.SetStopped(true)
		}
	}
	return nil
}

// placeDTB writes the device tree just below top and returns its address.
func (m *Machine) placeDTB(o dtbOptions, top uint64) (uint64, error) {
	b, err := m.deviceTree(o)
	if err != nil {
		return 0, err
	}
	addr := (top - uint64(len(b))) &^ 7
	if top < uint64(len(b)) || !m.writeRAM(addr, b) {
		return 0, errors.New("memory: too small for the device tree")
	}
	m.dtbAddr = addr
	return addr, nil
}

// checkHTIF follows the HTIF tohost protocol of bare-metal test programs.
func (m *Machine) checkHTIF() {
	v, ok := m.ram.Uint64(m.tohost)
	if !ok {
		m.tohost = 0
		return
	}
	if v == 0 {
		return
	}
	dev, cmd := v>>56, v>>48&0xff
	switch {
	case dev == 0 && v&1 == 1:
		if code := v >> 1 & (1<<47 - 1); code == 0 {
			m.stop(ExitPowerOff, 0)
		} else {
			m.stop(ExitBareFail, int(code))
		}
	case dev == 1 && cmd == 1: // console putchar
		m.consoleOut(byte(v))
		if b, ok := m.ramWrite(m.tohost, 8); ok {
			binary.LittleEndian.PutUint64(b, 0)
		}
		if b, ok := m.ramWrite(m.fromhost, 8); ok {
			binary.LittleEndian.PutUint64(b, 1<<56|1<<48) // acknowledge
		}
	default:
		m.stop(ExitBareFail, -1)
	}
}

// expandIfCompressed returns b expanded if it is gzip- or
// zstd-compressed, and b itself otherwise. The expanded size is bounded by
// max: it must fit in RAM.
func expandIfCompressed(what string, b []byte, max uint64) ([]byte, error) {
	var r io.Reader
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", what, err)
		}
		r = zr
	case len(b) >= 4 && string(b[:4]) == "\x28\xb5\x2f\xfd":
		zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(max+1))
		if err != nil {
			return nil, fmt.Errorf("%s: zstd: %w", what, err)
		}
		defer zr.Close()
		// A frame usually states its expanded size: allocate just that.
		var h zstd.Header
		var dst []byte
		if h.Decode(b) == nil && h.HasFCS && h.FrameContentSize <= max {
			dst = make([]byte, 0, h.FrameContentSize)
		}
		out, err := zr.DecodeAll(b, dst)
		if err != nil {
			if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
				return nil, fmt.Errorf("%s: expands to more than the %d MiB of RAM", what, max>>20)
			}
			return nil, fmt.Errorf("%s: zstd: %w", what, err)
		}
		if uint64(len(out)) > max {
			return nil, fmt.Errorf("%s: expands to more than the %d MiB of RAM", what, max>>20)
		}
		return out, nil
	default:
		return b, nil
	}
	// The trailer states the expanded size (modulo 2^32): a good guess.
	var out bytes.Buffer
	if n := uint64(binary.LittleEndian.Uint32(b[len(b)-4:])); n <= max {
		out.Grow(int(n) + 1)
	}
	if _, err := out.ReadFrom(io.LimitReader(r, int64(max)+1)); err != nil {
		return nil, fmt.Errorf("%s: gzip: %w", what, err)
	}
	if uint64(out.Len()) > max {
		return nil, fmt.Errorf("%s: expands to more than the %d MiB of RAM", what, max>>20)
	}
	return out.Bytes(), nil
}
