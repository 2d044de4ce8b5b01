package machine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/testenv"
)

// counterImage is a tiny kernel that counts, dirtying RAM, for ever.
var counterImage = testenv.CounterImage(0x7ffff)

// snapshotSeed runs a machine of cpus harts on counterImage for n
// instructions and returns its state as a state file would hold it.
func snapshotSeed(t testing.TB, cpus int, n uint64) []byte {
	m, err := machine.New(machine.Config{CPUs: cpus, Memory: 16 << 20, Kernel: counterImage})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.RunTo(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	ss, err := m.SnapshotState()
	if err != nil {
		t.Fatal(err)
	}
	return snapshot.EncodeState(ss)
}

// FuzzRestoreState builds machines from fuzzed states: each must be
// refused with an error or built, and then run, without a panic.
func FuzzRestoreState(f *testing.F) {
	f.Add(snapshotSeed(f, 1, 50_000))
	f.Add(snapshotSeed(f, 2, 100_000))
	mem := filepath.Join(f.TempDir(), "memory")
	if err := os.WriteFile(mem, counterImage, 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ss, err := snapshot.DecodeState(b)
		if err != nil {
			return
		}
		cpus := 0
		for _, s := range ss {
			if len(s.Name) > 5 && s.Name[:5] == "hart " {
				cpus++
			}
		}
		fd, err := os.Open(mem)
		if err != nil {
			t.Fatal(err)
		}
		defer fd.Close()
		m, err := machine.New(machine.Config{CPUs: max(1, min(cpus, 4)), Memory: 16 << 20, Restore: &machine.Restored{Memory: fd, State: ss}})
		if err != nil {
			return
		}
		defer m.Close()
		m.RunTo(context.Background(), m.Instructions()+20_000)
	})
}

// TestRestoreStateGoesOn restores a machine from its state and memory
// and checks it runs on exactly as the machine it was taken from.
func TestRestoreStateGoesOn(t *testing.T) {
	src, err := machine.New(machine.Config{CPUs: 2, Memory: 16 << 20, Kernel: counterImage})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	if _, err := src.RunTo(ctx, 200_000); err != nil {
		t.Fatal(err)
	}
	ss, err := src.SnapshotState()
	if err != nil {
		t.Fatal(err)
	}
	mem, err := os.Create(filepath.Join(t.TempDir(), "memory"))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if err := src.RAMPages(false, func(p uint32, data []byte) error {
		_, err := mem.WriteAt(data, int64(p)*machine.PageSize)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	m, err := machine.New(machine.Config{CPUs: 2, Memory: 16 << 20, Restore: &machine.Restored{Memory: mem, State: ss}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, x := range []*machine.Machine{src, m} {
		if _, err := x.RunTo(ctx, 400_000); err != nil {
			t.Fatal(err)
		}
	}
	if src.Digest() != m.Digest() {
		t.Fatal("the restored machine's state differs from the source's after the same run")
	}
}
