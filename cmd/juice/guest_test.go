package main

import (
	"context"
	"path"
	"testing"

	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/testenv"
)

// guestProgram builds the default appliance and an initramfs that adds
// the Go program in the module's folder pkg (e.g. "./guest/racecheck") at
// /NAME, where NAME is the folder's last element. It returns the kernel
// Image and the initramfs, which lies in a test-owned folder.
func guestProgram(t *testing.T, pkg string) (kernel, initrd string) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots Linux; skipped in -short mode")
	}
	ctx := context.Background()
	d, err := appliance.BuildDefault(ctx, appliance.Options{CacheDir: testenv.CacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	root, err := appliance.ModuleRoot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := appliance.CrossCompile(ctx, "go", root, pkg)
	if err != nil {
		t.Fatal(err)
	}
	initrd, err = appliance.InitramfsWith(ctx, appliance.Options{CacheDir: testenv.CacheDir(t)}, t.TempDir(), map[string][]byte{"/" + path.Base(pkg): prog})
	if err != nil {
		t.Fatal(err)
	}
	return d.KernelPath, initrd
}
