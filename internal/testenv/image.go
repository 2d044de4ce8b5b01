package testenv

import "encoding/binary"

// RISCVImage is a 4 KiB RISC-V Linux Image whose code (at offset 64, where
// its first instruction jumps) is the given instructions: a tiny kernel
// for tests of the machine and the VMM that need no Linux.
func RISCVImage(code ...uint32) []byte {
	b := make([]byte, 4096)
	binary.LittleEndian.PutUint32(b, 0x0400006f) // j 64
	for i, w := range code {
		binary.LittleEndian.PutUint32(b[64+4*i:], w)
	}
	binary.LittleEndian.PutUint64(b[16:], 4096)
	copy(b[48:], "RISCV\x00\x00\x00")
	copy(b[56:], "RSC\x05")
	return b
}

// SpinImage is a RISCVImage that loops forever.
func SpinImage() []byte { return RISCVImage(0x0000006f) }
