package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRecordReplayEntropyAndTypedInput records a guest that prints host
// entropy and echoes lines typed on the console — typed through a pipe,
// with pauses, while the guest runs — and checks that the replay, with no
// input at all, prints the same bytes and ends in the same state, and that
// a second recording got different entropy.
func TestRecordReplayEntropyAndTypedInput(t *testing.T) {
	kernel, initrd := guestProgram(t, "./guest/inputcheck")
	dir := t.TempDir()
	record := func(name string) (jrr, out string) {
		jrr = filepath.Join(dir, name)
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pw.Close()
		cmd := exec.Command(juice(t), "record", "-o", jrr, "--kernel", kernel, "--initrd", initrd,
			"--append", "console=ttyS0 quiet juice.selfcheck=0 juice.exec=/inputcheck")
		var o, e bytes.Buffer
		ready := make(chan struct{})
		cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, &watchWriter{w: &o, mark: []byte("inputcheck: entropy"), seen: ready}, &e
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pr.Close()
		go func() {
			// Type once the program reads the console, with pauses.
			select {
			case <-ready:
			case <-time.After(time.Minute):
			}
			for _, line := range []string{"hello\n", "typed during the run\n", "quit\n"} {
				time.Sleep(200 * time.Millisecond)
				pw.Write([]byte(line))
			}
		}()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("record: %v\n%s\n%s", err, e.String(), o.String())
		}
		return jrr, o.String()
	}
	jrr, out1 := record("a.jrr")
	for _, want := range []string{`inputcheck: read "hello"`, `inputcheck: read "typed during the run"`, `inputcheck: read "quit"`} {
		if !strings.Contains(out1, want) {
			t.Fatalf("the recorded run did not print %s:\n%s", want, out1)
		}
	}
	entropy := regexp.MustCompile(`inputcheck: entropy ([0-9a-f]{64})`)
	m1 := entropy.FindStringSubmatch(out1)
	if m1 == nil {
		t.Fatalf("no entropy printed:\n%s", out1)
	}
	info, _, _ := runJuice(t, "replay", "--info", jrr)
	if !strings.Contains(info, `"console"`) || !strings.Contains(info, `"entropy"`) {
		t.Fatalf("the recording lacks console or entropy events:\n%s", info)
	}

	out2, errs, code := runJuice(t, "replay", jrr)
	if code != 0 || out2 != out1 || !strings.Contains(errs, "replay matches") {
		t.Fatalf("replay: status %d, console identical %v\n%s\n%s", code, out1 == out2, errs, out2)
	}

	_, out3 := record("b.jrr")
	if m3 := entropy.FindStringSubmatch(out3); m3 == nil || m3[1] == m1[1] {
		t.Fatalf("a second recording printed the same entropy (or none): %v", m3)
	}
}

// watchWriter passes writes on to w and closes seen once mark has gone
// through.
type watchWriter struct {
	w    io.Writer
	mark []byte
	seen chan struct{}
	all  []byte
	done bool
}

func (ww *watchWriter) Write(p []byte) (int, error) {
	if !ww.done {
		ww.all = append(ww.all, p...)
		if bytes.Contains(ww.all, ww.mark) {
			ww.done = true
			close(ww.seen)
		}
	}
	return ww.w.Write(p)
}
