package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/juicevm/juice/guest/devcheck/manifest"
	"github.com/juicevm/juice/internal/diskimage"
)

// TestFlushedWriteSurvivesSIGKILL boots a guest that writes a file on a
// virtio disk and fsyncs it, kills the VMM with SIGKILL as soon as the
// guest reports the write, and checks that the data is in the image.
func TestFlushedWriteSurvivesSIGKILL(t *testing.T) {
	ctx := context.Background()
	bin := juice(t)
	kernel, initrd := guestProgram(t, "./guest/devcheck")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	if err := diskimage.Create(ctx, img, diskimage.Options{Size: 32 << 20}); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "run", "--kernel", kernel, "--initrd", initrd, "--disk", img, "--no-rng",
		"--append", "console=ttyS0 quiet juice.selfcheck=0 juice.exec=/devcheck devcheck.disk=/dev/vda devcheck.manifest=0 devcheck.hold=1")
	// The guest holds right after its fsynced write, the file system still
	// mounted; an open console input keeps Juice waiting (rather than
	// halting) until the kill.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "devcheck: disk holding") {
				cmd.Process.Signal(syscall.SIGKILL)
				done <- true
				io.Copy(io.Discard, out)
				return
			}
		}
		done <- false
	}()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("the guest never reported its write")
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("timed out")
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("juice was not killed: %v", err)
	}

	// Replay the journal on a copy, as a mount after the crash would, then
	// read the file back.
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	copyImg := filepath.Join(dir, "after-crash.img")
	if err := os.WriteFile(copyImg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fsck := exec.Command("e2fsck", "-fy", copyImg)
	if outp, err := fsck.CombinedOutput(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck: %v\n%s", err, outp)
		}
	}
	got, err := diskimage.ReadFile(ctx, copyImg, "/out/data")
	if err != nil || !bytes.Equal(got, manifest.PseudoRandom(1, 65536)) {
		t.Fatalf("flushed file after SIGKILL: %d bytes, %v", len(got), err)
	}
}
