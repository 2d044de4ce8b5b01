// Command init is the /init of the tiny initramfs that the integration test
// boots Debian's kernel with: it prints a line and powers the machine off.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Banner is the line the test waits for on the console.
const Banner = "JUICE-DISTKERNEL-INIT-OK"

func main() {
	var u unix.Utsname
	release := "?"
	if err := unix.Uname(&u); err == nil {
		release = unix.ByteSliceToString(u.Release[:])
	}
	fmt.Printf("%s kernel=%s\n", Banner, release)
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		fmt.Fprintf(os.Stderr, "init: power off: %v\n", err)
	}
	select {}
}
