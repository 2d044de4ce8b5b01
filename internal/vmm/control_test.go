package vmm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/testenv"
	"github.com/juicevm/juice/internal/vmspec"
)

// spinSpec is a VM whose kernel loops forever.
func spinSpec(t *testing.T) vmspec.Spec {
	b := testenv.SpinImage()
	k := filepath.Join(t.TempDir(), "spin")
	if err := os.WriteFile(k, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return vmspec.Spec{Version: vmspec.Version, Boot: vmspec.Boot{Kernel: &vmspec.File{Path: k}}, CPUs: 2, Memory: 16 << 20, Console: vmspec.ConsoleUART}
}

func TestPauseResumeStop(t *testing.T) {
	vm, err := New(spinSpec(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	ctx := context.Background()
	if err := vm.Pause(ctx); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("pausing a VM that has not started: %v", err)
	}
	type result struct {
		e   machine.Exit
		err error
	}
	ran := make(chan result, 1)
	go func() {
		e, err := vm.Run(ctx)
		ran <- result{e, err}
	}()
	for vm.Info().State != StateRunning {
		time.Sleep(time.Millisecond)
	}
	for range 3 {
		if err := vm.Pause(ctx); err != nil {
			t.Fatal(err)
		}
		a := vm.Info()
		time.Sleep(20 * time.Millisecond)
		b := vm.Info()
		if a.State != StatePaused || a.Instructions != b.Instructions || a.Clock != b.Clock {
			t.Fatalf("paused VM moved: %+v then %+v", a, b)
		}
		if a.Instructions%machine.DefaultQuantum != 0 {
			t.Errorf("paused at instruction %d, not at a round boundary", a.Instructions)
		}
		if err := vm.Pause(ctx); err != nil { // again: nothing happens
			t.Fatal(err)
		}
		if err := vm.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if c := vm.Info(); c.State != StateRunning || c.Instructions <= a.Instructions {
			t.Fatalf("resumed VM: %+v after %+v", c, a)
		}
	}
	if err := vm.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-ran
	if r.err != nil || r.e.Kind != machine.ExitCanceled {
		t.Fatalf("run after Stop: %+v %v", r.e, r.err)
	}
	if got := vm.Info().State; got != StateStopped {
		t.Errorf("state after Stop: %s", got)
	}
	if err := vm.Resume(ctx); !errors.Is(err, ErrNotRunning) {
		t.Errorf("resuming a stopped VM: %v", err)
	}
	if _, err := vm.Run(ctx); err == nil {
		t.Error("a VM ran twice")
	}
}

// A paused VM stops when its run's context ends, as an interrupted run
// does.
func TestPausedVMStopsWithItsContext(t *testing.T) {
	vm, err := New(spinSpec(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan machine.Exit, 1)
	go func() {
		e, _ := vm.Run(ctx)
		ran <- e
	}()
	for vm.Info().State != StateRunning {
		time.Sleep(time.Millisecond)
	}
	if err := vm.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	if e := <-ran; e.Kind != machine.ExitCanceled {
		t.Fatalf("exit %v", e.Kind)
	}
}
