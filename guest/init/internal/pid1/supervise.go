package pid1

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExitStatus is how a process ended.
type ExitStatus struct {
	// Code is the exit code when the process exited.
	Code int
	// Signal is the signal that killed it, or 0.
	Signal syscall.Signal
}

// statusOf converts a wait status.
func statusOf(ws unix.WaitStatus) ExitStatus {
	if ws.Signaled() {
		return ExitStatus{Signal: syscall.Signal(ws.Signal())}
	}
	return ExitStatus{Code: ws.ExitStatus()}
}

// String is "exited with status N" or "killed by signal SIGNAME".
func (s ExitStatus) String() string {
	if s.Signal != 0 {
		name := unix.SignalName(s.Signal)
		if name == "" {
			name = fmt.Sprint(int(s.Signal))
		}
		return "killed by signal " + name
	}
	return fmt.Sprintf("exited with status %d", s.Code)
}

// MaxHostStatus is the largest status a guest can pass to `juice run`:
// Juice's own statuses start at 120.
const MaxHostStatus = 119

// HostStatus is the status `juice run` exits with: the exit code when it
// is at most 119, and 119 for larger codes and for a process killed by a
// signal.
func (s ExitStatus) HostStatus() int {
	if s.Signal != 0 || s.Code > MaxHostStatus || s.Code < 0 {
		return MaxHostStatus
	}
	return s.Code
}

// Supervisor starts processes and reaps every child of this process:
// those it started, whose status it delivers, and orphans that the kernel
// hands to PID 1 (or to a child subreaper), which it just collects.
//
// It must be the only waiter: os/exec's Wait and a wait4(-1) reaper
// would race for the same children. So processes are started with
// os.StartProcess and never waited for except here. Start registers the
// new PID under the same lock the reaper takes to look a PID up, so a
// child that exits at once is still matched.
type Supervisor struct {
	mu       sync.Mutex
	waiting  map[int]chan ExitStatus
	orphans  int
	sigchld  chan os.Signal
	quit     chan struct{}
	done     chan struct{}
	unsetSub bool
}

// NewSupervisor starts reaping. Outside PID 1 it makes this process a
// child subreaper, so that orphaned descendants come to it as they would
// to PID 1; Close undoes that.
func NewSupervisor() *Supervisor {
	s := &Supervisor{
		waiting: map[int]chan ExitStatus{},
		sigchld: make(chan os.Signal, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if os.Getpid() != 1 {
		s.unsetSub = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == nil
	}
	signal.Notify(s.sigchld, unix.SIGCHLD)
	go s.loop()
	return s
}

// Close stops reaping.
func (s *Supervisor) Close() {
	signal.Stop(s.sigchld)
	close(s.quit)
	<-s.done
	if s.unsetSub {
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	}
}

func (s *Supervisor) loop() {
	defer close(s.done)
	// Children that ended before SIGCHLD was caught are collected too.
	s.reap()
	for {
		select {
		case <-s.sigchld:
			s.reap()
		case <-s.quit:
			return
		}
	}
}

// reap collects every child that has ended. SIGCHLD is not queued, so
// one signal may stand for many children.
func (s *Supervisor) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return // ECHILD: no children; 0: none has ended
		}
		if !ws.Exited() && !ws.Signaled() {
			continue
		}
		s.mu.Lock()
		ch, ok := s.waiting[pid]
		delete(s.waiting, pid)
		if !ok {
			s.orphans++
		}
		s.mu.Unlock()
		if ok {
			ch <- statusOf(ws)
		}
	}
}

// Orphans returns how many processes that Start did not start have been
// reaped.
func (s *Supervisor) Orphans() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orphans
}

// Child is a process started by a Supervisor.
type Child struct {
	// Process is the running process. It is signalled through a pidfd
	// where the kernel has them, so a signal never reaches a recycled
	// PID. Do not Wait for it.
	Process *os.Process
	// Done delivers the exit status once.
	Done <-chan ExitStatus
}

// Start starts a process as os.StartProcess does.
func (s *Supervisor) Start(name string, argv []string, attr *os.ProcAttr) (*Child, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := os.StartProcess(name, argv, attr)
	if err != nil {
		return nil, err
	}
	ch := make(chan ExitStatus, 1)
	s.waiting[p.Pid] = ch
	return &Child{Process: p, Done: ch}, nil
}
