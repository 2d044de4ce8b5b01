//go:build !juice_prebuilt_init

package guestinit

import (
	"io/fs"

	juice "github.com/juicevm/juice"
)

// prebuilt is empty: juice was built without the tag juice_prebuilt_init
// (as go install builds it), and builds the init from its sources.
var prebuilt []byte

const hasPrebuilt = false

// sources are the init's Go sources, embedded in juice.
var sources fs.FS = juice.InitSources
