package pid1

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/internal/guestconfig"
)

func TestParseCmdlineAppliance(t *testing.T) {
	if o := ParseCmdline("console=ttyS0 juice.appliance=1"); !o.Appliance || o.NoAppliance {
		t.Errorf("juice.appliance=1: %+v", o)
	}
	if o := ParseCmdline("juice.appliance=1 juice.appliance=off"); o.Appliance || !o.NoAppliance {
		t.Errorf("juice.appliance=off: %+v", o)
	}
	if o := ParseCmdline("juice.appliance=maybe"); o.Appliance || len(o.Unknown) != 1 {
		t.Errorf("juice.appliance=maybe: %+v", o)
	}
}

func TestExitStatus(t *testing.T) {
	for _, c := range []struct {
		s    ExitStatus
		str  string
		host int
	}{
		{ExitStatus{Code: 0}, "exited with status 0", 0},
		{ExitStatus{Code: 3}, "exited with status 3", 3},
		{ExitStatus{Code: 119}, "exited with status 119", 119},
		{ExitStatus{Code: 120}, "exited with status 120", 119},
		{ExitStatus{Code: 255}, "exited with status 255", 119},
		{ExitStatus{Signal: syscall.SIGTERM}, "killed by signal SIGTERM", 119},
		{ExitStatus{Signal: syscall.SIGKILL}, "killed by signal SIGKILL", 119},
	} {
		if got := c.s.String(); got != c.str {
			t.Errorf("%+v: String %q, want %q", c.s, got, c.str)
		}
		if got := c.s.HostStatus(); got != c.host {
			t.Errorf("%+v: HostStatus %d, want %d", c.s, got, c.host)
		}
	}
	if sysconValue(0) != 0x5555 || sysconValue(3) != 0x3_3333 || sysconValue(119) != 0x77_3333 {
		t.Errorf("syscon values %#x %#x %#x", sysconValue(0), sysconValue(3), sysconValue(119))
	}
}

func TestRestartDelay(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 10; n++ {
		got = append(got, restartDelay(n))
	}
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond, 10 * time.Second, 10 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("delays %v", got)
	}
	if restartDelay(1000) != restartMaxGap {
		t.Error("no cap")
	}
}

func TestAppEnv(t *testing.T) {
	t.Setenv("TERM", "xterm")
	got := appEnv(guestconfig.App{Env: []string{"GREETING=hi", "PATH=/app"}})
	want := []string{"GREETING=hi", "PATH=/app", "HOME=/root", "TERM=xterm"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env %q", got)
	}
	if got := appEnv(guestconfig.App{UID: 1000}); got[1] != "HOME=/" || !strings.HasPrefix(got[0], "PATH=/usr/local/sbin:") {
		t.Errorf("env %q", got)
	}
}

// outFile returns a file for a child's output and a function reading it.
func outFile(t *testing.T) (*os.File, func() string) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, func() string {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

func waitStatus(t *testing.T, c *Child) ExitStatus {
	t.Helper()
	select {
	case st := <-c.Done:
		return st
	case <-time.After(20 * time.Second):
		t.Fatal("no exit status after 20s")
		return ExitStatus{}
	}
}

// TestSupervisor runs real processes: statuses of exits and signals,
// processes that exit at once (before Start has returned), and orphans
// left by a daemonising child, which must be reaped.
func TestSupervisor(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	sup := NewSupervisor()
	defer sup.Close()
	out, read := outFile(t)
	files := []*os.File{nil, out, out}
	start := func(script string) *Child {
		t.Helper()
		c, err := sup.Start(sh, []string{"sh", "-c", script}, &os.ProcAttr{Files: files})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if st := waitStatus(t, start("exit 3")); st != (ExitStatus{Code: 3}) {
		t.Errorf("exit 3: %v", st)
	}
	if st := waitStatus(t, start("kill -TERM $$")); st != (ExitStatus{Signal: syscall.SIGTERM}) {
		t.Errorf("kill -TERM: %v", st)
	}
	// Many at once, each exiting immediately.
	var kids []*Child
	for i := 0; i < 20; i++ {
		kids = append(kids, start("exit "+string(rune('0'+i%10))))
	}
	for i, c := range kids {
		if st := waitStatus(t, c); st.Code != i%10 {
			t.Errorf("child %d: %v", i, st)
		}
	}
	// A daemonising child: its grandchildren outlive it and are orphaned.
	before := sup.Orphans()
	c := start("(sleep 0.2; echo orphan done) & (sleep 0.3) & echo parent done; exit 5")
	if st := waitStatus(t, c); st.Code != 5 {
		t.Errorf("parent: %v", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sup.Orphans() < before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := sup.Orphans() - before; n < 2 {
		t.Errorf("%d orphans reaped, want 2 (or more, if the shell forks more)", n)
	}
	if got := read(); !strings.Contains(got, "parent done") || !strings.Contains(got, "orphan done") {
		t.Errorf("output %q", got)
	}
	// No zombie is left behind.
	if !noChildren() {
		t.Error("children left after the reaper ran")
	}
}

// TestRunApp runs an "app" the way appliance mode does: arguments,
// environment, working directory, a forwarded SIGTERM, the console line.
func TestRunApp(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	script := `#!` + sh + `
echo "args: $*"
echo "greeting: $GREETING"
echo "home: $HOME"
echo "pwd: $(pwd)"
echo "uid: $(id -u)"
trap 'echo "got TERM"; exit 3' TERM
echo ready > ready
while :; do sleep 0.01; done
`
	if err := os.WriteFile(app, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out, read := outFile(t)
	var log bytes.Buffer
	sup := NewSupervisor()
	defer sup.Close()
	a := &appliance{
		in:    Init{Out: &log},
		cfg:   &guestconfig.Appliance{App: guestconfig.App{Path: app, Args: []string{"a", "b c"}, Env: []string{"GREETING=hi"}, Workdir: dir, UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}, OnExit: guestconfig.OnExitPowerOff},
		sup:   sup,
		sigs:  make(chan os.Signal, 1),
		files: []*os.File{nil, out, out},
	}
	go func() {
		for i := 0; i < 2000; i++ {
			if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
				a.sigs <- unix.SIGTERM
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	st := a.runApp()
	if st != (ExitStatus{Code: 3}) || !a.stopping {
		t.Errorf("status %v, stopping %v", st, a.stopping)
	}
	want := []string{"args: a b c", "greeting: hi", "home: /", "pwd: " + dir, "got TERM"}
	if os.Getuid() == 0 {
		want[2] = "home: /root"
	}
	got := read()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("app output lacks %q:\n%s", w, got)
		}
	}
	if log.String() != "juice: app exited with status 3\n" {
		t.Errorf("init printed %q", log.String())
	}

	// A program that cannot start gives 127 and says why.
	log.Reset()
	a.cfg.App = guestconfig.App{Path: filepath.Join(dir, "missing"), Workdir: "/", UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	a.stopping = false
	if st := a.runApp(); st.Code != 127 || st.HostStatus() != 119 || !strings.Contains(log.String(), "juice: starting the app "+a.cfg.App.Path) {
		t.Errorf("missing app: %v, %q", st, log.String())
	}
}

// TestRestart restarts an app that fails at once, with growing pauses,
// until a SIGTERM stops it.
func TestRestart(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	out, _ := outFile(t)
	var log bytes.Buffer
	sup := NewSupervisor()
	defer sup.Close()
	a := &appliance{
		in:    Init{Out: &log},
		cfg:   &guestconfig.Appliance{App: guestconfig.App{Path: sh, Args: []string{"-c", "echo x >> runs; exit 4"}, Workdir: dir, UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}, OnExit: guestconfig.OnExitRestart},
		sup:   sup,
		sigs:  make(chan os.Signal, 1),
		files: []*os.File{nil, out, out},
	}
	go func() {
		for i := 0; i < 4000; i++ {
			if b, _ := os.ReadFile(filepath.Join(dir, "runs")); bytes.Count(b, []byte("x")) >= 3 {
				a.sigs <- unix.SIGTERM
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	// The SIGTERM reaches the third run or the pause after it.
	st := a.runApp()
	if st.Code != 4 && st.Signal != unix.SIGTERM {
		t.Errorf("status %v", st)
	}
	got := log.String()
	for _, w := range []string{"juice: app exited with status 4\njuice: restarting the app (restart 1)\n", "juice: app exited with status 4\njuice: restarting the app (restart 2, in 100ms)\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("log lacks %q:\n%s", w, got)
		}
	}
}
