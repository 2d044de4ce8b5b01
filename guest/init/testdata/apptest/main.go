// Command apptest is the app of guest/init's appliance boot test. Its
// first argument picks what it does; every line it prints starts with
// "apptest: ".
//
//	main      print what the appliance set up, leave an orphan, ask PID 1
//	          for a SIGTERM and exit 3 when it is forwarded
//	user      print its credentials and the file main wrote, then die by
//	          SIGKILL
//	restart   count its runs in /run; on the third, ask PID 1 to stop
//	          (SIGTERM) and exit 0 when it is forwarded, else exit 1
//	daemon    start "sleeper" and exit at once, leaving it an orphan
//	sleeper   sleep 100 ms
package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func say(format string, args ...any) { fmt.Printf("apptest: "+format+"\n", args...) }

func main() {
	mode := ""
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "main":
		say("hello")
		mainMode()
	case "user":
		say("hello")
		say("uid %d gid %d groups %v", os.Getuid(), os.Getgid(), must(os.Getgroups()))
		b, err := os.ReadFile("/data/out.txt")
		say("out.txt %q %v", b, err)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	case "restart":
		restartMode()
	case "daemon":
		cmd := exec.Command("/proc/self/exe", "sleeper")
		cmd.Start()
		os.Exit(0)
	case "sleeper":
		time.Sleep(100 * time.Millisecond)
	default:
		say("unknown mode %q", mode)
		os.Exit(2)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		say("error: %v", err)
	}
	return v
}

func mainMode() {
	say("args %q", os.Args[1:])
	say("env GREETING=%s HOME=%s PATH=%s", os.Getenv("GREETING"), os.Getenv("HOME"), os.Getenv("PATH"))
	say("hostname %s", must(os.Hostname()))
	say("cwd %s", must(os.Getwd()))
	say("uid %d gid %d", os.Getuid(), os.Getgid())
	say("session leader %v, controlling terminal %v", must(unix.Getsid(0)) == os.Getpid(), ctty())
	var b [16]byte
	if _, err := unix.Getrandom(b[:], unix.GRND_NONBLOCK); err != nil {
		say("getrandom: %v", err)
	} else {
		say("getrandom ok")
	}
	if ifi, err := net.InterfaceByName("eth0"); err == nil {
		addrs, _ := ifi.Addrs()
		say("eth0 %v", addrs)
	}
	rc, _ := os.ReadFile("/etc/resolv.conf")
	say("resolv.conf %q", rc)
	hello, err := os.ReadFile("/data/hello.txt")
	say("hello.txt %q %v", hello, err)
	if err := os.WriteFile("/data/out.txt", []byte("written by the appliance\n"), 0o644); err != nil {
		say("writing out.txt: %v", err)
	}

	// An orphan: "daemon" exits at once, its "sleeper" child 100 ms later,
	// reparented to PID 1, which must reap it.
	daemon := exec.Command("/proc/self/exe", "daemon")
	if err := daemon.Run(); err != nil {
		say("daemon: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	say("zombies %d", zombies())

	// PID 1 forwards the SIGTERM it gets to us.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	syscall.Kill(1, syscall.SIGTERM)
	select {
	case s := <-sigs:
		say("got %v", s)
		os.Exit(3)
	case <-time.After(5 * time.Second):
		say("no SIGTERM")
		os.Exit(1)
	}
}

// ctty reports whether the process has a controlling terminal (tty_nr,
// the 7th field of /proc/self/stat, is not 0).
func ctty() bool {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 4 && f[4] != "0"
}

// zombies counts the zombie processes in /proc.
func zombies() int {
	n := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ...
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 && len(s) > i+2 && s[i+2] == 'Z' {
			n++
		}
	}
	return n
}

func restartMode() {
	const file = "/run/apptest-runs"
	b, _ := os.ReadFile(file)
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	n++
	os.WriteFile(file, []byte(strconv.Itoa(n)), 0o644)
	say("run %d", n)
	if n < 3 {
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	syscall.Kill(1, syscall.SIGTERM)
	select {
	case s := <-sigs:
		say("got %v", s)
		os.Exit(0)
	case <-time.After(5 * time.Second):
		say("no SIGTERM")
		os.Exit(1)
	}
}
