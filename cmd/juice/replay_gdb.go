package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/juicevm/juice/internal/gdbstub"
	"github.com/juicevm/juice/internal/timetravel"
	"github.com/juicevm/juice/internal/vmm"
)

// replayGDB replays a recording under gdb's control: it serves the gdb
// remote protocol on addr to one client, which can run the replay
// forwards and backwards (juice replay FILE.jrr --gdb ADDR).
func replayGDB(ctx context.Context, path, addr string, moved vmm.Moved) error {
	network, addr, err := gdbListenAddr(addr)
	if err != nil {
		return err
	}
	s, err := vmm.OpenReplay(path, moved)
	if err != nil {
		return err
	}
	defer s.Close()
	end := s.End()
	if end == nil {
		return fmt.Errorf("replay --gdb: %v: gdb needs to know where the recording ends; replay it without --gdb, which replays it up to its last complete event", s.Truncated())
	}
	con := &rewindConsole{w: os.Stdout}
	vm, err := s.New(vmm.Options{Console: con, Logger: logger(ctx)})
	if err != nil {
		return err
	}
	defer vm.Close()
	tm := &consoleMachine{Machine: timetravel.FromMachine(vm.Machine()), con: con, at: map[timetravel.Checkpoint]int64{}}
	sess, err := timetravel.New(tm, timetravel.Options{End: end.Instructions, Log: os.Stderr})
	if err != nil {
		return fmt.Errorf("replay --gdb: %w", err)
	}

	ln, err := net.Listen(network, addr)
	if err != nil {
		return fmt.Errorf("replay --gdb: %w", err)
	}
	defer ln.Close()
	fmt.Fprintf(os.Stderr, "juice: gdb server listening on %s\n", ln.Addr())
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	conn, err := ln.Accept()
	if err != nil {
		if ctx.Err() != nil {
			return exitStatus{exitCanceled}
		}
		return fmt.Errorf("replay --gdb: %w", err)
	}
	ln.Close()
	defer conn.Close()
	stopConn := context.AfterFunc(ctx, func() { conn.Close() })
	defer stopConn()
	fmt.Fprintf(os.Stderr, "juice: gdb connected from %s; the recording ends at instruction %d\n", conn.RemoteAddr(), end.Instructions)
	err = gdbstub.Serve(ctx, conn, &timetravel.Target{S: sess}, os.Stderr)
	if ctx.Err() != nil {
		return exitStatus{exitCanceled}
	}
	if err != nil {
		return fmt.Errorf("replay --gdb: %w", err)
	}
	fmt.Fprintf(os.Stderr, "juice: gdb session ended at instruction %d\n", sess.Position())
	return nil
}

// gdbListenAddr turns a --gdb value into the address to listen on. The
// gdb remote protocol has no authentication and lets its client read and
// write guest memory, so a bare port (1234 or :1234) means the loopback
// interface only, 127.0.0.1:1234; any other host (0.0.0.0:1234,
// [::]:1234, a name) is taken as written: an IPv4 address listens on IPv4
// only (Go would make 0.0.0.0 a dual-stack [::]), an IPv6 one on IPv6.
func gdbListenAddr(s string) (network, addr string, err error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No colon: a port alone.
		host, port = "", s
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		return "", "", fmt.Errorf("replay --gdb %q: want PORT, :PORT or HOST:PORT (a bare port listens on 127.0.0.1 only)", s)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	network = "tcp"
	if ip := net.ParseIP(host); ip != nil {
		network = "tcp6"
		if ip.To4() != nil {
			network = "tcp4"
		}
	}
	return network, net.JoinHostPort(host, port), nil
}

// rewindConsole passes the guest's console output through once: when the
// replay goes back and executes again, what it prints again is dropped.
type rewindConsole struct {
	w     io.Writer
	pos   int64 // bytes the guest has printed at the current position
	shown int64 // bytes passed through
}

func (c *rewindConsole) Write(p []byte) (int, error) {
	end := c.pos + int64(len(p))
	if end > c.shown {
		if _, err := c.w.Write(p[len(p)-int(end-c.shown):]); err != nil {
			return 0, err
		}
		c.shown = end
	}
	c.pos = end
	return len(p), nil
}

// consoleMachine keeps the console's position with each checkpoint. The
// machine flushes its console when RunTo returns, and checkpoints are
// taken between RunTo calls, so the count is exact.
type consoleMachine struct {
	timetravel.Machine
	con *rewindConsole
	at  map[timetravel.Checkpoint]int64
}

func (c *consoleMachine) Checkpoint() (timetravel.Checkpoint, error) {
	cp, err := c.Machine.Checkpoint()
	if err == nil {
		if _, ok := c.at[cp]; !ok {
			c.at[cp] = c.con.pos
		}
	}
	return cp, err
}

func (c *consoleMachine) Restore(cp timetravel.Checkpoint) error {
	if err := c.Machine.Restore(cp); err != nil {
		return err
	}
	c.con.pos = c.at[cp]
	return nil
}

func (c *consoleMachine) DropCheckpoint(cp timetravel.Checkpoint) error {
	delete(c.at, cp)
	return c.Machine.DropCheckpoint(cp)
}
