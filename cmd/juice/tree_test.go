package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// treeState describes every entry under root, for checking that a command
// changed nothing it was not asked to write: the path relative to root
// (slash-separated; "." is root) maps to "file SHA256 MODE", "dir MODE",
// "symlink TARGET" (links are not followed) or "other MODE". Take it
// before and after a command and compare the two with diffTrees.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	state := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			state[rel] = "symlink " + target
		case mode.IsDir():
			state[rel] = fmt.Sprintf("dir %v", mode)
		case mode.IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			state[rel] = fmt.Sprintf("file %s %v", hex.EncodeToString(h.Sum(nil)), mode)
		default:
			state[rel] = fmt.Sprintf("other %v", mode)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("treeState %s: %v", root, err)
	}
	return state
}

// diffTrees lists, sorted by path, what differs between two treeStates:
// "added PATH: STATE", "removed PATH: STATE" and "changed PATH: BEFORE ->
// AFTER". No difference gives nil.
func diffTrees(before, after map[string]string) []string {
	var diffs []string
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("removed %s: %s", p, b))
		case a != b:
			diffs = append(diffs, fmt.Sprintf("changed %s: %s -> %s", p, b, a))
		}
	}
	for p, a := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("added %s: %s", p, a))
		}
	}
	sort.Slice(diffs, func(i, j int) bool {
		return diffPath(diffs[i]) < diffPath(diffs[j]) || diffPath(diffs[i]) == diffPath(diffs[j]) && diffs[i] < diffs[j]
	})
	return diffs
}

// diffPath is the path a line of diffTrees is about.
func diffPath(line string) string {
	_, rest, _ := strings.Cut(line, " ")
	p, _, _ := strings.Cut(rest, ": ")
	return p
}
