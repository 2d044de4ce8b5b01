package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/testenv"
)

// TestReplayUntilFromCheckpoints checks that a full replay leaves a
// checkpoint file from which --until starts, that it reaches the very
// state a replay from the beginning reaches, and that a checkpoint file
// that is damaged or belongs to another recording is ignored, with a note.
func TestReplayUntilFromCheckpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("boots Linux; skipped in -short mode")
	}
	d, err := appliance.BuildDefault(t.Context(), appliance.Options{CacheDir: testenv.CacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rec := filepath.Join(dir, "boot.jrr")
	if _, errs, code := runJuice(t, "record", "-o", rec, "--cpus", "2", "--kernel", d.KernelPath, "--initrd", d.InitrdPath, "--append", "console=ttyS0"); code != 0 {
		t.Fatalf("record: status %d\n%s", code, errs)
	}
	if _, errs, code := runJuice(t, "replay", rec, "--checkpoint-every", "7000000"); code != 0 {
		t.Fatalf("replay: status %d\n%s", code, errs)
	}
	ckpt := rec + ".ckpt"
	if _, err := os.Stat(ckpt); err != nil {
		t.Fatalf("the replay wrote no checkpoint file: %v", err)
	}
	const until = "30000123" // past the checkpoints at 7, 14, 21 and 28 M
	want, errs, code := runJuice(t, "replay", rec, "--until", until, "--json", "--no-checkpoints")
	if code != 0 || strings.Contains(errs, "checkpoint at") {
		t.Fatalf("replay --until --no-checkpoints: status %d\n%s", code, errs)
	}
	got, errs, code := runJuice(t, "replay", rec, "--until", until, "--json")
	if code != 0 || !strings.Contains(errs, "starting from the checkpoint at instruction 28000000") {
		t.Fatalf("replay --until: status %d\n%s", code, errs)
	}
	if got != want {
		t.Fatalf("the state reached from a checkpoint differs from the one reached from the start:\n%s\n%s", got, want)
	}

	// A damaged checkpoint file: the damaged state and those after it are
	// not used; the result is the same.
	b, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	b[60] ^= 0x40 // inside the first state: the replay starts from the beginning
	if err := os.WriteFile(ckpt, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, errs, code = runJuice(t, "replay", rec, "--until", until, "--json")
	if code != 0 || !strings.Contains(errs, "checksum mismatch") || got != want {
		t.Fatalf("damaged checkpoint file: status %d\n%s", code, errs)
	}

	// A checkpoint file of another recording is ignored: one that names
	// another recording's digest (after its magic and version).
	cb, _ := os.ReadFile(ckpt)
	cb[12] ^= 1
	os.WriteFile(ckpt, cb, 0o644)
	_, errs, _ = runJuice(t, "replay", rec, "--until", until, "--json")
	if !strings.Contains(errs, "does not belong to this recording") {
		t.Fatalf("a foreign checkpoint file was not refused:\n%s", errs)
	}
}
