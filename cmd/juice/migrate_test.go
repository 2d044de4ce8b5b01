package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// stage is a juice process that runs a VM, its output watched.
type stage struct {
	cmd         *exec.Cmd
	out, stderr syncBuffer
}

func startStage(t *testing.T, args ...string) *stage {
	t.Helper()
	s := &stage{cmd: exec.Command(juice(t), args...)}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	return s
}

// wait waits for the process to exit and returns its status.
func (s *stage) wait(t *testing.T) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(2 * time.Minute):
		t.Fatalf("%v did not exit\n%s", s.cmd.Args, s.stderr.String())
		return -1
	}
}

// lines counts snapcheck's lines in s's output.
func (s *stage) lines() int { return strings.Count(s.out.String(), "snapcheck ") }

// waitLines waits until s printed n more snapcheck lines than it had.
func (s *stage) waitLines(t *testing.T, n int) {
	t.Helper()
	want := s.lines() + n
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s.lines() >= want {
			return
		}
	}
	t.Fatalf("%v printed no more lines:\n%s\n%s", s.cmd.Args, s.out.String(), s.stderr.String())
}

// migrate moves the VM served on sock to a new juice receive and returns
// the receiving stage.
func migrate(t *testing.T, sock, dir, name string, extra ...string) *stage {
	t.Helper()
	mig := filepath.Join(dir, name+".mig")
	api := filepath.Join(dir, name+".sock")
	r := startStage(t, append([]string{"receive", "--listen", "unix:" + mig, "--token", "t0ken", "--api", api}, extra...)...)
	waitForFile(t, mig)
	_, errs, code := runJuice(t, "migrate", "--api", sock, "--to", "unix:"+mig, "--token", "t0ken")
	if code != 0 || !regexp.MustCompile(`migrated to \S+ in \S+ \(downtime \S+, \d+ bytes sent, \d+ rounds\)`).MatchString(errs) {
		t.Fatalf("migrate: status %d\n%s\nreceiver:\n%s", code, errs, r.stderr.String())
	}
	t.Log(strings.TrimSpace(errs))
	waitForFile(t, api)
	return r
}

// TestSnapshotRestoreMigrateTwice is issue 11's acceptance: a guest that is
// snapshotted, restored elsewhere, migrated twice and finally powers off
// prints exactly what an uninterrupted run prints, and ends at the same
// instruction count and state digest.
func TestSnapshotRestoreMigrateTwice(t *testing.T) {
	for _, c := range []struct {
		name string
		cpus int
		disk bool
	}{{"1 hart", 1, false}, {"4 harts with a disk", 4, true}} {
		t.Run(c.name, func(t *testing.T) {
			vm := newSnapcheckVM(t, c.cpus, c.disk, true)
			args := func(disk string) []string {
				if c.disk {
					return vm.withDisk(t, disk)
				}
				return vm.args
			}
			work := t.TempDir()
			whole, errs, code := runJuice(t, append([]string{"run", "--stats", filepath.Join(work, "whole.json")}, args("whole.img")...)...)
			if code != 0 || !strings.Contains(whole, "snapcheck done") {
				t.Fatalf("uninterrupted run: status %d\n%s\n%s", code, errs, whole)
			}
			want := readStats(t, filepath.Join(work, "whole.json"))

			// 1. Run, and snapshot it.
			sock := filepath.Join(work, "run.sock")
			src := startStage(t, append([]string{"run", "--api", sock}, args("source.img")...)...)
			waitForFile(t, sock)
			src.waitLines(t, 2)
			snap := filepath.Join(work, "snap")
			if _, errs, code := runJuice(t, "snapshot", "--api", sock, "-o", snap, "--stop"); code != 0 {
				t.Fatalf("snapshot: %d\n%s", code, errs)
			}
			src.wait(t)
			os.RemoveAll(vm.dir)
			moved := filepath.Join(t.TempDir(), "moved")
			if err := os.Rename(snap, moved); err != nil {
				t.Fatal(err)
			}

			// 2. Restore it elsewhere, its disk in a new file.
			rsock := filepath.Join(work, "restore.sock")
			rargs := []string{"restore", moved, "--api", rsock}
			if c.disk {
				rargs = append(rargs, "--disk", "0="+filepath.Join(work, "restored.img"))
			}
			restored := startStage(t, rargs...)
			waitForFile(t, rsock)
			restored.waitLines(t, 2)

			// 3. Migrate it twice; the second receiver runs it to the end.
			first := migrate(t, rsock, work, "first")
			if code := restored.wait(t); code != 0 || !strings.Contains(restored.stderr.String(), "migrated to") {
				t.Fatalf("the migrated source: status %d\n%s", code, restored.stderr.String())
			}
			first.waitLines(t, 2)
			second := migrate(t, filepath.Join(work, "first.sock"), work, "second", "--stats", filepath.Join(work, "end.json"))
			first.wait(t)
			if code := second.wait(t); code != 0 {
				t.Fatalf("the last receiver: status %d\n%s", code, second.stderr.String())
			}
			got := src.out.String() + restored.out.String() + first.out.String() + second.out.String()
			if got != whole {
				t.Fatalf("the stages printed\n%s\n--- restored ---\n%s\n--- first ---\n%s\n--- second ---\n%s\nthe uninterrupted run printed\n%s",
					src.out.String(), restored.out.String(), first.out.String(), second.out.String(), whole)
			}
			end := readStats(t, filepath.Join(work, "end.json"))
			if end.Instructions != want.Instructions || end.Digest != want.Digest {
				t.Fatalf("the moved VM ended at %d instructions, digest %s; the uninterrupted run at %d, %s",
					end.Instructions, end.Digest, want.Instructions, want.Digest)
			}
		})
	}
}

// TestMigrationFailuresLoseNothing: a wrong token, a disk the destination
// cannot reach, a destination that dies during the transfer and a
// migration that cannot converge all leave the VM running on the source,
// which then prints exactly what an uninterrupted run prints.
func TestMigrationFailuresLoseNothing(t *testing.T) {
	vm := newSnapcheckVM(t, 2, true, false)
	// Enough rounds to try four migrations while it runs.
	vm.args[len(vm.args)-1] += " snapcheck.rounds=150"
	work := t.TempDir()
	whole, errs, code := runJuice(t, append([]string{"run"}, vm.withDisk(t, "whole.img")...)...)
	if code != 0 {
		t.Fatalf("uninterrupted run: %d\n%s", code, errs)
	}
	sock := filepath.Join(work, "run.sock")
	args := vm.withDisk(t, "source.img")
	src := startStage(t, append([]string{"run", "--api", sock}, args...)...)
	waitForFile(t, sock)
	src.waitLines(t, 1)

	try := func(name string, receiverArgs []string, migrateArgs ...string) (string, *stage) {
		mig := filepath.Join(work, name+".mig")
		r := startStage(t, append([]string{"receive", "--listen", "unix:" + mig, "--token", "right"}, receiverArgs...)...)
		waitForFile(t, mig)
		_, errs, code := runJuice(t, append([]string{"migrate", "--api", sock, "--to", "unix:" + mig}, migrateArgs...)...)
		if code == 0 {
			t.Fatalf("%s: migrate succeeded\n%s", name, errs)
		}
		if !strings.Contains(errs, "the VM runs on here") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Fatalf("%s: want one line saying the VM runs on here, got\n%s", name, errs)
		}
		return errs, r
	}
	// A wrong token: refused, and the receiver waits on.
	errs, r := try("token", nil, "--token", "wrong")
	if !strings.Contains(errs, "wrong token") {
		t.Fatalf("wrong token: %s", errs)
	}
	if r.cmd.ProcessState != nil {
		t.Fatal("the receiver exited after a wrong token")
	}
	r.cmd.Process.Kill()
	// A disk the destination cannot reach: the source's disk path is
	// named elsewhere with a file that differs.
	other := filepath.Join(work, "other.img")
	os.WriteFile(other, make([]byte, 1<<20), 0o644)
	errs, _ = try("disk", []string{"--disk", "0=" + other}, "--token", "right")
	if !strings.Contains(errs, "disk 0") {
		t.Fatalf("unreachable disk: %s", errs)
	}
	// A budget no link can meet: pre-copy gives up at the timeout.
	errs, _ = try("converge", nil, "--token", "right", "--downtime", "1ns", "--timeout", "1s")
	if !strings.Contains(errs, "did not converge") {
		t.Fatalf("no convergence: %s", errs)
	}
	// A destination that dies during the transfer.
	mig := filepath.Join(work, "dies.mig")
	dies := startStage(t, "receive", "--listen", "unix:"+mig, "--token", "right")
	waitForFile(t, mig)
	m := exec.Command(juice(t), "migrate", "--api", sock, "--to", "unix:"+mig, "--token", "right", "--downtime", "1ns", "--timeout", "30s")
	var merr syncBuffer
	m.Stderr = &merr
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	dies.cmd.Process.Kill()
	if err := m.Wait(); err == nil || !strings.Contains(merr.String(), "the VM runs on here") {
		t.Fatalf("migrate to a destination that died: %v\n%s", err, merr.String())
	}
	if code := src.wait(t); code != 0 || src.out.String() != whole {
		t.Fatalf("the source: status %d; it printed\n%s\nthe uninterrupted run\n%s\n%s", code, src.out.String(), whole, src.stderr.String())
	}
}
