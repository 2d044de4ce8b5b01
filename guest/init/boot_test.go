package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/diskimage"
	"github.com/juicevm/juice/internal/guestconfig"
	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/testenv"
	"github.com/juicevm/juice/internal/virtio/blk"
	vnet "github.com/juicevm/juice/internal/virtio/net"
	"github.com/juicevm/juice/internal/vmm"
	"github.com/juicevm/juice/internal/vmspec"
)

// timedConsole collects console output and notes when a line starting
// with a prefix first appeared.
type timedConsole struct {
	mu     sync.Mutex
	buf    []byte
	prefix string
	first  time.Time
}

func (c *timedConsole) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	if c.first.IsZero() && strings.Contains(string(c.buf), "\n"+c.prefix) {
		c.first = time.Now()
	}
	return len(p), nil
}

func (c *timedConsole) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// applianceBoot boots the JeOS kernel with the default initramfs plus the
// test app at /app/apptest and cfg as /etc/juice/appliance.json. It
// returns the exit, the console and the time from the start to the app's
// first line.
func applianceBoot(t *testing.T, kernel, app []byte, cfg map[string]any, mc machine.Config) (machine.Exit, string, time.Duration) {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	initrd, err := appliance.InitramfsWith(context.Background(), appliance.Options{CacheDir: testenv.CacheDir(t)}, t.TempDir(),
		map[string][]byte{"/app/apptest": app, guestconfig.Path: js})
	if err != nil {
		t.Fatal(err)
	}
	initrdData, err := os.ReadFile(initrd)
	if err != nil {
		t.Fatal(err)
	}
	con := &timedConsole{prefix: "apptest: "}
	mc.Kernel, mc.Initrd, mc.Console = kernel, initrdData, con
	mc.Cmdline = "console=ttyS0 quiet juice.appliance=1"
	if mc.Memory == 0 {
		mc.Memory = 256 << 20
	}
	mc.MaxInstructions = 20_000_000_000
	start := time.Now()
	m, err := machine.New(mc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	defer m.Close()
	e, err := m.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	var first time.Duration
	if !con.first.IsZero() {
		first = con.first.Sub(start)
	}
	return e, con.String(), first
}

func wantLines(t *testing.T, console string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(console, l+"\n") && !strings.Contains(console, l+"\r\n") {
			t.Errorf("console lacks %q", l)
		}
	}
	if t.Failed() {
		t.Fatalf("console:\n%s", console)
	}
}

// TestApplianceBoot boots appliances on the JeOS kernel and checks what
// PID 1 does for their app: hostname, args, env, working directory, the
// network by DHCP, entropy, a disk (written, then read in a second boot
// as another user), orphans reaped, SIGTERM forwarded, restarts, and the
// app's exit status reaching the host (3; 119 for a SIGKILL).
func TestApplianceBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots Linux; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	def, err := appliance.BuildDefault(ctx, appliance.Options{CacheDir: testenv.CacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	kernel, err := os.ReadFile(def.KernelPath)
	if err != nil {
		t.Fatal(err)
	}
	root, err := appliance.ModuleRoot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	app, err := appliance.CrossCompile(ctx, "go", root, "./guest/init/testdata/apptest")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello from the disk\n"), 0o644)
	img := filepath.Join(dir, "data.img")
	if err := diskimage.Create(ctx, img, diskimage.Options{Size: 16 << 20, From: src}); err != nil {
		t.Fatal(err)
	}

	t.Run("main", func(t *testing.T) {
		cfg := map[string]any{
			"name": "apptest", "hostname": "apptest-host",
			"app": map[string]any{"path": "/app/apptest", "args": []string{"main", "b c"},
				"env": []string{"GREETING=hi"}, "workdir": "/data"},
			"network": map[string]any{"mode": "dhcp"},
			"disks":   []map[string]any{{"device": "/dev/vda", "mount": "/data"}},
		}
		e, con, first := applianceBoot(t, kernel, app, cfg, machine.Config{
			RNG: true, Net: []vnet.Backend{userNet(t)}, Disks: []*blk.Device{openDisk(t, img)},
		})
		t.Logf("first app line %v after the start; %d instructions", first, e.Instructions)
		wantLines(t, con,
			"juice: network eth0 10.0.2.15/24 via 10.0.2.2",
			"apptest: hello",
			`apptest: args ["main" "b c"]`,
			"apptest: env GREETING=hi HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"apptest: hostname apptest-host",
			"apptest: cwd /data",
			"apptest: uid 0 gid 0",
			"apptest: session leader true, controlling terminal true",
			"apptest: getrandom ok",
			"apptest: eth0 [10.0.2.15/24]",
			`apptest: resolv.conf "nameserver 10.0.2.3\n"`,
			`apptest: hello.txt "hello from the disk\n" <nil>`,
			"apptest: zombies 0",
			"apptest: got terminated",
			"juice: app exited with status 3",
		)
		if strings.Contains(con, "juice: Linux") || strings.Contains(con, "self-check") {
			t.Errorf("banner or self-check in appliance mode:\n%s", con)
		}
		if e.Kind != machine.ExitPowerOff || e.Code != 3 {
			t.Fatalf("exit %v code %d, want power-off with 3; console:\n%s", e.Kind, e.Code, con)
		}
		if err := diskimage.Check(ctx, img); err != nil {
			t.Errorf("the disk is not clean after the power-off: %v", err)
		}
		if got, err := diskimage.ReadFile(ctx, img, "/out.txt"); err != nil || string(got) != "written by the appliance\n" {
			t.Errorf("/out.txt on the disk: %q, %v", got, err)
		}
	})

	t.Run("user", func(t *testing.T) {
		cfg := map[string]any{
			"name":  "apptest",
			"app":   map[string]any{"path": "/app/apptest", "args": []string{"user"}, "uid": 1000, "gid": 1001},
			"disks": []map[string]any{{"device": "/dev/vda", "mount": "/data"}},
		}
		e, con, _ := applianceBoot(t, kernel, app, cfg, machine.Config{RNG: true, Disks: []*blk.Device{openDisk(t, img)}})
		wantLines(t, con,
			"apptest: uid 1000 gid 1001 groups []",
			`apptest: out.txt "written by the appliance\n" <nil>`,
			"juice: app killed by signal SIGKILL",
		)
		if e.Kind != machine.ExitPowerOff || e.Code != 119 {
			t.Fatalf("exit %v code %d, want power-off with 119; console:\n%s", e.Kind, e.Code, con)
		}
	})

	t.Run("restart", func(t *testing.T) {
		cfg := map[string]any{
			"app":     map[string]any{"path": "/app/apptest", "args": []string{"restart"}},
			"on_exit": "restart",
		}
		e, con, _ := applianceBoot(t, kernel, app, cfg, machine.Config{RNG: true})
		wantLines(t, con,
			"apptest: run 1",
			"juice: app exited with status 1",
			"juice: restarting the app (restart 1)",
			"juice: restarting the app (restart 2, in 100ms)",
			"apptest: run 3",
			"apptest: got terminated",
			"juice: app exited with status 0",
		)
		if e.Kind != machine.ExitPowerOff || e.Code != 0 {
			t.Fatalf("exit %v code %d, want power-off with 0; console:\n%s", e.Kind, e.Code, con)
		}
	})
}

// openDisk opens a disk image for a test machine, as the VMM does.
func openDisk(t *testing.T, img string) *blk.Device {
	t.Helper()
	d, err := vmm.OpenDisk(vmspec.Disk{Path: img}, 0, nil, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// userNet opens a user-mode network for a test machine.
func userNet(t *testing.T) vnet.Backend {
	t.Helper()
	n, err := vmm.OpenNet(vmspec.Net{Mode: vmspec.NetUser}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
