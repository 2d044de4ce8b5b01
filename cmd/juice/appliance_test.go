package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/juicevm/juice/internal/appliance"
	"github.com/juicevm/juice/internal/vmm"
	"github.com/juicevm/juice/internal/vmspec"
)

// fakeAppliance writes an appliance folder by hand, as juice build would:
// a tiny kernel Image (powering off with the status its code gives), an
// initrd, a disk and manifest.json. edit may change the manifest before it
// is written.
func fakeAppliance(t testing.TB, kernel []byte, edit func(m map[string]any)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fake.appliance")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	initrd := []byte("070701 not really a cpio, the fake kernel never reads it")
	files := map[string][]byte{"kernel": kernel, "initrd.cpio.zst": initrd, "data.img": make([]byte, 1<<20)}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	digest := func(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }
	m := map[string]any{
		"format": 1, "name": "fake", "kernel": "kernel", "initrd": "initrd.cpio.zst",
		"cmdline": "console=ttyS0 quiet juice.appliance=1", "cpus": 2, "memory": "64M",
		"network": map[string]any{"mode": "user", "forwards": []string{"tcp:127.0.0.1:18080-:80"}},
		"disks":   []map[string]any{{"name": "data", "file": "data.img", "serial": "data"}},
		"digests": map[string]string{"kernel": digest(kernel), "initrd": digest(initrd)},
		"sizes":   map[string]int{"kernel": len(kernel), "initrd": len(initrd)},
		"spec":    map[string]any{"name": "fake"},
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// applied parses run's flags from args and makes the VM spec of the
// appliance in dir with them.
func applied(t *testing.T, dir string, args ...string) (vmspec.Spec, error) {
	t.Helper()
	var f runFlags
	cmd := &cobra.Command{Use: "run"}
	f.register(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	spec, files, err := f.specOf(context.Background(), cmd, []string{dir}, nil)
	files.Close()
	return spec, err
}

func TestApplianceFillsTheSpec(t *testing.T) {
	dir := fakeAppliance(t, image(), nil)
	abs, _ := filepath.Abs(dir)
	got, err := applied(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	sum := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	want := vmspec.Spec{
		Version: vmspec.Version,
		Boot: vmspec.Boot{
			Kernel:  &vmspec.File{Path: filepath.Join(abs, "kernel"), SHA256: sum("kernel")},
			Initrd:  &vmspec.File{Path: filepath.Join(abs, "initrd.cpio.zst"), SHA256: sum("initrd.cpio.zst")},
			Cmdline: "console=ttyS0 quiet juice.appliance=1",
		},
		CPUs: 2, Memory: 64 << 20,
		Net:       []vmspec.Net{{Mode: "user", Forwards: []vmspec.Forward{{Protocol: "tcp", Host: "127.0.0.1:18080", GuestPort: 80}}}},
		Disks:     []vmspec.Disk{{Path: filepath.Join(abs, "data.img"), Serial: "data"}},
		Console:   "uart",
		Entropy:   true,
		Appliance: &vmspec.Appliance{Path: abs, Name: "fake"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("spec\n got %+v\nwant %+v", got, want)
	}

	// Options given explicitly win; --append adds to the command line.
	got, err = applied(t, dir, "--memory", "128M", "--cpus", "1", "--net", "user", "--disk", "other.img,ro", "--append", "juice.debug=1", "--no-rng")
	if err != nil {
		t.Fatal(err)
	}
	if got.Memory != 128<<20 || got.CPUs != 1 || !reflect.DeepEqual(got.Net, []vmspec.Net{{Mode: "user"}}) ||
		!reflect.DeepEqual(got.Disks, []vmspec.Disk{{Path: "other.img", ReadOnly: true}}) || got.Entropy ||
		got.Boot.Cmdline != "console=ttyS0 quiet juice.appliance=1 juice.debug=1" {
		t.Fatalf("overridden spec: %+v", got)
	}

	// A recording gives each disk a new overlay.
	var f runFlags
	cmd := &cobra.Command{Use: "record"}
	f.register(cmd)
	overlays := map[string]string{}
	spec, files, err := f.specOf(context.Background(), cmd, []string{dir}, func(disk string) string { return vmm.RecordOverlay("/tmp/x.jrr", disk, overlays) })
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	if overlays["/tmp/x.jrr.partial.data.ovl"] != "/tmp/x.jrr.data.ovl" {
		t.Fatalf("overlays %v", overlays)
	}
	if want := (vmspec.Disk{Path: filepath.Join(abs, "data.img"), Serial: "data", Overlay: "/tmp/x.jrr.partial.data.ovl"}); !reflect.DeepEqual(spec.Disks, []vmspec.Disk{want}) {
		t.Fatalf("record disks %+v, want %+v", spec.Disks, want)
	}

	// Without network or disks in the manifest, none are attached.
	dir = fakeAppliance(t, image(), func(m map[string]any) {
		m["network"] = map[string]any{"mode": "none"}
		delete(m, "disks")
		delete(m, "cpus")
		delete(m, "memory")
	})
	got, err = applied(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Net != nil || got.Disks != nil || got.CPUs != 1 || got.Memory != 256<<20 {
		t.Fatalf("spec without network or disks: %+v", got)
	}
}

// An appliance in a folder whose path holds a comma runs: paths are spec
// fields, not option strings.
func TestApplianceWithCommaInPath(t *testing.T) {
	src := fakeAppliance(t, image(0x001002b7, 0x00033337, 0x33330313, 0x0062a023, 0x0000006f), func(m map[string]any) { delete(m, "network") })
	dir := filepath.Join(t.TempDir(), "a,b=c.appliance")
	if err := os.Rename(src, dir); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := runJuice(t, "run", dir); code != 3 {
		t.Fatalf("run: status %d, want 3\n%s", code, errs)
	}
	rec := filepath.Join(filepath.Dir(dir), "x,y.jrr")
	if _, errs, code := runJuice(t, "record", "-o", rec, dir); code != 3 {
		t.Fatalf("record: status %d, want 3\n%s", code, errs)
	}
	if _, errs, code := runJuice(t, "replay", rec); code != 0 || !strings.Contains(errs, "replay matches") {
		t.Fatalf("replay: status %d\n%s", code, errs)
	}
}

func TestApplianceRunRecordReplay(t *testing.T) {
	// power-off with status 3: 0x33333 = (3 << 16) | 0x3333.
	dir := fakeAppliance(t, image(0x001002b7, 0x00033337, 0x33330313, 0x0062a023, 0x0000006f), func(m map[string]any) {
		delete(m, "network") // the fake kernel has no use for it
	})
	stats := filepath.Join(t.TempDir(), "stats.json")
	_, errs, code := runJuice(t, "run", dir, "--stats", stats)
	if code != 3 {
		t.Fatalf("run: status %d, want 3\n%s", code, errs)
	}
	b, _ := os.ReadFile(stats)
	if !strings.Contains(string(b), `"cpus": 2`) {
		t.Fatalf("the manifest's cpus were not used:\n%s", b)
	}
	if _, errs, code = runJuice(t, "run", "--cpus", "1", "--stats", stats, dir); code != 3 {
		t.Fatalf("run --cpus 1: status %d\n%s", code, errs)
	}
	if b, _ = os.ReadFile(stats); !strings.Contains(string(b), `"cpus": 1`) {
		t.Fatalf("--cpus did not win over the manifest:\n%s", b)
	}

	rec := filepath.Join(t.TempDir(), "fake.jrr")
	for range 2 { // the second time replaces the first's overlay
		if _, errs, code = runJuice(t, "record", "-o", rec, dir); code != 3 {
			t.Fatalf("record: status %d\n%s", code, errs)
		}
	}
	if _, err := os.Stat(rec + ".data.ovl"); err != nil {
		t.Fatalf("record made no overlay for the appliance's disk: %v", err)
	}
	if _, errs, code = runJuice(t, "replay", rec); code != 0 || !strings.Contains(errs, "replay matches") {
		t.Fatalf("replay: status %d\n%s", code, errs)
	}
	info, errs, code := runJuice(t, "replay", "--info", rec)
	if code != 0 || !strings.Contains(info, `"name": "fake"`) {
		t.Fatalf("replay --info: status %d\n%s%s", code, info, errs)
	}
}

func TestApplianceBadInput(t *testing.T) {
	good := image()
	notDir := writeTemp(t, "file", []byte("x"))
	tampered := fakeAppliance(t, good, nil)
	os.WriteFile(filepath.Join(tampered, "initrd.cpio.zst"), []byte("changed"), 0o644)
	noManifest := t.TempDir()
	badJSON := fakeAppliance(t, good, nil)
	os.WriteFile(filepath.Join(badJSON, "manifest.json"), []byte(`{"format": 1,`), 0o644)
	for _, tc := range []struct {
		name string
		dir  string
		want []string
	}{
		{"no such folder", "/nonexistent/x.appliance", []string{"/nonexistent/x.appliance", "no such file"}},
		{"a file", notDir, []string{notDir, "not a folder"}},
		{"no manifest", noManifest, []string{"manifest.json", "not an appliance"}},
		{"not JSON", badJSON, []string{"manifest.json", "JSON"}},
		{"unknown field", fakeAppliance(t, good, func(m map[string]any) { m["memroy"] = "1G" }), []string{"manifest.json", `"memroy"`}},
		{"wrong type", fakeAppliance(t, good, func(m map[string]any) { m["cpus"] = "two" }), []string{"manifest.json", `"cpus"`}},
		{"new format", fakeAppliance(t, good, func(m map[string]any) { m["format"] = 2 }), []string{"manifest.json", `"format"`}},
		{"bad memory", fakeAppliance(t, good, func(m map[string]any) { m["memory"] = "lots" }), []string{`"memory"`, "lots"}},
		{"missing kernel", fakeAppliance(t, good, func(m map[string]any) { m["kernel"] = "vmlinux" }), []string{`"kernel"`, "vmlinux", "no such file"}},
		{"kernel outside", fakeAppliance(t, good, func(m map[string]any) { m["kernel"] = "../kernel" }), []string{`"kernel"`, "../kernel"}},
		{"missing disk", fakeAppliance(t, good, func(m map[string]any) {
			m["disks"] = []map[string]any{{"name": "data", "file": "gone.img"}}
		}), []string{`"disks[0].file"`, "gone.img"}},
		{"bad network", fakeAppliance(t, good, func(m map[string]any) { m["network"] = map[string]any{"mode": "bridge"} }), []string{`"network.mode"`, "bridge"}},
		{"no digest", fakeAppliance(t, good, func(m map[string]any) { m["digests"] = map[string]string{} }), []string{"kernel", "digest"}},
		{"modified initrd", tampered, []string{"initrd", filepath.Join(tampered, "initrd.cpio.zst"), "does not match its digest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, args := range [][]string{{"run", tc.dir}, {"record", "-o", filepath.Join(t.TempDir(), "x.jrr"), tc.dir}} {
				_, errs, code := runJuice(t, args...)
				msg := strings.TrimSpace(errs)
				if code != exitError || strings.Count(msg, "\n") != 0 {
					t.Fatalf("%s: status %d, want %d and one line:\n%s", args[0], code, exitError, msg)
				}
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Fatalf("%s: %q does not mention %q", args[0], msg, w)
					}
				}
			}
		})
	}
	if _, errs, code := runJuice(t, "run", t.TempDir(), t.TempDir()); code != exitError || !strings.Contains(errs, "arg") {
		t.Fatalf("two appliances: status %d\n%s", code, errs)
	}
}

// FuzzApplianceManifest loads appliance folders whose manifest.json is
// arbitrary bytes (appliance folders are untrusted input): the result is
// an appliance or an error, never a panic.
func FuzzApplianceManifest(f *testing.F) {
	dir := fakeAppliance(f, image(), nil)
	good, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	f.Add(good)
	f.Add([]byte(`{"format": 1, "name": "x", "kernel": "../../etc/passwd"}`))
	f.Add([]byte(`{"format": 1, "name": "x", "kernel": "kernel", "disks": [{"name": "d", "file": "/etc/shadow"}]}`))
	f.Add([]byte(`{"format": 1, "memory": "64MB", "cpus": -1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "manifest.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := appliance.Open(dir)
		if err == nil {
			a.Close()
		}
	})
}
