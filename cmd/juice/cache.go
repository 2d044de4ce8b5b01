package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// addCacheFlag gives root the persistent --cache flag that cacheDir reads.
func addCacheFlag(root *cobra.Command) {
	root.PersistentFlags().String("cache", "", "the Juice cache `DIR`: kernels, inits, initramfs (default $JUICE_CACHE, else $XDG_CACHE_HOME/juice, else ~/.cache/juice)")
}

// cacheDir is the Juice cache folder: --cache if given, else envCacheDir.
// It is resolved once per command (setUpCommand) and passed down to the
// libraries, which never read the environment for it.
func cacheDir(cmd *cobra.Command) (string, error) {
	if f := cmd.Flags().Lookup("cache"); f != nil && f.Changed {
		if f.Value.String() == "" {
			return "", errors.New("--cache: empty folder name")
		}
		return filepath.Abs(f.Value.String())
	}
	return envCacheDir()
}

// envCacheDir is the cache folder the environment names: $JUICE_CACHE if
// set, else $XDG_CACHE_HOME/juice, else ~/.cache/juice.
func envCacheDir() (string, error) {
	if d := os.Getenv("JUICE_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "juice"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache folder (give --cache or set JUICE_CACHE): %w", err)
	}
	return filepath.Join(home, ".cache", "juice"), nil
}

type cacheKey struct{}

type cacheValue struct {
	dir string
	err error
}

// withCacheDir returns ctx carrying the resolved cache folder, or why it
// could not be resolved (said only by a command that needs the cache).
func withCacheDir(ctx context.Context, dir string, err error) context.Context {
	return context.WithValue(ctx, cacheKey{}, cacheValue{dir, err})
}

// cacheDirFrom returns the cache folder carried by ctx (see setUpCommand).
func cacheDirFrom(ctx context.Context) (string, error) {
	v, ok := ctx.Value(cacheKey{}).(cacheValue)
	if !ok {
		return "", errors.New("no cache folder given")
	}
	return v.dir, v.err
}
