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

// CounterImage is a RISCVImage that counts rounds in a0: each round
// stores the count into one of 256 pages of RAM from 0x8040_0000 (the
// page moves on each round), spins about 8000 instructions and prints a
// '.' on the UART; after k×4096 rounds (k below 0x80000) it powers off
// with status 0. A small guest for snapshot tests, which dirties memory
// as it goes:
//
//	lui s1,0x10000 ; lui s2,0x80400 ; slli s2,s2,32 ; srli s2,s2,32
//	lui s3,k
//	loop: addi a0,a0,1 ; andi t0,a0,255 ; slli t0,t0,12 ; add t0,t0,s2
//	      sd a0,0(t0)
//	      lui t2,1 ; delay: addi t2,t2,-1 ; bne t2,zero,delay
//	      addi t1,zero,'.' ; sb t1,0(s1)
//	      bltu a0,s3,loop
//	lui t0,0x100 ; lui t1,5 ; addi t1,t1,0x555 ; sw t1,0(t0) ; j .
func CounterImage(k uint32) []byte {
	return RISCVImage(
		0x100004b7, 0x80400937, 0x02091913, 0x02095913, k<<12|0x9b7,
		0x00150513, 0x0ff57293, 0x00c29293, 0x012282b3, 0x00a2b023,
		0x000013b7, 0xfff38393, 0xfe039ee3,
		0x02e00313, 0x00648023, 0xfd356ce3,
		0x001002b7, 0x00005337, 0x55530313, 0x0062a023, 0x0000006f,
	)
}
