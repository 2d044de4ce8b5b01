package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/appliance"
)

func runJuice(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(juice(t), args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestRecordReplay records the default appliance's boot (with host
// entropy from virtio-rng) on 2 harts, replays it, and checks that a
// tampered recording and a modified initrd are refused.
func TestRecordReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("boots Linux; skipped in -short mode")
	}
	d, err := appliance.BuildDefault(t.Context(), appliance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd.cpio")
	data, err := os.ReadFile(d.InitrdPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(initrd, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "boot.jrr")
	out1, errs, code := runJuice(t, "record", "-o", rec, "--cpus", "2", "--kernel", d.KernelPath, "--initrd", initrd, "--append", "console=ttyS0")
	if code != 0 || !strings.Contains(out1, "juice: self-check ok") {
		t.Fatalf("record: status %d\n%s\n%s", code, errs, out1)
	}
	st, err := os.Stat(rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recording: %d bytes", st.Size())

	out2, errs, code := runJuice(t, "replay", rec)
	if code != 0 || out2 != out1 || !strings.Contains(errs, "replay matches") {
		t.Fatalf("replay: status %d, console identical %v\n%s", code, out1 == out2, errs)
	}
	info, _, code := runJuice(t, "replay", "--info", rec)
	if code != 0 || !strings.Contains(info, `"entropy"`) {
		t.Fatalf("--info: status %d\n%s", code, info)
	}

	// --until stops at an exact instruction count and reports the harts.
	js, errs, code := runJuice(t, "replay", rec, "--until", "5000000", "--json")
	var state struct {
		Instructions uint64
		Harts        []struct{ PC uint64 }
	}
	if code != 0 || json.Unmarshal([]byte(js), &state) != nil || state.Instructions != 5_000_000 || len(state.Harts) != 2 || state.Harts[0].PC == 0 {
		t.Fatalf("--until: status %d, state %+v\n%s\n%s", code, state, js, errs)
	}

	// A flipped byte in the event stream is detected.
	raw, _ := os.ReadFile(rec)
	bad := bytes.Clone(raw)
	bad[len(bad)-20] ^= 0x40
	tampered := filepath.Join(dir, "tampered.jrr")
	os.WriteFile(tampered, bad, 0o644)
	_, errs, code = runJuice(t, "replay", tampered)
	if code == 0 || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
		t.Fatalf("tampered recording: status %d\n%s", code, errs)
	}

	// A modified input file is named.
	data[len(data)-1] ^= 1
	os.WriteFile(initrd, data, 0o644)
	_, errs, code = runJuice(t, "replay", rec)
	if code != exitError || !strings.Contains(errs, "initrd") || !strings.Contains(errs, "modified") {
		t.Fatalf("modified initrd: status %d\n%s", code, errs)
	}

	// Not a recording at all.
	_, errs, code = runJuice(t, "replay", d.KernelPath)
	if code != exitError || strings.Contains(errs, "goroutine") {
		t.Fatalf("foreign file: status %d\n%s", code, errs)
	}
}
