/*
 * test.h - shared environment and check macros for Juice's bare-metal
 * conformance programs.  Written for this project from the RISC-V ISA
 * manuals (unprivileged and privileged, v20191213 / 1.12).
 *
 * Conventions
 *  - Each program includes this file once, at its top, then writes its
 *    body between TEST_BEGIN and TEST_END.
 *  - Execution starts at _start (0x80000000) in M-mode.  The startup code
 *    sets up mtvec/stvec handlers, the stack, PMP (one all-covering
 *    region so that S/U accesses are allowed on implementations with
 *    effective PMP), FS=Initial and a zeroed fcsr, then jumps to the body.
 *  - Every check macro allocates a fresh test number, records
 *    (testnum, source line) in the non-allocated .testmap section and
 *    loads the number into gp (x3).  gp is reserved: programs must not
 *    write it.  Numbers that are 255 or 0 modulo 256 are skipped: an
 *    8-bit exit status (QEMU) must never read as 0 (= pass) on failure,
 *    and 255 marks a failure before the first check (gp's initial value).
 *  - On pass the program writes 1 to tohost, on failure (gp << 1) | 1.
 *  - t6 (x31) and t5 (x30) are scratch for the check macros; do not
 *    assert on them.
 *  - Comments use C syntax: the file is run through the C preprocessor.
 *
 * Trap handling
 *  The M-mode handler (and the S-mode one, when traps are delegated)
 *  records cause/tval/epc/status in trap_rec (s_trap_rec) and then:
 *   - interrupt: clears the interrupt's enable bit in mie (sie) so it
 *     does not fire again, and returns to the interrupted instruction;
 *   - exception with REC_RESUME == 0: unexpected, goes to fail;
 *   - exception with REC_RESUME == 1: skips the trapping instruction
 *     (2 or 4 bytes, read at epc) and returns to the same mode;
 *   - exception with REC_RESUME == address: returns to that address in
 *     M-mode (S-mode for the S handler), clearing REC_RESUME.
 */
#ifndef JUICE_CONFORMANCE_TEST_H
#define JUICE_CONFORMANCE_TEST_H

/* ---- CSR field constants ---- */
#define MSTATUS_SIE   0x2
#define MSTATUS_MIE   0x8
#define MSTATUS_SPIE  0x20
#define MSTATUS_UBE   0x40
#define MSTATUS_MPIE  0x80
#define MSTATUS_SPP   0x100
#define MSTATUS_VS    0x600
#define MSTATUS_MPP   0x1800
#define MSTATUS_MPP_S 0x0800
#define MSTATUS_MPP_M 0x1800
#define MSTATUS_FS    0x6000
#define MSTATUS_FS_INITIAL 0x2000
#define MSTATUS_FS_CLEAN   0x4000
#define MSTATUS_FS_DIRTY   0x6000
#define MSTATUS_XS    0x18000
#define MSTATUS_MPRV  0x20000
#define MSTATUS_SUM   0x40000
#define MSTATUS_MXR   0x80000
#define MSTATUS_TVM   0x100000
#define MSTATUS_TW    0x200000
#define MSTATUS_TSR   0x400000
#define MSTATUS_UXL   0x300000000
#define MSTATUS_SXL   0xc00000000
#define MSTATUS_SD    0x8000000000000000

#define CAUSE_MISALIGNED_FETCH  0
#define CAUSE_FETCH_ACCESS      1
#define CAUSE_ILLEGAL           2
#define CAUSE_BREAKPOINT        3
#define CAUSE_MISALIGNED_LOAD   4
#define CAUSE_LOAD_ACCESS       5
#define CAUSE_MISALIGNED_STORE  6
#define CAUSE_STORE_ACCESS      7
#define CAUSE_ECALL_U           8
#define CAUSE_ECALL_S           9
#define CAUSE_ECALL_M           11
#define CAUSE_FETCH_PAGE_FAULT  12
#define CAUSE_LOAD_PAGE_FAULT   13
#define CAUSE_STORE_PAGE_FAULT  15

#define INTERRUPT_BIT 0x8000000000000000
#define IRQ_S_SOFT  1
#define IRQ_M_SOFT  3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7
#define IRQ_S_EXT   9
#define IRQ_M_EXT   11
#define MIP_SSIP (1 << IRQ_S_SOFT)
#define MIP_MSIP (1 << IRQ_M_SOFT)
#define MIP_STIP (1 << IRQ_S_TIMER)
#define MIP_MTIP (1 << IRQ_M_TIMER)
#define MIP_SEIP (1 << IRQ_S_EXT)
#define MIP_MEIP (1 << IRQ_M_EXT)

#define PTE_V 0x01
#define PTE_R 0x02
#define PTE_W 0x04
#define PTE_X 0x08
#define PTE_U 0x10
#define PTE_G 0x20
#define PTE_A 0x40
#define PTE_D 0x80

#define SATP_MODE_SV39 8
#define SATP_MODE_SV48 9
#define SATP_MODE_SV57 10

#define CLINT_MSIP      0x02000000
#define CLINT_MTIMECMP  0x02004000
#define CLINT_MTIME     0x0200BFF8

#define PRV_U 0
#define PRV_S 1
#define PRV_M 3

/* ---- trap record layout (trap_rec for M, s_trap_rec for S) ---- */
#define REC_SAVE1  0
#define REC_SAVE2  8
#define REC_SAVE3  16
#define REC_COUNT  24
#define REC_CAUSE  32
#define REC_TVAL   40
#define REC_EPC    48
#define REC_STATUS 56
#define REC_RESUME 64
#define REC_PREV   72   /* cause of the trap before the last one */
#define REC_SIZE   80

/* =====================================================================
 * Test numbering
 * ===================================================================== */
.set TESTNUM, 0

.macro next_test line
  .set TESTNUM, TESTNUM + 1
  .if (TESTNUM % 256) == 255
  .set TESTNUM, TESTNUM + 2
  .endif
  .pushsection .testmap, "", @progbits
  .4byte TESTNUM
  .4byte \line
  .popsection
  li gp, TESTNUM
.endm

/* branch to fail unless a == b / a != b (fail may be out of branch range) */
.macro fail_ne a, b
  beq \a, \b, .Lfne\@
  j fail
.Lfne\@:
.endm
.macro fail_eq a, b
  bne \a, \b, .Lfeq\@
  j fail
.Lfeq\@:
.endm

/* Starts a hand-written check: allocates a number for the code after it. */
#define TEST_CASE next_test __LINE__

/* Fails unless register reg holds val (reg must not be t6). */
.macro assert_eq line, reg, val
  next_test \line
  li t6, \val
  fail_ne \reg, t6
.endm
#define ASSERT_EQ(reg, val) assert_eq __LINE__, reg, (val)

/* Fails unless registers a and b are equal. */
.macro assert_regeq line, a, b
  next_test \line
  fail_ne \a, \b
.endm
#define ASSERT_REGEQ(a, b) assert_regeq __LINE__, a, b

/* Fails unless register reg holds the address of label. */
.macro assert_addr line, reg, label
  next_test \line
  la t6, \label
  fail_ne \reg, t6
.endm
#define ASSERT_ADDR(reg, label) assert_addr __LINE__, reg, label

/* Fails unless (csr & mask) == val. Clobbers t5. */
.macro assert_csr line, csr, mask, val
  next_test \line
  csrr t5, \csr
  li t6, \mask
  and t5, t5, t6
  li t6, \val
  fail_ne t5, t6
.endm
#define ASSERT_CSR(csr, mask, val) assert_csr __LINE__, csr, (mask), (val)

/* Fails unless the 64-bit word at label+off equals val. Clobbers t5. */
.macro assert_mem line, label, off, val
  next_test \line
  la t5, \label
  ld t5, \off(t5)
  li t6, \val
  fail_ne t5, t6
.endm
#define ASSERT_MEM(label, off, val) assert_mem __LINE__, label, off, (val)

/* =====================================================================
 * Integer checks
 * ===================================================================== */
/* rd = op rs1, rs2 */
.macro test_rr line, op, res, a, b
  next_test \line
  li a1, \a
  li a2, \b
  \op a0, a1, a2
  li t6, \res
  fail_ne a0, t6
.endm
#define TEST_RR(op, res, a, b) test_rr __LINE__, op, (res), (a), (b)

/* rd = op rs1, imm */
.macro test_imm line, op, res, a, imm
  next_test \line
  li a1, \a
  \op a0, a1, \imm
  li t6, \res
  fail_ne a0, t6
.endm
#define TEST_IMM(op, res, a, imm) test_imm __LINE__, op, (res), (a), imm

/* rd = op rs1 (unary pseudo / single source) */
.macro test_r line, op, res, a
  next_test \line
  li a1, \a
  \op a0, a1
  li t6, \res
  fail_ne a0, t6
.endm
#define TEST_R(op, res, a) test_r __LINE__, op, (res), (a)

/* a0 = load off(label) */
.macro test_load line, op, res, label, off
  next_test \line
  la a1, \label
  \op a0, \off(a1)
  li t6, \res
  fail_ne a0, t6
.endm
#define TEST_LOAD(op, res, label, off) test_load __LINE__, op, (res), label, off

/* store val with st at off(label), read back with ld, expect res */
.macro test_store line, st, ld, res, val, label, off
  next_test \line
  la a1, \label
  li a2, \val
  \st a2, \off(a1)
  \ld a0, \off(a1)
  li t6, \res
  fail_ne a0, t6
.endm
#define TEST_STORE(st, ld, res, val, label, off) test_store __LINE__, st, ld, (res), (val), label, off

/* branch op a, b: taken must be 0 or 1 */
.macro test_br line, op, taken, a, b
  next_test \line
  li a1, \a
  li a2, \b
  li a0, 0
  \op a1, a2, .Lbt\@
  li a0, 2
  j .Lbd\@
.Lbt\@:
  li a0, 1
.Lbd\@:
  li t6, 2 - (\taken)
  fail_ne a0, t6
.endm
#define TEST_BR(op, taken, a, b) test_br __LINE__, op, taken, (a), (b)

/* =====================================================================
 * Trap checks (M-mode)
 * ===================================================================== */
/* Arrange for the next exception to return to label (in M-mode). */
.macro set_resume label
  la t6, \label
  la t5, trap_rec
  sd t6, REC_RESUME(t5)
  sd zero, REC_CAUSE(t5)
.endm
#define SET_RESUME(label) set_resume label

/* Arrange for the next exception to skip the trapping instruction. */
.macro set_skip
  li t6, 1
  la t5, trap_rec
  sd t6, REC_RESUME(t5)
  sd zero, REC_CAUSE(t5)
.endm
#define SET_SKIP set_skip

/* Stop expecting exceptions. */
.macro clear_resume
  la t5, trap_rec
  sd zero, REC_RESUME(t5)
.endm
#define CLEAR_RESUME clear_resume

/* Execute insn (one instruction or directive: GAS splits a line at ';'
 * before macro expansion) and expect an exception to M-mode with the
 * given mcause and mtval, mepc = first instruction. */
.macro test_trap line, cause, tval, insn:vararg
  next_test \line
  set_resume .Ltr\@
.Lti\@:
  \insn
  j fail
.Ltr\@:
  la t5, trap_rec
  ld t6, REC_CAUSE(t5)
  li t5, \cause
  fail_ne t5, t6
  la t5, trap_rec
  ld t6, REC_EPC(t5)
  la t5, .Lti\@
  fail_ne t5, t6
  la t5, trap_rec
  ld t6, REC_TVAL(t5)
  li t5, \tval
  fail_ne t5, t6
.endm
#define TEST_TRAP(cause, tval, ...) test_trap __LINE__, (cause), (tval), __VA_ARGS__

/* Same, but mtval is compared with register treg (not t5/t6). */
.macro test_trap_r line, cause, treg, insn:vararg
  next_test \line
  set_resume .Ltr\@
.Lti\@:
  \insn
  j fail
.Ltr\@:
  la t5, trap_rec
  ld t6, REC_CAUSE(t5)
  li t5, \cause
  fail_ne t5, t6
  la t5, trap_rec
  ld t6, REC_EPC(t5)
  la t5, .Lti\@
  fail_ne t5, t6
  la t5, trap_rec
  ld t6, REC_TVAL(t5)
  fail_ne \treg, t6
.endm
#define TEST_TRAP_R(cause, treg, ...) test_trap_r __LINE__, (cause), treg, __VA_ARGS__

/* Jump (jalr) to the address in treg and expect an instruction fetch
 * exception to M-mode with mepc = mtval = that address. */
.macro test_fetch_trap line, cause, treg
  next_test \line
  set_resume .Ltr\@
  jalr ra, 0(\treg)
  j fail
.Ltr\@:
  la t5, trap_rec
  ld t6, REC_CAUSE(t5)
  li t5, \cause
  fail_ne t5, t6
  la t5, trap_rec
  ld t6, REC_EPC(t5)
  fail_ne \treg, t6
  la t5, trap_rec
  ld t6, REC_TVAL(t5)
  fail_ne \treg, t6
.endm
#define TEST_FETCH_TRAP(cause, treg) test_fetch_trap __LINE__, (cause), treg

/* Same, without checking mtval. */
.macro test_trap_notval line, cause, insn:vararg
  next_test \line
  set_resume .Ltr\@
.Lti\@:
  \insn
  j fail
.Ltr\@:
  la t5, trap_rec
  ld t6, REC_CAUSE(t5)
  li t5, \cause
  fail_ne t5, t6
  la t5, trap_rec
  ld t6, REC_EPC(t5)
  la t5, .Lti\@
  fail_ne t5, t6
.endm
#define TEST_TRAP_NOTVAL(cause, ...) test_trap_notval __LINE__, (cause), __VA_ARGS__

/* Checks on the last recorded M-mode trap. */
#define ASSERT_MCAUSE(v)  assert_mem __LINE__, trap_rec, REC_CAUSE, (v)
#define ASSERT_MTVAL(v)   assert_mem __LINE__, trap_rec, REC_TVAL, (v)
#define ASSERT_MCOUNT(v)  assert_mem __LINE__, trap_rec, REC_COUNT, (v)
#define ASSERT_MPREV(v)   assert_mem __LINE__, trap_rec, REC_PREV, (v)
.macro assert_mepc line, label
  next_test \line
  la t5, trap_rec
  ld t5, REC_EPC(t5)
  la t6, \label
  fail_ne t5, t6
.endm
#define ASSERT_MEPC(label) assert_mepc __LINE__, label
/* (recorded mstatus & mask) == val */
.macro assert_mstatus_rec line, mask, val
  next_test \line
  la t5, trap_rec
  ld t5, REC_STATUS(t5)
  li t6, \mask
  and t5, t5, t6
  li t6, \val
  fail_ne t5, t6
.endm
#define ASSERT_MSTATUS_REC(mask, val) assert_mstatus_rec __LINE__, (mask), (val)

/* Checks on the last trap recorded by the S-mode handler. */
#define ASSERT_SCAUSE(v)  assert_mem __LINE__, s_trap_rec, REC_CAUSE, (v)
#define ASSERT_STVAL(v)   assert_mem __LINE__, s_trap_rec, REC_TVAL, (v)
#define ASSERT_SCOUNT(v)  assert_mem __LINE__, s_trap_rec, REC_COUNT, (v)
#define ASSERT_SPREV(v)   assert_mem __LINE__, s_trap_rec, REC_PREV, (v)
.macro assert_sepc line, label
  next_test \line
  la t5, s_trap_rec
  ld t5, REC_EPC(t5)
  la t6, \label
  fail_ne t5, t6
.endm
#define ASSERT_SEPC(label) assert_sepc __LINE__, label

/* Resetting the trap records (count, cause, tval, epc). */
.macro reset_traps
  la t5, trap_rec
  sd zero, REC_PREV(t5)
  sd zero, REC_COUNT(t5)
  sd zero, REC_CAUSE(t5)
  sd zero, REC_TVAL(t5)
  sd zero, REC_EPC(t5)
  sd zero, REC_RESUME(t5)
  la t5, s_trap_rec
  sd zero, REC_PREV(t5)
  sd zero, REC_COUNT(t5)
  sd zero, REC_CAUSE(t5)
  sd zero, REC_TVAL(t5)
  sd zero, REC_EPC(t5)
  sd zero, REC_RESUME(t5)
.endm
#define RESET_TRAPS reset_traps

/* S-handler resume control (used from M-mode setup code). */
.macro set_s_resume label
  la t6, \label
  la t5, s_trap_rec
  sd t6, REC_RESUME(t5)
  sd zero, REC_CAUSE(t5)
.endm
#define SET_S_RESUME(label) set_s_resume label

/* Switch to privilege mode `mode' (PRV_U/PRV_S/PRV_M) at label via MRET,
 * with MPIE cleared first so that mstatus.MIE ends up 0 (also after the
 * eventual return to M through the trap handler).  Must be executed in
 * M-mode.  Clobbers t5/t6. */
.macro goto_mode mode, label
  li t6, MSTATUS_MPP | MSTATUS_MPIE
  csrc mstatus, t6
  li t6, ((\mode) << 11)
  csrs mstatus, t6
  la t6, \label
  csrw mepc, t6
  mret
.endm
#define GOTO_MODE(mode, label) goto_mode mode, label

/* Continue at the next line in `mode' (from M-mode). */
#define ENTER_MODE(mode) goto_mode mode, 7771f; 7771:

/* From any mode: ecall and continue at label in M-mode.  The ecall's
 * cause overwrites trap_rec (but not s_trap_rec).  Needs trap_rec to be
 * writable at its link address (true unless paging remaps it). */
.macro back_to_m label
  set_resume \label
  ecall
  j fail
.endm
#define BACK_TO_M(label) back_to_m label
#define RETURN_TO_M back_to_m 7772f; 7772:

/* =====================================================================
 * Floating point checks.  Operands and results are bit patterns.
 * Single-precision results are compared after FMV.X.W (sign-extended).
 * ===================================================================== */
.macro fp_load_s freg, bits
  li t6, \bits
  fmv.w.x \freg, t6
.endm
.macro fp_load_d freg, bits
  li t6, \bits
  fmv.d.x \freg, t6
.endm

/* check fa0 against res (fmt s/d) and fflags against flags */
.macro fp_check fmt, res, flags
  frflags a1
  .ifc \fmt, s
  fmv.x.w a0, fa0
  li t6, \res
  addiw t6, t6, 0
  .else
  fmv.x.d a0, fa0
  li t6, \res
  .endif
  fail_ne a0, t6
  li t6, \flags
  fail_ne a1, t6
.endm
.macro int_check res, flags
  frflags a1
  li t6, \res
  fail_ne a0, t6
  li t6, \flags
  fail_ne a1, t6
.endm

/* fa0 = op fa1, fa2, rm */
.macro test_fp_op line, fmt, op, rm, res, flags, a, b
  next_test \line
  fp_load_\fmt fa1, \a
  fp_load_\fmt fa2, \b
  fsflagsi 0
  \op fa0, fa1, fa2, \rm
  fp_check \fmt, \res, \flags
.endm
#define TEST_FP_OP_S(op, rm, res, flags, a, b) test_fp_op __LINE__, s, op, rm, (res), (flags), (a), (b)
#define TEST_FP_OP_D(op, rm, res, flags, a, b) test_fp_op __LINE__, d, op, rm, (res), (flags), (a), (b)

/* same with dynamic rounding: frm = frmval, instruction rm = dyn */
.macro test_fp_op_dyn line, fmt, op, frmval, res, flags, a, b
  next_test \line
  fp_load_\fmt fa1, \a
  fp_load_\fmt fa2, \b
  fsflagsi 0
  fsrmi \frmval
  \op fa0, fa1, fa2, dyn
  fsrmi 0
  fp_check \fmt, \res, \flags
.endm
#define TEST_FP_OP_DYN_S(op, frm, res, flags, a, b) test_fp_op_dyn __LINE__, s, op, frm, (res), (flags), (a), (b)
#define TEST_FP_OP_DYN_D(op, frm, res, flags, a, b) test_fp_op_dyn __LINE__, d, op, frm, (res), (flags), (a), (b)

/* fa0 = op fa1, rm (fsqrt) */
.macro test_fp_op1 line, fmt, op, rm, res, flags, a
  next_test \line
  fp_load_\fmt fa1, \a
  fsflagsi 0
  \op fa0, fa1, \rm
  fp_check \fmt, \res, \flags
.endm
#define TEST_FP_OP1_S(op, rm, res, flags, a) test_fp_op1 __LINE__, s, op, rm, (res), (flags), (a)
#define TEST_FP_OP1_D(op, rm, res, flags, a) test_fp_op1 __LINE__, d, op, rm, (res), (flags), (a)

/* fa0 = op fa1, fa2, fa3, rm (fused multiply-add family) */
.macro test_fp_op3 line, fmt, op, rm, res, flags, a, b, c
  next_test \line
  fp_load_\fmt fa1, \a
  fp_load_\fmt fa2, \b
  fp_load_\fmt fa3, \c
  fsflagsi 0
  \op fa0, fa1, fa2, fa3, \rm
  fp_check \fmt, \res, \flags
.endm
#define TEST_FP_OP3_S(op, rm, res, flags, a, b, c) test_fp_op3 __LINE__, s, op, rm, (res), (flags), (a), (b), (c)
#define TEST_FP_OP3_D(op, rm, res, flags, a, b, c) test_fp_op3 __LINE__, d, op, rm, (res), (flags), (a), (b), (c)

/* fa0 = op fa1, fa2 (no rounding mode: fmin/fmax/fsgnj*) */
.macro test_fp_rr line, fmt, op, res, flags, a, b
  next_test \line
  fp_load_\fmt fa1, \a
  fp_load_\fmt fa2, \b
  fsflagsi 0
  \op fa0, fa1, fa2
  fp_check \fmt, \res, \flags
.endm
#define TEST_FP_RR_S(op, res, flags, a, b) test_fp_rr __LINE__, s, op, (res), (flags), (a), (b)
#define TEST_FP_RR_D(op, res, flags, a, b) test_fp_rr __LINE__, d, op, (res), (flags), (a), (b)

/* a0 = op fa1, fa2 (feq/flt/fle) */
.macro test_fp_cmp line, fmt, op, res, flags, a, b
  next_test \line
  fp_load_\fmt fa1, \a
  fp_load_\fmt fa2, \b
  fsflagsi 0
  \op a0, fa1, fa2
  int_check \res, \flags
.endm
#define TEST_FP_CMP_S(op, res, flags, a, b) test_fp_cmp __LINE__, s, op, (res), (flags), (a), (b)
#define TEST_FP_CMP_D(op, res, flags, a, b) test_fp_cmp __LINE__, d, op, (res), (flags), (a), (b)

/* a0 = fclass fa1 */
.macro test_fp_class line, fmt, res, a
  next_test \line
  fp_load_\fmt fa1, \a
  fsflagsi 0
  fclass.\fmt a0, fa1
  int_check \res, 0
.endm
#define TEST_FP_CLASS_S(res, a) test_fp_class __LINE__, s, (res), (a)
#define TEST_FP_CLASS_D(res, a) test_fp_class __LINE__, d, (res), (a)

/* a0 = op fa1, rm (fcvt.{w,wu,l,lu}.{s,d}) */
.macro test_fp_toint line, fmt, op, rm, res, flags, a
  next_test \line
  fp_load_\fmt fa1, \a
  fsflagsi 0
  \op a0, fa1, \rm
  int_check \res, \flags
.endm
#define TEST_FP_TOINT_S(op, rm, res, flags, a) test_fp_toint __LINE__, s, op, rm, (res), (flags), (a)
#define TEST_FP_TOINT_D(op, rm, res, flags, a) test_fp_toint __LINE__, d, op, rm, (res), (flags), (a)

/* fa0 = op a1, rm (fcvt.{s,d}.{w,wu,l,lu}); fmt is the result format;
 * leave rm empty for the exact fcvt.d.w/fcvt.d.wu */
.macro test_fp_fromint line, fmt, op, rm, res, flags, a
  next_test \line
  li a1, \a
  fsflagsi 0
  .ifb \rm
  \op fa0, a1
  .else
  \op fa0, a1, \rm
  .endif
  fp_check \fmt, \res, \flags
.endm
#define TEST_FP_FROMINT_S(op, rm, res, flags, a) test_fp_fromint __LINE__, s, op, rm, (res), (flags), (a)
#define TEST_FP_FROMINT_D(op, rm, res, flags, a) test_fp_fromint __LINE__, d, op, rm, (res), (flags), (a)

/* Checks between JUICE_ONLY_BEGIN and JUICE_ONLY_END run only when the
 * harness has set juice_only_checks (Juice runs): they cover behaviour
 * that the ISA leaves open and Juice pins down, where QEMU differs. */
#define JUICE_ONLY_BEGIN \
  la t6, juice_only_checks; \
  ld t6, 0(t6); \
  beqz t6, 9999f
#define JUICE_ONLY_END \
9999:

/* fa0 = op fa1[, rm] with input format infmt and output format outfmt
 * (fcvt.s.d / fcvt.d.s); leave rm empty for no rounding-mode operand. */
.macro test_fp_cvt line, infmt, outfmt, op, rm, res, flags, a
  next_test \line
  fp_load_\infmt fa1, \a
  fsflagsi 0
  .ifb \rm
  \op fa0, fa1
  .else
  \op fa0, fa1, \rm
  .endif
  fp_check \outfmt, \res, \flags
.endm
#define TEST_FP_CVT(infmt, outfmt, op, rm, res, flags, a) test_fp_cvt __LINE__, infmt, outfmt, op, rm, (res), (flags), (a)

/* =====================================================================
 * Program frame
 * ===================================================================== */
#define TEST_BEGIN \
  .text; \
  .globl test_main; \
test_main:

#define TEST_END \
  j pass

/* ---------------------------------------------------------------------
 * Startup, handlers, pass/fail.
 * --------------------------------------------------------------------- */
  .option norvc
  .option nopic
  .section .text.init, "ax", @progbits
  .globl _start
_start:
  li x1, 0
  li x2, 0
  li x3, 0
  li x4, 0
  li x5, 0
  li x6, 0
  li x7, 0
  li x8, 0
  li x9, 0
  li x10, 0
  li x11, 0
  li x12, 0
  li x13, 0
  li x14, 0
  li x15, 0
  li x16, 0
  li x17, 0
  li x18, 0
  li x19, 0
  li x20, 0
  li x21, 0
  li x22, 0
  li x23, 0
  li x24, 0
  li x25, 0
  li x26, 0
  li x27, 0
  li x28, 0
  li x29, 0
  li x30, 0
  li x31, 0
  li gp, 255                 /* "before the first check" */
  la t0, m_trap_handler
  csrw mtvec, t0
  la t0, trap_rec
  csrw mscratch, t0
  la t0, s_trap_handler
  csrw stvec, t0
  la t0, s_trap_rec
  csrw sscratch, t0
  csrw mie, zero
  csrw mideleg, zero
  csrw medeleg, zero
  csrw satp, zero
  /* one NAPOT region over everything, RWX: makes S/U accesses legal on
   * harts whose PMP is effective (QEMU); Juice's PMP has no effect. */
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0
  /* FS = Initial, fcsr = 0 */
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t0, MSTATUS_FS_INITIAL
  csrs mstatus, t0
  csrw fcsr, zero
  la sp, stack_top
  j test_main

  .align 2
  .globl m_trap_handler
m_trap_handler:
  csrrw t0, mscratch, t0
  sd t1, REC_SAVE1(t0)
  sd t2, REC_SAVE2(t0)
  sd t3, REC_SAVE3(t0)
  ld t1, REC_COUNT(t0)
  addi t1, t1, 1
  sd t1, REC_COUNT(t0)
  ld t1, REC_CAUSE(t0)
  sd t1, REC_PREV(t0)
  csrr t1, mcause
  sd t1, REC_CAUSE(t0)
  csrr t1, mtval
  sd t1, REC_TVAL(t0)
  csrr t1, mepc
  sd t1, REC_EPC(t0)
  csrr t1, mstatus
  sd t1, REC_STATUS(t0)
  csrr t1, mcause
  bltz t1, 3f
  ld t1, REC_RESUME(t0)
  beqz t1, 9f
  li t2, 1
  beq t1, t2, 2f
  /* resume at address in M-mode */
  sd zero, REC_RESUME(t0)
  csrw mepc, t1
  li t2, MSTATUS_MPP
  csrs mstatus, t2
  j 8f
2:/* skip the trapping instruction */
  csrr t1, mepc
  lhu t2, 0(t1)
  andi t2, t2, 3
  li t3, 3
  addi t1, t1, 2
  bne t2, t3, 1f
  addi t1, t1, 2
1:csrw mepc, t1
  j 8f
3:/* interrupt: disable its source in mie */
  slli t1, t1, 1
  srli t1, t1, 1
  li t2, 1
  sll t2, t2, t1
  csrc mie, t2
8:ld t1, REC_SAVE1(t0)
  ld t2, REC_SAVE2(t0)
  ld t3, REC_SAVE3(t0)
  csrrw t0, mscratch, t0
  mret
9:/* unexpected exception */
  csrrw t0, mscratch, t0
  j fail

  .align 2
  .globl s_trap_handler
s_trap_handler:
  csrrw t0, sscratch, t0
  sd t1, REC_SAVE1(t0)
  sd t2, REC_SAVE2(t0)
  sd t3, REC_SAVE3(t0)
  ld t1, REC_COUNT(t0)
  addi t1, t1, 1
  sd t1, REC_COUNT(t0)
  ld t1, REC_CAUSE(t0)
  sd t1, REC_PREV(t0)
  csrr t1, scause
  sd t1, REC_CAUSE(t0)
  csrr t1, stval
  sd t1, REC_TVAL(t0)
  csrr t1, sepc
  sd t1, REC_EPC(t0)
  csrr t1, sstatus
  sd t1, REC_STATUS(t0)
  csrr t1, scause
  bltz t1, 3f
  ld t1, REC_RESUME(t0)
  beqz t1, 9f
  li t2, 1
  beq t1, t2, 2f
  /* resume at address in S-mode */
  sd zero, REC_RESUME(t0)
  csrw sepc, t1
  li t2, MSTATUS_SPP
  csrs sstatus, t2
  j 8f
2:csrr t1, sepc
  lhu t2, 0(t1)
  andi t2, t2, 3
  li t3, 3
  addi t1, t1, 2
  bne t2, t3, 1f
  addi t1, t1, 2
1:csrw sepc, t1
  j 8f
3:slli t1, t1, 1
  srli t1, t1, 1
  li t2, 1
  sll t2, t2, t1
  csrc sie, t2
8:ld t1, REC_SAVE1(t0)
  ld t2, REC_SAVE2(t0)
  ld t3, REC_SAVE3(t0)
  csrrw t0, sscratch, t0
  sret
9:csrrw t0, sscratch, t0
  j fail

  .globl pass
pass:
  fence
  li t0, 1
  la t1, tohost
  sd t0, 0(t1)
1:j 1b

  .globl fail
fail:
  fence
  slli t0, gp, 1
  ori t0, t0, 1
  la t1, tohost
  sd t0, 0(t1)
1:j 1b

/* ---------------------------------------------------------------------
 * HTIF words, trap records, stack.
 * --------------------------------------------------------------------- */
  .section .tohost, "aw", @progbits
  .align 6
  .globl tohost
tohost: .dword 0
  .size tohost, 8
  .globl fromhost
fromhost: .dword 0
  .size fromhost, 8

  .section .data.testenv, "aw", @progbits
  .align 3
  /* set to 1 by the Juice harness (patched in the ELF image) */
  .globl juice_only_checks
juice_only_checks: .dword 0
  .align 6
  .globl trap_rec
trap_rec: .zero REC_SIZE
  .align 6
  .globl s_trap_rec
s_trap_rec: .zero REC_SIZE
  .align 4
stack_bottom: .zero 4096
stack_top:

/* back to the program's text */
  .text
#endif
