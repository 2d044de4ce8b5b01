/* rv64i.S - RV64I base integer instructions. */
#include "test.h"

TEST_BEGIN

  /* ---- ADD / SUB / ADDI ---- */
  TEST_RR(add, 0, 0, 0)
  TEST_RR(add, 3, 1, 2)
  TEST_RR(add, 0, -1, 1)
  TEST_RR(add, 0x8000000000000000, 0x7fffffffffffffff, 1)
  TEST_RR(add, 0xfffffffffffffffe, 0xffffffffffffffff, 0xffffffffffffffff)
  TEST_RR(sub, 0, 5, 5)
  TEST_RR(sub, -1, 0, 1)
  TEST_RR(sub, 0x7fffffffffffffff, 0x8000000000000000, 1)
  TEST_RR(sub, 0xffffffff00000001, 1, 0x100000000)
  TEST_IMM(addi, 0, 0, 0)
  TEST_IMM(addi, 2047, 0, 2047)
  TEST_IMM(addi, -2048, 0, -2048)
  TEST_IMM(addi, 0x7ffffffffffff7ff, 0x7fffffffffffffff, -2048)
  TEST_IMM(addi, 0x8000000000000000, 0x7fffffffffffffff, 1)

  /* ---- W forms: 32-bit result, sign-extended ---- */
  TEST_RR(addw, 0xffffffff80000000, 0x7fffffff, 1)
  TEST_RR(addw, 0, 0xffffffff, 1)
  TEST_RR(addw, 3, 0x1234567800000001, 0x9abcdef000000002)
  TEST_RR(subw, 0x7fffffff, 0x80000000, 1)
  TEST_RR(subw, -1, 0x100000000, 1)
  TEST_IMM(addiw, 0xffffffff80000000, 0x7fffffff, 1)
  TEST_IMM(addiw, 0x7fffffff, 0xffffffff80000000, -1)
  TEST_IMM(addiw, -1, 0x00000000ffffffff, 0)
  TEST_IMM(addiw, 0x12, 0xabcdef0000000010, 2)

  /* ---- logic ---- */
  TEST_RR(and, 0x0f000f00, 0xff00ff00, 0x0f0f0f0f)
  TEST_RR(or,  0xff0fff0f, 0xff00ff00, 0x0f0f0f0f)
  TEST_RR(xor, 0xf00ff00f, 0xff00ff00, 0x0f0f0f0f)
  TEST_RR(and, 0x8000000000000001, 0xffffffffffffffff, 0x8000000000000001)
  TEST_IMM(andi, 0xff00ff00, 0xff00ff00, -1)
  TEST_IMM(andi, 0x700, 0xff00ff00, 0x7ff)
  TEST_IMM(andi, 0xffffffffff00f800, 0xffffffffff00ff00, -2048)
  TEST_IMM(ori, 0xffffffffffffff0f, 0x0f, -256)
  TEST_IMM(ori, 0x7ff, 0, 0x7ff)
  TEST_IMM(xori, 0xffffffffffffff00, 0xff, -1)
  TEST_IMM(xori, 0x8f0, 0xf00, 0x7f0)

  /* ---- compares ---- */
  TEST_RR(slt, 1, -1, 0)
  TEST_RR(slt, 0, 0, -1)
  TEST_RR(slt, 0, 5, 5)
  TEST_RR(slt, 1, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_RR(sltu, 0, -1, 0)
  TEST_RR(sltu, 1, 0, -1)
  TEST_RR(sltu, 0, 7, 7)
  TEST_RR(sltu, 0, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_IMM(slti, 1, -5, -4)
  TEST_IMM(slti, 0, 0, -2048)
  TEST_IMM(slti, 1, 0x8000000000000000, 0)
  TEST_IMM(sltiu, 1, 0, -1)          /* imm sign-extended then unsigned */
  TEST_IMM(sltiu, 0, -1, -1)
  TEST_IMM(sltiu, 1, 0x7ff, -2048)
  TEST_IMM(sltiu, 1, 0, 1)           /* seqz */
  TEST_IMM(sltiu, 0, 2, 1)

  /* ---- shifts (64-bit: shamt 6 bits) ---- */
  TEST_RR(sll, 0x8000000000000000, 1, 63)
  TEST_RR(sll, 2, 1, 65)             /* only low 6 bits of rs2 */
  TEST_RR(sll, 0x123456789abcdef0, 0x0123456789abcdef, 4)
  TEST_RR(srl, 1, 0x8000000000000000, 63)
  TEST_RR(srl, 0x0fffffffffffffff, -1, 4)
  TEST_RR(srl, 0xffffffffffffffff, -1, 64)
  TEST_RR(sra, -1, 0x8000000000000000, 63)
  TEST_RR(sra, 0xf800000000000000, 0x8000000000000000, 4)
  TEST_RR(sra, 0x0800000000000000, 0x4000000000000000, 67)
  TEST_IMM(slli, 0x8000000000000000, 1, 63)
  TEST_IMM(slli, 0xffffffff00000000, 0xffffffff, 32)
  TEST_IMM(srli, 0xffffffff, 0xffffffff00000000, 32)
  TEST_IMM(srli, 1, 0x8000000000000000, 63)
  TEST_IMM(srai, 0xffffffffffff8000, 0x8000000000000000, 48)
  TEST_IMM(srai, 0x7fff, 0x7fff000000000000, 48)
  /* W shifts: 5-bit shamt, operate on low 32 bits, sign-extend */
  TEST_RR(sllw, 0xffffffff80000000, 1, 31)
  TEST_RR(sllw, 2, 1, 33)
  TEST_RR(sllw, 0, 0x80000000, 1)
  TEST_RR(srlw, 0x7fffffff, 0xffffffff, 1)
  TEST_RR(srlw, 0xffffffff80000000, 0xffffffff80000000, 0)
  TEST_RR(srlw, 1, 0x1234567880000000, 31)
  TEST_RR(sraw, 0xffffffffc0000000, 0x80000000, 1)
  TEST_RR(sraw, 0x20000000, 0xffffffff40000000, 33)
  TEST_IMM(slliw, 0xffffffff80000000, 0x12345671, 31)
  TEST_IMM(slliw, 0x56789ab0, 0x123456789ab, 4)
  TEST_IMM(srliw, 0x0fffffff, 0xffffffffffffffff, 4)
  TEST_IMM(srliw, 0xffffffff87654321, 0x87654321, 0)
  TEST_IMM(sraiw, 0xfffffffff8765432, 0x87654321, 4)
  TEST_IMM(sraiw, 0x07654321, 0xfffffff807654321, 0)

  /* ---- LUI / AUIPC ---- */
  TEST_CASE
  lui a0, 0x12345
  ASSERT_EQ(a0, 0x12345000)
  lui a0, 0x80000
  ASSERT_EQ(a0, 0xffffffff80000000)
  lui a0, 0xfffff
  ASSERT_EQ(a0, 0xfffffffffffff000)
  lui a0, 0
  ASSERT_EQ(a0, 0)
  TEST_CASE
1:auipc a0, 0
  la a1, 1b
  ASSERT_REGEQ(a0, a1)
  TEST_CASE
1:auipc a0, 0x1
  la a1, 1b
  sub a0, a0, a1
  ASSERT_EQ(a0, 0x1000)
  TEST_CASE
1:auipc a0, 0xfffff   /* -0x1000 */
  la a1, 1b
  sub a0, a0, a1
  ASSERT_EQ(a0, -0x1000)
  TEST_CASE
1:auipc a0, 0x80000   /* -2 GiB, sign-extended */
  la a1, 1b
  sub a0, a0, a1
  ASSERT_EQ(a0, 0xffffffff80000000)

  /* ---- branches, taken and not taken ---- */
  TEST_BR(beq, 1, 3, 3)
  TEST_BR(beq, 0, 3, 4)
  TEST_BR(beq, 0, 0x100000003, 3)
  TEST_BR(bne, 1, 0, 1)
  TEST_BR(bne, 0, -1, -1)
  TEST_BR(blt, 1, -1, 0)
  TEST_BR(blt, 0, 0, -1)
  TEST_BR(blt, 0, 5, 5)
  TEST_BR(blt, 1, 0x8000000000000000, 0x7fffffffffffffff)
  TEST_BR(bge, 1, 0, -1)
  TEST_BR(bge, 1, 5, 5)
  TEST_BR(bge, 0, -1, 0)
  TEST_BR(bltu, 1, 0, -1)
  TEST_BR(bltu, 0, -1, 0)
  TEST_BR(bltu, 0, 7, 7)
  TEST_BR(bgeu, 1, -1, 0)
  TEST_BR(bgeu, 1, 7, 7)
  TEST_BR(bgeu, 0, 0x7fffffffffffffff, 0x8000000000000000)
  /* backward branch */
  TEST_CASE
  li a0, 0
  li a1, 5
1:addi a0, a0, 1
  bne a0, a1, 1b
  ASSERT_EQ(a0, 5)

  /* ---- JAL / JALR ---- */
  TEST_CASE
  li ra, 0
  jal ra, 2f
1:j fail
2:la a1, 1b
  ASSERT_REGEQ(ra, a1)
  TEST_CASE
  jal x0, 3f            /* j: no link */
  j fail
3:li a0, 0
  jal a0, 4f            /* arbitrary link register */
5:j fail
4:la a1, 5b
  ASSERT_REGEQ(a0, a1)
  /* JALR: target = (rs1 + imm) & ~1 */
  TEST_CASE
  la a1, 6f
  addi a1, a1, -3       /* a1+3 = 6f+... */
  jalr a2, 4(a1)        /* 6f + 1 -> low bit cleared -> 6f */
7:j fail
  .align 2
6:la a3, 7b
  ASSERT_REGEQ(a2, a3)
  TEST_CASE
  la a1, 8f
  jalr a1, 0(a1)        /* rd == rs1: target uses old value */
9:j fail
8:la a3, 9b
  ASSERT_REGEQ(a1, a3)
  TEST_CASE
  la a1, 10f
  addi a1, a1, 16
  jalr x0, -16(a1)      /* negative offset, no link */
  j fail
10:
  ASSERT_EQ(zero, 0)

  /* ---- loads: every width and sign ---- */
  TEST_LOAD(lb,  0xffffffffffffff81, ldata, 0)
  TEST_LOAD(lb,  0x7f, ldata, 1)
  TEST_LOAD(lbu, 0x81, ldata, 0)
  TEST_LOAD(lbu, 0xfe, ldata, 7)
  TEST_LOAD(lh,  0x7f81, ldata, 0)
  TEST_LOAD(lh,  0xffffffffffffff80, ldata, 2)
  TEST_LOAD(lhu, 0xff80, ldata, 2)
  TEST_LOAD(lh,  0xfffffffffffffe00, ldata, 6)
  TEST_LOAD(lw,  0xffffffffff807f81, ldata, 0)
  TEST_LOAD(lw,  0xfffffffffe000001, ldata, 4)
  TEST_LOAD(lwu, 0xff807f81, ldata, 0)
  TEST_LOAD(lwu, 0xfe000001, ldata, 4)
  TEST_LOAD(ld,  0xfe000001ff807f81, ldata, 0)
  TEST_LOAD(ld,  0x0123456789abcdef, ldata, 8)
  TEST_LOAD(lb,  0xffffffffffffffef, ldata, 8)
  TEST_LOAD(lhu, 0x89ab, ldata, 10)
  /* negative offsets */
  TEST_LOAD(lw,  0x01234567, ldata_end, -4)
  TEST_LOAD(ld,  0x0123456789abcdef, ldata_end, -8)

  /* ---- stores: every width, readback and neighbours untouched ---- */
  TEST_STORE(sb, lbu, 0xaa, 0x123456789abcdeaa, sdata, 0)
  TEST_STORE(sh, lh, 0xffffffffffffbeef, 0xbeef, sdata, 2)
  TEST_STORE(sw, lw, 0xffffffffdeadbeef, 0x12deadbeef, sdata, 4)
  TEST_STORE(sd, ld, 0x0123456789abcdef, 0x0123456789abcdef, sdata, 8)
  TEST_STORE(sd, ld, -1, -1, sdata, 16)
  TEST_STORE(sb, lb, 0, 0x100, sdata, 17)
  TEST_CASE
  la a1, sdata
  ld a0, 0(a1)
  ASSERT_EQ(a0, 0xdeadbeefbeef00aa)
  ld a0, 16(a1)
  ASSERT_EQ(a0, 0xffffffffffff00ff)
  /* store with negative offset */
  TEST_CASE
  la a1, sdata_end
  li a2, 0x55
  sb a2, -1(a1)
  lbu a0, -1(a1)
  ASSERT_EQ(a0, 0x55)

  /* ---- misaligned ordinary loads/stores (done in hardware, no trap) ---- */
  TEST_LOAD(lh,  0x2345, ldata, 13)
  TEST_LOAD(lw,  0x6789abcd, ldata, 9)
  TEST_LOAD(ld,  0xeffe000001ff807f, ldata, 1)
  TEST_CASE
  la a1, sdata
  li a2, 0x1122334455667788
  sd a2, 3(a1)
  ld a0, 3(a1)
  ASSERT_EQ(a0, 0x1122334455667788)
  lwu a0, 5(a1)
  ASSERT_EQ(a0, 0x33445566)
  li a2, 0xcafe
  sh a2, 25(a1)
  lhu a0, 25(a1)
  ASSERT_EQ(a0, 0xcafe)

  /* ---- x0 is hardwired to zero ---- */
  TEST_CASE
  li x0, 5
  addi x0, x0, 7
  lui x0, 0x12345
  auipc x0, 1
  la a1, ldata
  ld x0, 0(a1)
  mv a0, x0
  ASSERT_EQ(a0, 0)
  TEST_RR(add, 7, 0, 7)          /* reads of x0 give 0 */

  /* ---- source/destination aliasing ---- */
  TEST_CASE
  li a0, 11
  add a0, a0, a0
  ASSERT_EQ(a0, 22)
  TEST_CASE
  li a0, 13
  li a1, 4
  sub a1, a0, a1
  ASSERT_EQ(a1, 9)

  /* ---- FENCE and the NOP hint ---- */
  TEST_CASE
  fence
  fence rw, rw
  fence.tso
  nop
  ASSERT_EQ(zero, 0)

TEST_END

  .data
  .align 4
ldata:
  .byte 0x81, 0x7f, 0x80, 0xff, 0x01, 0x00, 0x00, 0xfe
  .dword 0x0123456789abcdef
ldata_end:
  .align 4
sdata:
  .zero 32
sdata_end:
