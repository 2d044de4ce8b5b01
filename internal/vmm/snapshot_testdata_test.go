package vmm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/testenv"
	"github.com/juicevm/juice/internal/vmspec"
)

// Snapshots written by earlier versions of Juice lie in
// testdata/snapshots/v<FORMAT>-<NAME>/: snapshot.tar.gz (the folder as
// that Juice wrote it, archived so that its sparse memory stays small)
// and expect.json (where the restored run ends). Every later Juice must
// restore each and run it to that end. go test -run
// TestWriteSnapshotTestdata -args -update writes this version's.
var update = flag.Bool("update", false, "write this version's snapshot into testdata/snapshots")

// expectedEnd is how a restored testdata snapshot's run ends.
type expectedEnd struct {
	JuiceVersion string `json:"juice_version"`
	Format       int    `json:"format"`
	// Snapshot is the instruction count of the snapshot point.
	Snapshot     uint64 `json:"snapshot_instructions"`
	Instructions uint64 `json:"instructions"`
	Digest       string `json:"digest"`
	Exit         string `json:"exit"`
	Code         int    `json:"code"`
	Console      int    `json:"console_bytes"`
}

func TestWriteSnapshotTestdata(t *testing.T) {
	if !*update {
		t.Skip("writes testdata: go test -run TestWriteSnapshotTestdata -args -update")
	}
	work := t.TempDir()
	kernel := filepath.Join(work, "counter")
	if err := os.WriteFile(kernel, testenv.CounterImage(1), 0o644); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(work, "disk.img")
	if err := os.WriteFile(disk, bytes.Repeat([]byte("a writable disk "), 1<<12), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := vmspec.Spec{Version: vmspec.Version, Boot: vmspec.Boot{Kernel: &vmspec.File{Path: kernel}}, CPUs: 2, Memory: 16 << 20,
		Console: vmspec.ConsoleUART, Disks: []vmspec.Disk{{Path: disk}}}
	vm, err := New(spec, Options{JuiceVersion: "testdata v1"})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	ctx := context.Background()
	ran := make(chan error, 1)
	go func() { _, err := vm.Run(ctx); ran <- err }()
	for vm.Info().Instructions < 10_000_000 {
		time.Sleep(time.Millisecond)
	}
	dir := filepath.Join(work, "snap")
	s, err := vm.Snapshot(ctx, dir, SnapshotOptions{Stop: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	end := restoreToEnd(t, dir)
	end.JuiceVersion, end.Format, end.Snapshot = "testdata v1", snapshot.FormatVersion, s.Instructions
	out := filepath.Join("testdata", "snapshots", "v1-counter")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "snapshot.tar.gz"), archive(t, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(end, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "expect.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: snapshot at %d instructions, ends at %d", out, s.Instructions, end.Instructions)
}

// TestSnapshotTestdataRestores restores every snapshot an earlier Juice
// wrote into testdata/snapshots and runs it to its recorded end.
func TestSnapshotTestdataRestores(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "snapshots", "v*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no testdata snapshots (%v)", err)
	}
	for _, d := range dirs {
		t.Run(filepath.Base(d), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(d, "expect.json"))
			if err != nil {
				t.Fatal(err)
			}
			var want expectedEnd
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "snap")
			unarchive(t, filepath.Join(d, "snapshot.tar.gz"), dir)
			got := restoreToEnd(t, dir)
			got.JuiceVersion, got.Format, got.Snapshot = want.JuiceVersion, want.Format, want.Snapshot
			if got != want {
				t.Fatalf("the snapshot of %s (format %d) restored runs to\n%+v\nnot\n%+v", want.JuiceVersion, want.Format, got, want)
			}
		})
	}
}

// restoreToEnd restores the snapshot in dir and runs it until it ends.
func restoreToEnd(t *testing.T, dir string) expectedEnd {
	t.Helper()
	var con bytes.Buffer
	vm, err := Restore(dir, RestoreOptions{Options: Options{Console: &con}})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	e, err := vm.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != machine.ExitPowerOff {
		t.Fatalf("the restored run ended with %v", e.Kind)
	}
	d := vm.Machine().Digest()
	if strings.Trim(con.String(), ".") != "" {
		t.Fatalf("the restored run printed %q", con.String())
	}
	return expectedEnd{Instructions: e.Instructions, Digest: hex.EncodeToString(d[:]), Exit: e.Kind.String(), Code: e.Code, Console: con.Len()}
}

// archive returns the files of the folder dir as a gzipped tar.
func archive(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.Name(), Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unarchive extracts a gzipped tar of plain files into the new folder
// dir, leaving runs of zero pages as holes.
func unarchive(t *testing.T, path, dir string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || strings.ContainsAny(h.Name, "/\\") {
			t.Fatalf("%s: %s is not a plain file", path, h.Name)
		}
		out, err := os.Create(filepath.Join(dir, h.Name))
		if err != nil {
			t.Fatal(err)
		}
		page := make([]byte, 4096)
		zero := make([]byte, 4096)
		var off int64
		for {
			n, err := io.ReadFull(tr, page)
			if n > 0 && !bytes.Equal(page[:n], zero[:n]) {
				if _, err := out.WriteAt(page[:n], off); err != nil {
					t.Fatal(err)
				}
			}
			off += int64(n)
			if err != nil {
				break
			}
		}
		if err := out.Truncate(off); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
}
