package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
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
