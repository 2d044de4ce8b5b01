package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	// The peak RSS of juice's own address space (VmHWM starts afresh at
	// exec; a child's rusage would count the test process it was forked
	// from), read while a spinning guest runs.
	cmd := exec.Command(juice(t), "run", "--kernel", writeTemp(t, "Spin", spinImage()), "--memory", mem)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(500 * time.Millisecond)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatalf("--memory %s: %v\n%s", mem, err, stderr.String())
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/PID/status:\n%s", status)
	}
	hwm, _ := strconv.ParseUint(string(m[1]), 10, 64)
	maxRSS := hwm << 10
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
		stderr, code := runJuiceLimited(t, "ulimit "+tc.ulimit+" 4194304", "run", "--kernel", kernel, "--memory", "8G")
		oneLine125(t, stderr, code, tc.want)
		// Under the same limit a guest that fits runs.
		if stderr, code := runJuiceLimited(t, "ulimit "+tc.ulimit+" 4194304", "run", "--kernel", kernel, "--memory", "1G"); code != 0 {
			t.Fatalf("ulimit %s 4G, --memory 1G: status %d\n%s", tc.ulimit, code, stderr)
		}
	}
}

// openPTY opens a new pseudo-terminal: its master side, and its slave
// side for a child's stdin, stdout and stderr.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("the pty's number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// ptyOutput collects what is written to a pty's slave side.
type ptyOutput struct {
	mu  sync.Mutex
	buf strings.Builder
}

func readPTY(m *os.File) *ptyOutput {
	o := &ptyOutput{}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := m.Read(b)
			o.mu.Lock()
			o.buf.Write(b[:n])
			o.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return o
}

func (o *ptyOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitOutput waits until the pty output matches re and returns the match.
func (o *ptyOutput) waitOutput(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := rx.FindStringSubmatch(o.String()); m != nil {
			return m
		}
	}
	t.Fatalf("the terminal never showed %q; it shows:\n%s", re, o.String())
	return nil
}

func termios(t *testing.T, f *os.File) unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return *tio
}

// waitRaw waits until the terminal is in raw mode (no canonical input,
// no echo).
func waitRaw(t *testing.T, slave *os.File, out *ptyOutput) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if termios(t, slave).Lflag&(unix.ICANON|unix.ECHO) == 0 {
			return
		}
	}
	t.Fatalf("juice never put the terminal in raw mode; it shows:\n%s", out.String())
}

// inSession starts cmd as the leader of a new session whose controlling
// terminal is the pty's slave side, as a login shell is.
func inSession(t *testing.T, cmd *exec.Cmd, slave *os.File) {
	t.Helper()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// procState returns a process's state letter from /proc (T: stopped).
func procState(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "gone"
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return "?"
}

// TestConsoleInTheBackground runs juice with & from a job-control shell
// on a pseudo-terminal: it must run to completion (not stop on SIGTTOU or
// SIGTTIN) and leave the terminal's mode alone, its console output still
// reaching the terminal.
func TestConsoleInTheBackground(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	master, slave := openPTY(t)
	out := readPTY(master)
	before := termios(t, slave)
	kernel := writeTemp(t, "Image", image(hello...))
	cmd := exec.Command(bash, "-m", "-c", `"$0" run --kernel "$1" & wait $!; echo status=$?`, juice(t), kernel)
	inSession(t, cmd, slave)
	m := out.waitOutput(t, `status=(\d+)`)
	if m[1] != "0" {
		t.Fatalf("juice in the background ended with status %s (stopped by job control?):\n%s", m[1], out.String())
	}
	if !strings.Contains(out.String(), "hi\r\n") {
		t.Fatalf("the guest's output did not reach the terminal:\n%q", out.String())
	}
	if after := termios(t, slave); after != before {
		t.Fatalf("the terminal's mode changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

// TestConsoleBroughtToTheForeground starts juice in the background, checks
// that it runs there without touching the terminal, brings it to the
// foreground with fg, where it takes the terminal (raw mode, Ctrl-A x),
// and checks that the mode is restored when it ends.
func TestConsoleBroughtToTheForeground(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	master, slave := openPTY(t)
	out := readPTY(master)
	before := termios(t, slave)
	kernel := writeTemp(t, "Spin", spinImage())
	cmd := exec.Command(bash, "-m", "-c", `"$0" run --kernel "$1" & echo started=$!; read line; fg %1; echo status=$?`, juice(t), kernel)
	inSession(t, cmd, slave)
	pid := out.waitOutput(t, `started=(\d+)`)[1]
	time.Sleep(500 * time.Millisecond) // time enough to take the terminal, and be stopped for it
	if st := procState(pid); st != "R" && st != "S" {
		t.Fatalf("juice in the background is in state %s", st)
	}
	if now := termios(t, slave); now != before {
		t.Fatalf("juice in the background changed the terminal's mode:\nbefore %+v\nnow    %+v", before, now)
	}
	master.Write([]byte("\n")) // bash reads the line, then runs fg
	waitRaw(t, slave, out)
	master.Write([]byte{ctrlA, 'x'})
	m := out.waitOutput(t, `status=(\d+)`)
	if m[1] != fmt.Sprint(exitCanceled) {
		t.Fatalf("juice brought to the foreground and quit with Ctrl-A x: status %s, want %d:\n%s", m[1], exitCanceled, out.String())
	}
	if after := termios(t, slave); after != before {
		t.Fatalf("the terminal's mode was not restored:\nbefore %+v\nafter  %+v", before, after)
	}
}

// TestConsoleInTheForeground runs juice as the foreground job of a pty
// session: it puts the terminal in raw mode, Ctrl-A x quits, and the mode
// is restored.
func TestConsoleInTheForeground(t *testing.T) {
	master, slave := openPTY(t)
	out := readPTY(master)
	before := termios(t, slave)
	cmd := exec.Command(juice(t), "run", "--kernel", writeTemp(t, "Spin", spinImage()))
	inSession(t, cmd, slave)
	waitRaw(t, slave, out)
	master.Write([]byte{ctrlA, 'x'})
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitCanceled {
		t.Fatalf("juice: %v, want status %d:\n%s", err, exitCanceled, out.String())
	}
	if after := termios(t, slave); after != before {
		t.Fatalf("the terminal's mode was not restored:\nbefore %+v\nafter  %+v", before, after)
	}
}

// hello is the code of a kernel that prints "hi" on the UART and powers
// off: lui t0,0x10000; then for each byte, addi t1,zero,B; sb t1,0(t0);
// then the power-off of image's default code.
var hello = []uint32{
	0x100002b7,
	0x06800313, 0x00628023, // 'h'
	0x06900313, 0x00628023, // 'i'
	0x00a00313, 0x00628023, // '\n'
	0x001002b7, 0x00005337, 0x55530313, 0x0062a023, 0x0000006f,
}

// TestInputLargerThanRAMIsRefused gives juice a kernel, an initrd or
// firmware larger than the guest's RAM, or a device that never ends: each
// is refused with one line before it is read into the host's memory.
func TestInputLargerThanRAMIsRefused(t *testing.T) {
	kernel := writeTemp(t, "Image", image())
	big := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 30); err != nil { // sparse: costs nothing
		t.Fatal(err)
	}
	f.Close()
	for _, args := range [][]string{
		{"--kernel", kernel, "--initrd", "/dev/zero"},
		{"--kernel", kernel, "--initrd", big},
		{"--kernel", big},
		{"--kernel", "/dev/zero"},
		{"--kernel", kernel, "--firmware", big},
		{"--bare", "/dev/zero"},
	} {
		// A limit on the address space turns a read that does not stop
		// into a quick crash rather than a full host.
		stderr, code := runJuiceLimited(t, "ulimit -v 4194304", append([]string{"run", "--memory", "16M"}, args...)...)
		oneLine125(t, stderr, code, "is larger than the guest's 16 MiB of RAM")
	}
}

// TestVsockAcceptOutlastsTheOpenFileLimit fills juice's open files (a low
// ulimit -n) with connections to its vsock socket: once they close, juice
// must accept again rather than leave the socket listening with nobody
// accepting. A connection that never says CONNECT must not hold up juice
// when it quits.
func TestVsockAcceptOutlastsTheOpenFileLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.sock")
	sh := `ulimit -n 24 && exec "$0" "$@"`
	cmd := exec.Command("sh", "-c", sh, juice(t), "run", "--kernel", writeTemp(t, "Spin", spinImage()), "--vsock", path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitForFile(t, path)
	var conns []net.Conn
	for range 40 {
		c, err := net.Dial("unix", path)
		if err != nil {
			break // the backlog is full
		}
		conns = append(conns, c)
	}
	time.Sleep(300 * time.Millisecond) // juice runs out of files
	for _, c := range conns {
		c.Close()
	}
	// A request that is not CONNECT is answered by closing the socket:
	// proof that it was accepted.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("HELLO\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("juice did not accept a connection after running out of open files (read: %v); stderr:\n%s", err, stderr.String())
	}
	// A connection that never says CONNECT; then quit.
	silent, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitCanceled {
		t.Fatalf("juice: %v, want status %d; stderr:\n%s", err, exitCanceled, stderr.String())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("juice took %v to quit while a host connection was silent", d)
	}
}

// TestMoreDevicesThanVirtioSlots asks for more virtio devices than the
// board has slots: refused before any is opened, saying what takes them.
func TestMoreDevicesThanVirtioSlots(t *testing.T) {
	kernel := writeTemp(t, "Image", image())
	disk := filepath.Join(t.TempDir(), "d.img")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	disks := func(n int) []string {
		var a []string
		for range n {
			a = append(a, "--disk", disk+",ro")
		}
		return a
	}
	_, stderr, code := runJuice(t, append([]string{"run", "--kernel", kernel}, disks(8)...)...)
	oneLine125(t, stderr, code, "9 devices (8 disks, virtio-rng) are more than the board's 8 virtio slots (--no-rng frees one)")
	if _, stderr, code := runJuice(t, append([]string{"run", "--kernel", kernel, "--no-rng"}, disks(8)...)...); code != 0 {
		t.Fatalf("8 disks without virtio-rng: status %d: %s", code, stderr)
	}
	_, stderr, code = runJuice(t, append([]string{"run", "--kernel", kernel, "--no-rng", "--net", "user"}, disks(8)...)...)
	oneLine125(t, stderr, code, "9 devices (8 disks, 1 network interface)")
}

// runJuiceLimited runs juice with args after the shell command limit (a
// ulimit) and returns its stderr and exit status.
func runJuiceLimited(t *testing.T, limit string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", limit + ` && exec "$0" "$@"`, juice(t)}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stderr.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stderr.String(), 0
}
