package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// inputcheckArgs boot guest/inputcheck, which prints host entropy and then
// echoes console lines until it reads "quit".
func inputcheckArgs(t *testing.T) []string {
	kernel, initrd := guestProgram(t, "./guest/inputcheck")
	return []string{"--kernel", kernel, "--initrd", initrd, "--append", "console=ttyS0 quiet juice.selfcheck=0 juice.exec=/inputcheck"}
}

// recordUntil records a guest with a line typed on its console once it
// reads it, and ends the recorder with sig once end is true of its
// console output (nil: sig at once after the line). It returns the
// console output and the recorder's exit status.
func recordUntil(t *testing.T, args []string, sig syscall.Signal, wait time.Duration) (string, int) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cmd := exec.Command(juice(t), args...)
	var o, e bytes.Buffer
	ready := make(chan struct{})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, &watchWriter{w: &o, mark: []byte("inputcheck: entropy"), seen: ready}, &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("the recorder ended before the guest read its console: %v\n%s\n%s", err, e.String(), o.String())
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the guest did not start:\n%s\n%s", e.String(), o.String())
	}
	pw.Write([]byte("typed before the end\n"))
	time.Sleep(wait)
	cmd.Process.Signal(sig)
	var code int
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("the recorder did not stop on %v", sig)
	}
	return o.String(), code
}

// TestRecordingsEndedFromOutsideReplay records runs that end without the
// guest powering off — SIGTERM, SIGINT (Ctrl-C), --max-instructions, and
// SIGKILL, which leaves a truncated FILE.partial — and replays each: the
// replay stops exactly where the recording ended, checks the state there
// and says how the original ended.
func TestRecordingsEndedFromOutsideReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("boots Linux; skipped in -short mode")
	}
	args := inputcheckArgs(t)
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
		want string // in the replay's messages
	}{
		{"SIGTERM", syscall.SIGTERM, "stopped from outside"},
		{"SIGINT", syscall.SIGINT, "stopped from outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jrr := filepath.Join(t.TempDir(), "r.jrr")
			out, code := recordUntil(t, append([]string{"record", "-o", jrr}, args...), tc.sig, 300*time.Millisecond)
			if code != exitCanceled || !strings.Contains(out, `inputcheck: read "typed before the end"`) {
				t.Fatalf("record: status %d, want %d\n%s", code, exitCanceled, out)
			}
			got, errs, code := runJuice(t, "replay", jrr)
			if code != 0 || !strings.Contains(errs, "replay matches the recording") || !strings.Contains(errs, tc.want) || got != out {
				t.Fatalf("replay: status %d, console identical %v\n%s", code, got == out, errs)
			}
			// --until past the end says so.
			_, errs, code = runJuice(t, "replay", jrr, "--until", "999999999999")
			if code == 0 || !strings.Contains(errs, "past the end of the recording") {
				t.Fatalf("--until past the end: status %d\n%s", code, errs)
			}
		})
	}

	t.Run("max-instructions", func(t *testing.T) {
		jrr := filepath.Join(t.TempDir(), "r.jrr")
		out, errs, code := runJuice(t, append([]string{"record", "-o", jrr, "--max-instructions", "25000000"}, args...)...)
		if code != exitHalted {
			t.Fatalf("record: status %d\n%s", code, errs)
		}
		got, errs, code := runJuice(t, "replay", jrr)
		if code != 0 || !strings.Contains(errs, "replay matches the recording: 25000000 instructions") || !strings.Contains(errs, "instruction limit") || got != out {
			t.Fatalf("replay: status %d, console identical %v\n%s", code, got == out, errs)
		}
	})

	t.Run("SIGKILL", func(t *testing.T) {
		dir := t.TempDir()
		jrr := filepath.Join(dir, "r.jrr")
		os.WriteFile(jrr, []byte("an earlier recording"), 0o644)
		out, _ := recordUntil(t, append([]string{"record", "-o", jrr}, args...), syscall.SIGKILL, 2500*time.Millisecond)
		if b, _ := os.ReadFile(jrr); string(b) != "an earlier recording" {
			t.Fatalf("the killed recorder replaced the earlier recording")
		}
		partial := jrr + ".partial"
		info, errs, code := runJuice(t, "replay", "--info", partial)
		if code != 0 || !strings.Contains(info, "truncated") {
			t.Fatalf("replay --info of a truncated recording: status %d\n%s%s", code, info, errs)
		}
		got, errs, code := runJuice(t, "replay", partial)
		if code != 0 || !regexp.MustCompile(`recording truncated at instruction [1-9][0-9]*; replayed up to there`).MatchString(errs) {
			t.Fatalf("replay: status %d\n%s", code, errs)
		}
		if !strings.HasPrefix(out, got) || !strings.Contains(got, "inputcheck: entropy") {
			t.Fatalf("the replay's console is not the start of the recorded one:\n%s\n---\n%s", got, out)
		}
		// A new recording to the same file refuses to replace what the
		// killed one left.
		_, errs, code = runJuice(t, append([]string{"record", "-o", jrr}, args...)...)
		if code != exitError || !strings.Contains(errs, "interrupted") {
			t.Fatalf("record over a partial recording: status %d\n%s", code, errs)
		}
	})
}

// TestInterruptedReplayExits130 interrupts a replay: it reports the
// interruption (exit 130), not a divergence.
func TestInterruptedReplayExits130(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "Image")
	os.WriteFile(kernel, spinImage(), 0o644)
	jrr := filepath.Join(dir, "spin.jrr")
	cmd := exec.Command(juice(t), "record", "-o", jrr, "--kernel", kernel)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		rp := exec.Command(juice(t), "replay", "--checkpoint-every", "0", jrr)
		var e bytes.Buffer
		rp.Stderr = &e
		if err := rp.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		rp.Process.Signal(sig)
		rp.Wait()
		if code := rp.ProcessState.ExitCode(); code != exitCanceled || !strings.Contains(e.String(), "replay interrupted at instruction") {
			t.Fatalf("replay interrupted by %v: status %d, want %d\n%s", sig, code, exitCanceled, e.String())
		}
	}
	// Uninterrupted, it matches: a spinning guest stopped by SIGTERM.
	if _, errs, code := runJuice(t, "replay", jrr); code != 0 || !strings.Contains(errs, "replay matches") {
		t.Fatalf("replay: status %d\n%s", code, errs)
	}
}

// TestReplayFindsMovedInputs records with relative paths, replays from
// another folder, then after the kernel moved, with --kernel pointing at
// it (checked by digest).
func TestReplayFindsMovedInputs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Image"), image(), 0o644)
	os.WriteFile(filepath.Join(dir, "disk.img"), make([]byte, 1<<20), 0o644)
	rec := exec.Command(juice(t), "record", "-o", "rec/boot.jrr", "--kernel", "Image", "--disk", "disk.img,ro")
	os.Mkdir(filepath.Join(dir, "rec"), 0o755)
	rec.Dir = dir
	if out, err := rec.CombinedOutput(); err != nil {
		t.Fatalf("record: %v\n%s", err, out)
	}
	jrr := filepath.Join(dir, "rec", "boot.jrr")
	if _, errs, code := runJuice(t, "replay", jrr); code != 0 {
		t.Fatalf("replay from another folder: status %d\n%s", code, errs)
	}
	// The recording and its inputs move together.
	moved := t.TempDir()
	for _, name := range []string{"Image", "disk.img", "rec"} {
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(moved, name)); err != nil {
			t.Fatal(err)
		}
	}
	jrr = filepath.Join(moved, "rec", "boot.jrr")
	_, errs, code := runJuice(t, "replay", jrr)
	if code != exitError || !strings.Contains(errs, "--kernel") {
		t.Fatalf("replay after the kernel moved: status %d, want %d naming --kernel\n%s", code, exitError, errs)
	}
	kernel, disk := filepath.Join(moved, "Image"), filepath.Join(moved, "disk.img")
	if _, errs, code = runJuice(t, "replay", jrr, "--kernel", kernel, "--disk", disk); code != 0 || !strings.Contains(errs, "replay matches") {
		t.Fatalf("replay --kernel --disk: status %d\n%s", code, errs)
	}
	other := writeTemp(t, "Other", image(0x0000006f))
	if _, errs, code = runJuice(t, "replay", jrr, "--kernel", other, "--disk", disk); code != exitError || !strings.Contains(errs, "is not the recording's kernel") {
		t.Fatalf("replay --kernel with another kernel: status %d\n%s", code, errs)
	}
}

// TestRecordNeverDestroysItsInputs points juice record's output at its own
// kernel, at a read-only disk it attaches, and at a symlink, and checks
// that each is refused with nothing changed; a failed record leaves an
// earlier recording as it was.
func TestRecordNeverDestroysItsInputs(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "Image")
	disk := filepath.Join(dir, "disk.img")
	os.WriteFile(kernel, image(), 0o644)
	os.WriteFile(disk, bytes.Repeat([]byte("disk"), 1<<18), 0o644)
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("a file a link points at"), 0o644)
	os.Symlink(target, filepath.Join(dir, "link.jrr"))
	os.Symlink(kernel, filepath.Join(dir, "kernel-link.jrr"))
	before := treeState(t, dir)
	for _, tc := range []struct {
		name, out, want string
	}{
		{"its kernel", kernel, "same file as"},
		{"its read-only disk", disk, "same file as"},
		{"a symlink", filepath.Join(dir, "link.jrr"), "symbolic link"},
		{"a symlink to its kernel", filepath.Join(dir, "kernel-link.jrr"), "symbolic link"},
		{"a folder", dir, "folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := runJuice(t, "record", "-o", tc.out, "--kernel", kernel, "--disk", disk+",ro")
			if code != exitError || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Fatalf("status %d, want %d and one line mentioning %q:\n%s", code, exitError, tc.want, errs)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"stats at the kernel", []string{"--stats", kernel}},
		{"stats at the disk", []string{"--disk", disk + ",ro", "--stats", disk}},
		{"stats at a symlink", []string{"--stats", filepath.Join(dir, "link.jrr")}},
		{"stats at a folder", []string{"--stats", dir}},
		{"overlay at the kernel", []string{"--disk", disk + ",overlay=" + kernel}},
		{"overlay at its own base", []string{"--disk", disk + ",overlay=" + disk}},
		{"overlay at a symlink", []string{"--disk", disk + ",overlay=" + filepath.Join(dir, "link.jrr")}},
		{"overlay at a folder", []string{"--disk", disk + ",overlay=" + dir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range [][]string{{"run"}, {"record", "-o", filepath.Join(t.TempDir(), "x.jrr")}} {
				args := append(append(cmd, "--kernel", kernel), tc.args...)
				if _, errs, code := runJuice(t, args...); code != exitError {
					t.Fatalf("%s: status %d, want %d:\n%s", cmd[0], code, exitError, errs)
				}
			}
		})
	}
	if diff := diffTrees(before, treeState(t, dir)); len(diff) > 0 {
		t.Fatalf("refused commands changed files:\n%s", strings.Join(diff, "\n"))
	}

	// A failed record keeps the earlier recording.
	jrr := filepath.Join(dir, "boot.jrr")
	if _, errs, code := runJuice(t, "record", "-o", jrr, "--kernel", kernel); code != 0 {
		t.Fatalf("record: status %d\n%s", code, errs)
	}
	good, _ := os.ReadFile(jrr)
	bad := writeTemp(t, "bad", []byte("not a kernel"))
	if _, errs, code := runJuice(t, "record", "-o", jrr, "--kernel", bad); code != exitError {
		t.Fatalf("record of a bad kernel: status %d\n%s", code, errs)
	}
	if b, _ := os.ReadFile(jrr); !bytes.Equal(b, good) {
		t.Fatal("a failed record changed the earlier recording")
	}
	if _, err := os.Stat(jrr + ".partial"); !os.IsNotExist(err) {
		t.Fatalf("a failed record left %s.partial (%v)", jrr, err)
	}
	if _, errs, code := runJuice(t, "replay", jrr); code != 0 {
		t.Fatalf("replay of the earlier recording: status %d\n%s", code, errs)
	}

	// The checkpoint file a replay writes beside the recording replaces
	// neither a link nor a file that is not a checkpoint file.
	for _, setup := range []func(p string){
		func(p string) { os.Remove(p); os.Symlink(target, p) },
		func(p string) { os.Remove(p); os.WriteFile(p, []byte("notes of mine"), 0o644) },
	} {
		ckpt := jrr + ".ckpt"
		setup(ckpt)
		before := treeState(t, dir)
		if _, errs, code := runJuice(t, "replay", "--checkpoint-every", "1", jrr); code != 0 || !strings.Contains(errs, "no checkpoints written") {
			t.Fatalf("replay with %s in the way: status %d\n%s", ckpt, code, errs)
		}
		if diff := diffTrees(before, treeState(t, dir)); len(diff) > 0 {
			t.Fatalf("the replay changed files:\n%s", strings.Join(diff, "\n"))
		}
	}
}

// TestStatsCheckedBeforeTheRun gives --stats a path that cannot be
// written: juice says so before the guest runs.
func TestStatsCheckedBeforeTheRun(t *testing.T) {
	kernel := writeTemp(t, "Image", spinImage())
	start := time.Now()
	_, errs, code := runJuice(t, "run", "--kernel", kernel, "--stats", "/nonexistent/folder/stats.json")
	if code != exitError || !strings.Contains(errs, "--stats") || time.Since(start) > 20*time.Second {
		t.Fatalf("status %d after %v, want %d at once:\n%s", code, time.Since(start), exitError, errs)
	}
}

// TestApplianceFilesStayInside gives an appliance whose disk image is a
// symbolic link to a host file outside its folder: juice refuses it and
// the host file is unchanged. A link that stays inside the folder works.
func TestApplianceFilesStayInside(t *testing.T) {
	host := writeTemp(t, "host-file", bytes.Repeat([]byte("precious "), 1<<17))
	hostBefore, _ := os.ReadFile(host)
	escape := fakeAppliance(t, image(), func(m map[string]any) { delete(m, "network") })
	os.Remove(filepath.Join(escape, "data.img"))
	os.Symlink(host, filepath.Join(escape, "data.img"))
	kernelOut := fakeAppliance(t, image(), func(m map[string]any) { delete(m, "network"); delete(m, "disks") })
	os.Rename(filepath.Join(kernelOut, "kernel"), filepath.Join(t.TempDir(), "moved"))
	os.Symlink("../../kernel-elsewhere", filepath.Join(kernelOut, "kernel"))
	for _, dir := range []string{escape, kernelOut} {
		for _, args := range [][]string{{"run", dir}, {"record", "-o", filepath.Join(t.TempDir(), "x.jrr"), dir}} {
			_, errs, code := runJuice(t, args...)
			if code != exitError || !strings.Contains(errs, "out of the appliance folder") {
				t.Fatalf("%s %s: status %d, want %d:\n%s", args[0], dir, code, exitError, errs)
			}
		}
	}
	if b, _ := os.ReadFile(host); !bytes.Equal(b, hostBefore) {
		t.Fatal("the host file changed")
	}
	inside := fakeAppliance(t, image(), func(m map[string]any) { delete(m, "network") })
	os.Mkdir(filepath.Join(inside, "images"), 0o755)
	os.Rename(filepath.Join(inside, "data.img"), filepath.Join(inside, "images", "data.img"))
	os.Symlink("images/data.img", filepath.Join(inside, "data.img"))
	if _, errs, code := runJuice(t, "run", inside); code != 0 {
		t.Fatalf("an appliance with a link inside its folder: status %d\n%s", code, errs)
	}
}
