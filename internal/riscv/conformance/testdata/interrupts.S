/* interrupts.S - CLINT software and timer interrupts, mip/mie/sip/sie
 * rules, global enables per privilege mode, delegation, priority,
 * vectored mtvec/stvec and WFI. */
#include "test.h"

#define INT(n) (INTERRUPT_BIT | (n))

.macro set_msip v
  li t0, CLINT_MSIP
  li t1, \v
  sw t1, 0(t0)
.endm
/* mtimecmp = mtime + delta (delta < 0: far future) */
.macro set_timer_in delta
  li t0, CLINT_MTIME
  ld t1, 0(t0)
  li t2, \delta
  add t1, t1, t2
  li t0, CLINT_MTIMECMP
  sd t1, 0(t0)
.endm
.macro timer_off
  li t0, CLINT_MTIMECMP
  li t1, -1
  sd t1, 0(t0)
.endm
.macro timer_now
  li t0, CLINT_MTIMECMP
  sd zero, 0(t0)
.endm
/* wait (bounded) until the M trap count differs from 0. WFI rather than a
   spin: QEMU's timer follows the host clock, so a spin of fixed length can
   end before a loaded host delivers the interrupt. */
.macro wait_trap
  li t2, 100000
.Lw\@:
  la t0, trap_rec
  ld t1, REC_COUNT(t0)
  bnez t1, .Ld\@
  wfi
  addi t2, t2, -1
  bnez t2, .Lw\@
.Ld\@:
.endm

TEST_BEGIN
  timer_off
  set_msip 0

  /* ---- CLINT msip drives mip.MSIP ---- */
  TEST_CASE
  set_msip 1
  ASSERT_CSR(mip, MIP_MSIP, MIP_MSIP)
  set_msip 0
  ASSERT_CSR(mip, MIP_MSIP, 0)
  /* mtime >= mtimecmp drives mip.MTIP */
  TEST_CASE
  timer_now
  ASSERT_CSR(mip, MIP_MTIP, MIP_MTIP)
  timer_off
  ASSERT_CSR(mip, MIP_MTIP, 0)
  /* mip.MSIP/MTIP are read-only; SSIP/STIP are writable by M */
  TEST_CASE
  li t0, MIP_MSIP | MIP_MTIP
  csrs mip, t0
  ASSERT_CSR(mip, MIP_MSIP | MIP_MTIP, 0)
  li t0, MIP_SSIP | MIP_STIP
  csrs mip, t0
  ASSERT_CSR(mip, MIP_SSIP | MIP_STIP, MIP_SSIP | MIP_STIP)
  csrc mip, t0
  ASSERT_CSR(mip, MIP_SSIP | MIP_STIP, 0)
  /* mie holds the standard bits */
  TEST_CASE
  li t0, 0xaaa
  csrw mie, t0
  ASSERT_CSR(mie, 0xaaa, 0xaaa)
  csrw mie, zero

  /* ---- machine software interrupt ---- */
  TEST_CASE
  RESET_TRAPS
  li t0, MIP_MSIP
  csrs mie, t0
  set_msip 1
  ASSERT_MCOUNT(0)                 /* MIE = 0 in M-mode: not taken */
  csrsi mstatus, MSTATUS_MIE
1:nop
  csrci mstatus, MSTATUS_MIE
  ASSERT_MCOUNT(1)
  ASSERT_MCAUSE(INT(IRQ_M_SOFT))
  ASSERT_MTVAL(0)
  ASSERT_MEPC(1b)                  /* the instruction after csrsi */
  ASSERT_MSTATUS_REC(MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_MPP, MSTATUS_MPIE | MSTATUS_MPP_M)
  set_msip 0

  /* ---- machine timer interrupt ---- */
  TEST_CASE
  RESET_TRAPS
  li t0, MIP_MTIP
  csrs mie, t0
  set_timer_in 200
  csrsi mstatus, MSTATUS_MIE
  wait_trap
  csrci mstatus, MSTATUS_MIE
  ASSERT_MCOUNT(1)
  ASSERT_MCAUSE(INT(IRQ_M_TIMER))
  ASSERT_CSR(mip, MIP_MTIP, MIP_MTIP)   /* still pending until mtimecmp moves */
  timer_off
  ASSERT_CSR(mip, MIP_MTIP, 0)

  /* ---- priority: MEI > MSI > MTI > SEI > SSI > STI ---- */
  TEST_CASE
  RESET_TRAPS
  timer_now
  set_msip 1
  li t0, MIP_MSIP | MIP_MTIP
  csrs mie, t0
  csrsi mstatus, MSTATUS_MIE
  nop
  csrci mstatus, MSTATUS_MIE
  ASSERT_MCOUNT(2)
  ASSERT_MPREV(INT(IRQ_M_SOFT))
  ASSERT_MCAUSE(INT(IRQ_M_TIMER))
  timer_off
  set_msip 0
  TEST_CASE
  RESET_TRAPS
  li t0, MIP_SSIP | MIP_STIP
  csrs mip, t0
  csrs mie, t0
  csrsi mstatus, MSTATUS_MIE
  nop
  csrci mstatus, MSTATUS_MIE
  ASSERT_MCOUNT(2)
  ASSERT_MPREV(INT(IRQ_S_SOFT))
  ASSERT_MCAUSE(INT(IRQ_S_TIMER))
  li t0, MIP_SSIP | MIP_STIP
  csrc mip, t0
  TEST_CASE
  RESET_TRAPS
  li t0, MIP_SSIP
  csrs mip, t0
  timer_now
  li t0, MIP_SSIP | MIP_MTIP
  csrs mie, t0
  csrsi mstatus, MSTATUS_MIE
  nop
  csrci mstatus, MSTATUS_MIE
  ASSERT_MCOUNT(2)
  /* M-level before S-level; QEMU 7.2 takes SSI before MTI */
  JUICE_ONLY_BEGIN
  ASSERT_MPREV(INT(IRQ_M_TIMER))
  ASSERT_MCAUSE(INT(IRQ_S_SOFT))
  JUICE_ONLY_END
  timer_off
  li t0, MIP_SSIP
  csrc mip, t0

  /* ---- M-level interrupts are always enabled below M ---- */
  TEST_CASE
  RESET_TRAPS
  li t0, MIP_MSIP
  csrs mie, t0
  set_msip 1
  csrci mstatus, MSTATUS_MIE
  ENTER_MODE(PRV_S)
2:nop
  la t0, trap_rec                  /* (set_resume below clears the cause) */
  ld s1, REC_CAUSE(t0)
  ld s2, REC_STATUS(t0)
  RETURN_TO_M
  ASSERT_EQ(s1, INT(IRQ_M_SOFT))   /* taken in S although MIE = 0 */
  ASSERT_MCOUNT(2)
  li t0, MSTATUS_MPP
  and s2, s2, t0
  ASSERT_EQ(s2, MSTATUS_MPP_S)
  set_msip 0
  TEST_CASE
  RESET_TRAPS
  li t0, MIP_MSIP
  csrs mie, t0
  set_msip 1
  ENTER_MODE(PRV_U)
  nop
  la t0, trap_rec
  ld s1, REC_CAUSE(t0)
  RETURN_TO_M
  ASSERT_EQ(s1, INT(IRQ_M_SOFT))
  set_msip 0
  csrw mie, zero

  /* ---- sie/sip are views of mie/mip limited by mideleg ---- */
  TEST_CASE
  csrw mideleg, zero
  li t0, MIP_SSIP | MIP_MSIP
  csrs mie, t0
  ASSERT_CSR(sie, -1, 0)            /* nothing delegated: reads zero */
  li t0, MIP_STIP
  csrs sie, t0
  ASSERT_CSR(mie, MIP_STIP, 0)      /* and writes are ignored */
  li t0, MIP_SSIP
  csrs mip, t0
  ASSERT_CSR(sip, -1, 0)
  csrc mip, t0
  csrw mie, zero
  TEST_CASE
  li t0, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrw mideleg, t0
  li t0, MIP_SSIP | MIP_MSIP
  csrs sie, t0
  ASSERT_CSR(mie, MIP_SSIP | MIP_MSIP, MIP_SSIP)   /* M bits not reachable */
  csrs mie, t0
  ASSERT_CSR(sie, MIP_SSIP | MIP_MSIP, MIP_SSIP)
  csrw mie, zero
  /* S-mode may set sip.SSIP but not sip.STIP */
  TEST_CASE
  ENTER_MODE(PRV_S)
  li t0, MIP_SSIP | MIP_STIP
  csrs sip, t0
  RETURN_TO_M
  ASSERT_CSR(mip, MIP_SSIP | MIP_STIP, MIP_SSIP)
  li t0, MIP_SSIP
  csrc mip, t0

  /* ---- delegated S interrupts ---- */
  TEST_CASE
  RESET_TRAPS
  li t0, MIP_SSIP
  csrs mie, t0
  csrs mip, t0
  li t0, MSTATUS_MIE | MSTATUS_SIE
  csrs mstatus, t0
  nop                               /* never taken in M */
  csrci mstatus, MSTATUS_MIE
  ASSERT_MCOUNT(0)
  ASSERT_SCOUNT(0)
  TEST_CASE
  csrci mstatus, MSTATUS_SIE
  ENTER_MODE(PRV_S)
  nop                               /* SIE = 0 in S: not taken */
  csrr s1, sip
  csrsi sstatus, MSTATUS_SIE
3:nop                               /* taken here */
  csrci sstatus, MSTATUS_SIE
  RETURN_TO_M
  ASSERT_SCOUNT(1)
  ASSERT_SCAUSE(INT(IRQ_S_SOFT))
  ASSERT_SEPC(3b)
  andi s1, s1, MIP_SSIP
  ASSERT_EQ(s1, MIP_SSIP)
  ASSERT_CSR(mie, MIP_SSIP, 0)      /* the S handler cleared sie.SSIE */
  TEST_CASE                         /* in U, delegated S interrupts ignore SIE */
  RESET_TRAPS
  li t0, MIP_SSIP
  csrs mie, t0
  csrci mstatus, MSTATUS_SIE
  ENTER_MODE(PRV_U)
  nop
  RETURN_TO_M
  ASSERT_SCOUNT(1)
  ASSERT_SCAUSE(INT(IRQ_S_SOFT))
  li t0, MIP_SSIP
  csrc mip, t0
  /* delegated timer (STIP set by M) */
  TEST_CASE
  RESET_TRAPS
  li t0, MIP_STIP
  csrs mie, t0
  csrs mip, t0
  ENTER_MODE(PRV_U)
  nop
  RETURN_TO_M
  ASSERT_SCAUSE(INT(IRQ_S_TIMER))
  li t0, MIP_STIP
  csrc mip, t0
  csrw mideleg, zero
  csrw mie, zero

  /* ---- vectored mtvec / stvec ---- */
  TEST_CASE
  RESET_TRAPS
  la t0, vec_hits
  sd zero, 0(t0)
  la t0, mvec_table
  ori t0, t0, 1
  csrw mtvec, t0
  li t0, MIP_MSIP
  csrs mie, t0
  set_msip 1
  csrsi mstatus, MSTATUS_MIE
  nop
  csrci mstatus, MSTATUS_MIE
  set_msip 0
  la t0, m_trap_handler
  csrw mtvec, t0
  ASSERT_MCAUSE(INT(IRQ_M_SOFT))
  ASSERT_MEM(vec_hits, 0, IRQ_M_SOFT)   /* entered at base + 4*3 */
  TEST_CASE
  RESET_TRAPS
  la t0, vec_hits
  sd zero, 8(t0)
  la t0, svec_table
  ori t0, t0, 1
  csrw stvec, t0
  li t0, MIP_SSIP
  csrw mideleg, t0
  csrs mie, t0
  csrs mip, t0
  ENTER_MODE(PRV_U)
  nop
  RETURN_TO_M
  la t0, s_trap_handler
  csrw stvec, t0
  csrw mideleg, zero
  ASSERT_SCAUSE(INT(IRQ_S_SOFT))
  ASSERT_MEM(vec_hits, 8, IRQ_S_SOFT)   /* entered at base + 4*1 */
  li t0, MIP_SSIP
  csrc mip, t0
  csrw mie, zero

  /* ---- WFI ---- */
  TEST_CASE                          /* pending + enabled in mie wakes WFI even with MIE = 0 */
  RESET_TRAPS
  li t0, MIP_MSIP
  csrs mie, t0
  set_msip 1
  wfi
  ASSERT_MCOUNT(0)
  set_msip 0
  csrw mie, zero
  TEST_CASE                          /* WFI until the timer fires */
  RESET_TRAPS
  li t0, MIP_MTIP
  csrs mie, t0
  set_timer_in 1000
  li t2, 100000                      /* WFI may wake early: wait again, bounded */
4:csrr t0, mip
  andi t0, t0, MIP_MTIP
  bnez t0, 5f
  wfi
  addi t2, t2, -1
  bnez t2, 4b
5:ASSERT_CSR(mip, MIP_MTIP, MIP_MTIP)
  ASSERT_MCOUNT(0)
  TEST_CASE                          /* ... and then the interrupt is taken with MIE */
  csrsi mstatus, MSTATUS_MIE
  nop
  csrci mstatus, MSTATUS_MIE
  ASSERT_MCAUSE(INT(IRQ_M_TIMER))
  timer_off
  csrw mie, zero

TEST_END

  .text
  .align 6
  /* each entry records its index in vec_hits[0] (M) or vec_hits[1] (S)
   * and continues in the common handler */
mvec_table:
  .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
  j mvec_\i
  .endr
  .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
mvec_\i:
  csrrw t0, mscratch, t0
  sd t1, REC_SAVE1(t0)
  la t1, vec_hits
  sd t0, 16(t1)
  li t0, \i
  sd t0, 0(t1)
  ld t0, 16(t1)
  ld t1, REC_SAVE1(t0)
  csrrw t0, mscratch, t0
  j m_trap_handler
  .endr
  .align 6
svec_table:
  .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
  j svec_\i
  .endr
  .irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
svec_\i:
  csrrw t0, sscratch, t0
  sd t1, REC_SAVE1(t0)
  la t1, vec_hits
  sd t0, 16(t1)
  li t0, \i
  sd t0, 8(t1)
  ld t0, 16(t1)
  ld t1, REC_SAVE1(t0)
  csrrw t0, sscratch, t0
  j s_trap_handler
  .endr
  .data
  .align 3
vec_hits: .dword 0, 0, 0
