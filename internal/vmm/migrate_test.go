package vmm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/migration"
	"github.com/juicevm/juice/internal/vmspec"
)

// TestMigrateOverTCP moves a running VM to a receiver on a TCP port: the
// destination's state is the source's at the pause, digest for digest.
func TestMigrateOverTCP(t *testing.T) {
	src, err := New(spinSpec(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	ran := make(chan error, 1)
	go func() { _, err := src.Run(ctx); ran <- err }()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *VM, 1)
	go func() {
		vm, err := Receive(ctx, ln, ReceiveOptions{Token: "secret"})
		if err != nil {
			t.Error(err)
		}
		got <- vm
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := src.Migrate(ctx, MigrateOptions{To: ln.Addr().String(), Token: "wrong"}); err == nil {
		t.Fatal("a wrong token was accepted")
	}
	if st := src.Info().State; st != StateRunning {
		t.Fatalf("after a refused migration the source is %s", st)
	}
	m, err := src.Migrate(ctx, MigrateOptions{To: ln.Addr().String(), Token: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-ran; !errors.Is(err, ErrMigrated) {
		t.Fatalf("the source's Run: %v", err)
	}
	dst := <-got
	if dst == nil {
		t.FailNow()
	}
	defer dst.Close()
	if n := dst.Machine().Instructions(); n != m.Instructions || n != src.Machine().Instructions() {
		t.Fatalf("destination at %d instructions, the source at %d, migrated at %d", n, src.Machine().Instructions(), m.Instructions)
	}
	if dst.Machine().Digest() != src.Machine().Digest() {
		t.Fatal("the destination's state differs from the source's")
	}
	if src.MigratedTo() != ln.Addr().String() || m.Rounds < 1 || m.Bytes == 0 {
		t.Fatalf("migrated: %+v, to %q", m, src.MigratedTo())
	}
}

// FuzzReceive feeds a receiver any stream after a valid Hello: it must
// refuse it with an error, never panic or build a VM from it.
func FuzzReceive(f *testing.F) {
	spec := vmspecForFuzz()
	var hello bytes.Buffer
	migration.NewWriter(&hello).JSON(migration.THello, migration.Hello{Magic: migration.Magic, Version: migration.Version, Token: "t", Spec: spec})
	var rest bytes.Buffer
	w := migration.NewWriter(&rest)
	w.Pages([]migration.Page{{Index: 1, Data: make([]byte, migration.PageSize)}, {Index: 2}})
	w.State([]byte("JUICESTA\x01\x00\x00\x00\x00\x00\x00\x00"))
	w.JSON(migration.TDone, migration.Done{})
	f.Add(rest.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		defer a.Close()
		// Whatever the receiver answers is read and dropped.
		go io.Copy(io.Discard, a)
		go func() {
			a.Write(hello.Bytes())
			a.Write(in)
			a.Close()
		}()
		vm, err := receiveOne(context.Background(), b, ReceiveOptions{Token: "t"}, nil)
		b.Close()
		if err == nil {
			vm.Close()
			t.Fatal("a VM was built from a fuzzed stream")
		}
	})
}

func vmspecForFuzz() vmspec.Spec {
	return vmspec.Spec{Version: vmspec.Version, Boot: vmspec.Boot{Kernel: &vmspec.File{Path: "/nonexistent"}}, CPUs: 1, Memory: 16 << 20, Console: vmspec.ConsoleUART}
}
