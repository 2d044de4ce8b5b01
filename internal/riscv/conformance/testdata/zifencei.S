/* zifencei.S - self-modifying code made visible by FENCE.I.  Each piece
 * of code is executed before it is patched, so an emulator that caches
 * decoded instructions must drop them on FENCE.I. */
#include "test.h"

#define ADDI_A0_A0(imm) ((((imm) & 0xfff) << 20) | 0x00050513)   /* addi a0, a0, imm */
#define LI_A0(imm)      ((((imm) & 0xfff) << 20) | 0x00000513)   /* addi a0, x0, imm */
#define C_LI_A0(imm)    (0x4501 | (((imm) & 0x1f) << 2) | (((imm) & 0x20) << 7))

TEST_BEGIN

  /* ---- patch a function in a separate buffer ---- */
  TEST_CASE
  jal ra, smc_func
  ASSERT_EQ(a0, 1)
  TEST_CASE
  la t0, smc_func
  li t1, LI_A0(2)
  sw t1, 0(t0)
  fence.i
  jal ra, smc_func
  ASSERT_EQ(a0, 2)
  TEST_CASE                          /* run it many times, then patch again */
  li s1, 100
1:jal ra, smc_func
  addi s1, s1, -1
  bnez s1, 1b
  la t0, smc_func
  li t1, LI_A0(-7)
  sw t1, 0(t0)
  fence.i
  jal ra, smc_func
  ASSERT_EQ(a0, -7)

  /* ---- patch the instruction just ahead, in the same block ---- */
  TEST_CASE
  li a0, 0
  la t0, 2f
  li t1, ADDI_A0_A0(40)
  sw t1, 0(t0)
  fence.i
2:addi a0, a0, 1
  ASSERT_EQ(a0, 40)
  /* a loop whose body is rewritten each iteration */
  TEST_CASE
  li a0, 0
  li s1, 1
  la s2, 3f
4:slli t1, s1, 20                 /* imm = iteration number */
  li t2, 0x00050513
  or t1, t1, t2
  sw t1, 0(s2)
  fence.i
3:addi a0, a0, 0
  addi s1, s1, 1
  li t2, 6
  bne s1, t2, 4b
  ASSERT_EQ(a0, 15)                /* 1+2+3+4+5 */

  /* ---- replace a 4-byte instruction by two compressed ones ---- */
  TEST_CASE
  jal ra, smc_func2
  ASSERT_EQ(a0, 3)
  la t0, smc_func2
  li t1, C_LI_A0(9) | (0x0001 << 16)     /* c.li a0, 9 ; c.nop */
  sw t1, 0(t0)
  fence.i
  jal ra, smc_func2
  ASSERT_EQ(a0, 9)
  TEST_CASE                              /* patch only the first halfword */
  la t0, smc_func2
  li t1, C_LI_A0(-5)
  sh t1, 0(t0)
  fence.i
  jal ra, smc_func2
  ASSERT_EQ(a0, -5)

  /* ---- an instruction turned into an illegal one and back ---- */
  TEST_CASE
  la t0, smc_func3
  li t1, 0xfe000033                /* reserved OP encoding */
  sw t1, 0(t0)
  fence.i
  SET_RESUME(5f)
  jal ra, smc_func3
  j fail
5:ASSERT_MCAUSE(CAUSE_ILLEGAL)
  ASSERT_MTVAL(0xfe000033)
  ASSERT_MEPC(smc_func3)
  TEST_CASE
  la t0, smc_func3
  li t1, LI_A0(11)
  sw t1, 0(t0)
  fence.i
  jal ra, smc_func3
  ASSERT_EQ(a0, 11)

  /* ---- code written with a different width of store ---- */
  TEST_CASE
  la t0, smc_func3
  li t1, LI_A0(12) | (0x00008067 << 32)   /* li a0, 12 ; ret */
  sd t1, 0(t0)
  fence.i
  jal ra, smc_func3
  ASSERT_EQ(a0, 12)
  TEST_CASE
  la t0, smc_func3
  li t1, 0xd0                             /* li a0, 12 -> li a0, 13 (0x00d00513) */
  sb t1, 2(t0)
  fence.i
  jal ra, smc_func3
  ASSERT_EQ(a0, 13)

TEST_END

  .text
  .align 4
smc_func:
  li a0, 1
  ret
  .align 4
smc_func2:
  li a0, 3
  ret
  .align 4
smc_func3:
  li a0, 10
  ret
  nop
