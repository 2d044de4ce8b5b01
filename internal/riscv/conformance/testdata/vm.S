/* vm.S - Sv39 and Sv48 address translation.  The whole suite runs twice,
 * first with Sv39 then with Sv48 (test numbers of the Sv48 run follow
 * those of the Sv39 run; both map to the same source lines).
 *
 * Virtual layout (the same tables serve both modes: under Sv48 the root
 * points at the Sv39 root for VA[47:39] = 0 and 1):
 *   0x0_8000_0000  1 GiB  identity, S-only RWX   (code, data, tables)
 *   0x0_C000_0000  1 GiB  -> 0x8000_0000, S-only RW
 *   0x1_0000_0000  1 GiB  misaligned gigapage (PPN[1] != 0)
 *   0x0_4000_0000  2 MiB  -> 0x8000_0000, U RWX  (user alias of the program)
 *   0x0_4020_0000  4 KiB pages, see pt_l0 below
 *   0x0_4040_0000  2 MiB  misaligned megapage (PPN[0] != 0)
 *   0x0_4060_0000  2 MiB  reserved W-without-R leaf
 *   0x80_8000_0000 (Sv48 only) the identity gigapage again
 */
#include "test.h"

#define MSTATUS_MPP_U 0

#define UALIAS 0x40000000          /* link address - UALIAS = user alias */
#define GALIAS 0x40000000          /* link address + GALIAS = 0xC000_0000 alias */
#define PG(i) (0x40200000 + (i) * 0x1000)

/* PTE for physical address in reg `pa` (clobbered) with flags */
.macro mkpte pa, flags
  srli \pa, \pa, 12
  slli \pa, \pa, 10
  ori \pa, \pa, \flags
.endm
/* table[idx] = PTE(label, flags) */
.macro set_pte table, idx, label, flags
  la t0, \label
  mkpte t0, \flags
  la t1, \table
  sd t0, (\idx * 8)(t1)
.endm
/* table[idx] = PTE(label + off, flags) */
.macro set_pte_off table, idx, label, off, flags
  la t0, \label
  li t1, \off
  add t0, t0, t1
  mkpte t0, \flags
  la t1, \table
  sd t0, (\idx * 8)(t1)
.endm

#define LEAF_RWX (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define LEAF_RW  (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)

.macro build_tables
  set_pte pt_root48, 0, pt_root39, PTE_V
  set_pte pt_root48, 1, pt_root39, PTE_V
  set_pte pt_root39, 1, pt_l1, PTE_V
  set_pte_off pt_root39, 2, _start, 0, LEAF_RWX
  set_pte_off pt_root39, 3, _start, 0, LEAF_RW
  set_pte_off pt_root39, 4, _start, 0x1000000, LEAF_RW
  set_pte_off pt_l1, 0, _start, 0, LEAF_RWX | PTE_U
  set_pte pt_l1, 1, pt_l0, PTE_V
  set_pte_off pt_l1, 2, _start, 0x1000, LEAF_RW
  set_pte_off pt_l1, 3, _start, 0, PTE_V | PTE_W | PTE_A | PTE_D
  set_pte pt_l0, 0, vm_data, PTE_V | PTE_R | PTE_A
  set_pte pt_l0, 1, vm_data, LEAF_RW & ~PTE_V
  set_pte pt_l0, 2, vm_data, PTE_V | PTE_R | PTE_W
  set_pte pt_l0, 3, vm_data, PTE_V | PTE_X | PTE_A
  set_pte pt_l0, 4, vm_data, LEAF_RW | PTE_U
  set_pte pt_l0, 5, vm_code, PTE_V | PTE_R | PTE_A
  set_pte pt_l0, 6, vm_code, PTE_V | PTE_X | PTE_A
  set_pte pt_l0, 7, vm_data, LEAF_RW
.endm

/* satp value for mode with the right root */
.macro load_satp reg, mode
  .if \mode == SATP_MODE_SV39
  la \reg, pt_root39
  .else
  la \reg, pt_root48
  .endif
  srli \reg, \reg, 12
  li t0, (\mode << 60)
  or \reg, \reg, t0
.endm

/* enter U-mode at the user alias of label */
.macro goto_user label
  li t6, MSTATUS_MPP | MSTATUS_MPIE
  csrc mstatus, t6
  la t6, \label
  li t5, UALIAS
  sub t6, t6, t5
  csrw mepc, t6
  mret
.endm

.macro vm_suite mode
  build_tables
  load_satp s11, \mode
  csrw satp, s11
  sfence.vma
  csrr a0, satp
  ASSERT_REGEQ(a0, s11)
  /* unsupported modes: the whole write is ignored.  Sv57 (10) is
   * unsupported on Juice only (QEMU 7.2 implements it); 11 (Sv64) and
   * the reserved 1 are unsupported on both. */
  JUICE_ONLY_BEGIN
  TEST_CASE
  li t0, (SATP_MODE_SV57 << 60)
  or t0, t0, s11
  csrw satp, t0
  csrr a0, satp
  ASSERT_REGEQ(a0, s11)
  JUICE_ONLY_END
  TEST_CASE
  li t0, (11 << 60)
  or t0, t0, s11
  csrw satp, t0
  csrr a0, satp
  ASSERT_REGEQ(a0, s11)
  TEST_CASE
  li t0, (1 << 60)
  csrw satp, t0
  csrr a0, satp
  ASSERT_REGEQ(a0, s11)
  csrw satp, s11

  la s0, vm_data
  ld s10, 0(s0)                       /* expected contents */

  /* ---- identity gigapage (S code runs here) and the 0xC000_0000 alias ---- */
  TEST_CASE
  ENTER_MODE(PRV_S)
  ld a0, 0(s0)
  li t0, GALIAS
  add s1, s0, t0
  ld a1, 0(s1)
  li t0, 0x5a5a
  sd t0, 8(s1)                        /* store through the alias */
  ld a2, 8(s0)
  RETURN_TO_M
  ASSERT_EQ(a0, 0x1111)
  ASSERT_EQ(a1, 0x1111)
  ASSERT_EQ(a2, 0x5a5a)
  ASSERT_MCAUSE(CAUSE_ECALL_S)
  /* the alias is not executable */
  TEST_CASE
  la s1, vm_code
  li t0, GALIAS
  add s1, s1, t0
  ENTER_MODE(PRV_S)
  TEST_FETCH_TRAP(CAUSE_FETCH_PAGE_FAULT, s1)

  /* ---- 4 KiB pages: permissions ---- */
  TEST_CASE
  li s1, PG(0)                        /* R only */
  ENTER_MODE(PRV_S)
  ld a0, 0(s1)
  RETURN_TO_M
  ASSERT_EQ(a0, 0x1111)
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_STORE_PAGE_FAULT, s1, sd a0, 0(s1))
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_STORE_PAGE_FAULT, s1, amoadd.d a0, a0, (s1))
  TEST_CASE
  li s1, PG(1) + 0x18                 /* V = 0 */
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_LOAD_PAGE_FAULT, s1, ld a0, 0(s1))
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_STORE_PAGE_FAULT, s1, sw a0, 0(s1))
  TEST_CASE
  li s1, PG(3)                        /* X only */
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_LOAD_PAGE_FAULT, s1, ld a0, 0(s1))
  TEST_CASE
  li t0, MSTATUS_MXR                  /* MXR: X-only pages readable */
  csrs mstatus, t0
  ENTER_MODE(PRV_S)
  ld a0, 0(s1)
  RETURN_TO_M
  ASSERT_EQ(a0, 0x1111)
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_STORE_PAGE_FAULT, s1, sd a0, 0(s1))
  li t0, MSTATUS_MXR
  csrc mstatus, t0
  /* fetch needs X */
  TEST_CASE
  li s1, PG(5)
  ENTER_MODE(PRV_S)
  TEST_FETCH_TRAP(CAUSE_FETCH_PAGE_FAULT, s1)
  TEST_CASE
  li s1, PG(6)
  ENTER_MODE(PRV_S)
  jalr ra, 0(s1)                      /* vm_code: li a0, 77; ret */
  RETURN_TO_M
  ASSERT_EQ(a0, 77)

  /* ---- invalid encodings and misaligned superpages ---- */
  TEST_CASE
  li s1, 0x40600010                   /* W without R */
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_LOAD_PAGE_FAULT, s1, ld a0, 0(s1))
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_STORE_PAGE_FAULT, s1, sd a0, 0(s1))
  TEST_CASE
  li s1, 0x40400008                   /* misaligned megapage */
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_LOAD_PAGE_FAULT, s1, ld a0, 0(s1))
  TEST_CASE
  li s1, 0x100000020                  /* misaligned gigapage */
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_LOAD_PAGE_FAULT, s1, lw a0, 0(s1))
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_STORE_PAGE_FAULT, s1, sw a0, 0(s1))

  /* ---- non-canonical addresses ---- */
  TEST_CASE
  .if \mode == SATP_MODE_SV39
  li s1, 0x0000004000000000           /* bit 38 set, 63:39 clear */
  .else
  li s1, 0x0000800000000000           /* bit 47 set, 63:48 clear */
  .endif
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_LOAD_PAGE_FAULT, s1, ld a0, 0(s1))
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_STORE_PAGE_FAULT, s1, sd a0, 0(s1))
  ENTER_MODE(PRV_S)
  TEST_FETCH_TRAP(CAUSE_FETCH_PAGE_FAULT, s1)
  TEST_CASE
  li s1, 0xffffffff80000000 ^ 0x8000000000000000  /* top bit flipped */
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_LOAD_PAGE_FAULT, s1, ld a0, 0(s1))
  /* VA bit 39 set: canonical only under Sv48, where it maps the identity */
  TEST_CASE
  li t0, 0x8000000000
  add s1, s0, t0
  .if \mode == SATP_MODE_SV39
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_LOAD_PAGE_FAULT, s1, ld a0, 0(s1))
  .else
  ENTER_MODE(PRV_S)
  ld a0, 0(s1)
  RETURN_TO_M
  ASSERT_EQ(a0, 0x1111)
  .endif

  /* ---- U bit, SUM ---- */
  TEST_CASE
  li s1, PG(4)                        /* U page */
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_LOAD_PAGE_FAULT, s1, ld a0, 0(s1))
  ENTER_MODE(PRV_S)
  TEST_TRAP_R(CAUSE_STORE_PAGE_FAULT, s1, sd a0, 0(s1))
  TEST_CASE
  li t0, MSTATUS_SUM
  csrs mstatus, t0
  ENTER_MODE(PRV_S)
  ld a0, 0(s1)
  sd a0, 16(s1)
  RETURN_TO_M
  ASSERT_EQ(a0, 0x1111)
  /* S never executes from U pages, even with SUM */
  TEST_CASE
  la s2, vm_code
  li t0, UALIAS
  sub s2, s2, t0
  ENTER_MODE(PRV_S)
  TEST_FETCH_TRAP(CAUSE_FETCH_PAGE_FAULT, s2)
  li t0, MSTATUS_SUM
  csrc mstatus, t0
  /* U-mode: runs from the U alias, reaches U pages only */
  TEST_CASE
  li s1, PG(4)
  li a0, 0
  li a1, 0
  SET_RESUME(1f)
  goto_user 2f
2:ld a0, 0(s1)
  ecall
  j fail
1:ASSERT_MCAUSE(CAUSE_ECALL_U)
  ASSERT_EQ(a0, 0x1111)
  TEST_CASE
  la s1, vm_data                      /* identity: not U */
  SET_RESUME(3f)
  goto_user 4f
4:ld a0, 0(s1)
  j fail
3:ASSERT_MCAUSE(CAUSE_LOAD_PAGE_FAULT)
  TEST_CASE
  la t0, trap_rec
  ld t1, REC_TVAL(t0)
  ASSERT_REGEQ(t1, s1)
  TEST_CASE
  SET_RESUME(5f)                      /* U fetch from a non-U page */
  GOTO_MODE(PRV_U, 6f)
6:j fail
5:ASSERT_MCAUSE(CAUSE_FETCH_PAGE_FAULT)
  TEST_CASE
  la t0, trap_rec
  ld t1, REC_TVAL(t0)
  la t2, 6b
  ASSERT_REGEQ(t1, t2)
  /* MXR does not let U read S pages; SUM does not matter for U */
  TEST_CASE
  li t0, MSTATUS_SUM | MSTATUS_MXR
  csrs mstatus, t0
  SET_RESUME(7f)
  goto_user 8f
8:ld a0, 0(s1)
  j fail
7:ASSERT_MCAUSE(CAUSE_LOAD_PAGE_FAULT)
  li t0, MSTATUS_SUM | MSTATUS_MXR
  csrc mstatus, t0

  /* ---- A and D set by hardware ---- */
  TEST_CASE
  la t0, pt_l0
  ld t1, 16(t0)
  andi t1, t1, PTE_A | PTE_D
  ASSERT_EQ(t1, 0)
  li s1, PG(2)
  ENTER_MODE(PRV_S)
  ld a0, 0(s1)
  RETURN_TO_M
  ASSERT_EQ(a0, 0x1111)
  la t0, pt_l0
  ld t1, 16(t0)
  andi t1, t1, PTE_A | PTE_D
  ASSERT_EQ(t1, PTE_A)
  TEST_CASE
  ENTER_MODE(PRV_S)
  sd s10, 0(s1)
  RETURN_TO_M
  la t0, pt_l0
  ld t1, 16(t0)
  andi t1, t1, PTE_A | PTE_D
  ASSERT_EQ(t1, PTE_A | PTE_D)
  TEST_CASE                           /* store first: A and D together */
  set_pte pt_l0, 2, vm_data, PTE_V | PTE_R | PTE_W
  sfence.vma
  ENTER_MODE(PRV_S)
  sd s10, 0(s1)
  RETURN_TO_M
  la t0, pt_l0
  ld t1, 16(t0)
  andi t1, t1, PTE_A | PTE_D
  ASSERT_EQ(t1, PTE_A | PTE_D)

  /* ---- SFENCE.VMA makes a changed PTE visible ---- */
  TEST_CASE
  li s1, PG(7)
  ENTER_MODE(PRV_S)
  ld a0, 0(s1)
  RETURN_TO_M
  ASSERT_EQ(a0, 0x1111)
  set_pte pt_l0, 7, vm_data2, LEAF_RW
  ENTER_MODE(PRV_S)
  sfence.vma
  ld a0, 0(s1)
  RETURN_TO_M
  ASSERT_EQ(a0, 0x2222)
  set_pte pt_l0, 7, vm_data, LEAF_RW
  ENTER_MODE(PRV_S)
  sfence.vma zero, s1                 /* by address */
  ld a0, 0(s1)
  RETURN_TO_M
  ASSERT_EQ(a0, 0x1111)

  /* ---- delegated page fault: S handler sees stval = VA ---- */
  TEST_CASE
  RESET_TRAPS
  li t0, 1 << CAUSE_LOAD_PAGE_FAULT
  csrw medeleg, t0
  li s1, PG(1) + 0x28
  SET_S_RESUME(9f)
  ENTER_MODE(PRV_S)
10:ld a0, 0(s1)
  j fail
9:RETURN_TO_M
  csrw medeleg, zero
  ASSERT_SCAUSE(CAUSE_LOAD_PAGE_FAULT)
  ASSERT_SEPC(10b)
  TEST_CASE
  la t0, s_trap_rec
  ld t1, REC_TVAL(t0)
  ASSERT_REGEQ(t1, s1)

  /* ---- MPRV: M-mode loads and stores through the page table ---- */
  TEST_CASE
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, MSTATUS_MPP_S | MSTATUS_MPRV
  csrs mstatus, t0
  li t0, GALIAS
  add s1, s0, t0
  ld a0, 0(s1)                        /* 0xC000_0000 alias */
  li s2, PG(4)
  li a1, 0
  SET_RESUME(11f)                     /* (the handler runs with MPP = M) */
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, MSTATUS_MPP_S | MSTATUS_MPRV
  csrs mstatus, t0
12:ld a1, 0(s2)                       /* U page, SUM = 0 */
  j fail
11:li t0, MSTATUS_MPRV
  csrc mstatus, t0
  ASSERT_EQ(a0, 0x1111)
  ASSERT_MCAUSE(CAUSE_LOAD_PAGE_FAULT)
  ASSERT_MTVAL(PG(4))
  ASSERT_MEPC(12b)
  TEST_CASE                           /* MPRV does not affect fetches */
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, MSTATUS_MPP_U | MSTATUS_MPRV
  csrs mstatus, t0
  jal ra, vm_code                     /* U-mode would fault: not a U page */
  li t0, MSTATUS_MPRV
  csrc mstatus, t0
  ASSERT_EQ(a0, 77)

  /* ---- back to Bare ---- */
  TEST_CASE
  csrw satp, zero
  sfence.vma
  ASSERT_CSR(satp, -1, 0)
  ENTER_MODE(PRV_S)
  ld a0, 0(s0)
  RETURN_TO_M
  ASSERT_EQ(a0, 0x1111)
  /* restore the PTEs changed above for the next run */
  set_pte pt_l0, 2, vm_data, PTE_V | PTE_R | PTE_W
  sfence.vma
.endm


TEST_BEGIN
  vm_suite SATP_MODE_SV39
  vm_suite SATP_MODE_SV48
TEST_END

  .text
  .align 12
vm_code:
  li a0, 77
  ret
  .align 12

  .data
  .align 12
pt_root48: .zero 4096
pt_root39: .zero 4096
pt_l1:     .zero 4096
pt_l0:     .zero 4096
vm_data:   .dword 0x1111
  .zero 4088
vm_data2:  .dword 0x2222
  .zero 4088
