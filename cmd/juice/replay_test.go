package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/replay"
	"github.com/juicevm/juice/internal/testenv"
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
// entropy from virtio-rng and a disk attached) on 2 harts, replays it, and
// checks that a damaged recording, a forged one and modified input files
// are each refused.
func TestRecordReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("boots Linux; skipped in -short mode")
	}
	d, err := appliance.BuildDefault(t.Context(), appliance.Options{CacheDir: testenv.CacheDir(t)})
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
	img := filepath.Join(dir, "disk.img")
	disk := bytes.Repeat([]byte("juice disk block"), 1<<16)
	if err := os.WriteFile(img, disk, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "boot.jrr")
	out1, errs, code := runJuice(t, "record", "-o", rec, "--cpus", "2", "--kernel", d.KernelPath, "--initrd", initrd, "--disk", img+",ro", "--append", "console=ttyS0")
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

	// A flipped bit in the trailer, or in the middle of the event stream,
	// is reported as damage.
	raw, _ := os.ReadFile(rec)
	eventsAt := 20 + int(binary.LittleEndian.Uint32(raw[12:]))
	for _, off := range []int{len(raw) - 20, eventsAt + (len(raw)-32-eventsAt)/2} {
		bad := bytes.Clone(raw)
		bad[off] ^= 0x40
		tampered := filepath.Join(dir, "tampered.jrr")
		os.WriteFile(tampered, bad, 0o644)
		_, errs, code = runJuice(t, "replay", tampered)
		if code != exitError || !strings.Contains(errs, "corrupt") || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
			t.Fatalf("recording with a bit flipped at %d of %d: status %d\n%s", off, len(raw), code, errs)
		}
	}

	// A forged recording, well-formed with every checksum right but one
	// entropy byte changed, is caught as a divergence at a named
	// instruction clock.
	forged := filepath.Join(dir, "forged.jrr")
	at := forge(t, rec, forged)
	_, errs, code = runJuice(t, "replay", forged)
	m := regexp.MustCompile(`(?:clock|instruction) (\d+)|(\d+) instructions`).FindStringSubmatch(errs)
	if code != exitDiverged || m == nil || !strings.Contains(errs, "diverged") {
		t.Fatalf("forged recording: status %d\n%s", code, errs)
	}
	if n, _ := strconv.ParseUint(m[1]+m[2], 10, 64); n < at {
		t.Fatalf("forged entropy at clock %d reported at %d:\n%s", at, n, errs)
	}
	t.Logf("forged entropy at clock %d: %s", at, strings.TrimSpace(errs))

	// Modified input files are named: the initrd, and a disk image.
	data[len(data)-1] ^= 1
	os.WriteFile(initrd, data, 0o644)
	_, errs, code = runJuice(t, "replay", rec)
	if code != exitError || !strings.Contains(errs, "initrd") || !strings.Contains(errs, "modified") {
		t.Fatalf("modified initrd: status %d\n%s", code, errs)
	}
	data[len(data)-1] ^= 1
	os.WriteFile(initrd, data, 0o644)
	disk[12345] ^= 1
	os.WriteFile(img, disk, 0o644)
	_, errs, code = runJuice(t, "replay", rec)
	if code != exitError || !strings.Contains(errs, "disk0 "+img) || !strings.Contains(errs, "modified") {
		t.Fatalf("modified disk image: status %d\n%s", code, errs)
	}

	// Not a recording at all.
	_, errs, code = runJuice(t, "replay", d.KernelPath)
	if code != exitError || strings.Contains(errs, "goroutine") {
		t.Fatalf("foreign file: status %d\n%s", code, errs)
	}
}

// forge copies the recording at from to to with the first byte of its
// first entropy event flipped, through the recording writer, so that every
// checksum is right. It returns the clock of the changed event.
func forge(t *testing.T, from, to string) uint64 {
	t.Helper()
	r, err := replay.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := replay.Create(to, r.Header())
	if err != nil {
		t.Fatal(err)
	}
	at := uint64(0)
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind == replay.KindEnd {
			end, err := replay.DecodeEnd(e.Data)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Close(end); err != nil {
				t.Fatal(err)
			}
			if at == 0 {
				t.Fatal("the recording has no entropy to forge")
			}
			return at
		}
		if e.Kind == replay.KindEntropy && at == 0 {
			e.Data = bytes.Clone(e.Data)
			e.Data[0] ^= 1
			at = e.At
		}
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the recording has no end")
	return 0
}

// TestRecordReplayRace records a racy program on 4 harts: goroutines that
// increment a shared counter and append to a shared log without
// synchronisation (guest/racecheck). The replay must print the same counts
// and log hash and end in the same state; and the program must really have
// raced (lost updates), or the test would prove nothing.
func TestRecordReplayRace(t *testing.T) {
	kernel, initrd := guestProgram(t, "./guest/racecheck")
	dir := t.TempDir()
	rec := filepath.Join(dir, "race.jrr")
	out1, errs, code := runJuice(t, "record", "-o", rec, "--cpus", "4", "--kernel", kernel, "--initrd", initrd,
		"--append", "console=ttyS0 quiet juice.selfcheck=0 juice.exec=/racecheck")
	m := regexp.MustCompile(`racecheck: counter (\d+) of (\d+) \(lost (\d+)\)\s+racecheck: log .*\(lost (\d+)\), sha256 [0-9a-f]{64}`).FindStringSubmatch(out1)
	if code != 0 || m == nil {
		t.Fatalf("record: status %d\n%s\n%s", code, errs, out1)
	}
	if m[3] == "0" && m[4] == "0" {
		t.Fatalf("racecheck lost no update: it did not race\n%s", out1)
	}
	t.Logf("recorded: counter %s of %s, %s increments and %s log entries lost", m[1], m[2], m[3], m[4])

	out2, errs, code := runJuice(t, "replay", rec)
	if code != 0 || out2 != out1 || !strings.Contains(errs, "replay matches") {
		t.Fatalf("replay: status %d, console identical %v\n%s\n%s", code, out1 == out2, errs, out2)
	}
}
