# virtiobad: a driver error for the machine's logger. It sets DRIVER_OK
# on the device in the first virtio-mmio slot without FEATURES_OK, which
# the transport refuses with a warning, then powers off through HTIF.

	.equ SLOT0, 0x10001000
	.equ STATUS, 0x070

	.section .text.init, "ax"
	.globl _start
_start:
	csrr a0, mhartid
	bnez a0, park
	li t0, SLOT0
	li t1, 1 | 2 | 4		# ACKNOWLEDGE | DRIVER | DRIVER_OK
	sw t1, STATUS(t0)
	la t0, tohost
	li t1, 1
	sd t1, 0(t0)
park:	wfi
	j park

	.section .tohost, "aw"
	.align 6
	.globl tohost
tohost:	.dword 0
	.align 6
	.globl fromhost
fromhost: .dword 0
