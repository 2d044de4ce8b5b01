// Command runtests runs every Go test binary in /tests with -test.short,
// one after another, and prints "ok NAME" or "FAIL NAME" for each, followed
// by the failing test's output. It exits 1 if any failed.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

func main() {
	bins, _ := filepath.Glob("/tests/*.test")
	sort.Strings(bins)
	failed := 0
	for _, b := range bins {
		out, err := exec.Command(b, "-test.short").CombinedOutput()
		name := filepath.Base(b)
		if err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n%s\n", name, err, out)
			continue
		}
		fmt.Printf("ok %s\n", name)
	}
	fmt.Printf("%d passed, %d failed\n", len(bins)-failed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
