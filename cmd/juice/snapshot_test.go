package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a buffer a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the buffer holds want.
func (s *syncBuffer) waitFor(t *testing.T, want string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(s.String(), want) {
			return
		}
	}
	t.Fatalf("no %q within %v; output so far:\n%s", want, d, s.String())
}

// readStats reads a --stats file.
func readStats(t *testing.T, path string) stats {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s stats
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// snapcheckVM is a guest to snapshot: snapcheck on the default appliance's
// kernel, with its files in a folder of their own (which a test may
// remove, to show a snapshot does not need them).
type snapcheckVM struct {
	dir  string
	args []string
}

func newSnapcheckVM(t *testing.T, cpus int, disk, net bool) snapcheckVM {
	kernel, initrd := guestProgram(t, "./guest/snapcheck")
	dir := t.TempDir()
	for _, f := range []*string{&kernel, &initrd} {
		b, err := os.ReadFile(*f)
		if err != nil {
			t.Fatal(err)
		}
		*f = filepath.Join(dir, filepath.Base(*f))
		if err := os.WriteFile(*f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--kernel", kernel, "--initrd", initrd, "--no-rng", "--cpus", fmt.Sprint(cpus),
		"--append", "console=ttyS0 quiet juice.selfcheck=0 juice.exec=/snapcheck"}
	if net {
		args = append(args, "--net", "user")
	}
	return snapcheckVM{dir: dir, args: args}
}

// withDisk returns the arguments with a new 1 MiB disk named name.
func (v snapcheckVM) withDisk(t *testing.T, name string) []string {
	path := filepath.Join(v.dir, name)
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return append(append([]string(nil), v.args...), "--disk", path)
}

// TestSnapshotRestoreGoesOnExactly snapshots a running guest through the
// API, stops it, removes every file it ran from, and restores the
// snapshot from another folder: what the two runs print together, their
// final instruction count and state digest are the uninterrupted run's.
func TestSnapshotRestoreGoesOnExactly(t *testing.T) {
	for _, c := range []struct {
		name      string
		cpus      int
		disk, net bool
	}{{"1 hart", 1, false, false}, {"4 harts with a disk and the network", 4, true, true}} {
		t.Run(c.name, func(t *testing.T) {
			vm := newSnapcheckVM(t, c.cpus, c.disk, c.net)
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

			sock := filepath.Join(work, "api.sock")
			cmd := exec.Command(juice(t), append([]string{"run", "--api", sock}, args("source.img")...)...)
			var out, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			out.waitFor(t, "snapcheck 3 ", time.Minute)
			snap := filepath.Join(work, "snap")
			_, errs, code = runJuice(t, "snapshot", "--api", sock, "-o", snap, "--stop")
			if code != 0 || !strings.Contains(errs, "full snapshot at instruction") {
				cmd.Wait()
				t.Fatalf("snapshot: status %d\n%s\nthe VM's juice run:\n%s", code, errs, stderr.String())
			}
			cmd.Wait()
			before := out.String()
			if strings.Contains(before, "snapcheck done") {
				t.Fatalf("the guest finished before the snapshot:\n%s", before)
			}
			// The snapshot needs none of the files the VM ran from.
			if err := os.RemoveAll(vm.dir); err != nil {
				t.Fatal(err)
			}
			moved := filepath.Join(t.TempDir(), "elsewhere")
			if err := os.Rename(snap, moved); err != nil {
				t.Fatal(err)
			}
			after, errs, code := runJuice(t, "restore", moved, "--stats", filepath.Join(work, "restored.json"))
			if code != 0 {
				t.Fatalf("restore: status %d\n%s\n%s", code, errs, after)
			}
			if before+after != whole {
				t.Fatalf("snapshot and restore printed\n%s\n--- restored ---\n%s\nthe uninterrupted run\n%s", before, after, whole)
			}
			got := readStats(t, filepath.Join(work, "restored.json"))
			if got.Instructions != want.Instructions || got.Digest != want.Digest || got.Digest == "" {
				t.Fatalf("restored run ended at %d instructions, digest %s; the uninterrupted run at %d, %s",
					got.Instructions, got.Digest, want.Instructions, want.Digest)
			}
		})
	}
}

// TestCtrlASnapshots: on a terminal, Ctrl-A s writes a snapshot into a new
// folder of --snapshot-dir while the guest runs on, and the snapshot
// restores.
func TestCtrlASnapshots(t *testing.T) {
	master, slave := openPTY(t)
	out := readPTY(master)
	kernel := writeTemp(t, "spin", spinImage())
	dir := filepath.Join(t.TempDir(), "snaps")
	cmd := exec.Command(juice(t), "run", "--kernel", kernel, "--no-rng", "--snapshot-dir", dir)
	inSession(t, cmd, slave)
	waitRaw(t, slave, out)
	for i := 1; i <= 2; i++ {
		master.Write([]byte{ctrlA, 's'})
		out.waitOutput(t, fmt.Sprintf(`snapshot at instruction \d+ written to \S+snapshot-%d`, i))
	}
	master.Write([]byte{ctrlA, 'x'})
	cmd.Wait()
	for _, s := range []string{"snapshot-1", "snapshot-2"} {
		if _, err := os.Stat(filepath.Join(dir, s, "snapshot.json")); err != nil {
			t.Fatal(err)
		}
	}
	// The spinning guest restored runs on (until it is killed).
	r := startStage(t, "restore", filepath.Join(dir, "snapshot-2"))
	time.Sleep(500 * time.Millisecond)
	if r.cmd.ProcessState != nil || r.stderr.String() != "" {
		t.Fatalf("restore: %s", r.stderr.String())
	}
}

// snapshotPages returns the number of memory pages a snapshot folder's
// snapshot.json says it holds.
func snapshotPages(t *testing.T, dir string) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Memory struct {
			Pages uint64 `json:"pages"`
		} `json:"memory"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Memory.Pages
}

// TestDiffSnapshotAndFlattenGoOnExactly takes a full snapshot of a running
// guest, lets it run on and takes a diff snapshot, which holds far fewer
// pages; restoring the diff (through its parent) and restoring the chain
// flattened into one full snapshot, with the chain removed, each go on
// exactly as the uninterrupted run.
func TestDiffSnapshotAndFlattenGoOnExactly(t *testing.T) {
	vm := newSnapcheckVM(t, 2, false, false)
	work := t.TempDir()
	whole, errs, code := runJuice(t, append([]string{"run", "--stats", filepath.Join(work, "whole.json")}, vm.args...)...)
	if code != 0 || !strings.Contains(whole, "snapcheck done") {
		t.Fatalf("uninterrupted run: status %d\n%s\n%s", code, errs, whole)
	}
	want := readStats(t, filepath.Join(work, "whole.json"))

	sock := filepath.Join(work, "api.sock")
	cmd := exec.Command(juice(t), append([]string{"run", "--api", sock}, vm.args...)...)
	var out, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	full, diff := filepath.Join(work, "full"), filepath.Join(work, "diff")
	out.waitFor(t, "snapcheck 3 ", time.Minute)
	if _, errs, code := runJuice(t, "snapshot", "--api", sock, "-o", full); code != 0 {
		cmd.Wait()
		t.Fatalf("full snapshot: status %d\n%s\n%s", code, errs, stderr.String())
	}
	out.waitFor(t, "snapcheck 4 ", time.Minute)
	if _, errs, code := runJuice(t, "snapshot", "--api", sock, "-o", diff, "--diff", "--stop"); code != 0 || !strings.Contains(errs, "diff snapshot at instruction") {
		cmd.Wait()
		t.Fatalf("diff snapshot: status %d\n%s\n%s", code, errs, stderr.String())
	}
	cmd.Wait()
	before := out.String()
	if strings.Contains(before, "snapcheck done") {
		t.Fatalf("the guest finished before the snapshot:\n%s", before)
	}
	fp, dp := snapshotPages(t, full), snapshotPages(t, diff)
	t.Logf("full snapshot: %d pages, diff: %d", fp, dp)
	if dp == 0 || dp*4 > fp {
		t.Fatalf("the diff holds %d pages, the full snapshot %d: want far fewer", dp, fp)
	}
	if err := os.RemoveAll(vm.dir); err != nil {
		t.Fatal(err)
	}
	restore := func(dir, name string) {
		t.Helper()
		after, errs, code := runJuice(t, "restore", dir, "--stats", filepath.Join(work, name+".json"))
		if code != 0 {
			t.Fatalf("restore %s: status %d\n%s\n%s", name, code, errs, after)
		}
		if before+after != whole {
			t.Fatalf("restoring %s: snapshot and restore printed\n%s\n--- restored ---\n%s\nthe uninterrupted run\n%s", name, before, after, whole)
		}
		got := readStats(t, filepath.Join(work, name+".json"))
		if got.Instructions != want.Instructions || got.Digest != want.Digest || got.Digest == "" {
			t.Fatalf("restored %s ended at %d instructions, digest %s; the uninterrupted run at %d, %s",
				name, got.Instructions, got.Digest, want.Instructions, want.Digest)
		}
	}
	restore(diff, "diff")
	flat := filepath.Join(t.TempDir(), "flat")
	if _, errs, code := runJuice(t, "snapshot", "flatten", diff, "-o", flat); code != 0 || !strings.Contains(errs, "2 snapshots merged") {
		t.Fatalf("flatten: status %d\n%s", code, errs)
	}
	for _, d := range []string{full, diff} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	restore(flat, "flat")
}

// TestRestoreBindsForwardedPortsAgain: host resources are not state — a
// restored VM's user network is made anew, and its forwarded host port is
// bound again (and can be moved with --net).
func TestRestoreBindsForwardedPortsAgain(t *testing.T) {
	kernel := writeTemp(t, "spin", spinImage())
	port := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	p1, p2 := port(), port()
	work := t.TempDir()
	sock := filepath.Join(work, "api.sock")
	src := startStage(t, "run", "--kernel", kernel, "--no-rng", "--api", sock,
		"--net", fmt.Sprintf("user,hostfwd=tcp:127.0.0.1:%d-:80", p1))
	waitForFile(t, sock)
	snap := filepath.Join(work, "snap")
	if _, errs, code := runJuice(t, "snapshot", "--api", sock, "-o", snap, "--stop"); code != 0 {
		t.Fatalf("snapshot: %s", errs)
	}
	src.wait(t)
	listening := func(p int) bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if listening(p1) {
		t.Fatal("the stopped VM's port is still bound")
	}
	for _, c := range []struct {
		args []string
		port int
	}{{nil, p1}, {[]string{"--net", fmt.Sprintf("user,hostfwd=tcp:127.0.0.1:%d-:80", p2)}, p2}} {
		r := startStage(t, append([]string{"restore", snap}, c.args...)...)
		ok := false
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !ok; time.Sleep(20 * time.Millisecond) {
			ok = listening(c.port)
		}
		if !ok {
			t.Fatalf("restore %v: port %d is not bound\n%s", c.args, c.port, r.stderr.String())
		}
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}
