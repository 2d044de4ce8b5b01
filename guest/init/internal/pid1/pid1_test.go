package pid1

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseCmdline(t *testing.T) {
	o := ParseCmdline(`console=ttyS0 juice.exec="/bin/hello" quiet juice.selfcheck=off juice.bogus=1` + "\n")
	want := Options{Exec: "/bin/hello", SkipSelfCheck: true, Unknown: []string{"juice.bogus=1"}}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("ParseCmdline = %+v, want %+v", o, want)
	}
	if o := ParseCmdline("juice.selfcheck=1"); o.SkipSelfCheck {
		t.Error("juice.selfcheck=1 skipped the check")
	}
	if got := splitCmdline(`a "b c" d="e f"g`); !reflect.DeepEqual(got, []string{"a", "b c", "d=e fg"}) {
		t.Errorf("splitCmdline = %q", got)
	}
}

func TestParseMemTotal(t *testing.T) {
	n, err := parseMemTotal(strings.NewReader("MemTotal:         251904 kB\nMemFree: 1 kB\n"))
	if err != nil || n != 251904 {
		t.Fatalf("parseMemTotal = %d, %v", n, err)
	}
	if _, err := parseMemTotal(strings.NewReader("nothing\n")); err == nil {
		t.Error("missing MemTotal accepted")
	}
	info := SystemInfo{Release: "6.1.192", CPUs: []int{0, 1, 2, 3}, MemTotalKiB: 251904}
	if got := info.Banner(); got != "juice: Linux 6.1.192 on 4 CPUs, 246 MiB memory" {
		t.Errorf("Banner = %q", got)
	}
}

// TestSelfChecksOnHost runs the guest checks on the build machine: they
// must pass on any correct Linux system.
func TestSelfChecksOnHost(t *testing.T) {
	tmp := "/dev/shm"
	var st unix.Statfs_t
	if unix.Statfs(tmp, &st) != nil || st.Type != unix.TMPFS_MAGIC {
		tmp = ""
	}
	cpus, err := UsableCPUs()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range SelfChecks(tmp, cpus) {
		if c.Name == "tmpfs" && tmp == "" {
			continue
		}
		if err := runOne(c); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
}

func TestRunChecksRecoversPanics(t *testing.T) {
	errs := RunChecks([]Check{
		{"boom", func() error { panic("kaboom") }},
		{"fine", func() error { return nil }},
	})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "boom: panic: kaboom") {
		t.Fatalf("RunChecks = %v", errs)
	}
}

func TestRunProgramStatus(t *testing.T) {
	var out bytes.Buffer
	code, err := RunProgram("/bin/false", &out)
	if err != nil || code != 1 {
		t.Errorf("/bin/false: %d, %v", code, err)
	}
	code, err = RunProgram("/nonexistent/prog", &out)
	if err == nil || code != -1 {
		t.Errorf("missing program: %d, %v", code, err)
	}
	if _, err := os.Stat("/bin/true"); err == nil {
		if code, err := RunProgram("/bin/true", &out); code != 0 || err != nil {
			t.Errorf("/bin/true: %d, %v", code, err)
		}
	}
}
