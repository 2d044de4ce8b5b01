// Package juice carries the part of Juice's own source tree that the juice
// command needs at run time: the Go sources of the guest init (guest/init,
// PID 1 of every appliance), so that a juice installed with `go install`
// can cross-compile its init for linux/riscv64 without the source tree.
//
// It is a package at the module root because go:embed reaches only the
// folder of the package that embeds and the folders below it. Package
// internal/guestinit uses it; its tests check that every package of this
// module that guest/init is built from (go list -deps ./guest/init) is
// embedded here.
package juice

import "embed"

// InitSources holds go.mod, go.sum and the .go files of every package of
// this module that guest/init imports, directly or not, at their paths in
// the module. go:embed patterns cannot leave out the _test.go files, so
// they are here too; internal/guestinit skips them.
//
// A package that guest/init comes to import must be added here; the test
// in internal/guestinit says which.
//
//go:embed go.mod go.sum
//go:embed guest/init/*.go
//go:embed guest/init/internal/pid1/*.go
//go:embed guest/internal/netconf/*.go
//go:embed internal/dhcpmsg/*.go
//go:embed internal/guestconfig/*.go
var InitSources embed.FS
