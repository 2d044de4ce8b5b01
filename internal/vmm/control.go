package vmm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/vmspec"
)

// States of a VM, as the API names them.
const (
	StateNotStarted = "NotStarted"
	StateRunning    = "Running"
	StatePaused     = "Paused"
	StateStopped    = "Stopped"
)

// Info describes a VM at a moment. While it runs, Instructions and Clock
// are those of the start of its latest scheduling round; while it is
// paused or stopped, they are exact.
type Info struct {
	State        string      `json:"state"`
	Instructions uint64      `json:"instructions"`
	Clock        uint64      `json:"clock"`
	Spec         vmspec.Spec `json:"spec"`
}

// ErrNotRunning is returned by a command that needs a running (or paused)
// VM when it has not started or has stopped.
var ErrNotRunning = errors.New("the VM is not running")

// errStopped is the cause with which Stop cancels a run.
var errStopped = errors.New("stopped through the API")

// control is the state a running VM shares with its controllers (the
// API): commands take effect between scheduling rounds.
type control struct {
	mu      sync.Mutex
	state   string
	cancel  context.CancelCauseFunc // cancels the current stretch of running
	resume  chan struct{}           // closed to resume a paused VM
	stop    chan struct{}           // closed to stop a paused VM
	changed chan struct{}           // closed and replaced at each state change
	stopped bool                    // Stop was asked for (perhaps while a pause was under way)
	failure error                   // why the VMM stopped the VM itself (a damaged snapshot)
}

func (c *control) init() {
	c.state = StateNotStarted
	c.changed = make(chan struct{})
}

// setLocked sets the state and wakes those waiting for a change.
func (c *control) setLocked(state string) {
	c.state = state
	close(c.changed)
	c.changed = make(chan struct{})
}

// Run runs the machine until it stops, the instruction limit is reached
// or ctx is canceled, obeying Pause, Resume and Stop from other
// goroutines meanwhile. A VM runs once.
func (vm *VM) Run(ctx context.Context) (machine.Exit, error) {
	c := &vm.ctl
	c.mu.Lock()
	if c.state != StateNotStarted {
		c.mu.Unlock()
		return machine.Exit{}, errors.New("vmm: the VM has run already")
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.cancel = nil
		c.setLocked(StateStopped)
		c.mu.Unlock()
	}()
	// A restored VM's memory is checked against its digests while it
	// runs: a mismatch stops it; a run that ends first waits for the
	// check (unless it was canceled), so a damaged snapshot never passes
	// for a good one.
	var verified chan error
	if ch := vm.snap.verify; ch != nil {
		verified = make(chan error, 1)
		go func() {
			err := <-ch
			if err != nil {
				vm.fail(err)
			}
			verified <- err
		}()
	}
	e, err := vm.run(ctx)
	if verified != nil && ctx.Err() == nil {
		if verr := <-verified; err == nil && verr != nil {
			return e, verr
		}
	}
	c.mu.Lock()
	failure := c.failure
	c.mu.Unlock()
	if err == nil && failure != nil {
		err = failure
	}
	return e, err
}

// fail stops the VM because of err, which Run returns.
func (vm *VM) fail(err error) {
	c := &vm.ctl
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failure = err
	c.stopped = true
	switch c.state {
	case StateRunning:
		if c.cancel != nil {
			c.cancel(err)
		}
	case StatePaused:
		close(c.stop)
	}
}

// run is Run's loop of running stretches and pauses.
func (vm *VM) run(ctx context.Context) (machine.Exit, error) {
	c := &vm.ctl
	for {
		runCtx, cancel := context.WithCancelCause(ctx)
		c.mu.Lock()
		c.cancel = cancel
		c.setLocked(StateRunning)
		if c.failure != nil {
			cancel(c.failure)
		}
		c.mu.Unlock()
		e, err := vm.m.Run(runCtx)
		paused := errors.Is(context.Cause(runCtx), machine.ErrPause) && ctx.Err() == nil
		cancel(nil)
		if err != nil || e.Kind != machine.ExitCanceled || !paused {
			return e, err
		}
		c.mu.Lock()
		if c.stopped {
			c.mu.Unlock()
			return e, nil
		}
		c.cancel = nil
		c.resume, c.stop = make(chan struct{}), make(chan struct{})
		resume, stop := c.resume, c.stop
		c.setLocked(StatePaused)
		c.mu.Unlock()
		select {
		case <-resume:
		case <-stop:
			return e, nil
		case <-ctx.Done():
			return e, nil
		}
	}
}

// Info describes the VM now.
func (vm *VM) Info() Info {
	c := &vm.ctl
	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	n, clock := vm.m.Progress()
	return Info{State: state, Instructions: n, Clock: clock, Spec: vm.Spec()}
}

// Pause pauses a running VM at the next boundary of a scheduling round
// and returns once it is paused. Pausing a paused VM does nothing.
func (vm *VM) Pause(ctx context.Context) error {
	c := &vm.ctl
	c.mu.Lock()
	switch c.state {
	case StatePaused:
		c.mu.Unlock()
		return nil
	case StateRunning:
	default:
		c.mu.Unlock()
		return ErrNotRunning
	}
	c.cancel(machine.ErrPause)
	return vm.waitLocked(ctx, StatePaused)
}

// Resume lets a paused VM run on. Resuming a running VM does nothing.
func (vm *VM) Resume(ctx context.Context) error {
	c := &vm.ctl
	c.mu.Lock()
	switch c.state {
	case StateRunning:
		c.mu.Unlock()
		return nil
	case StatePaused:
	default:
		c.mu.Unlock()
		return ErrNotRunning
	}
	close(c.resume)
	return vm.waitLocked(ctx, StateRunning)
}

// Stop stops the VM, running or paused, as Ctrl-C would (an exit of kind
// ExitCanceled), and returns once Run has returned.
func (vm *VM) Stop(ctx context.Context) error {
	c := &vm.ctl
	c.mu.Lock()
	c.stopped = true
	switch c.state {
	case StateRunning:
		c.cancel(errStopped)
	case StatePaused:
		close(c.stop)
	case StateStopped:
		c.mu.Unlock()
		return nil
	default:
		c.mu.Unlock()
		return ErrNotRunning
	}
	return vm.waitLocked(ctx, StateStopped)
}

// waitLocked waits, with c.mu held on entry and released on return, until
// the VM is in state want, or has stopped.
func (vm *VM) waitLocked(ctx context.Context, want string) error {
	c := &vm.ctl
	for {
		if c.state == want {
			c.mu.Unlock()
			return nil
		}
		if c.state == StateStopped {
			c.mu.Unlock()
			return fmt.Errorf("%w: it stopped", ErrNotRunning)
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
}
