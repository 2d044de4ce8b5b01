// Command init is Juice's PID 1 for guest appliances. Built as a static
// linux/riscv64 binary (CGO_ENABLED=0) and placed at /init in the
// initramfs, it mounts /proc, /sys, /dev, /tmp and /run, prints
//
//	juice: Linux <release> on <N> CPUs, <M> MiB memory
//
// runs a built-in self-check ("juice: self-check ok" or "juice: self-check
// FAILED: ..."), runs the program named by juice.exec=PATH on the kernel
// command line if any ("juice: exit status N"), then syncs and powers off.
// juice.selfcheck=0 skips the self-check.
package main

import (
	"fmt"
	"os"

	"github.com/juicevm/juice/guest/init/internal/pid1"
)

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "juice init: must run as PID 1 (it powers the machine off)")
		os.Exit(2)
	}
	pid1.Default().Run()
}
