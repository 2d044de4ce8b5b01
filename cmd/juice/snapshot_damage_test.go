package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/testenv"
)

// runJuiceFor is runJuice with a deadline, for a run that might not end.
func runJuiceFor(t *testing.T, d time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, juice(t), args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("juice %s did not end within %v:\n%s", strings.Join(args, " "), d, e.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// tinySource is a juice run of a tiny counting guest (testenv.CounterImage)
// serving the API, to take snapshots of.
type tinySource struct {
	cmd  *exec.Cmd
	out  syncBuffer
	errs syncBuffer
	sock string
}

// startTiny starts juice run on a counting guest of k×4096 rounds with
// the extra arguments, and waits until it prints.
func startTiny(t *testing.T, k uint32, extra ...string) *tinySource {
	t.Helper()
	dir := t.TempDir()
	kernel := filepath.Join(dir, "counter")
	if err := os.WriteFile(kernel, testenv.CounterImage(k), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &tinySource{sock: filepath.Join(dir, "api.sock")}
	args := append([]string{"run", "--kernel", kernel, "--memory", "16M", "--no-rng", "--api", s.sock}, extra...)
	s.cmd = exec.Command(juice(t), args...)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.errs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	s.out.waitFor(t, "..........", time.Minute)
	return s
}

// snapshot takes a snapshot of the source into dir with the given flags.
func (s *tinySource) snapshot(t *testing.T, dir string, flags ...string) {
	t.Helper()
	_, errs, code := runJuiceFor(t, time.Minute, append([]string{"snapshot", "--api", s.sock, "-o", dir}, flags...)...)
	if code != 0 {
		t.Fatalf("juice snapshot %s: status %d\n%s\nthe VM's juice run:\n%s", strings.Join(flags, " "), code, errs, s.errs.String())
	}
}

// copyFolder copies a snapshot folder (keeping its memory sparse).
func copyFolder(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", "--sparse=always", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
}

// TestDamagedSnapshotsAreRefused restores snapshot folders damaged in
// each way a file of one can be, or written by a newer Juice: each is
// refused with status 125 and one line naming the file at fault.
func TestDamagedSnapshotsAreRefused(t *testing.T) {
	work := t.TempDir()
	rw, ro := filepath.Join(work, "rw.img"), filepath.Join(work, "ro.img")
	if err := os.WriteFile(rw, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ro, bytes.Repeat([]byte("read-only disk. "), 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	src := startTiny(t, 0x7ffff, "--disk", rw, "--disk", ro+",ro")
	other, full, diff := filepath.Join(work, "other"), filepath.Join(work, "full"), filepath.Join(work, "diff")
	src.snapshot(t, other)
	src.snapshot(t, full)
	src.snapshot(t, diff, "--diff", "--stop")
	src.cmd.Wait()

	for _, tc := range []struct {
		name string
		// damage damages the copy of the snapshot in dir (the diff's in
		// dir/diff, its parent in dir/full); restore is the folder to
		// restore, relative to dir.
		damage  func(t *testing.T, dir string)
		restore string
		args    []string
		want    string
	}{
		{"truncated state", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, "full", "state"), -7)
		}, "full", nil, "state: "},
		{"flipped byte in memory", func(t *testing.T, dir string) {
			flip(t, filepath.Join(dir, "full", "memory"), 0x400000+100)
		}, "full", []string{"--disk", "0=" + filepath.Join(work, "flip-rw.img")}, "memory does not match its digest"},
		{"a newer format version", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "full", "snapshot.json"), `"format": 1,`, `"format": 2,`)
		}, "full", nil, "snapshot.json: format version 2 (written by Juice"},
		{"disk-0 missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "full", "disk-0")); err != nil {
				t.Fatal(err)
			}
		}, "full", nil, "disk-0: missing"},
		{"a link out of the folder", func(t *testing.T, dir string) {
			state := filepath.Join(dir, "full", "state")
			if err := os.Rename(state, filepath.Join(dir, "state")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../state", state); err != nil {
				t.Fatal(err)
			}
		}, "full", nil, "state: a link out of the snapshot folder"},
		{"a diff whose parent was replaced", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "full")); err != nil {
				t.Fatal(err)
			}
			copyFolder(t, other, filepath.Join(dir, "full"))
		}, "diff", nil, "its parent " + "%DIR%/full is not the snapshot it was taken after"},
		// Last: it changes the disk all the snapshots name.
		{"a read-only disk changed", func(t *testing.T, dir string) {
			flip(t, ro, 5000)
		}, "full", nil, ro + " is not the disk the snapshot was taken with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyFolder(t, full, filepath.Join(dir, "full"))
			copyFolder(t, diff, filepath.Join(dir, "diff"))
			tc.damage(t, dir)
			start := time.Now()
			_, errs, code := runJuiceFor(t, time.Minute, append([]string{"restore", filepath.Join(dir, tc.restore)}, tc.args...)...)
			oneLine125(t, errs, code, strings.ReplaceAll(tc.want, "%DIR%", dir))
			t.Logf("%s (%v)", strings.TrimSpace(errs), time.Since(start).Round(time.Millisecond))
		})
	}
}

// truncate cuts n bytes off the end of a file (n < 0).
func truncate(t *testing.T, path string, n int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()+n); err != nil {
		t.Fatal(err)
	}
}

// flip inverts the byte at off of a file.
func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// edit replaces old with new in a file, which must hold old.
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s holds no %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}
