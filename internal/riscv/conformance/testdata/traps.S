/* traps.S - synchronous exceptions: ECALL from each mode, EBREAK,
 * illegal instructions (mtval = bits), access faults, xRET state
 * changes, delegation to S-mode, vectored mtvec, TW/TSR/TVM. */
#include "test.h"

TEST_BEGIN

  /* ---- ECALL from M, S and U; EBREAK ---- */
  TEST_TRAP(CAUSE_ECALL_M, 0, ecall)
  ASSERT_MSTATUS_REC(MSTATUS_MPP, MSTATUS_MPP_M)
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ECALL_S, 0, ecall)
  ASSERT_MSTATUS_REC(MSTATUS_MPP, MSTATUS_MPP_S)
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_ECALL_U, 0, ecall)
  ASSERT_MSTATUS_REC(MSTATUS_MPP, 0)
  TEST_TRAP_NOTVAL(CAUSE_BREAKPOINT, ebreak)
  ENTER_MODE(PRV_U)
  TEST_TRAP_NOTVAL(CAUSE_BREAKPOINT, ebreak)
  ASSERT_MSTATUS_REC(MSTATUS_MPP, 0)
  /* the trap handler is entered with MIE cleared and MPIE = old MIE */
  TEST_CASE
  csrsi mstatus, MSTATUS_MIE
  TEST_TRAP(CAUSE_ECALL_M, 0, ecall)
  ASSERT_MSTATUS_REC(MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MPIE)
  csrci mstatus, MSTATUS_MIE
  TEST_TRAP(CAUSE_ECALL_M, 0, ecall)
  ASSERT_MSTATUS_REC(MSTATUS_MIE | MSTATUS_MPIE, 0)

  /* ---- illegal instructions: mtval holds the instruction bits ---- */
  TEST_TRAP(CAUSE_ILLEGAL, 0xfe000033, .word 0xfe000033)    /* OP, funct7 1111111 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x0000000b, .word 0x0000000b)    /* custom-0 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x44005013, .word 0x44005013)    /* shift-immediate funct6 010001 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x0200101b, .word 0x0200101b)    /* slliw with shamt[5] set */
  TEST_TRAP(CAUSE_ILLEGAL, 0x00007003, .word 0x00007003)    /* load funct3 111 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x00004023, .word 0x00004023)    /* store funct3 100 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x00002063, .word 0x00002063)    /* branch funct3 010 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x00001067, .word 0x00001067)    /* jalr funct3 001 */
  TEST_TRAP(CAUSE_ILLEGAL, 0xf800302f, .word 0xf800302f)    /* AMO funct5 11111 */
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ILLEGAL, 0x30200073, mret)                /* MRET from S */
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_ILLEGAL, 0x30200073, mret)
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_ILLEGAL, 0x10200073, sret)                /* SRET from U */
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_ILLEGAL, 0x12000073, sfence.vma)          /* SFENCE.VMA from U */
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_ILLEGAL, 0x10500073, wfi)                 /* WFI from U (S exists) */

  /* ---- access faults on unmapped physical addresses ---- */
  TEST_CASE
  li s1, 0
  li s2, 0x100000000000
  TEST_TRAP(CAUSE_LOAD_ACCESS, 0, ld a0, 0(s1))
  TEST_TRAP(CAUSE_LOAD_ACCESS, 0x100000000000, lw a0, 0(s2))
  TEST_TRAP(CAUSE_LOAD_ACCESS, 0x100000000008, lbu a0, 8(s2))
  TEST_TRAP(CAUSE_STORE_ACCESS, 0, sd a0, 0(s1))
  TEST_TRAP(CAUSE_STORE_ACCESS, 0x100000000004, sw a0, 4(s2))
  TEST_TRAP(CAUSE_LOAD_ACCESS, 0x100000000000, fld fa0, 0(s2))
  TEST_TRAP(CAUSE_STORE_ACCESS, 0x100000000000, fsw fa0, 0(s2))
  /* fetch: mepc and mtval are the target */
  TEST_CASE
  SET_RESUME(1f)
  jalr ra, 0(s1)
  j fail
1:ASSERT_MCAUSE(CAUSE_FETCH_ACCESS)
  ASSERT_MTVAL(0)
  ASSERT_MSTATUS_REC(MSTATUS_MPP, MSTATUS_MPP_M)
  ASSERT_MEM(trap_rec, REC_EPC, 0)   /* mepc = the target */
  TEST_CASE
  SET_RESUME(2f)
  jalr ra, 0(s2)
  j fail
2:ASSERT_MCAUSE(CAUSE_FETCH_ACCESS)
  ASSERT_MTVAL(0x100000000000)
  ASSERT_MEM(trap_rec, REC_EPC, 0x100000000000)
  /* the same from U-mode */
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_LOAD_ACCESS, 0x100000000000, ld a0, 0(s2))

  /* ---- MRET: MIE <- MPIE, MPIE <- 1, MPP <- U, MPRV cleared if not M ---- */
  TEST_CASE
  li t0, MSTATUS_MPP | MSTATUS_MIE
  csrc mstatus, t0
  li t0, MSTATUS_MPP_M | MSTATUS_MPIE
  csrs mstatus, t0
  la t0, 1f
  csrw mepc, t0
  mret
1:ASSERT_CSR(mstatus, MSTATUS_MPP | MSTATUS_MIE | MSTATUS_MPIE, MSTATUS_MIE | MSTATUS_MPIE)
  TEST_CASE
  csrci mstatus, MSTATUS_MIE
  li t0, MSTATUS_MPIE
  csrc mstatus, t0
  li t0, MSTATUS_MPP_M | MSTATUS_MPRV
  csrs mstatus, t0
  la t0, 2f
  csrw mepc, t0
  mret
2:ASSERT_CSR(mstatus, MSTATUS_MPP | MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPRV, MSTATUS_MPIE | MSTATUS_MPRV)
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  /* MRET to U clears MPRV (priv. spec 1.12); QEMU 7.2 keeps it set */
  JUICE_ONLY_BEGIN
  TEST_CASE
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  ENTER_MODE(PRV_U)
  RETURN_TO_M
  ASSERT_MCAUSE(CAUSE_ECALL_U)
  ASSERT_MSTATUS_REC(MSTATUS_MPRV, 0)
  JUICE_ONLY_END
  li t0, MSTATUS_MPRV
  csrc mstatus, t0

  /* ---- SRET: SIE <- SPIE, SPIE <- 1, SPP <- U, and to the SPP mode ---- */
  TEST_CASE
  ENTER_MODE(PRV_S)
  li t0, MSTATUS_SIE
  csrc sstatus, t0
  li t0, MSTATUS_SPP | MSTATUS_SPIE
  csrs sstatus, t0
  la t0, 3f
  csrw sepc, t0
  sret
3:csrr s3, sstatus                 /* still S: sstatus readable */
  RETURN_TO_M
  ASSERT_MCAUSE(CAUSE_ECALL_S)
  li t0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP
  and s3, s3, t0
  ASSERT_EQ(s3, MSTATUS_SIE | MSTATUS_SPIE)
  TEST_CASE                          /* SRET with SPP = U goes to U */
  ENTER_MODE(PRV_S)
  li t0, MSTATUS_SPP | MSTATUS_SIE | MSTATUS_SPIE
  csrc sstatus, t0
  la t0, 4f
  csrw sepc, t0
  sret
4:RETURN_TO_M
  ASSERT_MCAUSE(CAUSE_ECALL_U)
  TEST_CASE                          /* SRET from M uses SPP too */
  li t0, MSTATUS_SPP
  csrs mstatus, t0
  la t0, 5f
  csrw sepc, t0
  sret
5:RETURN_TO_M
  ASSERT_MCAUSE(CAUSE_ECALL_S)

  /* ---- delegation to S-mode ---- */
  TEST_CASE
  RESET_TRAPS
  li t0, (1 << CAUSE_ECALL_U) | (1 << CAUSE_ILLEGAL) | (1 << CAUSE_BREAKPOINT) | (1 << CAUSE_LOAD_ACCESS)
  csrw medeleg, t0
  SET_S_RESUME(6f)
  li t0, MSTATUS_SIE
  csrs mstatus, t0                   /* SIE = 1 before the trap */
  ENTER_MODE(PRV_U)
7:ecall                              /* -> S handler, resumes at 6f in S */
  j fail
6:RETURN_TO_M
  ASSERT_SCOUNT(1)
  ASSERT_SCAUSE(CAUSE_ECALL_U)
  ASSERT_SEPC(7b)
  ASSERT_STVAL(0)
  ASSERT_MCAUSE(CAUSE_ECALL_S)       /* the ecall from S was not delegated */
  ASSERT_MCOUNT(1)
  TEST_CASE                          /* sstatus on entry: SPP = U, SPIE = 1, SIE = 0 */
  la t0, s_trap_rec
  ld a0, REC_STATUS(t0)
  li t1, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
  and a0, a0, t1
  ASSERT_EQ(a0, MSTATUS_SPIE)
  TEST_CASE                          /* illegal instruction from S, delegated: stval = bits */
  RESET_TRAPS
  SET_S_RESUME(8f)
  ENTER_MODE(PRV_S)
9:.word 0xfe000033
  j fail
8:RETURN_TO_M
  ASSERT_SCAUSE(CAUSE_ILLEGAL)
  ASSERT_STVAL(0xfe000033)
  ASSERT_SEPC(9b)
  TEST_CASE
  la t0, s_trap_rec
  ld a0, REC_STATUS(t0)
  andi a0, a0, MSTATUS_SPP
  ASSERT_EQ(a0, MSTATUS_SPP)         /* came from S */
  TEST_CASE                          /* access fault from S, delegated: stval = address */
  RESET_TRAPS
  SET_S_RESUME(10f)
  li s2, 0x100000000000
  ENTER_MODE(PRV_S)
11:ld a0, 16(s2)
  j fail
10:RETURN_TO_M
  ASSERT_SCAUSE(CAUSE_LOAD_ACCESS)
  ASSERT_STVAL(0x100000000010)
  ASSERT_SEPC(11b)
  /* traps taken in M-mode are never delegated */
  TEST_CASE
  RESET_TRAPS
  TEST_TRAP(CAUSE_ILLEGAL, 0xfe000033, .word 0xfe000033)
  ASSERT_SCOUNT(0)
  TEST_TRAP_NOTVAL(CAUSE_BREAKPOINT, ebreak)
  ASSERT_SCOUNT(0)
  /* not-delegated causes from U still go to M */
  TEST_CASE
  ENTER_MODE(PRV_U)
  TEST_TRAP(CAUSE_STORE_ACCESS, 0x100000000000, sd a0, 0(s2))
  ASSERT_SCOUNT(0)
  csrw medeleg, zero

  /* ---- vectored mtvec: exceptions still go to the base ---- */
  TEST_CASE
  la t0, vec_table
  ori t0, t0, 1
  csrw mtvec, t0
  la t0, vec_hits
  sd zero, 0(t0)
  TEST_TRAP(CAUSE_ECALL_M, 0, ecall)
  TEST_CASE                           /* entry 0 was used */
  la t0, vec_hits
  ld a0, 0(t0)
  ASSERT_REGEQ(a0, t0)
  la t0, m_trap_handler
  csrw mtvec, t0
  TEST_CASE                           /* vectored stvec, delegated exception */
  la t0, svec_table
  ori t0, t0, 1
  csrw stvec, t0
  li t0, 1 << CAUSE_ECALL_U
  csrw medeleg, t0
  la t0, vec_hits
  sd zero, 8(t0)
  SET_S_RESUME(12f)
  ENTER_MODE(PRV_U)
  ecall
  j fail
12:RETURN_TO_M
  TEST_CASE
  la t0, vec_hits
  ld a0, 8(t0)
  ASSERT_REGEQ(a0, t0)
  ASSERT_SCAUSE(CAUSE_ECALL_U)
  la t0, s_trap_handler
  csrw stvec, t0
  csrw medeleg, zero

  /* ---- TW, TSR, TVM ---- */
  TEST_CASE
  li t0, MSTATUS_TW
  csrs mstatus, t0
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ILLEGAL, 0x10500073, wfi)
  li t0, MSTATUS_TW
  csrc mstatus, t0
  TEST_CASE                           /* TW=0: WFI in S completes (an interrupt is pending) */
  csrci mstatus, MSTATUS_SIE          /* pending but not taken */
  li t0, MIP_SSIP
  csrw mideleg, t0
  csrs mie, t0
  csrs mip, t0
  ENTER_MODE(PRV_S)
  wfi
  RETURN_TO_M
  ASSERT_MCAUSE(CAUSE_ECALL_S)
  li t0, MIP_SSIP
  csrc mip, t0
  csrc mie, t0
  csrw mideleg, zero
  TEST_CASE
  li t0, MSTATUS_TSR
  csrs mstatus, t0
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ILLEGAL, 0x10200073, sret)
  li t0, MSTATUS_TSR
  csrc mstatus, t0
  TEST_CASE
  li t0, MSTATUS_TVM
  csrs mstatus, t0
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ILLEGAL, 0x18002573, csrr a0, satp)
  ENTER_MODE(PRV_S)
  TEST_TRAP(CAUSE_ILLEGAL, 0x12000073, sfence.vma)
  TEST_CASE                           /* TVM does not affect M */
  csrr a0, satp
  sfence.vma
  li t0, MSTATUS_TVM
  csrc mstatus, t0
  ENTER_MODE(PRV_S)
  csrr a0, satp
  sfence.vma
  RETURN_TO_M
  ASSERT_MCAUSE(CAUSE_ECALL_S)

TEST_END

  .text
  .align 6
vec_table:                  /* mtvec vectored: entry 0 = exceptions */
  j vec_exc
  .rept 15
  j fail
  .endr
vec_exc:                    /* mark vec_hits[0] (with its own address) */
  csrrw t0, mscratch, t0
  sd t1, REC_SAVE1(t0)
  la t1, vec_hits
  sd t1, 0(t1)
  ld t1, REC_SAVE1(t0)
  csrrw t0, mscratch, t0
  j m_trap_handler

  .align 6
svec_table:
  j svec_exc
  .rept 15
  j fail
  .endr
svec_exc:                   /* mark vec_hits[1] */
  csrrw t0, sscratch, t0
  sd t1, REC_SAVE1(t0)
  la t1, vec_hits
  sd t1, 8(t1)
  ld t1, REC_SAVE1(t0)
  csrrw t0, sscratch, t0
  j s_trap_handler

  .data
  .align 3
vec_hits: .dword 0, 0, 0
