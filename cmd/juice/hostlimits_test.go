package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// spinImage is a kernel that loops until juice is stopped.
func spinImage() []byte { return image(0x0000006f) }

// waitForFile waits until path exists.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Lstat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear", path)
}

// TestVsockSocketFile checks what juice run --vsock PATH does with what is
// at PATH: a stale socket (its listener gone) is replaced, and the socket
// juice made is removed when it ends; a socket another process listens
// on, or a file that is not a socket, is refused and left alone; and a
// socket that replaced juice's while it ran is not removed.
func TestVsockSocketFile(t *testing.T) {
	kernel := writeTemp(t, "Image", image())
	dir := t.TempDir()

	t.Run("stale socket", func(t *testing.T) {
		path := filepath.Join(dir, "stale.sock")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close() // as a process that was killed leaves it
		if _, err := os.Lstat(path); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runJuice(t, "run", "--kernel", kernel, "--vsock", path)
		if code != 0 {
			t.Fatalf("status %d: %s", code, stderr)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("juice left its socket behind: %v", err)
		}
	})

	t.Run("socket in use", func(t *testing.T) {
		path := filepath.Join(dir, "busy.sock")
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		_, stderr, code := runJuice(t, "run", "--kernel", kernel, "--vsock", path)
		oneLine125(t, stderr, code, path+" is in use by another process")
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatalf("the other process's socket is gone: %v", err)
		}
		c.Close()
	})

	t.Run("not a socket", func(t *testing.T) {
		path := filepath.Join(dir, "notes.txt")
		if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runJuice(t, "run", "--kernel", kernel, "--vsock", path)
		oneLine125(t, stderr, code, "not a socket")
		if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
			t.Fatalf("the file was touched: %q, %v", b, err)
		}
	})

	t.Run("socket replaced while running", func(t *testing.T) {
		path := filepath.Join(dir, "replaced.sock")
		cmd := exec.Command(juice(t), "run", "--kernel", writeTemp(t, "Spin", spinImage()), "--vsock", path)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		waitForFile(t, path)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cmd.Process.Signal(os.Interrupt)
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitCanceled {
			t.Fatalf("juice: %v, want status %d; stderr: %s", err, exitCanceled, stderr.String())
		}
		if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != os.ModeSocket {
			t.Fatalf("juice removed the socket that replaced its own: %v", err)
		}
	})
}

// hostMemory returns this host's RAM plus swap, from /proc/meminfo.
func hostMemory(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Skip(err)
	}
	var total uint64
	for _, line := range strings.Split(string(b), "\n") {
		var k string
		var n uint64
		if _, err := fmt.Sscanf(line, "%s %d kB", &k, &n); err == nil && (k == "MemTotal:" || k == "SwapTotal:") {
			total += n << 10
		}
	}
	return total
}

// TestLargeMemoryCostsLittle runs the tiny kernel in a 16 GiB guest (less
// on a host that has less) and checks that juice stays small: RAM the
// guest does not touch costs nothing.
func TestLargeMemoryCostsLittle(t *testing.T) {
	size := uint64(16 << 30)
	if host := hostMemory(t); host < size+size/4 {
		size = host / 2 &^ (1<<30 - 1)
	}
	if size < 2<<30 {
		t.Skip("the host has too little memory for the test to mean anything")
	}
	mem := fmt.Sprintf("%dG", size>>30)
	cmd := exec.Command(juice(t), "run", "--kernel", writeTemp(t, "Image", image()), "--memory", mem)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("--memory %s: %v\n%s", mem, err, out)
	}
	maxRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	t.Logf("--memory %s: peak RSS %d MiB", mem, maxRSS>>20)
	if maxRSS > 64<<20 {
		t.Fatalf("--memory %s: peak RSS %d MiB, want under 64 MiB", mem, maxRSS>>20)
	}
}

// TestMemoryBeyondTheHostIsRefused asks for more RAM than the host has,
// and more than the process's address-space and data limits leave: each
// is refused with one line naming the limit, not a crash of Go's runtime.
func TestMemoryBeyondTheHostIsRefused(t *testing.T) {
	kernel := writeTemp(t, "Image", image())
	if hostMemory(t) < 64<<30 {
		_, stderr, code := runJuice(t, "run", "--kernel", kernel, "--memory", "64G")
		oneLine125(t, stderr, code, "64 GiB is more than this host has")
	} else {
		t.Log("the host has 64 GiB or more: --memory 64G is not beyond it")
	}
	for _, tc := range []struct{ ulimit, want string }{
		{"-v", "RLIMIT_AS"},
		{"-d", "RLIMIT_DATA"},
	} {
		// 4 GiB is plenty for juice itself, not for an 8 GiB guest.
		sh := fmt.Sprintf(`ulimit %s 4194304 && exec "$0" "$@"`, tc.ulimit)
		cmd := exec.Command("sh", "-c", sh, juice(t), "run", "--kernel", kernel, "--memory", "8G")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		oneLine125(t, stderr.String(), code, tc.want)
		// Under the same limit a guest that fits runs.
		cmd = exec.Command("sh", "-c", sh, juice(t), "run", "--kernel", kernel, "--memory", "1G")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ulimit %s 4G, --memory 1G: %v\n%s", tc.ulimit, err, out)
		}
	}
}
