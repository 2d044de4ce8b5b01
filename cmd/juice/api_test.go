package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAPIPauseResumeStopRecording records a run that is paused, resumed
// and stopped through --api with juice pause, resume, status and stop:
// the recording ends where the stop took effect, and its replay matches.
func TestAPIPauseResumeStopRecording(t *testing.T) {
	kernel := writeTemp(t, "spin", spinImage())
	dir := t.TempDir()
	sock, rec := filepath.Join(dir, "api.sock"), filepath.Join(dir, "spin.jrr")
	cmd := exec.Command(juice(t), "record", "-o", rec, "--kernel", kernel, "--cpus", "2", "--no-rng", "--api", sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitForFile(t, sock)
	status := func() (state string, instructions uint64) {
		out, errs, code := runJuice(t, "status", "--api", sock)
		var info struct {
			State        string `json:"state"`
			Instructions uint64 `json:"instructions"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &info) != nil {
			t.Fatalf("status: %d\n%s%s", code, out, errs)
		}
		return info.State, info.Instructions
	}
	for range 2 {
		if _, errs, code := runJuice(t, "pause", "--api", sock); code != 0 || !strings.Contains(errs, "paused at instruction") {
			t.Fatalf("pause: %d\n%s", code, errs)
		}
		s1, n1 := status()
		s2, n2 := status()
		if s1 != "Paused" || n1 != n2 {
			t.Fatalf("paused VM: %s %d, then %s %d", s1, n1, s2, n2)
		}
		if _, errs, code := runJuice(t, "resume", "--api", sock); code != 0 {
			t.Fatalf("resume: %d\n%s", code, errs)
		}
	}
	if _, errs, code := runJuice(t, "stop", "--api", sock); code != 0 {
		t.Fatalf("stop: %d\n%s", code, errs)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitCanceled {
		t.Fatalf("record after stop: %v\n%s", err, stderr.String())
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the API socket is left: %v", err)
	}
	if _, errs, code := runJuice(t, "replay", rec); code != 0 || !strings.Contains(errs, "replay matches") || !strings.Contains(errs, "stopped from outside") {
		t.Fatalf("replay: %d\n%s", code, errs)
	}
	// A client of a socket nobody serves says so in one line.
	if _, errs, code := runJuice(t, "pause", "--api", sock); code != exitError || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("pause with no VM: %d\n%s", code, errs)
	}
}

// An --api path that holds something else is refused before the guest
// runs, and left alone.
func TestAPISocketRefused(t *testing.T) {
	kernel := writeTemp(t, "spin", spinImage())
	file := writeTemp(t, "not-a-socket", []byte("keep me"))
	for _, args := range [][]string{
		{"run", "--kernel", kernel, "--api", file},
		{"record", "-o", filepath.Join(t.TempDir(), "x.jrr"), "--kernel", kernel, "--api", file},
	} {
		_, errs, code := runJuice(t, args...)
		if code != exitError || !strings.Contains(errs, "not a socket") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Fatalf("%s: %d\n%s", args[0], code, errs)
		}
		if b, _ := os.ReadFile(file); string(b) != "keep me" {
			t.Fatalf("%s changed the file at --api", args[0])
		}
	}
}
