/* rv64d.S - D extension: arithmetic in every static rounding mode and
 * with dynamic frm, fflags after each operation, special values,
 * conversions (integer and single<->double) with saturation, moves and
 * FLD/FSD.  The rounded results of the inexact vectors were computed with
 * exact arbitrary-precision arithmetic (each mode separately). */
#include "test.h"

#define NV 0x10
#define DZ 0x08
#define OF 0x04
#define UF 0x02
#define NX 0x01

TEST_BEGIN
  /* ---- d: add/sub/mul/div in every rounding mode ---- */
  TEST_FP_OP_D(fadd.d, rne, 0x3fd555914080934c, 0x1, 0x3fd5555555555555, 0x3eedf5959efbba7c)  /* 0.3333333333333333 fadd 1.4285714285714285e-05 */
  TEST_FP_OP_D(fadd.d, rtz, 0x3fd555914080934c, 0x1, 0x3fd5555555555555, 0x3eedf5959efbba7c)  /* 0.3333333333333333 fadd 1.4285714285714285e-05 */
  TEST_FP_OP_D(fadd.d, rdn, 0x3fd555914080934c, 0x1, 0x3fd5555555555555, 0x3eedf5959efbba7c)  /* 0.3333333333333333 fadd 1.4285714285714285e-05 */
  TEST_FP_OP_D(fadd.d, rup, 0x3fd555914080934d, 0x1, 0x3fd5555555555555, 0x3eedf5959efbba7c)  /* 0.3333333333333333 fadd 1.4285714285714285e-05 */
  TEST_FP_OP_D(fadd.d, rmm, 0x3fd555914080934c, 0x1, 0x3fd5555555555555, 0x3eedf5959efbba7c)  /* 0.3333333333333333 fadd 1.4285714285714285e-05 */
  TEST_FP_OP_DYN_D(fadd.d, 0, 0x3fd555914080934c, 0x1, 0x3fd5555555555555, 0x3eedf5959efbba7c)
  TEST_FP_OP_DYN_D(fadd.d, 1, 0x3fd555914080934c, 0x1, 0x3fd5555555555555, 0x3eedf5959efbba7c)
  TEST_FP_OP_DYN_D(fadd.d, 2, 0x3fd555914080934c, 0x1, 0x3fd5555555555555, 0x3eedf5959efbba7c)
  TEST_FP_OP_DYN_D(fadd.d, 3, 0x3fd555914080934d, 0x1, 0x3fd5555555555555, 0x3eedf5959efbba7c)
  TEST_FP_OP_DYN_D(fadd.d, 4, 0x3fd555914080934c, 0x1, 0x3fd5555555555555, 0x3eedf5959efbba7c)
  TEST_FP_OP_D(fadd.d, rne, 0xbfd555914080934c, 0x1, 0xbfd5555555555555, 0xbeedf5959efbba7c)  /* -0.3333333333333333 fadd -1.4285714285714285e-05 */
  TEST_FP_OP_D(fadd.d, rtz, 0xbfd555914080934c, 0x1, 0xbfd5555555555555, 0xbeedf5959efbba7c)  /* -0.3333333333333333 fadd -1.4285714285714285e-05 */
  TEST_FP_OP_D(fadd.d, rdn, 0xbfd555914080934d, 0x1, 0xbfd5555555555555, 0xbeedf5959efbba7c)  /* -0.3333333333333333 fadd -1.4285714285714285e-05 */
  TEST_FP_OP_D(fadd.d, rup, 0xbfd555914080934c, 0x1, 0xbfd5555555555555, 0xbeedf5959efbba7c)  /* -0.3333333333333333 fadd -1.4285714285714285e-05 */
  TEST_FP_OP_D(fadd.d, rmm, 0xbfd555914080934c, 0x1, 0xbfd5555555555555, 0xbeedf5959efbba7c)  /* -0.3333333333333333 fadd -1.4285714285714285e-05 */
  TEST_FP_OP_DYN_D(fadd.d, 0, 0xbfd555914080934c, 0x1, 0xbfd5555555555555, 0xbeedf5959efbba7c)
  TEST_FP_OP_DYN_D(fadd.d, 1, 0xbfd555914080934c, 0x1, 0xbfd5555555555555, 0xbeedf5959efbba7c)
  TEST_FP_OP_DYN_D(fadd.d, 2, 0xbfd555914080934d, 0x1, 0xbfd5555555555555, 0xbeedf5959efbba7c)
  TEST_FP_OP_DYN_D(fadd.d, 3, 0xbfd555914080934c, 0x1, 0xbfd5555555555555, 0xbeedf5959efbba7c)
  TEST_FP_OP_DYN_D(fadd.d, 4, 0xbfd555914080934c, 0x1, 0xbfd5555555555555, 0xbeedf5959efbba7c)
  TEST_FP_OP_D(fsub.d, rne, 0x400aaa5fc4b49d36, 0x1, 0x400aaaaaaaaaaaab, 0x3f22b97d835d548e)  /* 3.3333333333333335 fsub 0.00014285714285714287 */
  TEST_FP_OP_D(fsub.d, rtz, 0x400aaa5fc4b49d35, 0x1, 0x400aaaaaaaaaaaab, 0x3f22b97d835d548e)  /* 3.3333333333333335 fsub 0.00014285714285714287 */
  TEST_FP_OP_D(fsub.d, rdn, 0x400aaa5fc4b49d35, 0x1, 0x400aaaaaaaaaaaab, 0x3f22b97d835d548e)  /* 3.3333333333333335 fsub 0.00014285714285714287 */
  TEST_FP_OP_D(fsub.d, rup, 0x400aaa5fc4b49d36, 0x1, 0x400aaaaaaaaaaaab, 0x3f22b97d835d548e)  /* 3.3333333333333335 fsub 0.00014285714285714287 */
  TEST_FP_OP_D(fsub.d, rmm, 0x400aaa5fc4b49d36, 0x1, 0x400aaaaaaaaaaaab, 0x3f22b97d835d548e)  /* 3.3333333333333335 fsub 0.00014285714285714287 */
  TEST_FP_OP_DYN_D(fsub.d, 0, 0x400aaa5fc4b49d36, 0x1, 0x400aaaaaaaaaaaab, 0x3f22b97d835d548e)
  TEST_FP_OP_DYN_D(fsub.d, 1, 0x400aaa5fc4b49d35, 0x1, 0x400aaaaaaaaaaaab, 0x3f22b97d835d548e)
  TEST_FP_OP_DYN_D(fsub.d, 2, 0x400aaa5fc4b49d35, 0x1, 0x400aaaaaaaaaaaab, 0x3f22b97d835d548e)
  TEST_FP_OP_DYN_D(fsub.d, 3, 0x400aaa5fc4b49d36, 0x1, 0x400aaaaaaaaaaaab, 0x3f22b97d835d548e)
  TEST_FP_OP_DYN_D(fsub.d, 4, 0x400aaa5fc4b49d36, 0x1, 0x400aaaaaaaaaaaab, 0x3f22b97d835d548e)
  TEST_FP_OP_D(fsub.d, rne, 0xc00aaaf590a0b820, 0x1, 0xc00aaaaaaaaaaaab, 0x3f22b97d835d548e)  /* -3.3333333333333335 fsub 0.00014285714285714287 */
  TEST_FP_OP_D(fsub.d, rtz, 0xc00aaaf590a0b820, 0x1, 0xc00aaaaaaaaaaaab, 0x3f22b97d835d548e)  /* -3.3333333333333335 fsub 0.00014285714285714287 */
  TEST_FP_OP_D(fsub.d, rdn, 0xc00aaaf590a0b821, 0x1, 0xc00aaaaaaaaaaaab, 0x3f22b97d835d548e)  /* -3.3333333333333335 fsub 0.00014285714285714287 */
  TEST_FP_OP_D(fsub.d, rup, 0xc00aaaf590a0b820, 0x1, 0xc00aaaaaaaaaaaab, 0x3f22b97d835d548e)  /* -3.3333333333333335 fsub 0.00014285714285714287 */
  TEST_FP_OP_D(fsub.d, rmm, 0xc00aaaf590a0b820, 0x1, 0xc00aaaaaaaaaaaab, 0x3f22b97d835d548e)  /* -3.3333333333333335 fsub 0.00014285714285714287 */
  TEST_FP_OP_DYN_D(fsub.d, 0, 0xc00aaaf590a0b820, 0x1, 0xc00aaaaaaaaaaaab, 0x3f22b97d835d548e)
  TEST_FP_OP_DYN_D(fsub.d, 1, 0xc00aaaf590a0b820, 0x1, 0xc00aaaaaaaaaaaab, 0x3f22b97d835d548e)
  TEST_FP_OP_DYN_D(fsub.d, 2, 0xc00aaaf590a0b821, 0x1, 0xc00aaaaaaaaaaaab, 0x3f22b97d835d548e)
  TEST_FP_OP_DYN_D(fsub.d, 3, 0xc00aaaf590a0b820, 0x1, 0xc00aaaaaaaaaaaab, 0x3f22b97d835d548e)
  TEST_FP_OP_DYN_D(fsub.d, 4, 0xc00aaaf590a0b820, 0x1, 0xc00aaaaaaaaaaaab, 0x3f22b97d835d548e)
  TEST_FP_OP_D(fmul.d, rne, 0x3fb8618618618618, 0x1, 0x3fd5555555555555, 0x3fd2492492492492)  /* 0.3333333333333333 fmul 0.2857142857142857 */
  TEST_FP_OP_D(fmul.d, rtz, 0x3fb8618618618617, 0x1, 0x3fd5555555555555, 0x3fd2492492492492)  /* 0.3333333333333333 fmul 0.2857142857142857 */
  TEST_FP_OP_D(fmul.d, rdn, 0x3fb8618618618617, 0x1, 0x3fd5555555555555, 0x3fd2492492492492)  /* 0.3333333333333333 fmul 0.2857142857142857 */
  TEST_FP_OP_D(fmul.d, rup, 0x3fb8618618618618, 0x1, 0x3fd5555555555555, 0x3fd2492492492492)  /* 0.3333333333333333 fmul 0.2857142857142857 */
  TEST_FP_OP_D(fmul.d, rmm, 0x3fb8618618618618, 0x1, 0x3fd5555555555555, 0x3fd2492492492492)  /* 0.3333333333333333 fmul 0.2857142857142857 */
  TEST_FP_OP_DYN_D(fmul.d, 0, 0x3fb8618618618618, 0x1, 0x3fd5555555555555, 0x3fd2492492492492)
  TEST_FP_OP_DYN_D(fmul.d, 1, 0x3fb8618618618617, 0x1, 0x3fd5555555555555, 0x3fd2492492492492)
  TEST_FP_OP_DYN_D(fmul.d, 2, 0x3fb8618618618617, 0x1, 0x3fd5555555555555, 0x3fd2492492492492)
  TEST_FP_OP_DYN_D(fmul.d, 3, 0x3fb8618618618618, 0x1, 0x3fd5555555555555, 0x3fd2492492492492)
  TEST_FP_OP_DYN_D(fmul.d, 4, 0x3fb8618618618618, 0x1, 0x3fd5555555555555, 0x3fd2492492492492)
  TEST_FP_OP_D(fmul.d, rne, 0xbfb8618618618618, 0x1, 0xbfd5555555555555, 0x3fd2492492492492)  /* -0.3333333333333333 fmul 0.2857142857142857 */
  TEST_FP_OP_D(fmul.d, rtz, 0xbfb8618618618617, 0x1, 0xbfd5555555555555, 0x3fd2492492492492)  /* -0.3333333333333333 fmul 0.2857142857142857 */
  TEST_FP_OP_D(fmul.d, rdn, 0xbfb8618618618618, 0x1, 0xbfd5555555555555, 0x3fd2492492492492)  /* -0.3333333333333333 fmul 0.2857142857142857 */
  TEST_FP_OP_D(fmul.d, rup, 0xbfb8618618618617, 0x1, 0xbfd5555555555555, 0x3fd2492492492492)  /* -0.3333333333333333 fmul 0.2857142857142857 */
  TEST_FP_OP_D(fmul.d, rmm, 0xbfb8618618618618, 0x1, 0xbfd5555555555555, 0x3fd2492492492492)  /* -0.3333333333333333 fmul 0.2857142857142857 */
  TEST_FP_OP_DYN_D(fmul.d, 0, 0xbfb8618618618618, 0x1, 0xbfd5555555555555, 0x3fd2492492492492)
  TEST_FP_OP_DYN_D(fmul.d, 1, 0xbfb8618618618617, 0x1, 0xbfd5555555555555, 0x3fd2492492492492)
  TEST_FP_OP_DYN_D(fmul.d, 2, 0xbfb8618618618618, 0x1, 0xbfd5555555555555, 0x3fd2492492492492)
  TEST_FP_OP_DYN_D(fmul.d, 3, 0xbfb8618618618617, 0x1, 0xbfd5555555555555, 0x3fd2492492492492)
  TEST_FP_OP_DYN_D(fmul.d, 4, 0xbfb8618618618618, 0x1, 0xbfd5555555555555, 0x3fd2492492492492)
  TEST_FP_OP_D(fdiv.d, rne, 0x3fd5555555555555, 0x1, 0x3ff0000000000000, 0x4008000000000000)  /* 1 fdiv 3 */
  TEST_FP_OP_D(fdiv.d, rtz, 0x3fd5555555555555, 0x1, 0x3ff0000000000000, 0x4008000000000000)  /* 1 fdiv 3 */
  TEST_FP_OP_D(fdiv.d, rdn, 0x3fd5555555555555, 0x1, 0x3ff0000000000000, 0x4008000000000000)  /* 1 fdiv 3 */
  TEST_FP_OP_D(fdiv.d, rup, 0x3fd5555555555556, 0x1, 0x3ff0000000000000, 0x4008000000000000)  /* 1 fdiv 3 */
  TEST_FP_OP_D(fdiv.d, rmm, 0x3fd5555555555555, 0x1, 0x3ff0000000000000, 0x4008000000000000)  /* 1 fdiv 3 */
  TEST_FP_OP_DYN_D(fdiv.d, 0, 0x3fd5555555555555, 0x1, 0x3ff0000000000000, 0x4008000000000000)
  TEST_FP_OP_DYN_D(fdiv.d, 1, 0x3fd5555555555555, 0x1, 0x3ff0000000000000, 0x4008000000000000)
  TEST_FP_OP_DYN_D(fdiv.d, 2, 0x3fd5555555555555, 0x1, 0x3ff0000000000000, 0x4008000000000000)
  TEST_FP_OP_DYN_D(fdiv.d, 3, 0x3fd5555555555556, 0x1, 0x3ff0000000000000, 0x4008000000000000)
  TEST_FP_OP_DYN_D(fdiv.d, 4, 0x3fd5555555555555, 0x1, 0x3ff0000000000000, 0x4008000000000000)
  TEST_FP_OP_D(fdiv.d, rne, 0xbfe5555555555555, 0x1, 0xc000000000000000, 0x4008000000000000)  /* -2 fdiv 3 */
  TEST_FP_OP_D(fdiv.d, rtz, 0xbfe5555555555555, 0x1, 0xc000000000000000, 0x4008000000000000)  /* -2 fdiv 3 */
  TEST_FP_OP_D(fdiv.d, rdn, 0xbfe5555555555556, 0x1, 0xc000000000000000, 0x4008000000000000)  /* -2 fdiv 3 */
  TEST_FP_OP_D(fdiv.d, rup, 0xbfe5555555555555, 0x1, 0xc000000000000000, 0x4008000000000000)  /* -2 fdiv 3 */
  TEST_FP_OP_D(fdiv.d, rmm, 0xbfe5555555555555, 0x1, 0xc000000000000000, 0x4008000000000000)  /* -2 fdiv 3 */
  TEST_FP_OP_DYN_D(fdiv.d, 0, 0xbfe5555555555555, 0x1, 0xc000000000000000, 0x4008000000000000)
  TEST_FP_OP_DYN_D(fdiv.d, 1, 0xbfe5555555555555, 0x1, 0xc000000000000000, 0x4008000000000000)
  TEST_FP_OP_DYN_D(fdiv.d, 2, 0xbfe5555555555556, 0x1, 0xc000000000000000, 0x4008000000000000)
  TEST_FP_OP_DYN_D(fdiv.d, 3, 0xbfe5555555555555, 0x1, 0xc000000000000000, 0x4008000000000000)
  TEST_FP_OP_DYN_D(fdiv.d, 4, 0xbfe5555555555555, 0x1, 0xc000000000000000, 0x4008000000000000)
  /* ---- d: sqrt ---- */
  TEST_FP_OP1_D(fsqrt.d, rne, 0x3ff6a09e667f3bcd, 0x1, 0x4000000000000000)  /* sqrt(2) */
  TEST_FP_OP1_D(fsqrt.d, rtz, 0x3ff6a09e667f3bcc, 0x1, 0x4000000000000000)  /* sqrt(2) */
  TEST_FP_OP1_D(fsqrt.d, rdn, 0x3ff6a09e667f3bcc, 0x1, 0x4000000000000000)  /* sqrt(2) */
  TEST_FP_OP1_D(fsqrt.d, rup, 0x3ff6a09e667f3bcd, 0x1, 0x4000000000000000)  /* sqrt(2) */
  TEST_FP_OP1_D(fsqrt.d, rmm, 0x3ff6a09e667f3bcd, 0x1, 0x4000000000000000)  /* sqrt(2) */
  TEST_FP_OP1_D(fsqrt.d, rne, 0x40094c583ada5b53, 0x1, 0x4024000000000000)  /* sqrt(10) */
  TEST_FP_OP1_D(fsqrt.d, rtz, 0x40094c583ada5b52, 0x1, 0x4024000000000000)  /* sqrt(10) */
  TEST_FP_OP1_D(fsqrt.d, rdn, 0x40094c583ada5b52, 0x1, 0x4024000000000000)  /* sqrt(10) */
  TEST_FP_OP1_D(fsqrt.d, rup, 0x40094c583ada5b53, 0x1, 0x4024000000000000)  /* sqrt(10) */
  TEST_FP_OP1_D(fsqrt.d, rmm, 0x40094c583ada5b53, 0x1, 0x4024000000000000)  /* sqrt(10) */
  TEST_FP_OP1_D(fsqrt.d, rne, 0x3fe186f174f88472, 0x1, 0x3fd3333333333333)  /* sqrt(0.3) */
  TEST_FP_OP1_D(fsqrt.d, rtz, 0x3fe186f174f88472, 0x1, 0x3fd3333333333333)  /* sqrt(0.3) */
  TEST_FP_OP1_D(fsqrt.d, rdn, 0x3fe186f174f88472, 0x1, 0x3fd3333333333333)  /* sqrt(0.3) */
  TEST_FP_OP1_D(fsqrt.d, rup, 0x3fe186f174f88473, 0x1, 0x3fd3333333333333)  /* sqrt(0.3) */
  TEST_FP_OP1_D(fsqrt.d, rmm, 0x3fe186f174f88472, 0x1, 0x3fd3333333333333)  /* sqrt(0.3) */
  /* ---- d: fused multiply-add family ---- */
  TEST_FP_OP3_D(fmadd.d, rne, 0xbc90000000000000, 0x0, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fmadd.d, rtz, 0xbc90000000000000, 0x0, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fmadd.d, rdn, 0xbc90000000000000, 0x0, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fmadd.d, rup, 0xbc90000000000000, 0x0, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fmadd.d, rmm, 0xbc90000000000000, 0x0, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fmsub.d, rne, 0x4000000000000000, 0x1, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fmsub.d, rtz, 0x3fffffffffffffff, 0x1, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fmsub.d, rdn, 0x3fffffffffffffff, 0x1, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fmsub.d, rup, 0x4000000000000000, 0x1, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fmsub.d, rmm, 0x4000000000000000, 0x1, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fnmsub.d, rne, 0xc000000000000000, 0x1, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fnmsub.d, rtz, 0xbfffffffffffffff, 0x1, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fnmsub.d, rdn, 0xc000000000000000, 0x1, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fnmsub.d, rup, 0xbfffffffffffffff, 0x1, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fnmsub.d, rmm, 0xc000000000000000, 0x1, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fnmadd.d, rne, 0x3c90000000000000, 0x0, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fnmadd.d, rtz, 0x3c90000000000000, 0x0, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fnmadd.d, rdn, 0x3c90000000000000, 0x0, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fnmadd.d, rup, 0x3c90000000000000, 0x0, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fnmadd.d, rmm, 0x3c90000000000000, 0x0, 0x3fd5555555555555, 0x4008000000000000, 0xbff0000000000000)
  TEST_FP_OP3_D(fmadd.d, rne, 0x3fdf3cf3cf3cf3cf, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fmadd.d, rtz, 0x3fdf3cf3cf3cf3cf, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fmadd.d, rdn, 0x3fdf3cf3cf3cf3cf, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fmadd.d, rup, 0x3fdf3cf3cf3cf3d0, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fmadd.d, rmm, 0x3fdf3cf3cf3cf3cf, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fmsub.d, rne, 0xbf8861861861861a, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fmsub.d, rtz, 0xbf88618618618619, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fmsub.d, rdn, 0xbf8861861861861a, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fmsub.d, rup, 0xbf88618618618619, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fmsub.d, rmm, 0xbf8861861861861a, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fnmsub.d, rne, 0x3f8861861861861a, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fnmsub.d, rtz, 0x3f88618618618619, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fnmsub.d, rdn, 0x3f88618618618619, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fnmsub.d, rup, 0x3f8861861861861a, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fnmsub.d, rmm, 0x3f8861861861861a, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fnmadd.d, rne, 0xbfdf3cf3cf3cf3cf, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fnmadd.d, rtz, 0xbfdf3cf3cf3cf3cf, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fnmadd.d, rdn, 0xbfdf3cf3cf3cf3d0, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fnmadd.d, rup, 0xbfdf3cf3cf3cf3cf, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  TEST_FP_OP3_D(fnmadd.d, rmm, 0xbfdf3cf3cf3cf3cf, 0x1, 0x3fc2492492492492, 0x3ffaaaaaaaaaaaab, 0x3fd0000000000000)
  /* ---- d: integer to float, rounding (fcvt.d.w/wu are always exact) ---- */
  TEST_FP_FROMINT_D(fcvt.d.l, rne, 0x43e0000000000000, 0x1, 9223372036854775807)
  TEST_FP_FROMINT_D(fcvt.d.l, rtz, 0x43dfffffffffffff, 0x1, 9223372036854775807)
  TEST_FP_FROMINT_D(fcvt.d.l, rdn, 0x43dfffffffffffff, 0x1, 9223372036854775807)
  TEST_FP_FROMINT_D(fcvt.d.l, rup, 0x43e0000000000000, 0x1, 9223372036854775807)
  TEST_FP_FROMINT_D(fcvt.d.l, rmm, 0x43e0000000000000, 0x1, 9223372036854775807)
  TEST_FP_FROMINT_D(fcvt.d.l, rne, 0xc3a0000000000000, 0x1, -576460752303423487)
  TEST_FP_FROMINT_D(fcvt.d.l, rtz, 0xc39fffffffffffff, 0x1, -576460752303423487)
  TEST_FP_FROMINT_D(fcvt.d.l, rdn, 0xc3a0000000000000, 0x1, -576460752303423487)
  TEST_FP_FROMINT_D(fcvt.d.l, rup, 0xc39fffffffffffff, 0x1, -576460752303423487)
  TEST_FP_FROMINT_D(fcvt.d.l, rmm, 0xc3a0000000000000, 0x1, -576460752303423487)
  TEST_FP_FROMINT_D(fcvt.d.lu, rne, 0x43f0000000000000, 0x1, -1)
  TEST_FP_FROMINT_D(fcvt.d.lu, rtz, 0x43efffffffffffff, 0x1, -1)
  TEST_FP_FROMINT_D(fcvt.d.lu, rdn, 0x43efffffffffffff, 0x1, -1)
  TEST_FP_FROMINT_D(fcvt.d.lu, rup, 0x43f0000000000000, 0x1, -1)
  TEST_FP_FROMINT_D(fcvt.d.lu, rmm, 0x43f0000000000000, 0x1, -1)
  TEST_FP_FROMINT_D(fcvt.d.l, rne, 0x4340000000000000, 0x1, 9007199254740993)
  TEST_FP_FROMINT_D(fcvt.d.l, rtz, 0x4340000000000000, 0x1, 9007199254740993)
  TEST_FP_FROMINT_D(fcvt.d.l, rdn, 0x4340000000000000, 0x1, 9007199254740993)
  TEST_FP_FROMINT_D(fcvt.d.l, rup, 0x4340000000000001, 0x1, 9007199254740993)
  TEST_FP_FROMINT_D(fcvt.d.l, rmm, 0x4340000000000001, 0x1, 9007199254740993)
  /* ---- d: float to integer, rounding ---- */
  TEST_FP_TOINT_D(fcvt.w.d, rne, 2, 0x1, 0x3ff8000000000000)  /* 1.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rne, 2, 0x1, 0x3ff8000000000000)  /* 1.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, 1, 0x1, 0x3ff8000000000000)  /* 1.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rtz, 1, 0x1, 0x3ff8000000000000)  /* 1.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rdn, 1, 0x1, 0x3ff8000000000000)  /* 1.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rdn, 1, 0x1, 0x3ff8000000000000)  /* 1.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rup, 2, 0x1, 0x3ff8000000000000)  /* 1.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rup, 2, 0x1, 0x3ff8000000000000)  /* 1.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rmm, 2, 0x1, 0x3ff8000000000000)  /* 1.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rmm, 2, 0x1, 0x3ff8000000000000)  /* 1.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rne, -2, 0x1, 0xbff8000000000000)  /* -1.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rne, -2, 0x1, 0xbff8000000000000)  /* -1.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, -1, 0x1, 0xbff8000000000000)  /* -1.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rtz, -1, 0x1, 0xbff8000000000000)  /* -1.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rdn, -2, 0x1, 0xbff8000000000000)  /* -1.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rdn, -2, 0x1, 0xbff8000000000000)  /* -1.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rup, -1, 0x1, 0xbff8000000000000)  /* -1.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rup, -1, 0x1, 0xbff8000000000000)  /* -1.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rmm, -2, 0x1, 0xbff8000000000000)  /* -1.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rmm, -2, 0x1, 0xbff8000000000000)  /* -1.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rne, 2, 0x1, 0x4004000000000000)  /* 2.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rne, 2, 0x1, 0x4004000000000000)  /* 2.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, 2, 0x1, 0x4004000000000000)  /* 2.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rtz, 2, 0x1, 0x4004000000000000)  /* 2.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rdn, 2, 0x1, 0x4004000000000000)  /* 2.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rdn, 2, 0x1, 0x4004000000000000)  /* 2.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rup, 3, 0x1, 0x4004000000000000)  /* 2.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rup, 3, 0x1, 0x4004000000000000)  /* 2.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rmm, 3, 0x1, 0x4004000000000000)  /* 2.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rmm, 3, 0x1, 0x4004000000000000)  /* 2.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rne, -2, 0x1, 0xc004000000000000)  /* -2.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rne, -2, 0x1, 0xc004000000000000)  /* -2.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, -2, 0x1, 0xc004000000000000)  /* -2.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rtz, -2, 0x1, 0xc004000000000000)  /* -2.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rdn, -3, 0x1, 0xc004000000000000)  /* -2.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rdn, -3, 0x1, 0xc004000000000000)  /* -2.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rup, -2, 0x1, 0xc004000000000000)  /* -2.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rup, -2, 0x1, 0xc004000000000000)  /* -2.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rmm, -3, 0x1, 0xc004000000000000)  /* -2.5 */
  TEST_FP_TOINT_D(fcvt.l.d, rmm, -3, 0x1, 0xc004000000000000)  /* -2.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rne, 0, 0x1, 0x3fd3333333333333)  /* 0.3 */
  TEST_FP_TOINT_D(fcvt.l.d, rne, 0, 0x1, 0x3fd3333333333333)  /* 0.3 */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, 0, 0x1, 0x3fd3333333333333)  /* 0.3 */
  TEST_FP_TOINT_D(fcvt.l.d, rtz, 0, 0x1, 0x3fd3333333333333)  /* 0.3 */
  TEST_FP_TOINT_D(fcvt.w.d, rdn, 0, 0x1, 0x3fd3333333333333)  /* 0.3 */
  TEST_FP_TOINT_D(fcvt.l.d, rdn, 0, 0x1, 0x3fd3333333333333)  /* 0.3 */
  TEST_FP_TOINT_D(fcvt.w.d, rup, 1, 0x1, 0x3fd3333333333333)  /* 0.3 */
  TEST_FP_TOINT_D(fcvt.l.d, rup, 1, 0x1, 0x3fd3333333333333)  /* 0.3 */
  TEST_FP_TOINT_D(fcvt.w.d, rmm, 0, 0x1, 0x3fd3333333333333)  /* 0.3 */
  TEST_FP_TOINT_D(fcvt.l.d, rmm, 0, 0x1, 0x3fd3333333333333)  /* 0.3 */
  TEST_FP_TOINT_D(fcvt.w.d, rne, -1, 0x1, 0xbfe6666666666666)  /* -0.7 */
  TEST_FP_TOINT_D(fcvt.l.d, rne, -1, 0x1, 0xbfe6666666666666)  /* -0.7 */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, 0, 0x1, 0xbfe6666666666666)  /* -0.7 */
  TEST_FP_TOINT_D(fcvt.l.d, rtz, 0, 0x1, 0xbfe6666666666666)  /* -0.7 */
  TEST_FP_TOINT_D(fcvt.w.d, rdn, -1, 0x1, 0xbfe6666666666666)  /* -0.7 */
  TEST_FP_TOINT_D(fcvt.l.d, rdn, -1, 0x1, 0xbfe6666666666666)  /* -0.7 */
  TEST_FP_TOINT_D(fcvt.w.d, rup, 0, 0x1, 0xbfe6666666666666)  /* -0.7 */
  TEST_FP_TOINT_D(fcvt.l.d, rup, 0, 0x1, 0xbfe6666666666666)  /* -0.7 */
  TEST_FP_TOINT_D(fcvt.w.d, rmm, -1, 0x1, 0xbfe6666666666666)  /* -0.7 */
  TEST_FP_TOINT_D(fcvt.l.d, rmm, -1, 0x1, 0xbfe6666666666666)  /* -0.7 */
  /* ---- d: ties, special values, exceptions ---- */
  TEST_FP_OP_D(fadd.d, rne, 0x3ff0000000000000, 0x1, 0x3ff0000000000000, 0x3ca0000000000000)  /* tie: to even */
  TEST_FP_OP_D(fadd.d, rmm, 0x3ff0000000000001, 0x1, 0x3ff0000000000000, 0x3ca0000000000000)  /* tie: away */
  TEST_FP_OP_D(fadd.d, rtz, 0x3ff0000000000000, 0x1, 0x3ff0000000000000, 0x3ca0000000000000)
  TEST_FP_OP_D(fadd.d, rup, 0x3ff0000000000001, 0x1, 0x3ff0000000000000, 0x3ca0000000000000)
  TEST_FP_OP_D(fadd.d, rne, 0x7ff8000000000000, 0x10, 0x7ff0000000000000, 0xfff0000000000000)  /* inf - inf */
  TEST_FP_OP_D(fsub.d, rne, 0x7ff8000000000000, 0x10, 0x7ff0000000000000, 0x7ff0000000000000)
  TEST_FP_OP_D(fadd.d, rne, 0x7ff0000000000000, 0x0, 0x7ff0000000000000, 0x3ff0000000000000)
  TEST_FP_OP_D(fadd.d, rne, 0x7ff8000000000000, 0x10, 0x7ff0000000000001, 0x3ff0000000000000)  /* sNaN operand: invalid, canonical NaN */
  TEST_FP_OP_D(fadd.d, rne, 0x7ff8000000000000, 0x0, 0x7ff8000000012345, 0x3ff0000000000000)  /* qNaN payload not propagated */
  TEST_FP_OP_D(fadd.d, rne, 0x7ff8000000000000, 0x0, 0xfff8000000000000, 0x3ff0000000000000)  /* sign of NaN not propagated */
  TEST_FP_OP_D(fmul.d, rne, 0x7ff8000000000000, 0x10, 0x7ff0000000000000, 0x0)  /* inf * 0 */
  TEST_FP_OP_D(fmul.d, rne, 0x8000000000000000, 0x0, 0xbff0000000000000, 0x0)  /* -1 * 0 = -0 */
  TEST_FP_OP_D(fadd.d, rne, 0x0, 0x0, 0x3ff0000000000000, 0xbff0000000000000)  /* x - x = +0 (rne) */
  TEST_FP_OP_D(fadd.d, rdn, 0x8000000000000000, 0x0, 0x3ff0000000000000, 0xbff0000000000000)  /* x - x = -0 (rdn) */
  TEST_FP_OP_D(fadd.d, rne, 0x8000000000000000, 0x0, 0x8000000000000000, 0x8000000000000000)
  TEST_FP_OP_D(fdiv.d, rne, 0x7ff0000000000000, 0x8, 0x3ff0000000000000, 0x0)  /* 1/0 */
  TEST_FP_OP_D(fdiv.d, rne, 0xfff0000000000000, 0x8, 0x3ff0000000000000, 0x8000000000000000)  /* 1/-0 */
  TEST_FP_OP_D(fdiv.d, rne, 0x7ff8000000000000, 0x10, 0x0, 0x0)  /* 0/0 */
  TEST_FP_OP_D(fdiv.d, rne, 0x7ff8000000000000, 0x10, 0x7ff0000000000000, 0x7ff0000000000000)
  TEST_FP_OP_D(fdiv.d, rne, 0x0, 0x0, 0x3ff0000000000000, 0x7ff0000000000000)
  TEST_FP_OP_D(fmul.d, rne, 0x7ff0000000000000, 0x5, 0x7fefffffffffffff, 0x4000000000000000)  /* overflow */
  TEST_FP_OP_D(fmul.d, rtz, 0x7fefffffffffffff, 0x5, 0x7fefffffffffffff, 0x4000000000000000)
  TEST_FP_OP_D(fmul.d, rdn, 0x7fefffffffffffff, 0x5, 0x7fefffffffffffff, 0x4000000000000000)
  TEST_FP_OP_D(fmul.d, rup, 0x7ff0000000000000, 0x5, 0x7fefffffffffffff, 0x4000000000000000)
  TEST_FP_OP_D(fmul.d, rmm, 0x7ff0000000000000, 0x5, 0x7fefffffffffffff, 0x4000000000000000)
  TEST_FP_OP_D(fmul.d, rdn, 0xfff0000000000000, 0x5, 0xffefffffffffffff, 0x4000000000000000)
  TEST_FP_OP_D(fmul.d, rup, 0xffefffffffffffff, 0x5, 0xffefffffffffffff, 0x4000000000000000)
  TEST_FP_OP_D(fmul.d, rtz, 0xffefffffffffffff, 0x5, 0xffefffffffffffff, 0x4000000000000000)
  TEST_FP_OP_D(fadd.d, rne, 0x7ff0000000000000, 0x5, 0x7fefffffffffffff, 0x7fefffffffffffff)
  TEST_FP_OP_D(fmul.d, rne, 0x0, 0x3, 0x1, 0x3fe0000000000000)  /* tiny and inexact: underflow */
  TEST_FP_OP_D(fmul.d, rup, 0x1, 0x3, 0x1, 0x3fe0000000000000)
  TEST_FP_OP_D(fmul.d, rdn, 0x8000000000000001, 0x3, 0x8000000000000001, 0x3fe0000000000000)
  TEST_FP_OP_D(fmul.d, rtz, 0x8000000000000000, 0x3, 0x8000000000000001, 0x3fe0000000000000)
  TEST_FP_OP_D(fmul.d, rne, 0x1, 0x0, 0x1, 0x3ff0000000000000)  /* exact subnormal: no flags */
  TEST_FP_OP_D(fsub.d, rne, 0xfffffffffffff, 0x0, 0x10000000000000, 0x1)  /* exact subnormal result */
  TEST_FP_OP_D(fdiv.d, rne, 0x8000000000000, 0x0, 0x10000000000000, 0x4000000000000000)  /* exact subnormal quotient */
  TEST_FP_OP1_D(fsqrt.d, rne, 0x7ff8000000000000, 0x10, 0xbff0000000000000)  /* sqrt(-1) */
  TEST_FP_OP1_D(fsqrt.d, rne, 0x8000000000000000, 0x0, 0x8000000000000000)  /* sqrt(-0) = -0 */
  TEST_FP_OP1_D(fsqrt.d, rne, 0x7ff0000000000000, 0x0, 0x7ff0000000000000)
  TEST_FP_OP1_D(fsqrt.d, rne, 0x4000000000000000, 0x0, 0x4010000000000000)  /* sqrt(4) exact */
  TEST_FP_OP1_D(fsqrt.d, rne, 0x7ff8000000000000, 0x10, 0x7ff0000000000001)
  TEST_FP_OP3_D(fmadd.d, rne, 0x7ff8000000000000, 0x10, 0x7ff0000000000000, 0x0, 0x7ff8000000000000)  /* inf*0 + qNaN: invalid */
  TEST_FP_OP3_D(fmadd.d, rne, 0x7ff8000000000000, 0x10, 0x7ff0000000000000, 0x3ff0000000000000, 0xfff0000000000000)  /* inf - inf */
  TEST_FP_OP3_D(fmadd.d, rne, 0x4008000000000000, 0x0, 0x3ff0000000000000, 0x4000000000000000, 0x3ff0000000000000)
  TEST_FP_OP3_D(fmsub.d, rne, 0x3ff0000000000000, 0x0, 0x3ff0000000000000, 0x4000000000000000, 0x3ff0000000000000)
  TEST_FP_OP3_D(fnmadd.d, rne, 0xc008000000000000, 0x0, 0x3ff0000000000000, 0x4000000000000000, 0x3ff0000000000000)  /* -(1*2+1) */
  TEST_FP_OP3_D(fnmsub.d, rne, 0xbff0000000000000, 0x0, 0x3ff0000000000000, 0x4000000000000000, 0x3ff0000000000000)  /* -(1*2)+1 */
  /* ---- d: min/max (IEEE 754-2019 minimumNumber/maximumNumber) ---- */
  TEST_FP_RR_D(fmin.d, 0x3ff0000000000000, 0x0, 0x3ff0000000000000, 0x4000000000000000)
  TEST_FP_RR_D(fmax.d, 0x4000000000000000, 0x0, 0x3ff0000000000000, 0x4000000000000000)
  TEST_FP_RR_D(fmin.d, 0xbff0000000000000, 0x0, 0xbff0000000000000, 0x3ff0000000000000)
  TEST_FP_RR_D(fmax.d, 0x3ff0000000000000, 0x0, 0xbff0000000000000, 0x3ff0000000000000)
  TEST_FP_RR_D(fmin.d, 0x8000000000000000, 0x0, 0x0, 0x8000000000000000)  /* -0 < +0 */
  TEST_FP_RR_D(fmin.d, 0x8000000000000000, 0x0, 0x8000000000000000, 0x0)
  TEST_FP_RR_D(fmax.d, 0x0, 0x0, 0x8000000000000000, 0x0)
  TEST_FP_RR_D(fmax.d, 0x0, 0x0, 0x0, 0x8000000000000000)
  TEST_FP_RR_D(fmin.d, 0x3ff0000000000000, 0x0, 0x7ff8000000000000, 0x3ff0000000000000)  /* one qNaN: the number */
  TEST_FP_RR_D(fmax.d, 0x3ff0000000000000, 0x0, 0x3ff0000000000000, 0x7ff8000000000000)
  TEST_FP_RR_D(fmin.d, 0x3ff0000000000000, 0x10, 0x7ff0000000000001, 0x3ff0000000000000)  /* sNaN: invalid, the number */
  TEST_FP_RR_D(fmax.d, 0x3ff0000000000000, 0x10, 0x3ff0000000000000, 0x7ff0000000000001)
  TEST_FP_RR_D(fmin.d, 0x7ff8000000000000, 0x0, 0x7ff8000000012345, 0x7ff8000000012345)  /* both NaN: canonical */
  TEST_FP_RR_D(fmax.d, 0x7ff8000000000000, 0x10, 0x7ff0000000000001, 0x7ff8000000000000)
  TEST_FP_RR_D(fmin.d, 0xfff0000000000000, 0x0, 0xfff0000000000000, 0x7fefffffffffffff)
  TEST_FP_RR_D(fmax.d, 0x7ff0000000000000, 0x0, 0x7ff0000000000000, 0xffefffffffffffff)
  /* ---- d: sign injection ---- */
  TEST_FP_RR_D(fsgnj.d, 0xbff0000000000000, 0x0, 0x3ff0000000000000, 0xbff0000000000000)
  TEST_FP_RR_D(fsgnj.d, 0x3ff0000000000000, 0x0, 0xbff0000000000000, 0x3ff0000000000000)
  TEST_FP_RR_D(fsgnjn.d, 0x3ff0000000000000, 0x0, 0x3ff0000000000000, 0xbff0000000000000)
  TEST_FP_RR_D(fsgnjn.d, 0xbff0000000000000, 0x0, 0x3ff0000000000000, 0x3ff0000000000000)
  TEST_FP_RR_D(fsgnjx.d, 0xbff0000000000000, 0x0, 0x3ff0000000000000, 0xbff0000000000000)
  TEST_FP_RR_D(fsgnjx.d, 0x3ff0000000000000, 0x0, 0xbff0000000000000, 0xbff0000000000000)
  TEST_FP_RR_D(fsgnjx.d, 0xbff0000000000000, 0x0, 0xbff0000000000000, 0x3ff0000000000000)
  TEST_FP_RR_D(fsgnj.d, 0xfff8000000000000, 0x0, 0x7ff8000000000000, 0xbff0000000000000)  /* NaN bits kept, no canonicalisation */
  TEST_FP_RR_D(fsgnjn.d, 0x7ff0000000000001, 0x0, 0x7ff0000000000001, 0xbff0000000000000)  /* sNaN: no invalid flag */
  /* ---- d: compares ---- */
  TEST_FP_CMP_D(feq.d, 1, 0x0, 0x3ff0000000000000, 0x3ff0000000000000)
  TEST_FP_CMP_D(feq.d, 0, 0x0, 0x3ff0000000000000, 0x4000000000000000)
  TEST_FP_CMP_D(feq.d, 1, 0x0, 0x0, 0x8000000000000000)  /* +0 == -0 */
  TEST_FP_CMP_D(feq.d, 0, 0x0, 0x7ff8000000000000, 0x7ff8000000000000)  /* quiet compare: qNaN no flag */
  TEST_FP_CMP_D(feq.d, 0, 0x10, 0x7ff0000000000001, 0x3ff0000000000000)  /* sNaN: invalid */
  TEST_FP_CMP_D(flt.d, 1, 0x0, 0x3ff0000000000000, 0x4000000000000000)
  TEST_FP_CMP_D(flt.d, 0, 0x0, 0x4000000000000000, 0x3ff0000000000000)
  TEST_FP_CMP_D(flt.d, 0, 0x0, 0x8000000000000000, 0x0)
  TEST_FP_CMP_D(flt.d, 1, 0x0, 0xfff0000000000000, 0xffefffffffffffff)
  TEST_FP_CMP_D(flt.d, 0, 0x10, 0x7ff8000000000000, 0x3ff0000000000000)  /* signaling compare: qNaN invalid */
  TEST_FP_CMP_D(fle.d, 1, 0x0, 0x3ff0000000000000, 0x3ff0000000000000)
  TEST_FP_CMP_D(fle.d, 1, 0x0, 0x8000000000000000, 0x0)
  TEST_FP_CMP_D(fle.d, 0, 0x0, 0x4000000000000000, 0x3ff0000000000000)
  TEST_FP_CMP_D(fle.d, 0, 0x10, 0x3ff0000000000000, 0x7ff8000000000000)
  TEST_FP_CMP_D(fle.d, 0, 0x10, 0x7ff0000000000001, 0x7ff0000000000001)
  /* ---- d: fclass ---- */
  TEST_FP_CLASS_D(0x1, 0xfff0000000000000)  /* NINF */
  TEST_FP_CLASS_D(0x2, 0xbff0000000000000)  /* NONE */
  TEST_FP_CLASS_D(0x4, 0x8000000000000001)  /* NMINSUB */
  TEST_FP_CLASS_D(0x8, 0x8000000000000000)  /* NZERO */
  TEST_FP_CLASS_D(0x10, 0x0)  /* PZERO */
  TEST_FP_CLASS_D(0x20, 0xfffffffffffff)  /* MAXSUB */
  TEST_FP_CLASS_D(0x40, 0x3ff0000000000000)  /* ONE */
  TEST_FP_CLASS_D(0x80, 0x7ff0000000000000)  /* PINF */
  TEST_FP_CLASS_D(0x100, 0x7ff0000000000001)  /* SNAN */
  TEST_FP_CLASS_D(0x200, 0x7ff8000000000000)  /* QNAN */
  TEST_FP_CLASS_D(0x200, 0xfff8000000000000)  /* NQNAN */
  TEST_FP_CLASS_D(0x40, 0x10000000000000)  /* MINN */
  TEST_FP_CLASS_D(0x40, 0x7fefffffffffffff)  /* MAX */

  /* ---- double -> integer: saturation, invalid, sign extension ---- */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, 0x7fffffff, NV, 0x41e65a0bc0000000)          /* 3e9 */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, 0xffffffff80000000, NV, 0xc1e65a0bc0000000)  /* -3e9 */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, 0x7fffffff, NX, 0x41dfffffffe00000)          /* 2^31-0.5 */
  TEST_FP_TOINT_D(fcvt.w.d, rne, 0x7fffffff, NV, 0x41dfffffffe00000)          /* rounds to 2^31 */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, 0xffffffff80000000, 0, 0xc1e0000000000000)   /* -2^31 */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, 0x7fffffff, NV, 0x7ff8000000000000)          /* NaN */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, 0x7fffffff, NV, 0x7ff0000000000000)          /* +inf */
  TEST_FP_TOINT_D(fcvt.w.d, rtz, 0xffffffff80000000, NV, 0xfff0000000000000)  /* -inf */
  TEST_FP_TOINT_D(fcvt.wu.d, rtz, 0xffffffffb2d05e00, 0, 0x41e65a0bc0000000)  /* 3e9: sign-extended */
  TEST_FP_TOINT_D(fcvt.wu.d, rtz, -1, 0, 0x41efffffffe00000)                  /* 2^32-1 */
  TEST_FP_TOINT_D(fcvt.wu.d, rtz, -1, NV, 0x41f0000000000000)                 /* 2^32 */
  TEST_FP_TOINT_D(fcvt.wu.d, rtz, 0, NV, 0xbff0000000000000)                  /* -1 */
  TEST_FP_TOINT_D(fcvt.wu.d, rtz, 0, NX, 0xbfe0000000000000)                  /* -0.5 */
  TEST_FP_TOINT_D(fcvt.wu.d, rtz, -1, NV, 0x7ff0000000000001)                 /* sNaN */
  TEST_FP_TOINT_D(fcvt.l.d, rtz, 0x7fffffffffffffff, NV, 0x43e0000000000000)  /* 2^63 */
  TEST_FP_TOINT_D(fcvt.l.d, rtz, 0x8000000000000000, 0, 0xc3e0000000000000)   /* -2^63 */
  TEST_FP_TOINT_D(fcvt.l.d, rtz, 0x8000000000000000, NV, 0xfff0000000000000)
  TEST_FP_TOINT_D(fcvt.l.d, rtz, 0x7fffffffffffffff, NV, 0xfff8000000000000)  /* -NaN: max */
  TEST_FP_TOINT_D(fcvt.l.d, rtz, -3000000000, 0, 0xc1e65a0bc0000000)
  TEST_FP_TOINT_D(fcvt.lu.d, rtz, 0x8000000000000000, 0, 0x43e0000000000000)
  TEST_FP_TOINT_D(fcvt.lu.d, rtz, -1, NV, 0x43f0000000000000)                 /* 2^64 */
  TEST_FP_TOINT_D(fcvt.lu.d, rtz, 0, NV, 0xbff0000000000000)
  TEST_FP_TOINT_D(fcvt.lu.d, rtz, -1, NV, 0x7ff0000000000000)
  TEST_FP_TOINT_D(fcvt.lu.d, rdn, 0, NV, 0xbfe0000000000000)                  /* -0.5 -> -1 */
  /* integer -> double, exact cases */
  TEST_FP_FROMINT_D(fcvt.d.w, , 0xc1e0000000000000, 0, 0x80000000)
  TEST_FP_FROMINT_D(fcvt.d.wu, , 0x41efffffffe00000, 0, -1)
  TEST_FP_FROMINT_D(fcvt.d.w, , 0x3ff0000000000000, 0, 0xabcdef0000000001)   /* upper bits ignored */
  TEST_FP_FROMINT_D(fcvt.d.l, rne, 0xc3e0000000000000, 0, 0x8000000000000000)
  TEST_FP_FROMINT_D(fcvt.d.lu, rne, 0x43e0000000000000, 0, 0x8000000000000000)
  TEST_FP_FROMINT_D(fcvt.d.l, rne, 0, 0, 0)

  /* ---- double <-> single ---- */
  TEST_FP_CVT(d, s, fcvt.s.d, rne, 0x3eaaaaab, 0x1, 0x3fd5555555555555)  /* 0.3333333333333333 */
  TEST_FP_CVT(d, s, fcvt.s.d, rtz, 0x3eaaaaaa, 0x1, 0x3fd5555555555555)  /* 0.3333333333333333 */
  TEST_FP_CVT(d, s, fcvt.s.d, rdn, 0x3eaaaaaa, 0x1, 0x3fd5555555555555)  /* 0.3333333333333333 */
  TEST_FP_CVT(d, s, fcvt.s.d, rup, 0x3eaaaaab, 0x1, 0x3fd5555555555555)  /* 0.3333333333333333 */
  TEST_FP_CVT(d, s, fcvt.s.d, rmm, 0x3eaaaaab, 0x1, 0x3fd5555555555555)  /* 0.3333333333333333 */
  TEST_FP_CVT(d, s, fcvt.s.d, rne, 0xbeaaaaab, 0x1, 0xbfd5555555555555)  /* -0.3333333333333333 */
  TEST_FP_CVT(d, s, fcvt.s.d, rtz, 0xbeaaaaaa, 0x1, 0xbfd5555555555555)  /* -0.3333333333333333 */
  TEST_FP_CVT(d, s, fcvt.s.d, rdn, 0xbeaaaaab, 0x1, 0xbfd5555555555555)  /* -0.3333333333333333 */
  TEST_FP_CVT(d, s, fcvt.s.d, rup, 0xbeaaaaaa, 0x1, 0xbfd5555555555555)  /* -0.3333333333333333 */
  TEST_FP_CVT(d, s, fcvt.s.d, rmm, 0xbeaaaaab, 0x1, 0xbfd5555555555555)  /* -0.3333333333333333 */
  TEST_FP_CVT(d, s, fcvt.s.d, rne, 0x3dcccccd, 0x1, 0x3fb999999999999a)  /* 0.1 */
  TEST_FP_CVT(d, s, fcvt.s.d, rtz, 0x3dcccccc, 0x1, 0x3fb999999999999a)  /* 0.1 */
  TEST_FP_CVT(d, s, fcvt.s.d, rdn, 0x3dcccccc, 0x1, 0x3fb999999999999a)  /* 0.1 */
  TEST_FP_CVT(d, s, fcvt.s.d, rup, 0x3dcccccd, 0x1, 0x3fb999999999999a)  /* 0.1 */
  TEST_FP_CVT(d, s, fcvt.s.d, rmm, 0x3dcccccd, 0x1, 0x3fb999999999999a)  /* 0.1 */
  TEST_FP_CVT(d, s, fcvt.s.d, rne, 0xbf2aaaab, 0x1, 0xbfe5555555555555)  /* -0.6666666666666666 */
  TEST_FP_CVT(d, s, fcvt.s.d, rtz, 0xbf2aaaaa, 0x1, 0xbfe5555555555555)  /* -0.6666666666666666 */
  TEST_FP_CVT(d, s, fcvt.s.d, rdn, 0xbf2aaaab, 0x1, 0xbfe5555555555555)  /* -0.6666666666666666 */
  TEST_FP_CVT(d, s, fcvt.s.d, rup, 0xbf2aaaaa, 0x1, 0xbfe5555555555555)  /* -0.6666666666666666 */
  TEST_FP_CVT(d, s, fcvt.s.d, rmm, 0xbf2aaaab, 0x1, 0xbfe5555555555555)  /* -0.6666666666666666 */
  TEST_FP_CVT(d, s, fcvt.s.d, rne, 0x7f800000, OF | NX, 0x7fefffffffffffff)   /* overflow */
  TEST_FP_CVT(d, s, fcvt.s.d, rtz, 0x7f7fffff, OF | NX, 0x7fefffffffffffff)
  TEST_FP_CVT(d, s, fcvt.s.d, rne, 0, UF | NX, 0x01a56e1fc2f8f359)            /* 1e-300 */
  TEST_FP_CVT(d, s, fcvt.s.d, rup, 1, UF | NX, 0x01a56e1fc2f8f359)
  TEST_FP_CVT(d, s, fcvt.s.d, rne, 0x7fc00000, 0, 0x7ff8000000012345)         /* qNaN: canonical */
  TEST_FP_CVT(d, s, fcvt.s.d, rne, 0x7fc00000, NV, 0x7ff0000000000001)        /* sNaN: invalid */
  TEST_FP_CVT(d, s, fcvt.s.d, rne, 0xff800000, 0, 0xfff0000000000000)
  TEST_FP_CVT(d, s, fcvt.s.d, rne, 0x80000000, 0, 0x8000000000000000)
  TEST_FP_CVT(s, d, fcvt.d.s, , 0x3fd5555560000000, 0, 0x3eaaaaab)            /* exact */
  TEST_FP_CVT(s, d, fcvt.d.s, , 0x36a0000000000000, 0, 0x00000001)            /* subnormal -> normal */
  TEST_FP_CVT(s, d, fcvt.d.s, , 0x7ff8000000000000, 0, 0x7fc12345)            /* canonical */
  TEST_FP_CVT(s, d, fcvt.d.s, , 0x7ff8000000000000, NV, 0xff800001)           /* sNaN */
  TEST_FP_CVT(s, d, fcvt.d.s, , 0xfff0000000000000, 0, 0xff800000)

  /* ---- FMV.X.D / FMV.D.X, FLD / FSD ---- */
  TEST_CASE
  li t0, 0x8000000000000001
  fmv.d.x fa0, t0
  fmv.x.d a0, fa0
  ASSERT_EQ(a0, 0x8000000000000001)
  li t0, 0x7ff0000000000001
  fmv.d.x fa0, t0                 /* sNaN moved unchanged, no flags */
  fsflagsi 0
  fmv.x.d a0, fa0
  ASSERT_EQ(a0, 0x7ff0000000000001)
  frflags a0
  ASSERT_EQ(a0, 0)
  TEST_CASE
  la a1, ddata
  fld fa0, 0(a1)
  fmv.x.d a0, fa0
  ASSERT_EQ(a0, 0x400921fb54442d18)
  fld fa1, 8(a1)
  fsd fa1, 16(a1)
  ld a0, 16(a1)
  ASSERT_EQ(a0, 0xfff0000000000001)
  fsd fa0, -8(a1)
  ld a0, -8(a1)
  ASSERT_EQ(a0, 0x400921fb54442d18)
  TEST_CASE
  /* a single-precision register value seen by a double op: just bits */
  li t0, 0x3f800000
  fmv.w.x fa1, t0                 /* 0xffffffff3f800000 = a NaN as double */
  fsflagsi 0
  fadd.d fa0, fa1, fa1
  fmv.x.d a0, fa0
  ASSERT_EQ(a0, 0x7ff8000000000000)
  frflags a0
  ASSERT_EQ(a0, 0)                /* it is a quiet NaN */
  TEST_CASE
  /* FSD of a single value stores the boxed 64 bits */
  la a1, ddata
  fsd fa1, 24(a1)
  ld a0, 24(a1)
  ASSERT_EQ(a0, 0xffffffff3f800000)

  /* ---- fused ops keep the exact product (1/3 * 3 - 1 != 0) ---- */
  TEST_CASE
  li t0, 0x3fd5555555555555
  fmv.d.x fa1, t0
  li t0, 0x4008000000000000
  fmv.d.x fa2, t0
  li t0, 0xbff0000000000000
  fmv.d.x fa3, t0
  fmul.d fa4, fa1, fa2
  fadd.d fa4, fa4, fa3
  fmv.x.d a0, fa4
  ASSERT_EQ(a0, 0)                /* unfused: exactly zero */
  fmadd.d fa4, fa1, fa2, fa3
  fmv.x.d a0, fa4
  ASSERT_EQ(a0, 0xbc90000000000000)  /* fused: -2^-54 */

TEST_END

  .data
  .align 4
  .dword 0
ddata:
  .dword 0x400921fb54442d18   /* pi */
  .dword 0xfff0000000000001
  .zero 32
