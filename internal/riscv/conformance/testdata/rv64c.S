/* rv64c.S - C extension: every RV64C instruction, written with explicit
 * c.* mnemonics; link addresses and epc show the 2-byte length. */
#include "test.h"

TEST_BEGIN
  .option rvc
  la sp, cdata            /* sp-relative forms use this buffer */

  /* ---- quadrant 0 ---- */
  TEST_CASE
  c.addi4spn a0, sp, 16
  addi a1, sp, 16
  ASSERT_REGEQ(a0, a1)
  c.addi4spn s1, sp, 1020
  addi a1, sp, 1020
  ASSERT_REGEQ(s1, a1)
  TEST_CASE
  mv s0, sp
  c.lw a0, 0(s0)
  ASSERT_EQ(a0, 0xffffffff89abcdef)   /* sign-extended */
  c.lw a1, 4(s0)
  ASSERT_EQ(a1, 0x01234567)
  c.ld a2, 0(s0)
  ASSERT_EQ(a2, 0x0123456789abcdef)
  c.ld a3, 8(s0)
  ASSERT_EQ(a3, 0xfedcba9876543210)
  TEST_CASE
  li a4, 0x1122334455667788
  c.sw a4, 16(s0)
  c.ld a5, 16(s0)
  ASSERT_EQ(a5, 0x55667788)
  c.sd a4, 24(s0)
  ld a5, 24(s0)
  ASSERT_EQ(a5, 0x1122334455667788)
  TEST_CASE
  c.fld fa0, 8(s0)
  fmv.x.d a0, fa0
  ASSERT_EQ(a0, 0xfedcba9876543210)
  c.fsd fa0, 32(s0)
  ld a0, 32(s0)
  ASSERT_EQ(a0, 0xfedcba9876543210)

  /* ---- quadrant 1 ---- */
  TEST_CASE
  li a0, 5
  c.nop
  c.addi a0, -6
  ASSERT_EQ(a0, -1)
  c.addi a0, 31
  ASSERT_EQ(a0, 30)
  TEST_CASE
  li a0, 0x7fffffff
  c.addiw a0, 1
  ASSERT_EQ(a0, 0xffffffff80000000)
  li a0, 0x1ffffffff
  c.addiw a0, 0             /* sext.w */
  ASSERT_EQ(a0, -1)
  TEST_CASE
  c.li a0, -32
  ASSERT_EQ(a0, -32)
  c.li a1, 31
  ASSERT_EQ(a1, 31)
  TEST_CASE
  mv t0, sp
  c.addi16sp sp, -512
  addi t1, t0, -512
  ASSERT_REGEQ(sp, t1)
  c.addi16sp sp, 496
  addi t1, t0, -16
  ASSERT_REGEQ(sp, t1)
  mv sp, t0
  TEST_CASE
  c.lui a0, 1
  ASSERT_EQ(a0, 0x1000)
  c.lui a0, 0xfffe0         /* nzimm[17] set: sign-extended */
  ASSERT_EQ(a0, 0xfffffffffffe0000)
  c.lui a0, 0x1f
  ASSERT_EQ(a0, 0x1f000)
  TEST_CASE
  li s0, 0x8000000000000000
  c.srli s0, 63
  ASSERT_EQ(s0, 1)
  li s0, 0x8000000000000000
  c.srai s0, 63
  ASSERT_EQ(s0, -1)
  li s0, 0xf0f0
  c.srli s0, 4
  ASSERT_EQ(s0, 0xf0f)
  li s0, 0xff00
  c.andi s0, -16
  ASSERT_EQ(s0, 0xff00)
  li s0, 0xff0f
  c.andi s0, 15
  ASSERT_EQ(s0, 0xf)
  TEST_CASE
  li a0, 10
  li a1, 3
  c.sub a0, a1
  ASSERT_EQ(a0, 7)
  li a0, 0xff00
  li a1, 0x0ff0
  c.xor a0, a1
  ASSERT_EQ(a0, 0xf0f0)
  li a0, 0xff00
  c.or a0, a1
  ASSERT_EQ(a0, 0xfff0)
  li a0, 0xff00
  c.and a0, a1
  ASSERT_EQ(a0, 0x0f00)
  li a0, 0x80000000
  li a1, 1
  c.subw a0, a1
  ASSERT_EQ(a0, 0x7fffffff)
  li a0, 0x7fffffff
  c.addw a0, a1
  ASSERT_EQ(a0, 0xffffffff80000000)
  TEST_CASE
  li a0, 0
  c.j 1f
  li a0, 1
1:ASSERT_EQ(a0, 0)
  TEST_CASE
  li a0, 0
  li s1, 0
  c.beqz s1, 2f
  li a0, 1
2:ASSERT_EQ(a0, 0)
  li s1, 1
  c.beqz s1, 3f
  li a0, 2
3:ASSERT_EQ(a0, 2)
  li a0, 0
  c.bnez s1, 4f
  li a0, 1
4:ASSERT_EQ(a0, 0)
  li s1, 0
  c.bnez s1, 5f
  li a0, 3
5:ASSERT_EQ(a0, 3)
  /* backward compressed branch */
  TEST_CASE
  li s1, 3
  li a0, 0
6:addi a0, a0, 1
  c.addi s1, -1
  c.bnez s1, 6b
  ASSERT_EQ(a0, 3)

  /* ---- quadrant 2 ---- */
  TEST_CASE
  li a0, 1
  c.slli a0, 63
  ASSERT_EQ(a0, 0x8000000000000000)
  li t3, 0xff
  c.slli t3, 8
  ASSERT_EQ(t3, 0xff00)
  TEST_CASE
  c.lwsp a0, 0(sp)
  ASSERT_EQ(a0, 0xffffffff89abcdef)
  c.ldsp a1, 8(sp)
  ASSERT_EQ(a1, 0xfedcba9876543210)
  c.fldsp fa1, 0(sp)
  fmv.x.d a2, fa1
  ASSERT_EQ(a2, 0x0123456789abcdef)
  TEST_CASE
  li t4, 0xdeadbeefcafef00d
  c.swsp t4, 40(sp)
  c.ldsp a0, 40(sp)
  ASSERT_EQ(a0, 0xcafef00d)
  c.sdsp t4, 48(sp)
  ld a0, 48(sp)
  ASSERT_EQ(a0, 0xdeadbeefcafef00d)
  c.fsdsp fa1, 56(sp)
  ld a0, 56(sp)
  ASSERT_EQ(a0, 0x0123456789abcdef)
  TEST_CASE
  li a0, 0
  li a1, 42
  c.mv a0, a1
  ASSERT_EQ(a0, 42)
  li a0, 40
  li a1, 2
  c.add a0, a1
  ASSERT_EQ(a0, 42)
  TEST_CASE
  la t0, 7f
  li a0, 0
  c.jr t0
  li a0, 1
7:ASSERT_EQ(a0, 0)
  TEST_CASE
  la t0, 8f
  c.jalr t0                  /* ra = address of c.jalr + 2 */
9:j fail
8:la t1, 9b
  ASSERT_REGEQ(ra, t1)
  TEST_CASE
  la ra, 10f
  c.jalr ra                  /* rs1 == ra: target uses the old value */
11:j fail
10:la t1, 11b
  ASSERT_REGEQ(ra, t1)

  /* ---- traps ---- */
  TEST_TRAP_NOTVAL(CAUSE_BREAKPOINT, c.ebreak)
  TEST_TRAP(CAUSE_ILLEGAL, 0, .2byte 0x0000)          /* all-zero */
  /* reserved encodings */
  TEST_TRAP(CAUSE_ILLEGAL, 0x6101, .2byte 0x6101)   /* c.addi16sp with imm 0 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x4002, .2byte 0x4002)   /* c.lwsp with rd = x0 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x6002, .2byte 0x6002)   /* c.ldsp with rd = x0 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x6081, .2byte 0x6081)   /* c.lui with imm 0 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x8002, .2byte 0x8002)   /* c.jr with rs1 = x0 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x2001, .2byte 0x2001)   /* c.addiw with rd = x0 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x9c41, .2byte 0x9c41)   /* funct6 100111 funct2 10: reserved */
  TEST_TRAP(CAUSE_ILLEGAL, 0x9c61, .2byte 0x9c61)   /* funct6 100111 funct2 11: reserved */
  /* HINTs execute as no-ops: c.slli x0, c.li x0, c.mv x0, c.add x0, c.nop imm */
  TEST_CASE
  li a0, 9
  .2byte 0x0002            /* c.slli x0, 0 */
  .2byte 0x4015            /* c.li x0, 5 */
  .2byte 0x802a            /* c.mv x0, a0 */
  .2byte 0x902a            /* c.add x0, a0 */
  .2byte 0x0005            /* c.addi x0, 1 (c.nop with imm) */
  ASSERT_EQ(a0, 9)
  ASSERT_EQ(x0, 0)

  /* ---- 2-byte aligned jump targets are fine with C ---- */
  TEST_CASE
  .option norvc
  .balign 4
  nop
  jal ra, 12f               /* 12f is at an odd halfword */
13:j fail
  .option rvc
  c.nop
12:la t1, 13b
  ASSERT_REGEQ(ra, t1)
  TEST_CASE
  la t0, 14f
  andi t1, t0, 2
  ASSERT_EQ(t1, 2)
  jalr ra, 0(t0)
  j 15f
  .balign 4
  c.nop
14:ret
15:ASSERT_EQ(zero, 0)
  /* a 4-byte instruction straddling a word boundary */
  TEST_CASE
  .balign 4
  c.nop
  .option norvc
  li a0, 0
  addi a0, a0, 77
  .option rvc
  ASSERT_EQ(a0, 77)

  .option norvc
TEST_END

  .data
  .align 4
cdata:
  .dword 0x0123456789abcdef
  .dword 0xfedcba9876543210
  .zero 1024
