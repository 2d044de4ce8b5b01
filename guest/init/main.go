// Command init is Juice's PID 1 for guest appliances. Built as a static
// linux/riscv64 binary (CGO_ENABLED=0) and placed at /init in the
// initramfs, it mounts /proc, /sys, /dev (devtmpfs), /tmp and /run, and
// then works in one of two modes.
//
// # Appliance mode
//
// With juice.appliance=1 on the kernel command line, or whenever
// /etc/juice/appliance.json exists (juice.appliance=0 turns it off), init
// runs the one program of an appliance that `juice build` made. The file
// (written by internal/appliance; unknown keys are errors) reads:
//
//	{"name": "hello", "hostname": "hello",
//	 "app": {"path": "/app/hello", "args": ["a", "b"], "env": ["GREETING=hi"],
//	         "workdir": "/", "uid": 0, "gid": 0},
//	 "network": {"mode": "dhcp"},
//	 "disks": [{"device": "/dev/vda", "mount": "/data", "fs": "ext4"}],
//	 "on_exit": "poweroff"}
//
// In order, init:
//
//   - adds /dev/fd, /dev/std{in,out,err} and /dev/shm;
//   - sets the host name (hostname, or name) and writes /etc/hostname, and
//     /etc/hosts if the image has none;
//   - brings lo up and configures eth0: network.mode "dhcp" (Juice's user
//     network gives 10.0.2.15/24 via 10.0.2.2, DNS 10.0.2.3), "static"
//     (with "address": "10.0.2.15/24", "gateway" and "dns": [...]) or
//     "none" (the default); it prints "juice: network eth0 10.0.2.15/24
//     via 10.0.2.2" and writes /etc/resolv.conf. A network that cannot be
//     configured is a warning, not an error;
//   - makes sure getrandom(2) does not block: the kernel's pool is
//     normally seeded from virtio-rng (hw_random) before init starts;
//     otherwise init credits 64 bytes from /dev/hwrng itself, or, without
//     virtio-rng, warns that getrandom may block (it does not wait);
//   - mounts the disks (ext4 unless "fs" says otherwise), creating the
//     mount points; a read-only device is mounted read-only. A disk that
//     cannot be mounted ends the appliance with status 119;
//   - runs the app: its path with args, its env plus PATH, HOME (/root
//     for uid 0, else /) and TERM when not set, in workdir, as uid and gid
//     with no supplementary groups, in a new session whose controlling
//     terminal is the console, with stdin, stdout and stderr on the
//     console. SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 sent to PID 1
//     are forwarded to the app. Every process that ends is reaped,
//     including orphaned grandchildren.
//
// When the app ends, init prints "juice: app exited with status N" (or
// "juice: app killed by signal SIGTERM"). With "on_exit": "restart" it
// runs the app again, saying "juice: restarting the app (restart N)"; an
// app that keeps dying within 10 s of its start is restarted after 100 ms,
// then 200 ms, doubling up to 10 s. A forwarded SIGTERM or SIGINT stops
// the restarts. Otherwise ("poweroff", the default) init sends SIGTERM to
// any process left (SIGKILL 2 s later), syncs, unmounts the disks and
// powers off, passing the app's exit status to the host: `juice run`
// exits with it.
//
// The status travels through the board's syscon (SiFive test) device:
// init maps it from /dev/mem (CONFIG_DEVMEM) and writes 0x5555 for 0 or
// 0x3333|status<<16. Juice keeps statuses 120 and up for itself, so the
// status passed on is:
//
//	app exit code 0-119           that code
//	app exit code 120-255         119
//	app killed by a signal        119 (the console line names the signal)
//	app could not be started      119 (the console line says why)
//	bad appliance.json, a disk    119
//	that cannot be mounted, or
//	an internal error of init
//
// Where the syscon device cannot be written, init says so and powers off
// through the kernel (status 0). There is no banner and no self-check in
// appliance mode; init prints nothing else unless something goes wrong.
//
// # Check mode
//
// Otherwise init prints
//
//	juice: Linux <release> on <N> CPUs, <M> MiB memory
//
// runs a built-in self-check ("juice: self-check ok" or "juice: self-check
// FAILED: ..."), runs the program named by juice.exec=PATH on the kernel
// command line if any ("juice: exit status N"), then prints "juice:
// powering off", syncs and powers off (status 0). juice.selfcheck=0 skips
// the self-check.
//
// In both modes, juice.modules=NAME,... loads kernel modules (and their
// dependencies) from /lib/modules/<release> first. In appliance mode,
// juice.trace=1 prints the guest's monotonic time (on Juice, the
// instruction clock) after each step: "juice: trace network 21.1ms".
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
