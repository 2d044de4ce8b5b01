//go:build juice_prebuilt_init

package guestinit

import (
	_ "embed"
	"io/fs"
)

// prebuilt is the init that make build cross-compiles before it builds
// juice with the tag juice_prebuilt_init.
//
//go:embed prebuilt/init-riscv64
var prebuilt []byte

const hasPrebuilt = true

// sources is not needed: the init is prebuilt.
var sources fs.FS
