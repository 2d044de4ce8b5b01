/*
 * fpref: reference executor for the fpu package's differential test.
 *
 * Reads lines "<op> <rm> <a> <b> <c>" (rm decimal, operands hex) from stdin,
 * executes the named RISC-V F/D instruction with frm set to rm (the
 * instruction uses the dynamic rounding mode), and prints "<result> <fflags>"
 * in hex. Single-precision operands are NaN-boxed before use; single and
 * 32-bit integer results are printed as their low 32 bits.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ASM(body)                                                        \
	__asm__ volatile("fsrm %[rm]\n\t"                                    \
	                 "fsflags x0\n\t"                                    \
	                 "fmv.d.x ft0, %[a]\n\t"                             \
	                 "fmv.d.x ft1, %[b]\n\t"                             \
	                 "fmv.d.x ft2, %[c]\n\t" body "\n\t"                 \
	                 "frflags %[fl]"                                     \
	                 : [r] "=&r"(r), [fl] "=&r"(fl)                      \
	                 : [rm] "r"(rm), [a] "r"(a), [b] "r"(b), [c] "r"(c)  \
	                 : "ft0", "ft1", "ft2", "ft3")

/* Float result in ft3, moved to r. */
#define FD(insn) insn "\n\tfmv.x.d %[r], ft3"
#define FS(insn) insn "\n\tfmv.x.w %[r], ft3"

#define OP(name, body)          \
	if (strcmp(op, name) == 0) { \
		ASM(body);               \
		goto done;               \
	}

int main(void) {
	static char inbuf[1 << 16], outbuf[1 << 16];
	char op[32];
	unsigned long rm, a, b, c;
	setvbuf(stdin, inbuf, _IOFBF, sizeof inbuf);
	setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
	while (scanf("%31s %lu %lx %lx %lx", op, &rm, &a, &b, &c) == 5) {
		uint64_t r = 0, fl = 0;
		size_t n = strlen(op);
		int single_src = (n > 2 && strcmp(op + n - 2, ".s") == 0 &&
		                  strncmp(op, "fcvt.s.", 7) != 0);
		if (single_src) {
			/* NaN-box single-precision operands. */
			a |= 0xffffffff00000000ul;
			b |= 0xffffffff00000000ul;
			c |= 0xffffffff00000000ul;
		}

		OP("fadd.d", FD("fadd.d ft3, ft0, ft1"))
		OP("fsub.d", FD("fsub.d ft3, ft0, ft1"))
		OP("fmul.d", FD("fmul.d ft3, ft0, ft1"))
		OP("fdiv.d", FD("fdiv.d ft3, ft0, ft1"))
		OP("fsqrt.d", FD("fsqrt.d ft3, ft0"))
		OP("fmadd.d", FD("fmadd.d ft3, ft0, ft1, ft2"))
		OP("fmsub.d", FD("fmsub.d ft3, ft0, ft1, ft2"))
		OP("fnmsub.d", FD("fnmsub.d ft3, ft0, ft1, ft2"))
		OP("fnmadd.d", FD("fnmadd.d ft3, ft0, ft1, ft2"))
		OP("fmin.d", FD("fmin.d ft3, ft0, ft1"))
		OP("fmax.d", FD("fmax.d ft3, ft0, ft1"))
		OP("feq.d", "feq.d %[r], ft0, ft1")
		OP("flt.d", "flt.d %[r], ft0, ft1")
		OP("fle.d", "fle.d %[r], ft0, ft1")
		OP("fclass.d", "fclass.d %[r], ft0")
		OP("fcvt.w.d", "fcvt.w.d %[r], ft0")
		OP("fcvt.wu.d", "fcvt.wu.d %[r], ft0")
		OP("fcvt.l.d", "fcvt.l.d %[r], ft0")
		OP("fcvt.lu.d", "fcvt.lu.d %[r], ft0")
		OP("fcvt.d.w", FD("fcvt.d.w ft3, %[a]"))
		OP("fcvt.d.wu", FD("fcvt.d.wu ft3, %[a]"))
		OP("fcvt.d.l", FD("fcvt.d.l ft3, %[a]"))
		OP("fcvt.d.lu", FD("fcvt.d.lu ft3, %[a]"))

		OP("fadd.s", FS("fadd.s ft3, ft0, ft1"))
		OP("fsub.s", FS("fsub.s ft3, ft0, ft1"))
		OP("fmul.s", FS("fmul.s ft3, ft0, ft1"))
		OP("fdiv.s", FS("fdiv.s ft3, ft0, ft1"))
		OP("fsqrt.s", FS("fsqrt.s ft3, ft0"))
		OP("fmadd.s", FS("fmadd.s ft3, ft0, ft1, ft2"))
		OP("fmsub.s", FS("fmsub.s ft3, ft0, ft1, ft2"))
		OP("fnmsub.s", FS("fnmsub.s ft3, ft0, ft1, ft2"))
		OP("fnmadd.s", FS("fnmadd.s ft3, ft0, ft1, ft2"))
		OP("fmin.s", FS("fmin.s ft3, ft0, ft1"))
		OP("fmax.s", FS("fmax.s ft3, ft0, ft1"))
		OP("feq.s", "feq.s %[r], ft0, ft1")
		OP("flt.s", "flt.s %[r], ft0, ft1")
		OP("fle.s", "fle.s %[r], ft0, ft1")
		OP("fclass.s", "fclass.s %[r], ft0")
		OP("fcvt.w.s", "fcvt.w.s %[r], ft0")
		OP("fcvt.wu.s", "fcvt.wu.s %[r], ft0")
		OP("fcvt.l.s", "fcvt.l.s %[r], ft0")
		OP("fcvt.lu.s", "fcvt.lu.s %[r], ft0")
		OP("fcvt.s.w", FS("fcvt.s.w ft3, %[a]"))
		OP("fcvt.s.wu", FS("fcvt.s.wu ft3, %[a]"))
		OP("fcvt.s.l", FS("fcvt.s.l ft3, %[a]"))
		OP("fcvt.s.lu", FS("fcvt.s.lu ft3, %[a]"))

		OP("fcvt.s.d", FS("fcvt.s.d ft3, ft0"))
		OP("fcvt.d.s", FD("fcvt.d.s ft3, ft0"))

		printf("? 0\n");
		continue;
	done:
		printf("%lx %lx\n", (unsigned long)r, (unsigned long)fl);
	}
	return 0;
}
