// Package testenv holds what Juice's tests take from the environment, so
// that the libraries they test never read it themselves.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// CacheDir is the Juice cache folder for tests that use the real,
// shared cache (a built kernel, a fetched Debian kernel): $JUICE_CACHE if
// set, else $XDG_CACHE_HOME/juice, else ~/.cache/juice, the folder the
// juice command uses when given no --cache (cmd/juice/cache.go). A test
// that needs no shared cache uses t.TempDir() instead.
func CacheDir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("JUICE_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "juice")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		tb.Fatalf("no cache folder for the test (set JUICE_CACHE): %v", err)
	}
	return filepath.Join(home, ".cache", "juice")
}
