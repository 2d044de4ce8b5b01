package main

import (
	"bufio"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oneLine125 checks that a juice command failed with status 125 and one
// line on stderr that mentions want.
func oneLine125(t *testing.T, stderr string, code int, want string) {
	t.Helper()
	msg := strings.TrimSpace(stderr)
	if code != exitError || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, want) || strings.Contains(msg, "goroutine") {
		t.Fatalf("status %d, stderr %q: want status %d and one line mentioning %q", code, msg, exitError, want)
	}
}

// tinyRecording records the tiny kernel, which powers off at once.
func tinyRecording(t *testing.T) string {
	t.Helper()
	rec := filepath.Join(t.TempDir(), "tiny.jrr")
	_, stderr, code := runJuice(t, "record", "-o", rec, "--kernel", writeTemp(t, "Image", image()))
	if code != 0 {
		t.Fatalf("record: status %d: %s", code, stderr)
	}
	return rec
}

// TestReplayGDBListensOnLoopback checks the address juice replay --gdb
// listens on: a bare port is 127.0.0.1's, a written host is taken as
// written, and a value that is no address is refused.
func TestReplayGDBListensOnLoopback(t *testing.T) {
	rec := tinyRecording(t)
	for _, tc := range []struct{ arg, host string }{
		{":0", "127.0.0.1"},
		{"0", "127.0.0.1"},
		{"0.0.0.0:0", "0.0.0.0"},
		{"[::1]:0", "::1"},
		{"localhost:0", "127.0.0.1"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			if tc.host == "::1" {
				ln, err := net.Listen("tcp6", "[::1]:0")
				if err != nil {
					t.Skipf("no IPv6 loopback here: %v", err)
				}
				ln.Close()
			}
			cmd := exec.Command(juice(t), "replay", rec, "--gdb", tc.arg)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			sc := bufio.NewScanner(stderr)
			var addr string
			for sc.Scan() {
				if a, ok := strings.CutPrefix(sc.Text(), "juice: gdb server listening on "); ok {
					addr = a
					break
				}
				t.Log(sc.Text())
			}
			host, port, err := net.SplitHostPort(addr)
			if err != nil || host != tc.host {
				t.Fatalf("--gdb %s: listening on %q, want host %s", tc.arg, addr, tc.host)
			}
			// A client that connects and goes away ends the session.
			to := "127.0.0.1"
			if strings.Contains(host, ":") {
				to = host
			}
			c, err := net.DialTimeout("tcp", net.JoinHostPort(to, port), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			go func() {
				for sc.Scan() {
				}
			}()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("juice replay --gdb %s: %v", tc.arg, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("juice replay --gdb did not end when its client left")
			}
		})
	}
	for _, bad := range []string{"gdb", "1234x", "host:port", ":99999"} {
		_, stderr, code := runJuice(t, "replay", rec, "--gdb", bad)
		oneLine125(t, stderr, code, "--gdb")
	}
}
