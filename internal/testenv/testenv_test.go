package testenv

import "testing"

func TestCacheDir(t *testing.T) {
	t.Setenv("JUICE_CACHE", "/x/juice")
	if d := CacheDir(t); d != "/x/juice" {
		t.Errorf("JUICE_CACHE: %s", d)
	}
	t.Setenv("JUICE_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d := CacheDir(t); d != "/xdg/juice" {
		t.Errorf("XDG_CACHE_HOME: %s", d)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d := CacheDir(t); d != "/home/u/.cache/juice" {
		t.Errorf("HOME: %s", d)
	}
}
