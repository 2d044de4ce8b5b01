package main

import (
	"golang.org/x/sys/unix"
)

// linuxSystem returns the real kernel operations.
func linuxSystem() system {
	return system{
		mount: func(dev, dir string) error {
			return unix.Mount(dev, dir, "ext4", 0, "")
		},
		unmount: func(dir string) error {
			return unix.Unmount(dir, 0)
		},
		sync: unix.Sync,
	}
}
