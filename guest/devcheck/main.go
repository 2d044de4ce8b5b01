// Command devcheck is the guest side of Juice's device tests (issue 3:
// virtio disks, entropy, networking and vsock). It is built as a static
// linux/riscv64 binary (CGO_ENABLED=0), placed in an initramfs, and run by
// Juice's init with juice.exec=/devcheck.
//
// It reads devcheck.* options from the kernel command line (see package
// guest/devcheck/protocol for the full list) and runs the steps they ask
// for, in this order:
//
//	disk       devcheck.disk=/dev/vda: mount it (ext4) on /mnt, verify
//	           /mnt/MANIFEST, write /mnt/out/<name> and record it in
//	           /mnt/out/SUMS (or, with devcheck.verify=1, check out/SUMS
//	           from an earlier boot), sync and unmount
//	rng        devcheck.rng=1: read 64 bytes from /dev/hwrng (virtio-rng)
//	net        devcheck.net=1: bring eth0 up and configure it by DHCP
//	fetch      devcheck.fetch=URL: GET the URL, print its SHA-256
//	serve      devcheck.serve=PORT: serve HTTP until GET /quit
//	vsock      devcheck.vsock=PORT: accept one vsock connection, echo it
//	vsockdial  devcheck.vsockdial=PORT: connect to the host (CID 2), send
//	           a line and read it back
//
// Each step prints "devcheck: <step> ok" or "devcheck: <step> FAILED:
// <why>"; the exit status is 0 only if every requested step passed (1 if
// one failed, 2 if none was requested).
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	data, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		fmt.Printf("devcheck: FAILED: reading the kernel command line: %v\n", err)
		os.Exit(1)
	}
	os.Exit(run(context.Background(), string(data), os.Stdout, linuxSystem()))
}
