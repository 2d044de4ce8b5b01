package main

import (
	"context"
	"testing"
)

func TestCacheDir(t *testing.T) {
	check := func(what, want string, args ...string) {
		t.Helper()
		ctx, err := probeCommand(t, append(args, "probe")...)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if d, err := cacheDirFrom(ctx); err != nil || d != want {
			t.Errorf("%s: %q, %v; want %q", what, d, err, want)
		}
	}
	t.Setenv("JUICE_CACHE", "/x/juice")
	check("JUICE_CACHE", "/x/juice")
	check("--cache", "/flag/juice", "--cache", "/flag/juice")
	t.Setenv("JUICE_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	check("XDG_CACHE_HOME", "/xdg/juice")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	check("HOME", "/home/u/.cache/juice")
	t.Setenv("HOME", "")
	if _, err := probeCommand(t, "probe"); err != nil {
		t.Errorf("no HOME fails a command that needs no cache: %v", err)
	}
	ctx, _ := probeCommand(t, "probe")
	if _, err := cacheDirFrom(ctx); err == nil {
		t.Error("no cache folder and no error")
	}
	if _, err := cacheDirFrom(context.Background()); err == nil {
		t.Error("a context without a cache folder gave one")
	}
}
