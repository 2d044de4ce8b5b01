# workload: a bare-metal stand-in for a guest, for the machine tests that
# need a running machine but not Linux (pausing, checkpoints, summaries,
# recording console input).
#
# Every hart mixes a 64-bit LCG into its own 1 MiB of RAM (256 pages,
# stored at random offsets), so that any stretch of the run dirties many
# pages. Hart 0 also greets on the UART, prints a '.' every 65536 rounds,
# and echoes every byte the UART receives, mixing it into its state; a
# newline makes it power off through HTIF (tohost = 1). Without input it
# runs forever.

	.equ UART, 0x10000000
	.equ REGION, 0x100000		# bytes of RAM per hart

	.section .text.init, "ax"
	.globl _start
_start:
	csrr a0, mhartid
	la s0, region
	li t0, REGION
	mul t0, t0, a0
	add s0, s0, t0			# s0: this hart's region
	li s1, 0			# s1: rounds
	li s2, 0x9e3779b97f4a7c15
	add s2, s2, a0			# s2: LCG state, one per hart
	li s3, 6364136223846793005	# s3: LCG multiplier
	li s4, UART
	li s5, REGION - 8		# s5: offset mask (8-byte aligned)
	bnez a0, round
	la t0, hello
greet:
	lbu t1, 0(t0)
	beqz t1, round
	sb t1, 0(s4)
	addi t0, t0, 1
	j greet

round:
	mul s2, s2, s3
	addi s2, s2, 1442695040888963407 & 0x7ff
	srli t0, s2, 40
	and t0, t0, s5
	andi t0, t0, -8
	add t0, t0, s0
	sd s2, 0(t0)
	ld t1, 8(s0)			# read some back: loads count too
	xor s2, s2, t1
	addi s1, s1, 1
	bnez a0, round			# only hart 0 talks

	li t0, 0xffff
	and t0, s1, t0
	bnez t0, poll
	li t0, '.'
	sb t0, 0(s4)
poll:
	lbu t0, 5(s4)			# LSR
	andi t0, t0, 1			# data ready
	beqz t0, round
	lbu t1, 0(s4)			# RBR
	sb t1, 0(s4)			# echo
	slli t2, t1, 17
	xor s2, s2, t2			# input changes what follows
	li t2, '\n'
	bne t1, t2, round
	la t0, tohost
	li t1, 1
	sd t1, 0(t0)
1:	j 1b

	.section .rodata
hello:	.asciz "workload: hello\n"

	.section .tohost, "aw"
	.align 6
	.globl tohost
tohost:	.dword 0
	.align 6
	.globl fromhost
fromhost: .dword 0

	.section .bss
	.align 12
region:	.space 2 * REGION		# two harts' worth
