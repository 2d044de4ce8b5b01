/* rv64m.S - M extension: multiply and divide, incl. W forms and the
 * division-by-zero / overflow results defined by the ISA (no traps). */
#include "test.h"

#define INT64_MIN 0x8000000000000000
#define INT64_MAX 0x7fffffffffffffff

TEST_BEGIN

  /* ---- MUL (low 64 bits) ---- */
  TEST_RR(mul, 21, 3, 7)
  TEST_RR(mul, 0, 0, -1)
  TEST_RR(mul, 1, -1, -1)
  TEST_RR(mul, -21, -3, 7)
  TEST_RR(mul, 0xfffffffffffffffe, INT64_MAX, 2)
  TEST_RR(mul, INT64_MIN, INT64_MIN, -1)
  TEST_RR(mul, 0x0000000100000000, 0x10000, 0x10000)
  TEST_RR(mul, 0xfedcba9876543210 * 3, 0xfedcba9876543210, 3)

  /* ---- MULH (signed x signed, high 64) ---- */
  TEST_RR(mulh, 0, 3, 7)
  TEST_RR(mulh, 0, -1, -1)
  TEST_RR(mulh, -1, -1, 1)
  TEST_RR(mulh, 0x4000000000000000, INT64_MIN, INT64_MIN)
  TEST_RR(mulh, 0, INT64_MIN, -1)
  TEST_RR(mulh, 0x3fffffffffffffff, INT64_MAX, INT64_MAX)
  TEST_RR(mulh, 0xc000000000000000, INT64_MIN, INT64_MAX + 0)  /* -2^63*(2^63-1) */

  /* ---- MULHU (unsigned x unsigned) ---- */
  TEST_RR(mulhu, 0xfffffffffffffffe, -1, -1)
  TEST_RR(mulhu, 1, INT64_MIN, 2)
  TEST_RR(mulhu, 0, 0x100000000, 0xffffffff)
  TEST_RR(mulhu, 0x4000000000000000, INT64_MIN, INT64_MIN)

  /* ---- MULHSU (signed rs1 x unsigned rs2) ---- */
  TEST_RR(mulhsu, -1, -1, -1)
  TEST_RR(mulhsu, 1, 2, -1)
  TEST_RR(mulhsu, -1, -2, INT64_MIN)
  TEST_RR(mulhsu, 0, -1, 0)
  TEST_RR(mulhsu, 0xc000000000000000, INT64_MIN, INT64_MIN)

  /* ---- MULW: low 32 bits of the product, sign-extended ---- */
  TEST_RR(mulw, 0xfffffffffffffffe, 0x7fffffff, 2)
  TEST_RR(mulw, 15, 0x100000003, 0x100000005)
  TEST_RR(mulw, 0xffffffff80000000, 0x80000000, 1)
  TEST_RR(mulw, 1, -1, -1)

  /* ---- DIV / DIVU ---- */
  TEST_RR(div, 3, 20, 6)
  TEST_RR(div, -3, -20, 6)
  TEST_RR(div, -3, 20, -6)
  TEST_RR(div, 3, -20, -6)
  TEST_RR(div, -1, 20, 0)            /* divide by zero: all ones */
  TEST_RR(div, -1, 0, 0)
  TEST_RR(div, INT64_MIN, INT64_MIN, -1)   /* overflow: dividend */
  TEST_RR(div, 0, 5, INT64_MIN)
  TEST_RR(divu, 3, 20, 6)
  TEST_RR(divu, INT64_MAX, -1, 2)
  TEST_RR(divu, 0, 20, -6)
  TEST_RR(divu, -1, 20, 0)           /* divide by zero: 2^64-1 */
  TEST_RR(divu, 1, INT64_MIN, INT64_MIN)

  /* ---- REM / REMU ---- */
  TEST_RR(rem, 2, 20, 6)
  TEST_RR(rem, -2, -20, 6)           /* sign of the dividend */
  TEST_RR(rem, 2, 20, -6)
  TEST_RR(rem, -2, -20, -6)
  TEST_RR(rem, 20, 20, 0)            /* by zero: dividend */
  TEST_RR(rem, -20, -20, 0)
  TEST_RR(rem, 0, INT64_MIN, -1)     /* overflow: 0 */
  TEST_RR(remu, 2, 20, 6)
  TEST_RR(remu, 5, -1, 10)
  TEST_RR(remu, 20, 20, -6)
  TEST_RR(remu, -20, -20, 0)         /* by zero: dividend */

  /* ---- W forms: 32-bit operands, sign-extended 32-bit result ---- */
  TEST_RR(divw, 3, 20, 6)
  TEST_RR(divw, -3, -20, 6)
  TEST_RR(divw, 3, 0xffffffff00000014, 6)      /* upper bits ignored */
  TEST_RR(divw, -1, 20, 0)
  TEST_RR(divw, -1, 20, 0x100000000)           /* divisor low 32 bits zero */
  TEST_RR(divw, 0xffffffff80000000, 0x80000000, -1)  /* overflow */
  TEST_RR(divuw, 0x7fffffff, 0xffffffff, 2)
  TEST_RR(divuw, 0xffffffff80000000, 0x80000000, 1) /* result sign-extended */
  TEST_RR(divuw, -1, 20, 0)
  TEST_RR(divuw, 3, 0x1700000014, 0x2300000006)
  TEST_RR(remw, 2, 20, 6)
  TEST_RR(remw, -2, -20, 6)
  TEST_RR(remw, 0, 0x80000000, -1)             /* overflow: 0 */
  TEST_RR(remw, 0xffffffff80000001, 0x80000001, 0)   /* by zero: sext(dividend) */
  TEST_RR(remw, 0x7b, 0xabcdef000000007b, 0)
  TEST_RR(remuw, 5, 0xffffffff, 10)
  TEST_RR(remuw, 0xffffffff80000000, 0x80000000, 0)  /* by zero */
  TEST_RR(remuw, 0xffffffff80000000, 0x80000000, 0x80000001)
  TEST_RR(remuw, 1, 0x1234500000007, 3)

  /* ---- register aliasing ---- */
  TEST_CASE
  li a0, 9
  mul a0, a0, a0
  ASSERT_EQ(a0, 81)
  TEST_CASE
  li a0, 100
  li a1, 7
  rem a1, a0, a1
  ASSERT_EQ(a1, 2)
  TEST_CASE
  li a0, 100
  div a0, a0, a0
  ASSERT_EQ(a0, 1)
  TEST_CASE
  li a1, 5
  mul x0, a1, a1
  ASSERT_EQ(x0, 0)

TEST_END
