/* zicsr.S - Zicsr instructions, CSR access rules, counters and their
 * enables, machine information CSRs, mstatus/sstatus fields. */
#include "test.h"

/* csrr a0, <csr> encodings, for mtval checks */
#define CSRR_A0(csr) (((csr) << 20) | 0x2573)

TEST_BEGIN

  /* ---- CSRRW / CSRRS / CSRRC and immediate forms (on mscratch; no
   * trap may happen until it is restored) ---- */
  TEST_CASE
  li a1, 0x1234
  csrw mscratch, a1
  li a2, 0xff00
  csrrw a0, mscratch, a2
  ASSERT_EQ(a0, 0x1234)
  csrr a0, mscratch
  ASSERT_EQ(a0, 0xff00)
  li a2, 0x00ff
  csrrs a0, mscratch, a2
  ASSERT_EQ(a0, 0xff00)
  csrr a0, mscratch
  ASSERT_EQ(a0, 0xffff)
  li a2, 0x0ff0
  csrrc a0, mscratch, a2
  ASSERT_EQ(a0, 0xffff)
  csrr a0, mscratch
  ASSERT_EQ(a0, 0xf00f)
  TEST_CASE
  csrrwi a0, mscratch, 31
  ASSERT_EQ(a0, 0xf00f)
  csrr a0, mscratch
  ASSERT_EQ(a0, 31)
  csrrci a0, mscratch, 0x11
  ASSERT_EQ(a0, 31)
  csrr a0, mscratch
  ASSERT_EQ(a0, 0xe)
  csrrsi a0, mscratch, 0x10
  ASSERT_EQ(a0, 0xe)
  csrr a0, mscratch
  ASSERT_EQ(a0, 0x1e)
  TEST_CASE
  li a1, -1
  csrw mscratch, a1           /* full 64 bits */
  csrr a0, mscratch
  ASSERT_EQ(a0, -1)
  csrrw a1, mscratch, a1      /* rd == rs1 */
  ASSERT_EQ(a1, -1)
  csrrs x0, mscratch, x0
  csrrw x0, mscratch, zero    /* rd = x0 */
  csrr a0, mscratch
  ASSERT_EQ(a0, 0)
  TEST_CASE
  csrw mscratch, zero
  li a1, 5
  csrrs a0, mscratch, x0      /* rs1 = x0: no write */
  csrrc a0, mscratch, x0
  csrrsi a0, mscratch, 0
  csrrci a0, mscratch, 0
  ASSERT_EQ(a0, 0)
  csrr a0, mscratch
  ASSERT_EQ(a0, 0)
  la t0, trap_rec              /* the trap handler's pointer */
  csrw mscratch, t0

  /* ---- read-only CSRs: reads are fine, any write is illegal ---- */
  TEST_CASE
  csrr a0, mhartid
  ASSERT_EQ(a0, 0)
  csrrs a0, mhartid, x0
  csrrc a0, mhartid, x0
  csrrsi a0, mhartid, 0
  csrrci a0, mhartid, 0
  csrr a0, mvendorid
  csrr a0, marchid
  csrr a0, mimpid
  ASSERT_EQ(zero, 0)
  TEST_TRAP(CAUSE_ILLEGAL, 0xf1401073, csrw mhartid, zero)
  TEST_TRAP(CAUSE_ILLEGAL, 0xf1459073, csrw mhartid, a1)
  TEST_TRAP(CAUSE_ILLEGAL, 0xf1462573, csrrs a0, mhartid, a2)  /* rs1 != x0 writes, even if a2 = 0 */
  TEST_TRAP(CAUSE_ILLEGAL, 0xf140d573, csrrwi a0, mhartid, 1)
  TEST_TRAP(CAUSE_ILLEGAL, 0xc0029073, csrw cycle, t0)
  TEST_TRAP(CAUSE_ILLEGAL, 0xc010e073, csrsi time, 1)
  TEST_TRAP(CAUSE_ILLEGAL, 0xf1109073, csrw mvendorid, ra)
  /* non-existent CSRs are illegal */
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0x600), .word CSRR_A0(0x600))  /* hstatus: no H */
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0x7b0), .word CSRR_A0(0x7b0))  /* dcsr: debug mode only */

  /* ---- machine information ---- */
  ASSERT_CSR(misa, 0xc000000000000000, 0x8000000000000000)     /* MXL = 2 (64) */
  ASSERT_CSR(misa, 0x3ffffff, 0x14112d)                         /* I M A F D C S U only */

  /* ---- mstatus ---- */
  ASSERT_CSR(mstatus, MSTATUS_SXL | MSTATUS_UXL, 0xa00000000)    /* SXL = UXL = 2 */
  TEST_CASE
  csrr s0, mstatus
  li t0, MSTATUS_SXL | MSTATUS_UXL
  csrc mstatus, t0
  ASSERT_CSR(mstatus, MSTATUS_SXL | MSTATUS_UXL, 0xa00000000)    /* not writable */
  /* WPRI fields read as zero whatever is written */
  TEST_CASE
  li t0, 0x7fffffc07f800015      /* bits 0,2,4, 23..30, 38..62 */
  csrs mstatus, t0
  ASSERT_CSR(mstatus, 0x7fffff007f800015, 0)
  /* GVA/MPV (38, 39) exist only with the H extension; QEMU 7.2 keeps
   * them writable even with H disabled */
  JUICE_ONLY_BEGIN
  ASSERT_CSR(mstatus, 0xc000000000, 0)
  JUICE_ONLY_END
  csrw mstatus, s0
  /* little-endian only: UBE/SBE/MBE are zero */
  ASSERT_CSR(mstatus, (1 << 6) | (3 << 36), 0)
  /* XS is zero (no custom state), VS is zero (no V) */
  ASSERT_CSR(mstatus, MSTATUS_XS | MSTATUS_VS, 0)
  /* writable fields */
  TEST_CASE
  li t0, MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_MPIE
  csrs mstatus, t0
  ASSERT_CSR(mstatus, MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_MPIE, MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_MPIE)
  csrc mstatus, t0
  ASSERT_CSR(mstatus, MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_MPIE, 0)
  /* MPP holds M, S and U */
  TEST_CASE
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  ASSERT_CSR(mstatus, MSTATUS_MPP, 0)
  li t0, MSTATUS_MPP_S
  csrs mstatus, t0
  ASSERT_CSR(mstatus, MSTATUS_MPP, MSTATUS_MPP_S)
  li t0, MSTATUS_MPP
  csrs mstatus, t0
  ASSERT_CSR(mstatus, MSTATUS_MPP, MSTATUS_MPP_M)
  csrw mstatus, s0

  /* ---- sstatus is a restricted view of mstatus ---- */
  TEST_CASE
  li t0, MSTATUS_MPP
  csrs mstatus, t0
  ASSERT_CSR(sstatus, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_SXL, 0)
  ASSERT_CSR(sstatus, MSTATUS_UXL, 0x200000000)
  TEST_CASE
  li t1, MSTATUS_MPP | MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
  csrr a1, mstatus
  and a1, a1, t1
  li t0, -1
  csrs sstatus, t0                  /* only S fields change */
  csrr a0, mstatus
  and a0, a0, t1
  ASSERT_REGEQ(a0, a1)
  ASSERT_CSR(mstatus, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR)
  csrw mstatus, s0
  ASSERT_CSR(sstatus, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR, 0)

  /* ---- trap CSRs ---- */
  TEST_CASE
  li t0, -1
  csrw mepc, t0
  ASSERT_CSR(mepc, -2, -2)
  csrw sepc, t0
  ASSERT_CSR(sepc, -2, -2)
  /* IALIGN = 16: xepc[0] reads as zero; QEMU 7.2 keeps the written bit */
  JUICE_ONLY_BEGIN
  ASSERT_CSR(sepc, 1, 0)
  csrw mepc, t0
  ASSERT_CSR(mepc, 1, 0)
  JUICE_ONLY_END
  li t0, 0x12345
  csrw mtval, t0
  ASSERT_CSR(mtval, -1, 0x12345)
  csrw stval, t0
  ASSERT_CSR(stval, -1, 0x12345)
  li t0, 0x8000000000000005
  csrw mcause, t0
  ASSERT_CSR(mcause, -1, 0x8000000000000005)
  csrw scause, t0
  ASSERT_CSR(scause, -1, 0x8000000000000005)
  li t0, 0xabcdef
  csrw sscratch, t0
  ASSERT_CSR(sscratch, -1, 0xabcdef)
  la t0, s_trap_rec
  csrw sscratch, t0
  /* mtvec/stvec: direct and vectored modes hold; the base keeps its value */
  TEST_CASE
  csrr s1, mtvec
  la t0, vec_base
  ori t1, t0, 1
  csrw mtvec, t1
  csrr a0, mtvec
  ASSERT_REGEQ(a0, t1)
  csrw mtvec, t0
  csrr a0, mtvec
  ASSERT_REGEQ(a0, t0)
  csrw mtvec, s1
  csrr s1, stvec
  ori t1, t0, 1
  csrw stvec, t1
  csrr a0, stvec
  ASSERT_REGEQ(a0, t1)
  csrw stvec, s1
  /* medeleg: ecall-from-M can not be delegated */
  TEST_CASE
  li t0, -1
  csrw medeleg, t0
  ASSERT_CSR(medeleg, 0xb1ff, 0xb1ff & ~(1 << 11))   /* the standard causes except 11 */
  csrw medeleg, zero
  /* mideleg: the supervisor interrupts can be delegated */
  TEST_CASE
  li t0, 0x222
  csrw mideleg, t0
  ASSERT_CSR(mideleg, 0x222, 0x222)
  csrw mideleg, zero
  ASSERT_CSR(mideleg, -1, 0)

  /* ---- counters ---- */
  /* QEMU's spike machine does not provide the time CSR (its CLINT is
   * created without rdtime), so every read of time is Juice-only. */
  TEST_CASE
  csrr a0, cycle
  csrr a1, instret
  nop
  nop
  nop
  nop
  csrr a3, cycle
  csrr a4, instret
  bltu a3, a0, 1f
  bltu a4, a1, 1f
  sub a4, a4, a1
  li t0, 5
  bltu a4, t0, 1f                   /* at least the 5 instructions in between */
  li a6, 1
  j 2f
1:li a6, 0
2:ASSERT_EQ(a6, 1)
  TEST_CASE
  csrr a0, mcycle
  csrr a1, minstret
  csrr a2, cycle
  bltu a2, a0, 1f                   /* cycle mirrors mcycle */
  li a6, 1
  j 2f
1:li a6, 0
2:ASSERT_EQ(a6, 1)
  JUICE_ONLY_BEGIN
  TEST_CASE                         /* time mirrors the CLINT's mtime */
  li t0, CLINT_MTIME
  ld a0, 0(t0)
  csrr a1, time
  ld a2, 0(t0)
  bltu a1, a0, 1f
  bltu a2, a1, 1f
  li a6, 1
  j 2f
1:li a6, 0
2:ASSERT_EQ(a6, 1)
  TEST_CASE                         /* time advances */
  csrr a0, time
  li t0, 100000
3:addi t0, t0, -1
  bnez t0, 3b
  csrr a1, time
  sub a1, a1, a0
  ASSERT_EQ(zero, 0)
  bnez a1, 4f
  j fail
4:
  JUICE_ONLY_END

  /* ---- counter enables: S needs mcounteren, U needs both ---- */
  TEST_CASE
  csrw mcounteren, zero
  csrw scounteren, zero
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0xc00), csrr a0, cycle)
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0xc01), csrr a0, time)
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0xc02), csrr a0, instret)
  TEST_CASE
  li t0, 4                          /* IR only */
  csrw mcounteren, t0
  ENTER_MODE(PRV_S)
  csrr a0, instret
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0xc00), csrr a0, cycle)
  JUICE_ONLY_BEGIN
  TEST_CASE
  li t0, 2                          /* TM only */
  csrw mcounteren, t0
  ENTER_MODE(PRV_S)
  csrr a0, time
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0xc00), csrr a0, cycle)
  JUICE_ONLY_END
  TEST_CASE
  li t0, 7
  csrw mcounteren, t0
  ENTER_MODE(PRV_S)
  csrr a0, cycle
  csrr a0, instret
  RETURN_TO_M
  ASSERT_MCAUSE(CAUSE_ECALL_S)
  /* U: mcounteren = 7, scounteren = 0 */
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0xc00), csrr a0, cycle)
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0xc01), csrr a0, time)
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0xc02), csrr a0, instret)
  /* U: scounteren = 7, mcounteren = 5 */
  TEST_CASE
  li t0, 7
  csrw scounteren, t0
  li t0, 5
  csrw mcounteren, t0
  ENTER_MODE(PRV_U)
  csrr a0, cycle
  csrr a0, instret
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0xc01), csrr a0, time)
  TEST_CASE
  li t0, 7
  csrw mcounteren, t0
  li t0, 3
  csrw scounteren, t0
  ENTER_MODE(PRV_U)
  csrr a0, cycle
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0xc02), csrr a0, instret)
  TEST_CASE
  li t0, 7
  csrw scounteren, t0
  ENTER_MODE(PRV_U)
  csrr a0, cycle
  csrr a0, instret
  RETURN_TO_M
  ASSERT_MCAUSE(CAUSE_ECALL_U)
  JUICE_ONLY_BEGIN
  ENTER_MODE(PRV_U)
  csrr a0, time
  RETURN_TO_M
  ASSERT_MCAUSE(CAUSE_ECALL_U)
  JUICE_ONLY_END
  csrw mcounteren, zero
  csrw scounteren, zero

  /* ---- privilege of CSR numbers ---- */
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0x300), csrr a0, mstatus)
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ILLEGAL, 0x34051073, csrw mscratch, a0)
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0xf14), csrr a0, mhartid)
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0x100), csrr a0, sstatus)
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_ILLEGAL, CSRR_A0(0x140), csrr a0, sscratch)
  TEST_CASE
  ENTER_MODE(PRV_S)
  csrr a0, sstatus                  /* S may use S CSRs */
  csrr a1, sscratch
  csrw sscratch, a1
  csrr a0, sie
  RETURN_TO_M
  ASSERT_MCAUSE(CAUSE_ECALL_S)
  TEST_CASE
  ENTER_MODE(PRV_U)
  fsflagsi 0                        /* U may use the FP CSRs */
  frflags a0
  RETURN_TO_M
  ASSERT_MCAUSE(CAUSE_ECALL_U)

TEST_END

  .text
  .align 6
vec_base:
  j fail
