# Entry: hart 0 sets up a stack and the FPU and calls main_; others park.
.section .text.init
.globl _start
_start:
	csrr t0, mhartid
	bnez t0, park
	li t0, 0x2000          # mstatus.FS = initial
	csrs mstatus, t0
	la sp, stack_top
	call main_
park:
	wfi
	j park
.bss
.align 4
stack: .space 65536
stack_top:
