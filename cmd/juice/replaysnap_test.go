package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReplaySnapshotGoesOnLive records a guest run, replays it to the
// middle with --until N --snapshot DIR and restores the snapshot live:
// the replay's console output up to N and the restored run's together are
// the recording's, and the restored run ends at the recording's final
// instruction count and state digest.
func TestReplaySnapshotGoesOnLive(t *testing.T) {
	for _, cpus := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d harts", cpus), func(t *testing.T) {
			vm := newSnapcheckVM(t, cpus, false, false)
			work := t.TempDir()
			rec := filepath.Join(work, "run.jrr")
			whole, errs, code := runJuice(t, append([]string{"record", "-o", rec, "--stats", filepath.Join(work, "rec.json")}, vm.args...)...)
			if code != 0 || !strings.Contains(whole, "snapcheck done") {
				t.Fatalf("record: status %d\n%s\n%s", code, errs, whole)
			}
			want := readStats(t, filepath.Join(work, "rec.json"))
			if want.Digest == "" || !strings.Contains(errs, "final digest "+want.Digest) {
				t.Fatalf("record printed no final digest %q:\n%s", want.Digest, errs)
			}

			n := want.Instructions / 2
			snap := filepath.Join(work, "mid")
			before, errs, code := runJuice(t, "replay", rec, "--until", fmt.Sprint(n), "--snapshot", snap)
			if code != 0 || !strings.Contains(errs, fmt.Sprintf("full snapshot at instruction %d", n)) {
				t.Fatalf("replay --until %d --snapshot: status %d\n%s\n%s", n, code, errs, before)
			}
			if !strings.HasPrefix(whole, before) || before == "" || before == whole {
				t.Fatalf("the replay up to %d printed\n%s\nnot a beginning of the recording's output\n%s", n, before, whole)
			}

			after, errs, code := runJuice(t, "restore", snap, "--stats", filepath.Join(work, "restored.json"))
			if code != 0 {
				t.Fatalf("restore: status %d\n%s\n%s", code, errs, after)
			}
			if before+after != whole {
				t.Fatalf("the replay up to %d printed\n%s\n--- restored ---\n%s\nthe recording\n%s", n, before, after, whole)
			}
			got := readStats(t, filepath.Join(work, "restored.json"))
			if got.Instructions != want.Instructions || got.Digest != want.Digest {
				t.Fatalf("restored run ended at %d instructions, digest %s; the recording at %d, %s",
					got.Instructions, got.Digest, want.Instructions, want.Digest)
			}

			// A full replay leaves checkpoints, which the next --until
			// starts from: the snapshot it writes goes on the same.
			if _, errs, code := runJuice(t, "replay", rec, "--checkpoint-every", fmt.Sprint(n/3)); code != 0 {
				t.Fatalf("replay: status %d\n%s", code, errs)
			}
			snap2 := filepath.Join(work, "mid-from-checkpoint")
			_, errs, code = runJuice(t, "replay", rec, "--until", fmt.Sprint(n), "--snapshot", snap2)
			if code != 0 || !strings.Contains(errs, "starting from the checkpoint") {
				t.Fatalf("replay --until %d --snapshot from a checkpoint: status %d\n%s", n, code, errs)
			}
			after2, errs, code := runJuice(t, "restore", snap2, "--stats", filepath.Join(work, "restored2.json"))
			got = readStats(t, filepath.Join(work, "restored2.json"))
			if code != 0 || after2 != after || got.Instructions != want.Instructions || got.Digest != want.Digest {
				t.Fatalf("restore of the snapshot a replay from a checkpoint wrote: status %d, same output %v, %d instructions, digest %s; want %d, %s\n%s",
					code, after2 == after, got.Instructions, got.Digest, want.Instructions, want.Digest, errs)
			}
		})
	}
}

// TestRecordFromSnapshot snapshots a running guest through the API,
// records the run that goes on from the snapshot, and replays it: the
// replay restores the same snapshot and matches, with the recording's
// output and final digest. A replay whose snapshot moved is told to name
// it, and one whose snapshot changed is refused.
func TestRecordFromSnapshot(t *testing.T) {
	for _, c := range []struct {
		name      string
		cpus      int
		disk, net bool
	}{{"1 hart", 1, false, false}, {"4 harts with a disk and the network", 4, true, true}} {
		t.Run(c.name, func(t *testing.T) {
			vm := newSnapcheckVM(t, c.cpus, c.disk, c.net)
			args := vm.args
			if c.disk {
				args = vm.withDisk(t, "source.img")
			}
			work := t.TempDir()
			sock := filepath.Join(work, "api.sock")
			cmd := exec.Command(juice(t), append([]string{"run", "--api", sock}, args...)...)
			var out, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			out.waitFor(t, "snapcheck 3 ", time.Minute)
			snap := filepath.Join(work, "snap")
			_, errs, code := runJuice(t, "snapshot", "--api", sock, "-o", snap, "--stop")
			cmd.Wait()
			if code != 0 {
				t.Fatalf("snapshot: status %d\n%s\nthe VM's juice run:\n%s", code, errs, stderr.String())
			}

			rec := filepath.Join(work, "from-snap.jrr")
			recArgs := []string{"record", "-o", rec, "--from-snapshot", snap, "--stats", filepath.Join(work, "rec.json")}
			if c.net {
				recArgs = append(recArgs, "--net", "user")
			}
			recorded, errs, code := runJuice(t, recArgs...)
			if code != 0 || !strings.Contains(recorded, "snapcheck done") || strings.Contains(recorded, "snapcheck 1 ") {
				t.Fatalf("record --from-snapshot: status %d\n%s\n%s", code, errs, recorded)
			}
			want := readStats(t, filepath.Join(work, "rec.json"))
			if want.Digest == "" || !strings.Contains(errs, "final digest "+want.Digest) {
				t.Fatalf("record printed no final digest %q:\n%s", want.Digest, errs)
			}
			if _, _, code := runJuice(t, "record", "-o", filepath.Join(work, "x.jrr"), "--from-snapshot", snap, "--cpus", "2"); code == 0 {
				t.Fatal("record --from-snapshot took --cpus")
			}

			replayed, errs, code := runJuice(t, "replay", rec)
			if code != 0 || replayed != recorded || !strings.Contains(errs, "replay matches") || !strings.Contains(errs, "digest "+want.Digest) {
				t.Fatalf("replay: status %d, same output %v\n%s", code, replayed == recorded, errs)
			}

			// --until goes from the snapshot (and the checkpoints the
			// full replay left); it cannot go before the snapshot.
			snapAt := want.Instructions - (want.Instructions-1)/3
			if out, errs, code := runJuice(t, "replay", rec, "--until", fmt.Sprint(snapAt), "--json"); code != 0 || !strings.Contains(out, fmt.Sprintf(`"instructions": %d`, snapAt)) {
				t.Fatalf("replay --until %d: status %d\n%s\n%s", snapAt, code, errs, out)
			}
			if _, errs, code := runJuice(t, "replay", rec, "--until", "1000"); code == 0 || !strings.Contains(errs, "starts from snapshot") {
				t.Fatalf("replay --until before the snapshot: status %d\n%s", code, errs)
			}

			// The snapshot moved: the replay says so, and --from-snapshot
			// names where it is now.
			moved := filepath.Join(t.TempDir(), "moved")
			if err := os.Rename(snap, moved); err != nil {
				t.Fatal(err)
			}
			_, errs, code = runJuice(t, "replay", rec)
			if code == 0 || !strings.Contains(errs, "starts from snapshot "+snap+", which is missing") || !strings.Contains(errs, "--from-snapshot") {
				t.Fatalf("replay without its snapshot: status %d\n%s", code, errs)
			}
			_, errs, code = runJuice(t, "replay", rec, "--from-snapshot", moved)
			if code != 0 || !strings.Contains(errs, "replay matches") {
				t.Fatalf("replay --from-snapshot: status %d\n%s", code, errs)
			}

			// The snapshot changed: refused by name.
			man := filepath.Join(moved, "snapshot.json")
			b, err := os.ReadFile(man)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(man, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			_, errs, code = runJuice(t, "replay", rec, "--from-snapshot", moved)
			if code == 0 || !strings.Contains(errs, moved) {
				t.Fatalf("replay from a changed snapshot: status %d\n%s", code, errs)
			}
			t.Logf("changed snapshot: %s", strings.TrimSpace(errs))
		})
	}
}
