/* rv64f.S - F extension: arithmetic in every static rounding mode and
 * with dynamic frm, fflags after each operation, special values,
 * conversions with saturation, NaN-boxing, moves, loads/stores, fcsr,
 * invalid rounding modes and mstatus.FS tracking.
 * The rounded results of the inexact vectors were computed with exact
 * arbitrary-precision arithmetic (each mode separately). */
#include "test.h"

#define NV 0x10
#define DZ 0x08
#define OF 0x04
#define UF 0x02
#define NX 0x01

TEST_BEGIN
  /* ---- s: add/sub/mul/div in every rounding mode ---- */
  TEST_FP_OP_S(fadd.s, rne, 0x3eaaac8a, 0x1, 0x3eaaaaab, 0x376facad)  /* 0.3333333432674408 fadd 1.4285714314610232e-05 */
  TEST_FP_OP_S(fadd.s, rtz, 0x3eaaac8a, 0x1, 0x3eaaaaab, 0x376facad)  /* 0.3333333432674408 fadd 1.4285714314610232e-05 */
  TEST_FP_OP_S(fadd.s, rdn, 0x3eaaac8a, 0x1, 0x3eaaaaab, 0x376facad)  /* 0.3333333432674408 fadd 1.4285714314610232e-05 */
  TEST_FP_OP_S(fadd.s, rup, 0x3eaaac8b, 0x1, 0x3eaaaaab, 0x376facad)  /* 0.3333333432674408 fadd 1.4285714314610232e-05 */
  TEST_FP_OP_S(fadd.s, rmm, 0x3eaaac8a, 0x1, 0x3eaaaaab, 0x376facad)  /* 0.3333333432674408 fadd 1.4285714314610232e-05 */
  TEST_FP_OP_DYN_S(fadd.s, 0, 0x3eaaac8a, 0x1, 0x3eaaaaab, 0x376facad)
  TEST_FP_OP_DYN_S(fadd.s, 1, 0x3eaaac8a, 0x1, 0x3eaaaaab, 0x376facad)
  TEST_FP_OP_DYN_S(fadd.s, 2, 0x3eaaac8a, 0x1, 0x3eaaaaab, 0x376facad)
  TEST_FP_OP_DYN_S(fadd.s, 3, 0x3eaaac8b, 0x1, 0x3eaaaaab, 0x376facad)
  TEST_FP_OP_DYN_S(fadd.s, 4, 0x3eaaac8a, 0x1, 0x3eaaaaab, 0x376facad)
  TEST_FP_OP_S(fadd.s, rne, 0xbeaaac8a, 0x1, 0xbeaaaaab, 0xb76facad)  /* -0.3333333432674408 fadd -1.4285714314610232e-05 */
  TEST_FP_OP_S(fadd.s, rtz, 0xbeaaac8a, 0x1, 0xbeaaaaab, 0xb76facad)  /* -0.3333333432674408 fadd -1.4285714314610232e-05 */
  TEST_FP_OP_S(fadd.s, rdn, 0xbeaaac8b, 0x1, 0xbeaaaaab, 0xb76facad)  /* -0.3333333432674408 fadd -1.4285714314610232e-05 */
  TEST_FP_OP_S(fadd.s, rup, 0xbeaaac8a, 0x1, 0xbeaaaaab, 0xb76facad)  /* -0.3333333432674408 fadd -1.4285714314610232e-05 */
  TEST_FP_OP_S(fadd.s, rmm, 0xbeaaac8a, 0x1, 0xbeaaaaab, 0xb76facad)  /* -0.3333333432674408 fadd -1.4285714314610232e-05 */
  TEST_FP_OP_DYN_S(fadd.s, 0, 0xbeaaac8a, 0x1, 0xbeaaaaab, 0xb76facad)
  TEST_FP_OP_DYN_S(fadd.s, 1, 0xbeaaac8a, 0x1, 0xbeaaaaab, 0xb76facad)
  TEST_FP_OP_DYN_S(fadd.s, 2, 0xbeaaac8b, 0x1, 0xbeaaaaab, 0xb76facad)
  TEST_FP_OP_DYN_S(fadd.s, 3, 0xbeaaac8a, 0x1, 0xbeaaaaab, 0xb76facad)
  TEST_FP_OP_DYN_S(fadd.s, 4, 0xbeaaac8a, 0x1, 0xbeaaaaab, 0xb76facad)
  TEST_FP_OP_S(fsub.s, rne, 0x405552fe, 0x1, 0x40555555, 0x3915cbec)  /* 3.3333332538604736 fsub 0.0001428571413271129 */
  TEST_FP_OP_S(fsub.s, rtz, 0x405552fd, 0x1, 0x40555555, 0x3915cbec)  /* 3.3333332538604736 fsub 0.0001428571413271129 */
  TEST_FP_OP_S(fsub.s, rdn, 0x405552fd, 0x1, 0x40555555, 0x3915cbec)  /* 3.3333332538604736 fsub 0.0001428571413271129 */
  TEST_FP_OP_S(fsub.s, rup, 0x405552fe, 0x1, 0x40555555, 0x3915cbec)  /* 3.3333332538604736 fsub 0.0001428571413271129 */
  TEST_FP_OP_S(fsub.s, rmm, 0x405552fe, 0x1, 0x40555555, 0x3915cbec)  /* 3.3333332538604736 fsub 0.0001428571413271129 */
  TEST_FP_OP_DYN_S(fsub.s, 0, 0x405552fe, 0x1, 0x40555555, 0x3915cbec)
  TEST_FP_OP_DYN_S(fsub.s, 1, 0x405552fd, 0x1, 0x40555555, 0x3915cbec)
  TEST_FP_OP_DYN_S(fsub.s, 2, 0x405552fd, 0x1, 0x40555555, 0x3915cbec)
  TEST_FP_OP_DYN_S(fsub.s, 3, 0x405552fe, 0x1, 0x40555555, 0x3915cbec)
  TEST_FP_OP_DYN_S(fsub.s, 4, 0x405552fe, 0x1, 0x40555555, 0x3915cbec)
  TEST_FP_OP_S(fsub.s, rne, 0xc05557ac, 0x1, 0xc0555555, 0x3915cbec)  /* -3.3333332538604736 fsub 0.0001428571413271129 */
  TEST_FP_OP_S(fsub.s, rtz, 0xc05557ac, 0x1, 0xc0555555, 0x3915cbec)  /* -3.3333332538604736 fsub 0.0001428571413271129 */
  TEST_FP_OP_S(fsub.s, rdn, 0xc05557ad, 0x1, 0xc0555555, 0x3915cbec)  /* -3.3333332538604736 fsub 0.0001428571413271129 */
  TEST_FP_OP_S(fsub.s, rup, 0xc05557ac, 0x1, 0xc0555555, 0x3915cbec)  /* -3.3333332538604736 fsub 0.0001428571413271129 */
  TEST_FP_OP_S(fsub.s, rmm, 0xc05557ac, 0x1, 0xc0555555, 0x3915cbec)  /* -3.3333332538604736 fsub 0.0001428571413271129 */
  TEST_FP_OP_DYN_S(fsub.s, 0, 0xc05557ac, 0x1, 0xc0555555, 0x3915cbec)
  TEST_FP_OP_DYN_S(fsub.s, 1, 0xc05557ac, 0x1, 0xc0555555, 0x3915cbec)
  TEST_FP_OP_DYN_S(fsub.s, 2, 0xc05557ad, 0x1, 0xc0555555, 0x3915cbec)
  TEST_FP_OP_DYN_S(fsub.s, 3, 0xc05557ac, 0x1, 0xc0555555, 0x3915cbec)
  TEST_FP_OP_DYN_S(fsub.s, 4, 0xc05557ac, 0x1, 0xc0555555, 0x3915cbec)
  TEST_FP_OP_S(fmul.s, rne, 0x3dc30c32, 0x1, 0x3eaaaaab, 0x3e924925)  /* 0.3333333432674408 fmul 0.2857142984867096 */
  TEST_FP_OP_S(fmul.s, rtz, 0x3dc30c31, 0x1, 0x3eaaaaab, 0x3e924925)  /* 0.3333333432674408 fmul 0.2857142984867096 */
  TEST_FP_OP_S(fmul.s, rdn, 0x3dc30c31, 0x1, 0x3eaaaaab, 0x3e924925)  /* 0.3333333432674408 fmul 0.2857142984867096 */
  TEST_FP_OP_S(fmul.s, rup, 0x3dc30c32, 0x1, 0x3eaaaaab, 0x3e924925)  /* 0.3333333432674408 fmul 0.2857142984867096 */
  TEST_FP_OP_S(fmul.s, rmm, 0x3dc30c32, 0x1, 0x3eaaaaab, 0x3e924925)  /* 0.3333333432674408 fmul 0.2857142984867096 */
  TEST_FP_OP_DYN_S(fmul.s, 0, 0x3dc30c32, 0x1, 0x3eaaaaab, 0x3e924925)
  TEST_FP_OP_DYN_S(fmul.s, 1, 0x3dc30c31, 0x1, 0x3eaaaaab, 0x3e924925)
  TEST_FP_OP_DYN_S(fmul.s, 2, 0x3dc30c31, 0x1, 0x3eaaaaab, 0x3e924925)
  TEST_FP_OP_DYN_S(fmul.s, 3, 0x3dc30c32, 0x1, 0x3eaaaaab, 0x3e924925)
  TEST_FP_OP_DYN_S(fmul.s, 4, 0x3dc30c32, 0x1, 0x3eaaaaab, 0x3e924925)
  TEST_FP_OP_S(fmul.s, rne, 0xbdc30c32, 0x1, 0xbeaaaaab, 0x3e924925)  /* -0.3333333432674408 fmul 0.2857142984867096 */
  TEST_FP_OP_S(fmul.s, rtz, 0xbdc30c31, 0x1, 0xbeaaaaab, 0x3e924925)  /* -0.3333333432674408 fmul 0.2857142984867096 */
  TEST_FP_OP_S(fmul.s, rdn, 0xbdc30c32, 0x1, 0xbeaaaaab, 0x3e924925)  /* -0.3333333432674408 fmul 0.2857142984867096 */
  TEST_FP_OP_S(fmul.s, rup, 0xbdc30c31, 0x1, 0xbeaaaaab, 0x3e924925)  /* -0.3333333432674408 fmul 0.2857142984867096 */
  TEST_FP_OP_S(fmul.s, rmm, 0xbdc30c32, 0x1, 0xbeaaaaab, 0x3e924925)  /* -0.3333333432674408 fmul 0.2857142984867096 */
  TEST_FP_OP_DYN_S(fmul.s, 0, 0xbdc30c32, 0x1, 0xbeaaaaab, 0x3e924925)
  TEST_FP_OP_DYN_S(fmul.s, 1, 0xbdc30c31, 0x1, 0xbeaaaaab, 0x3e924925)
  TEST_FP_OP_DYN_S(fmul.s, 2, 0xbdc30c32, 0x1, 0xbeaaaaab, 0x3e924925)
  TEST_FP_OP_DYN_S(fmul.s, 3, 0xbdc30c31, 0x1, 0xbeaaaaab, 0x3e924925)
  TEST_FP_OP_DYN_S(fmul.s, 4, 0xbdc30c32, 0x1, 0xbeaaaaab, 0x3e924925)
  TEST_FP_OP_S(fdiv.s, rne, 0x3eaaaaab, 0x1, 0x3f800000, 0x40400000)  /* 1 fdiv 3 */
  TEST_FP_OP_S(fdiv.s, rtz, 0x3eaaaaaa, 0x1, 0x3f800000, 0x40400000)  /* 1 fdiv 3 */
  TEST_FP_OP_S(fdiv.s, rdn, 0x3eaaaaaa, 0x1, 0x3f800000, 0x40400000)  /* 1 fdiv 3 */
  TEST_FP_OP_S(fdiv.s, rup, 0x3eaaaaab, 0x1, 0x3f800000, 0x40400000)  /* 1 fdiv 3 */
  TEST_FP_OP_S(fdiv.s, rmm, 0x3eaaaaab, 0x1, 0x3f800000, 0x40400000)  /* 1 fdiv 3 */
  TEST_FP_OP_DYN_S(fdiv.s, 0, 0x3eaaaaab, 0x1, 0x3f800000, 0x40400000)
  TEST_FP_OP_DYN_S(fdiv.s, 1, 0x3eaaaaaa, 0x1, 0x3f800000, 0x40400000)
  TEST_FP_OP_DYN_S(fdiv.s, 2, 0x3eaaaaaa, 0x1, 0x3f800000, 0x40400000)
  TEST_FP_OP_DYN_S(fdiv.s, 3, 0x3eaaaaab, 0x1, 0x3f800000, 0x40400000)
  TEST_FP_OP_DYN_S(fdiv.s, 4, 0x3eaaaaab, 0x1, 0x3f800000, 0x40400000)
  TEST_FP_OP_S(fdiv.s, rne, 0xbf2aaaab, 0x1, 0xc0000000, 0x40400000)  /* -2 fdiv 3 */
  TEST_FP_OP_S(fdiv.s, rtz, 0xbf2aaaaa, 0x1, 0xc0000000, 0x40400000)  /* -2 fdiv 3 */
  TEST_FP_OP_S(fdiv.s, rdn, 0xbf2aaaab, 0x1, 0xc0000000, 0x40400000)  /* -2 fdiv 3 */
  TEST_FP_OP_S(fdiv.s, rup, 0xbf2aaaaa, 0x1, 0xc0000000, 0x40400000)  /* -2 fdiv 3 */
  TEST_FP_OP_S(fdiv.s, rmm, 0xbf2aaaab, 0x1, 0xc0000000, 0x40400000)  /* -2 fdiv 3 */
  TEST_FP_OP_DYN_S(fdiv.s, 0, 0xbf2aaaab, 0x1, 0xc0000000, 0x40400000)
  TEST_FP_OP_DYN_S(fdiv.s, 1, 0xbf2aaaaa, 0x1, 0xc0000000, 0x40400000)
  TEST_FP_OP_DYN_S(fdiv.s, 2, 0xbf2aaaab, 0x1, 0xc0000000, 0x40400000)
  TEST_FP_OP_DYN_S(fdiv.s, 3, 0xbf2aaaaa, 0x1, 0xc0000000, 0x40400000)
  TEST_FP_OP_DYN_S(fdiv.s, 4, 0xbf2aaaab, 0x1, 0xc0000000, 0x40400000)
  /* ---- s: sqrt ---- */
  TEST_FP_OP1_S(fsqrt.s, rne, 0x3fb504f3, 0x1, 0x40000000)  /* sqrt(2) */
  TEST_FP_OP1_S(fsqrt.s, rtz, 0x3fb504f3, 0x1, 0x40000000)  /* sqrt(2) */
  TEST_FP_OP1_S(fsqrt.s, rdn, 0x3fb504f3, 0x1, 0x40000000)  /* sqrt(2) */
  TEST_FP_OP1_S(fsqrt.s, rup, 0x3fb504f4, 0x1, 0x40000000)  /* sqrt(2) */
  TEST_FP_OP1_S(fsqrt.s, rmm, 0x3fb504f3, 0x1, 0x40000000)  /* sqrt(2) */
  TEST_FP_OP1_S(fsqrt.s, rne, 0x404a62c2, 0x1, 0x41200000)  /* sqrt(10) */
  TEST_FP_OP1_S(fsqrt.s, rtz, 0x404a62c1, 0x1, 0x41200000)  /* sqrt(10) */
  TEST_FP_OP1_S(fsqrt.s, rdn, 0x404a62c1, 0x1, 0x41200000)  /* sqrt(10) */
  TEST_FP_OP1_S(fsqrt.s, rup, 0x404a62c2, 0x1, 0x41200000)  /* sqrt(10) */
  TEST_FP_OP1_S(fsqrt.s, rmm, 0x404a62c2, 0x1, 0x41200000)  /* sqrt(10) */
  TEST_FP_OP1_S(fsqrt.s, rne, 0x3f0c378c, 0x1, 0x3e99999a)  /* sqrt(0.30000001192092896) */
  TEST_FP_OP1_S(fsqrt.s, rtz, 0x3f0c378b, 0x1, 0x3e99999a)  /* sqrt(0.30000001192092896) */
  TEST_FP_OP1_S(fsqrt.s, rdn, 0x3f0c378b, 0x1, 0x3e99999a)  /* sqrt(0.30000001192092896) */
  TEST_FP_OP1_S(fsqrt.s, rup, 0x3f0c378c, 0x1, 0x3e99999a)  /* sqrt(0.30000001192092896) */
  TEST_FP_OP1_S(fsqrt.s, rmm, 0x3f0c378c, 0x1, 0x3e99999a)  /* sqrt(0.30000001192092896) */
  /* ---- s: fused multiply-add family ---- */
  TEST_FP_OP3_S(fmadd.s, rne, 0x33000000, 0x0, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fmadd.s, rtz, 0x33000000, 0x0, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fmadd.s, rdn, 0x33000000, 0x0, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fmadd.s, rup, 0x33000000, 0x0, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fmadd.s, rmm, 0x33000000, 0x0, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fmsub.s, rne, 0x40000000, 0x1, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fmsub.s, rtz, 0x40000000, 0x1, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fmsub.s, rdn, 0x40000000, 0x1, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fmsub.s, rup, 0x40000001, 0x1, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fmsub.s, rmm, 0x40000000, 0x1, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fnmsub.s, rne, 0xc0000000, 0x1, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fnmsub.s, rtz, 0xc0000000, 0x1, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fnmsub.s, rdn, 0xc0000001, 0x1, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fnmsub.s, rup, 0xc0000000, 0x1, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fnmsub.s, rmm, 0xc0000000, 0x1, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fnmadd.s, rne, 0xb3000000, 0x0, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fnmadd.s, rtz, 0xb3000000, 0x0, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fnmadd.s, rdn, 0xb3000000, 0x0, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fnmadd.s, rup, 0xb3000000, 0x0, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fnmadd.s, rmm, 0xb3000000, 0x0, 0x3eaaaaab, 0x40400000, 0xbf800000)
  TEST_FP_OP3_S(fmadd.s, rne, 0x3ef9e79f, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fmadd.s, rtz, 0x3ef9e79e, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fmadd.s, rdn, 0x3ef9e79e, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fmadd.s, rup, 0x3ef9e79f, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fmadd.s, rmm, 0x3ef9e79f, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fmsub.s, rne, 0xbc430c2b, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fmsub.s, rtz, 0xbc430c2b, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fmsub.s, rdn, 0xbc430c2c, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fmsub.s, rup, 0xbc430c2b, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fmsub.s, rmm, 0xbc430c2b, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fnmsub.s, rne, 0x3c430c2b, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fnmsub.s, rtz, 0x3c430c2b, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fnmsub.s, rdn, 0x3c430c2b, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fnmsub.s, rup, 0x3c430c2c, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fnmsub.s, rmm, 0x3c430c2b, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fnmadd.s, rne, 0xbef9e79f, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fnmadd.s, rtz, 0xbef9e79e, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fnmadd.s, rdn, 0xbef9e79f, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fnmadd.s, rup, 0xbef9e79e, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  TEST_FP_OP3_S(fnmadd.s, rmm, 0xbef9e79f, 0x1, 0x3e124925, 0x3fd55555, 0x3e800000)
  /* ---- s: integer to float, rounding ---- */
  TEST_FP_FROMINT_S(fcvt.s.w, rne, 0x4f000000, 0x1, 2147483647)
  TEST_FP_FROMINT_S(fcvt.s.w, rtz, 0x4effffff, 0x1, 2147483647)
  TEST_FP_FROMINT_S(fcvt.s.w, rdn, 0x4effffff, 0x1, 2147483647)
  TEST_FP_FROMINT_S(fcvt.s.w, rup, 0x4f000000, 0x1, 2147483647)
  TEST_FP_FROMINT_S(fcvt.s.w, rmm, 0x4f000000, 0x1, 2147483647)
  TEST_FP_FROMINT_S(fcvt.s.w, rne, 0xcf000000, 0x1, -2147483647)
  TEST_FP_FROMINT_S(fcvt.s.w, rtz, 0xceffffff, 0x1, -2147483647)
  TEST_FP_FROMINT_S(fcvt.s.w, rdn, 0xcf000000, 0x1, -2147483647)
  TEST_FP_FROMINT_S(fcvt.s.w, rup, 0xceffffff, 0x1, -2147483647)
  TEST_FP_FROMINT_S(fcvt.s.w, rmm, 0xcf000000, 0x1, -2147483647)
  TEST_FP_FROMINT_S(fcvt.s.wu, rne, 0x4f800000, 0x1, -1)
  TEST_FP_FROMINT_S(fcvt.s.wu, rtz, 0x4f7fffff, 0x1, -1)
  TEST_FP_FROMINT_S(fcvt.s.wu, rdn, 0x4f7fffff, 0x1, -1)
  TEST_FP_FROMINT_S(fcvt.s.wu, rup, 0x4f800000, 0x1, -1)
  TEST_FP_FROMINT_S(fcvt.s.wu, rmm, 0x4f800000, 0x1, -1)
  TEST_FP_FROMINT_S(fcvt.s.l, rne, 0x5f000000, 0x1, 9223372036854775807)
  TEST_FP_FROMINT_S(fcvt.s.l, rtz, 0x5effffff, 0x1, 9223372036854775807)
  TEST_FP_FROMINT_S(fcvt.s.l, rdn, 0x5effffff, 0x1, 9223372036854775807)
  TEST_FP_FROMINT_S(fcvt.s.l, rup, 0x5f000000, 0x1, 9223372036854775807)
  TEST_FP_FROMINT_S(fcvt.s.l, rmm, 0x5f000000, 0x1, 9223372036854775807)
  TEST_FP_FROMINT_S(fcvt.s.l, rne, 0xdd000000, 0x1, -576460752303423487)
  TEST_FP_FROMINT_S(fcvt.s.l, rtz, 0xdcffffff, 0x1, -576460752303423487)
  TEST_FP_FROMINT_S(fcvt.s.l, rdn, 0xdd000000, 0x1, -576460752303423487)
  TEST_FP_FROMINT_S(fcvt.s.l, rup, 0xdcffffff, 0x1, -576460752303423487)
  TEST_FP_FROMINT_S(fcvt.s.l, rmm, 0xdd000000, 0x1, -576460752303423487)
  TEST_FP_FROMINT_S(fcvt.s.lu, rne, 0x5f800000, 0x1, -1)
  TEST_FP_FROMINT_S(fcvt.s.lu, rtz, 0x5f7fffff, 0x1, -1)
  TEST_FP_FROMINT_S(fcvt.s.lu, rdn, 0x5f7fffff, 0x1, -1)
  TEST_FP_FROMINT_S(fcvt.s.lu, rup, 0x5f800000, 0x1, -1)
  TEST_FP_FROMINT_S(fcvt.s.lu, rmm, 0x5f800000, 0x1, -1)
  TEST_FP_FROMINT_S(fcvt.s.w, rne, 0x4b800000, 0x1, 16777217)
  TEST_FP_FROMINT_S(fcvt.s.w, rtz, 0x4b800000, 0x1, 16777217)
  TEST_FP_FROMINT_S(fcvt.s.w, rdn, 0x4b800000, 0x1, 16777217)
  TEST_FP_FROMINT_S(fcvt.s.w, rup, 0x4b800001, 0x1, 16777217)
  TEST_FP_FROMINT_S(fcvt.s.w, rmm, 0x4b800001, 0x1, 16777217)
  TEST_FP_FROMINT_S(fcvt.s.l, rne, 0x5a000000, 0x1, 9007199254740993)
  TEST_FP_FROMINT_S(fcvt.s.l, rtz, 0x5a000000, 0x1, 9007199254740993)
  TEST_FP_FROMINT_S(fcvt.s.l, rdn, 0x5a000000, 0x1, 9007199254740993)
  TEST_FP_FROMINT_S(fcvt.s.l, rup, 0x5a000001, 0x1, 9007199254740993)
  TEST_FP_FROMINT_S(fcvt.s.l, rmm, 0x5a000000, 0x1, 9007199254740993)
  /* ---- s: float to integer, rounding ---- */
  TEST_FP_TOINT_S(fcvt.w.s, rne, 2, 0x1, 0x3fc00000)  /* 1.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rne, 2, 0x1, 0x3fc00000)  /* 1.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 1, 0x1, 0x3fc00000)  /* 1.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rtz, 1, 0x1, 0x3fc00000)  /* 1.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rdn, 1, 0x1, 0x3fc00000)  /* 1.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rdn, 1, 0x1, 0x3fc00000)  /* 1.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rup, 2, 0x1, 0x3fc00000)  /* 1.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rup, 2, 0x1, 0x3fc00000)  /* 1.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rmm, 2, 0x1, 0x3fc00000)  /* 1.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rmm, 2, 0x1, 0x3fc00000)  /* 1.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rne, -2, 0x1, 0xbfc00000)  /* -1.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rne, -2, 0x1, 0xbfc00000)  /* -1.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, -1, 0x1, 0xbfc00000)  /* -1.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rtz, -1, 0x1, 0xbfc00000)  /* -1.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rdn, -2, 0x1, 0xbfc00000)  /* -1.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rdn, -2, 0x1, 0xbfc00000)  /* -1.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rup, -1, 0x1, 0xbfc00000)  /* -1.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rup, -1, 0x1, 0xbfc00000)  /* -1.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rmm, -2, 0x1, 0xbfc00000)  /* -1.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rmm, -2, 0x1, 0xbfc00000)  /* -1.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rne, 2, 0x1, 0x40200000)  /* 2.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rne, 2, 0x1, 0x40200000)  /* 2.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 2, 0x1, 0x40200000)  /* 2.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rtz, 2, 0x1, 0x40200000)  /* 2.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rdn, 2, 0x1, 0x40200000)  /* 2.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rdn, 2, 0x1, 0x40200000)  /* 2.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rup, 3, 0x1, 0x40200000)  /* 2.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rup, 3, 0x1, 0x40200000)  /* 2.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rmm, 3, 0x1, 0x40200000)  /* 2.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rmm, 3, 0x1, 0x40200000)  /* 2.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rne, -2, 0x1, 0xc0200000)  /* -2.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rne, -2, 0x1, 0xc0200000)  /* -2.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, -2, 0x1, 0xc0200000)  /* -2.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rtz, -2, 0x1, 0xc0200000)  /* -2.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rdn, -3, 0x1, 0xc0200000)  /* -2.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rdn, -3, 0x1, 0xc0200000)  /* -2.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rup, -2, 0x1, 0xc0200000)  /* -2.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rup, -2, 0x1, 0xc0200000)  /* -2.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rmm, -3, 0x1, 0xc0200000)  /* -2.5 */
  TEST_FP_TOINT_S(fcvt.l.s, rmm, -3, 0x1, 0xc0200000)  /* -2.5 */
  TEST_FP_TOINT_S(fcvt.w.s, rne, 0, 0x1, 0x3e99999a)  /* 0.30000001192092896 */
  TEST_FP_TOINT_S(fcvt.l.s, rne, 0, 0x1, 0x3e99999a)  /* 0.30000001192092896 */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 0, 0x1, 0x3e99999a)  /* 0.30000001192092896 */
  TEST_FP_TOINT_S(fcvt.l.s, rtz, 0, 0x1, 0x3e99999a)  /* 0.30000001192092896 */
  TEST_FP_TOINT_S(fcvt.w.s, rdn, 0, 0x1, 0x3e99999a)  /* 0.30000001192092896 */
  TEST_FP_TOINT_S(fcvt.l.s, rdn, 0, 0x1, 0x3e99999a)  /* 0.30000001192092896 */
  TEST_FP_TOINT_S(fcvt.w.s, rup, 1, 0x1, 0x3e99999a)  /* 0.30000001192092896 */
  TEST_FP_TOINT_S(fcvt.l.s, rup, 1, 0x1, 0x3e99999a)  /* 0.30000001192092896 */
  TEST_FP_TOINT_S(fcvt.w.s, rmm, 0, 0x1, 0x3e99999a)  /* 0.30000001192092896 */
  TEST_FP_TOINT_S(fcvt.l.s, rmm, 0, 0x1, 0x3e99999a)  /* 0.30000001192092896 */
  TEST_FP_TOINT_S(fcvt.w.s, rne, -1, 0x1, 0xbf333333)  /* -0.699999988079071 */
  TEST_FP_TOINT_S(fcvt.l.s, rne, -1, 0x1, 0xbf333333)  /* -0.699999988079071 */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 0, 0x1, 0xbf333333)  /* -0.699999988079071 */
  TEST_FP_TOINT_S(fcvt.l.s, rtz, 0, 0x1, 0xbf333333)  /* -0.699999988079071 */
  TEST_FP_TOINT_S(fcvt.w.s, rdn, -1, 0x1, 0xbf333333)  /* -0.699999988079071 */
  TEST_FP_TOINT_S(fcvt.l.s, rdn, -1, 0x1, 0xbf333333)  /* -0.699999988079071 */
  TEST_FP_TOINT_S(fcvt.w.s, rup, 0, 0x1, 0xbf333333)  /* -0.699999988079071 */
  TEST_FP_TOINT_S(fcvt.l.s, rup, 0, 0x1, 0xbf333333)  /* -0.699999988079071 */
  TEST_FP_TOINT_S(fcvt.w.s, rmm, -1, 0x1, 0xbf333333)  /* -0.699999988079071 */
  TEST_FP_TOINT_S(fcvt.l.s, rmm, -1, 0x1, 0xbf333333)  /* -0.699999988079071 */
  /* ---- s: ties, special values, exceptions ---- */
  TEST_FP_OP_S(fadd.s, rne, 0x3f800000, 0x1, 0x3f800000, 0x33800000)  /* tie: to even */
  TEST_FP_OP_S(fadd.s, rmm, 0x3f800001, 0x1, 0x3f800000, 0x33800000)  /* tie: away */
  TEST_FP_OP_S(fadd.s, rtz, 0x3f800000, 0x1, 0x3f800000, 0x33800000)
  TEST_FP_OP_S(fadd.s, rup, 0x3f800001, 0x1, 0x3f800000, 0x33800000)
  TEST_FP_OP_S(fadd.s, rne, 0x7fc00000, 0x10, 0x7f800000, 0xff800000)  /* inf - inf */
  TEST_FP_OP_S(fsub.s, rne, 0x7fc00000, 0x10, 0x7f800000, 0x7f800000)
  TEST_FP_OP_S(fadd.s, rne, 0x7f800000, 0x0, 0x7f800000, 0x3f800000)
  TEST_FP_OP_S(fadd.s, rne, 0x7fc00000, 0x10, 0x7f800001, 0x3f800000)  /* sNaN operand: invalid, canonical NaN */
  TEST_FP_OP_S(fadd.s, rne, 0x7fc00000, 0x0, 0x7fc12345, 0x3f800000)  /* qNaN payload not propagated */
  TEST_FP_OP_S(fadd.s, rne, 0x7fc00000, 0x0, 0xffc00000, 0x3f800000)  /* sign of NaN not propagated */
  TEST_FP_OP_S(fmul.s, rne, 0x7fc00000, 0x10, 0x7f800000, 0x0)  /* inf * 0 */
  TEST_FP_OP_S(fmul.s, rne, 0x80000000, 0x0, 0xbf800000, 0x0)  /* -1 * 0 = -0 */
  TEST_FP_OP_S(fadd.s, rne, 0x0, 0x0, 0x3f800000, 0xbf800000)  /* x - x = +0 (rne) */
  TEST_FP_OP_S(fadd.s, rdn, 0x80000000, 0x0, 0x3f800000, 0xbf800000)  /* x - x = -0 (rdn) */
  TEST_FP_OP_S(fadd.s, rne, 0x80000000, 0x0, 0x80000000, 0x80000000)
  TEST_FP_OP_S(fdiv.s, rne, 0x7f800000, 0x8, 0x3f800000, 0x0)  /* 1/0 */
  TEST_FP_OP_S(fdiv.s, rne, 0xff800000, 0x8, 0x3f800000, 0x80000000)  /* 1/-0 */
  TEST_FP_OP_S(fdiv.s, rne, 0x7fc00000, 0x10, 0x0, 0x0)  /* 0/0 */
  TEST_FP_OP_S(fdiv.s, rne, 0x7fc00000, 0x10, 0x7f800000, 0x7f800000)
  TEST_FP_OP_S(fdiv.s, rne, 0x0, 0x0, 0x3f800000, 0x7f800000)
  TEST_FP_OP_S(fmul.s, rne, 0x7f800000, 0x5, 0x7f7fffff, 0x40000000)  /* overflow */
  TEST_FP_OP_S(fmul.s, rtz, 0x7f7fffff, 0x5, 0x7f7fffff, 0x40000000)
  TEST_FP_OP_S(fmul.s, rdn, 0x7f7fffff, 0x5, 0x7f7fffff, 0x40000000)
  TEST_FP_OP_S(fmul.s, rup, 0x7f800000, 0x5, 0x7f7fffff, 0x40000000)
  TEST_FP_OP_S(fmul.s, rmm, 0x7f800000, 0x5, 0x7f7fffff, 0x40000000)
  TEST_FP_OP_S(fmul.s, rdn, 0xff800000, 0x5, 0xff7fffff, 0x40000000)
  TEST_FP_OP_S(fmul.s, rup, 0xff7fffff, 0x5, 0xff7fffff, 0x40000000)
  TEST_FP_OP_S(fmul.s, rtz, 0xff7fffff, 0x5, 0xff7fffff, 0x40000000)
  TEST_FP_OP_S(fadd.s, rne, 0x7f800000, 0x5, 0x7f7fffff, 0x7f7fffff)
  TEST_FP_OP_S(fmul.s, rne, 0x0, 0x3, 0x1, 0x3f000000)  /* tiny and inexact: underflow */
  TEST_FP_OP_S(fmul.s, rup, 0x1, 0x3, 0x1, 0x3f000000)
  TEST_FP_OP_S(fmul.s, rdn, 0x80000001, 0x3, 0x80000001, 0x3f000000)
  TEST_FP_OP_S(fmul.s, rtz, 0x80000000, 0x3, 0x80000001, 0x3f000000)
  TEST_FP_OP_S(fmul.s, rne, 0x1, 0x0, 0x1, 0x3f800000)  /* exact subnormal: no flags */
  TEST_FP_OP_S(fsub.s, rne, 0x7fffff, 0x0, 0x800000, 0x1)  /* exact subnormal result */
  TEST_FP_OP_S(fdiv.s, rne, 0x400000, 0x0, 0x800000, 0x40000000)  /* exact subnormal quotient */
  TEST_FP_OP1_S(fsqrt.s, rne, 0x7fc00000, 0x10, 0xbf800000)  /* sqrt(-1) */
  TEST_FP_OP1_S(fsqrt.s, rne, 0x80000000, 0x0, 0x80000000)  /* sqrt(-0) = -0 */
  TEST_FP_OP1_S(fsqrt.s, rne, 0x7f800000, 0x0, 0x7f800000)
  TEST_FP_OP1_S(fsqrt.s, rne, 0x40000000, 0x0, 0x40800000)  /* sqrt(4) exact */
  TEST_FP_OP1_S(fsqrt.s, rne, 0x7fc00000, 0x10, 0x7f800001)
  TEST_FP_OP3_S(fmadd.s, rne, 0x7fc00000, 0x10, 0x7f800000, 0x0, 0x7fc00000)  /* inf*0 + qNaN: invalid */
  TEST_FP_OP3_S(fmadd.s, rne, 0x7fc00000, 0x10, 0x7f800000, 0x3f800000, 0xff800000)  /* inf - inf */
  TEST_FP_OP3_S(fmadd.s, rne, 0x40400000, 0x0, 0x3f800000, 0x40000000, 0x3f800000)
  TEST_FP_OP3_S(fmsub.s, rne, 0x3f800000, 0x0, 0x3f800000, 0x40000000, 0x3f800000)
  TEST_FP_OP3_S(fnmadd.s, rne, 0xc0400000, 0x0, 0x3f800000, 0x40000000, 0x3f800000)  /* -(1*2+1) */
  TEST_FP_OP3_S(fnmsub.s, rne, 0xbf800000, 0x0, 0x3f800000, 0x40000000, 0x3f800000)  /* -(1*2)+1 */
  /* ---- s: min/max (IEEE 754-2019 minimumNumber/maximumNumber) ---- */
  TEST_FP_RR_S(fmin.s, 0x3f800000, 0x0, 0x3f800000, 0x40000000)
  TEST_FP_RR_S(fmax.s, 0x40000000, 0x0, 0x3f800000, 0x40000000)
  TEST_FP_RR_S(fmin.s, 0xbf800000, 0x0, 0xbf800000, 0x3f800000)
  TEST_FP_RR_S(fmax.s, 0x3f800000, 0x0, 0xbf800000, 0x3f800000)
  TEST_FP_RR_S(fmin.s, 0x80000000, 0x0, 0x0, 0x80000000)  /* -0 < +0 */
  TEST_FP_RR_S(fmin.s, 0x80000000, 0x0, 0x80000000, 0x0)
  TEST_FP_RR_S(fmax.s, 0x0, 0x0, 0x80000000, 0x0)
  TEST_FP_RR_S(fmax.s, 0x0, 0x0, 0x0, 0x80000000)
  TEST_FP_RR_S(fmin.s, 0x3f800000, 0x0, 0x7fc00000, 0x3f800000)  /* one qNaN: the number */
  TEST_FP_RR_S(fmax.s, 0x3f800000, 0x0, 0x3f800000, 0x7fc00000)
  TEST_FP_RR_S(fmin.s, 0x3f800000, 0x10, 0x7f800001, 0x3f800000)  /* sNaN: invalid, the number */
  TEST_FP_RR_S(fmax.s, 0x3f800000, 0x10, 0x3f800000, 0x7f800001)
  TEST_FP_RR_S(fmin.s, 0x7fc00000, 0x0, 0x7fc12345, 0x7fc12345)  /* both NaN: canonical */
  TEST_FP_RR_S(fmax.s, 0x7fc00000, 0x10, 0x7f800001, 0x7fc00000)
  TEST_FP_RR_S(fmin.s, 0xff800000, 0x0, 0xff800000, 0x7f7fffff)
  TEST_FP_RR_S(fmax.s, 0x7f800000, 0x0, 0x7f800000, 0xff7fffff)
  /* ---- s: sign injection ---- */
  TEST_FP_RR_S(fsgnj.s, 0xbf800000, 0x0, 0x3f800000, 0xbf800000)
  TEST_FP_RR_S(fsgnj.s, 0x3f800000, 0x0, 0xbf800000, 0x3f800000)
  TEST_FP_RR_S(fsgnjn.s, 0x3f800000, 0x0, 0x3f800000, 0xbf800000)
  TEST_FP_RR_S(fsgnjn.s, 0xbf800000, 0x0, 0x3f800000, 0x3f800000)
  TEST_FP_RR_S(fsgnjx.s, 0xbf800000, 0x0, 0x3f800000, 0xbf800000)
  TEST_FP_RR_S(fsgnjx.s, 0x3f800000, 0x0, 0xbf800000, 0xbf800000)
  TEST_FP_RR_S(fsgnjx.s, 0xbf800000, 0x0, 0xbf800000, 0x3f800000)
  TEST_FP_RR_S(fsgnj.s, 0xffc00000, 0x0, 0x7fc00000, 0xbf800000)  /* NaN bits kept, no canonicalisation */
  TEST_FP_RR_S(fsgnjn.s, 0x7f800001, 0x0, 0x7f800001, 0xbf800000)  /* sNaN: no invalid flag */
  /* ---- s: compares ---- */
  TEST_FP_CMP_S(feq.s, 1, 0x0, 0x3f800000, 0x3f800000)
  TEST_FP_CMP_S(feq.s, 0, 0x0, 0x3f800000, 0x40000000)
  TEST_FP_CMP_S(feq.s, 1, 0x0, 0x0, 0x80000000)  /* +0 == -0 */
  TEST_FP_CMP_S(feq.s, 0, 0x0, 0x7fc00000, 0x7fc00000)  /* quiet compare: qNaN no flag */
  TEST_FP_CMP_S(feq.s, 0, 0x10, 0x7f800001, 0x3f800000)  /* sNaN: invalid */
  TEST_FP_CMP_S(flt.s, 1, 0x0, 0x3f800000, 0x40000000)
  TEST_FP_CMP_S(flt.s, 0, 0x0, 0x40000000, 0x3f800000)
  TEST_FP_CMP_S(flt.s, 0, 0x0, 0x80000000, 0x0)
  TEST_FP_CMP_S(flt.s, 1, 0x0, 0xff800000, 0xff7fffff)
  TEST_FP_CMP_S(flt.s, 0, 0x10, 0x7fc00000, 0x3f800000)  /* signaling compare: qNaN invalid */
  TEST_FP_CMP_S(fle.s, 1, 0x0, 0x3f800000, 0x3f800000)
  TEST_FP_CMP_S(fle.s, 1, 0x0, 0x80000000, 0x0)
  TEST_FP_CMP_S(fle.s, 0, 0x0, 0x40000000, 0x3f800000)
  TEST_FP_CMP_S(fle.s, 0, 0x10, 0x3f800000, 0x7fc00000)
  TEST_FP_CMP_S(fle.s, 0, 0x10, 0x7f800001, 0x7f800001)
  /* ---- s: fclass ---- */
  TEST_FP_CLASS_S(0x1, 0xff800000)  /* NINF */
  TEST_FP_CLASS_S(0x2, 0xbf800000)  /* NONE */
  TEST_FP_CLASS_S(0x4, 0x80000001)  /* NMINSUB */
  TEST_FP_CLASS_S(0x8, 0x80000000)  /* NZERO */
  TEST_FP_CLASS_S(0x10, 0x0)  /* PZERO */
  TEST_FP_CLASS_S(0x20, 0x7fffff)  /* MAXSUB */
  TEST_FP_CLASS_S(0x40, 0x3f800000)  /* ONE */
  TEST_FP_CLASS_S(0x80, 0x7f800000)  /* PINF */
  TEST_FP_CLASS_S(0x100, 0x7f800001)  /* SNAN */
  TEST_FP_CLASS_S(0x200, 0x7fc00000)  /* QNAN */
  TEST_FP_CLASS_S(0x200, 0xffc00000)  /* NQNAN */
  TEST_FP_CLASS_S(0x40, 0x800000)  /* MINN */
  TEST_FP_CLASS_S(0x40, 0x7f7fffff)  /* MAX */

  /* ---- float -> integer: saturation, invalid, sign extension ---- */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 0x7fffffff, NV, 0x4f32d05e)            /* 3e9 */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 0xffffffff80000000, NV, 0xcf32d05e)    /* -3e9 */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 0x7fffffff, NV, 0x4f000000)            /* 2^31 */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 0xffffffff80000000, 0, 0xcf000000)     /* -2^31 exact */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 0x7fffffff, NV, 0x7fc00000)            /* NaN */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 0x7fffffff, NV, 0xffc00000)            /* -NaN: still max */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 0x7fffffff, NV, 0x7f800000)            /* +inf */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 0xffffffff80000000, NV, 0xff800000)    /* -inf */
  TEST_FP_TOINT_S(fcvt.wu.s, rtz, 0xffffffffb2d05e00, 0, 0x4f32d05e)    /* 3e9: sign-extended */
  TEST_FP_TOINT_S(fcvt.wu.s, rtz, 0, NV, 0xbf800000)                    /* -1 */
  TEST_FP_TOINT_S(fcvt.wu.s, rtz, 0, NX, 0xbf000000)                    /* -0.5 -> -0: ok */
  TEST_FP_TOINT_S(fcvt.wu.s, rdn, 0, NV, 0xbf000000)                    /* -0.5 -> -1: invalid */
  TEST_FP_TOINT_S(fcvt.wu.s, rtz, -1, NV, 0x4f800000)                   /* 2^32 */
  TEST_FP_TOINT_S(fcvt.wu.s, rtz, -1, NV, 0x7fc00000)                   /* NaN */
  TEST_FP_TOINT_S(fcvt.wu.s, rtz, 0, NV, 0xff800000)                    /* -inf */
  TEST_FP_TOINT_S(fcvt.l.s, rtz, -3000000000, 0, 0xcf32d05e)
  TEST_FP_TOINT_S(fcvt.l.s, rtz, 0x7fffffffffffffff, NV, 0x5f000000)    /* 2^63 */
  TEST_FP_TOINT_S(fcvt.l.s, rtz, 0x8000000000000000, 0, 0xdf000000)     /* -2^63 exact */
  TEST_FP_TOINT_S(fcvt.l.s, rtz, 0x7fffffffffffffff, NV, 0x7fc00000)
  TEST_FP_TOINT_S(fcvt.l.s, rtz, 0x8000000000000000, NV, 0xff800000)
  TEST_FP_TOINT_S(fcvt.lu.s, rtz, 0x8000000000000000, 0, 0x5f000000)    /* 2^63 */
  TEST_FP_TOINT_S(fcvt.lu.s, rtz, -1, NV, 0x5f800000)                   /* 2^64 */
  TEST_FP_TOINT_S(fcvt.lu.s, rtz, 0, NV, 0xbf800000)
  TEST_FP_TOINT_S(fcvt.lu.s, rtz, -1, NV, 0x7f800001)                   /* sNaN */
  TEST_FP_TOINT_S(fcvt.w.s, rtz, 0, 0, 0x80000000)                      /* -0 */
  /* integer -> float, exact cases */
  TEST_FP_FROMINT_S(fcvt.s.w, rne, 0xbf800000, 0, -1)
  TEST_FP_FROMINT_S(fcvt.s.w, rne, 0x3f800000, 0, 0x100000001)          /* upper bits ignored */
  TEST_FP_FROMINT_S(fcvt.s.wu, rne, 0x3f800000, 0, 0xffffffff00000001)
  TEST_FP_FROMINT_S(fcvt.s.w, rne, 0xcf000000, 0, 0x80000000)           /* -2^31 */
  TEST_FP_FROMINT_S(fcvt.s.wu, rne, 0x4f000000, 0, 0x80000000)          /* 2^31 */
  TEST_FP_FROMINT_S(fcvt.s.l, rne, 0, 0, 0)                             /* +0 */
  TEST_FP_FROMINT_S(fcvt.s.l, rne, 0xdf000000, 0, 0x8000000000000000)
  TEST_FP_FROMINT_S(fcvt.s.lu, rne, 0x5f000000, 0, 0x8000000000000000)

  /* ---- FMV.X.W / FMV.W.X ---- */
  TEST_CASE
  li t0, 0x80000000
  fmv.w.x fa0, t0
  fmv.x.w a0, fa0
  ASSERT_EQ(a0, 0xffffffff80000000)       /* sign-extended */
  fmv.x.d a0, fa0
  ASSERT_EQ(a0, 0xffffffff80000000)       /* NaN-boxed */
  li t0, 0x123456787f800000
  fmv.w.x fa0, t0                          /* upper integer bits ignored */
  fmv.x.d a0, fa0
  ASSERT_EQ(a0, 0xffffffff7f800000)
  fmv.x.w a0, fa0
  ASSERT_EQ(a0, 0x7f800000)
  TEST_CASE
  li t0, 0x3f800000
  fmv.w.x fa1, t0
  fadd.s fa0, fa1, fa1
  fmv.x.d a0, fa0
  ASSERT_EQ(a0, 0xffffffff40000000)        /* single results are NaN-boxed */

  /* ---- NaN-boxing: improperly boxed inputs read as the canonical NaN ---- */
  TEST_CASE
  li t0, 0x000000003f800000
  fmv.d.x fa1, t0
  li t0, 0x3f800000
  fmv.w.x fa2, t0
  fsflagsi 0
  fadd.s fa0, fa1, fa2
  fmv.x.w a0, fa0
  ASSERT_EQ(a0, 0x7fc00000)
  frflags a0
  ASSERT_EQ(a0, 0)                          /* canonical NaN is quiet */
  TEST_CASE
  li t0, 0xfffffffe3f800000                 /* one upper bit clear */
  fmv.d.x fa1, t0
  fmul.s fa0, fa1, fa2
  fmv.x.w a0, fa0
  ASSERT_EQ(a0, 0x7fc00000)
  TEST_CASE
  li t0, 0xbf800000
  fmv.w.x fa2, t0                           /* -1.0 */
  li t0, 0x000000003f800000
  fmv.d.x fa1, t0
  fsgnj.s fa0, fa1, fa2
  fmv.x.w a0, fa0
  ASSERT_EQ(a0, 0xffffffffffc00000)         /* canonical NaN, sign of rs2 */
  fsgnj.s fa0, fa2, fa1
  fmv.x.w a0, fa0
  ASSERT_EQ(a0, 0x3f800000)                 /* rs2 = +canonical NaN: positive */
  TEST_CASE
  fclass.s a0, fa1
  ASSERT_EQ(a0, 0x200)                      /* quiet NaN */
  feq.s a0, fa1, fa1
  ASSERT_EQ(a0, 0)
  fcvt.d.s fa0, fa1
  fmv.x.d a0, fa0
  ASSERT_EQ(a0, 0x7ff8000000000000)
  fmin.s fa0, fa1, fa2
  fmv.x.w a0, fa0
  ASSERT_EQ(a0, 0xffffffffbf800000)         /* the non-NaN operand */
  TEST_CASE
  fmv.x.w a0, fa1                           /* moves ignore boxing */
  ASSERT_EQ(a0, 0x3f800000)
  la a1, fdata
  fsw fa1, 16(a1)                           /* stores ignore boxing */
  lwu a0, 16(a1)
  ASSERT_EQ(a0, 0x3f800000)

  /* ---- FLW / FSW ---- */
  TEST_CASE
  la a1, fdata
  flw fa0, 0(a1)
  fmv.x.d a0, fa0
  ASSERT_EQ(a0, 0xffffffff40490fdb)          /* boxed on load */
  flw fa0, 4(a1)
  fmv.x.w a0, fa0
  ASSERT_EQ(a0, 0xffffffffc0000000)
  fsw fa0, 20(a1)
  lw a0, 20(a1)
  ASSERT_EQ(a0, 0xffffffffc0000000)
  lw a0, 24(a1)
  ASSERT_EQ(a0, 0)                           /* neighbour untouched */
  flw fa0, 24(a1)
  fsw fa0, -4(a1)                            /* negative offset */
  lw a0, -4(a1)
  ASSERT_EQ(a0, 0)
  li t0, 0x7f800001
  sw t0, 28(a1)
  flw fa0, 28(a1)                            /* sNaN loads unchanged */
  fmv.x.w a0, fa0
  ASSERT_EQ(a0, 0x7f800001)

  /* ---- fcsr, frm, fflags ---- */
  TEST_CASE
  csrw fcsr, zero
  li t0, 0xff
  csrw fcsr, t0
  csrr a0, fcsr
  ASSERT_EQ(a0, 0xff)
  csrr a0, frm
  ASSERT_EQ(a0, 7)
  csrr a0, fflags
  ASSERT_EQ(a0, 0x1f)
  li t0, -1
  csrw fcsr, t0
  csrr a0, fcsr
  ASSERT_EQ(a0, 0xff)                        /* bits 31:8 read as zero */
  csrwi frm, 2
  csrr a0, fcsr
  ASSERT_EQ(a0, 0x5f)
  csrwi fflags, 0x3
  csrr a0, fcsr
  ASSERT_EQ(a0, 0x43)
  fsrmi a0, 1
  ASSERT_EQ(a0, 2)
  fsflagsi a0, 0
  ASSERT_EQ(a0, 3)
  csrr a0, fcsr
  ASSERT_EQ(a0, 0x20)
  csrw fcsr, zero
  /* flags accrue and are not cleared by later operations */
  TEST_CASE
  li t0, 0x3f800000
  fmv.w.x fa1, t0
  fmv.w.x fa2, zero
  fdiv.s fa0, fa1, fa2                       /* DZ */
  li t0, 0x40400000
  fmv.w.x fa2, t0
  fdiv.s fa0, fa1, fa2                       /* NX */
  fadd.s fa0, fa1, fa1                       /* exact: no change */
  frflags a0
  ASSERT_EQ(a0, DZ | NX)
  csrw fcsr, zero

  /* ---- reserved rounding modes are illegal instructions ---- */
  TEST_TRAP(CAUSE_ILLEGAL, 0x00c5d553, .word 0x00c5d553)     /* fadd.s fa0,fa1,fa2, rm=5 */
  TEST_TRAP(CAUSE_ILLEGAL, 0x00c5e553, .word 0x00c5e553)     /* rm=6 */
  TEST_CASE
  csrwi frm, 5
  TEST_TRAP(CAUSE_ILLEGAL, 0x00c5f553, fadd.s fa0, fa1, fa2)  /* dyn with frm=5 */
  csrwi frm, 7
  TEST_TRAP(CAUSE_ILLEGAL, 0x00c5f553, fadd.s fa0, fa1, fa2)  /* dyn with frm=7 */
  TEST_CASE
  fsgnj.s fa0, fa1, fa2                      /* no rm field: fine with bad frm */
  fmin.s fa0, fa1, fa2
  csrwi frm, 0
  ASSERT_EQ(zero, 0)

  /* ---- mstatus.FS ---- */
  ASSERT_CSR(misa, (1 << 5) | (1 << 3), (1 << 5) | (1 << 3))   /* F and D */
  TEST_CASE
  li t0, MSTATUS_FS
  csrc mstatus, t0                           /* FS = Off */
  ASSERT_CSR(mstatus, MSTATUS_FS | MSTATUS_SD, 0)
  TEST_TRAP(CAUSE_ILLEGAL, 0x00c5f553, fadd.s fa0, fa1, fa2)
  TEST_TRAP(CAUSE_ILLEGAL, 0x0005a507, flw fa0, 0(a1))
  TEST_TRAP(CAUSE_ILLEGAL, 0x0005b507, fld fa0, 0(a1))
  TEST_TRAP(CAUSE_ILLEGAL, 0xe0058553, fmv.x.w a0, fa1)
  TEST_TRAP(CAUSE_ILLEGAL, 0x00102573, csrr a0, fflags)
  TEST_TRAP(CAUSE_ILLEGAL, 0x00302573, csrr a0, fcsr)
  TEST_TRAP(CAUSE_ILLEGAL, 0x00201073, csrw frm, zero)
  TEST_TRAP_NOTVAL(CAUSE_ILLEGAL, .2byte 0x2188)              /* c.fld fa0, 0(a1) */
  ASSERT_CSR(mstatus, MSTATUS_FS, 0)          /* traps did not turn FP on */
  /* Initial: clean state, SD clear; an FP write makes it Dirty and sets SD */
  TEST_CASE
  li t0, MSTATUS_FS_INITIAL
  csrs mstatus, t0
  ASSERT_CSR(mstatus, MSTATUS_FS | MSTATUS_SD, MSTATUS_FS_INITIAL)
  fadd.s fa0, fa1, fa2
  ASSERT_CSR(mstatus, MSTATUS_FS | MSTATUS_SD, MSTATUS_FS_DIRTY | MSTATUS_SD)
  ASSERT_CSR(sstatus, MSTATUS_FS | MSTATUS_SD, MSTATUS_FS_DIRTY | MSTATUS_SD)
  /* Clean -> Dirty on each kind of FP state write */
  TEST_CASE
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t0, MSTATUS_FS_CLEAN
  csrs mstatus, t0
  ASSERT_CSR(mstatus, MSTATUS_FS | MSTATUS_SD, MSTATUS_FS_CLEAN)
  fmv.w.x fa0, zero
  ASSERT_CSR(mstatus, MSTATUS_FS | MSTATUS_SD, MSTATUS_FS_DIRTY | MSTATUS_SD)
  TEST_CASE
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t0, MSTATUS_FS_CLEAN
  csrs mstatus, t0
  la a1, fdata
  flw fa0, 0(a1)
  ASSERT_CSR(mstatus, MSTATUS_FS | MSTATUS_SD, MSTATUS_FS_DIRTY | MSTATUS_SD)
  TEST_CASE
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t0, MSTATUS_FS_CLEAN
  csrs mstatus, t0
  csrwi fflags, 1
  ASSERT_CSR(mstatus, MSTATUS_FS | MSTATUS_SD, MSTATUS_FS_DIRTY | MSTATUS_SD)
  TEST_CASE
  li t0, MSTATUS_FS
  csrc mstatus, t0
  li t0, MSTATUS_FS_CLEAN
  csrs mstatus, t0
  fsflagsi 0
  fcvt.s.w fa3, zero
  ASSERT_CSR(mstatus, MSTATUS_FS | MSTATUS_SD, MSTATUS_FS_DIRTY | MSTATUS_SD)
  /* FS is writable through sstatus too */
  TEST_CASE
  li t0, MSTATUS_FS
  csrc sstatus, t0
  ASSERT_CSR(mstatus, MSTATUS_FS | MSTATUS_SD, 0)
  li t0, MSTATUS_FS_INITIAL
  csrs sstatus, t0
  ASSERT_CSR(mstatus, MSTATUS_FS | MSTATUS_SD, MSTATUS_FS_INITIAL)

TEST_END

  .data
  .align 4
  .word 0x12345678
fdata:
  .word 0x40490fdb            /* pi */
  .word 0xc0000000            /* -2 */
  .zero 32
