package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// console connects the guest console to the host's stdin and stdout.
//
// On a terminal, juice takes the terminal (raw mode, Ctrl-A escapes,
// reading stdin) only while its process group is the terminal's
// foreground group, as a shell's job control expects of a program run
// with & — the way ssh and QEMU behave: started in the background, juice
// leaves the terminal's mode alone and reads nothing (a read would stop
// it with SIGTTIN, and changing the mode with SIGTTOU), while the guest's
// console output still goes to stdout. Brought to the foreground (fg,
// which sends SIGCONT; the foreground group is also checked every
// fgPoll), it takes the terminal then. Sent back to the background, it
// stops reading and leaves the mode to the shell, which saved and resets
// its own. At the end it restores the mode it found only if it holds the
// terminal then.
type console struct {
	in  *os.File
	out io.Writer
	tty *ttyConsole // nil when stdin is not a terminal
	// keys are the Ctrl-A keys bound by bind.
	keys consoleKeys
}

// fgPoll is how often a console in the background checks whether it has
// been brought to the foreground (SIGCONT wakes it at once too).
const fgPoll = 200 * time.Millisecond

func openConsole(in, out *os.File) (*console, error) {
	c := &console{in: in, out: out}
	fd := int(in.Fd())
	if !term.IsTerminal(fd) {
		return c, nil
	}
	t := &ttyConsole{fd: fd, cont: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(t.cont, syscall.SIGCONT)
	if t.foreground() {
		if err := t.take(); err != nil {
			signal.Stop(t.cont)
			return nil, fmt.Errorf("console: %w", err)
		}
	}
	c.tty = t
	c.out = &ttyWriter{w: out, t: t}
	return c, nil
}

// restore gives the terminal back as it was found (if juice holds it) and
// stops reading it.
func (c *console) restore() {
	if c.tty != nil {
		c.tty.close()
	}
}

// input returns the console input stream. On a terminal, Ctrl-A x quits
// (calls quit) and Ctrl-A Ctrl-A sends a Ctrl-A; it is read only while
// juice is in the foreground.
func (c *console) input(quit func()) io.Reader {
	if c.tty == nil {
		return c.in
	}
	return &escapeReader{r: c.tty, quit: quit, keys: &c.keys}
}

// bind makes Ctrl-A followed by key call fn (in the goroutine that reads
// the terminal), on a terminal.
func (c *console) bind(key byte, fn func()) {
	c.keys.mu.Lock()
	defer c.keys.mu.Unlock()
	if c.keys.fn == nil {
		c.keys.fn = map[byte]func(){}
	}
	c.keys.fn[key] = fn
}

// consoleKeys are the Ctrl-A keys bound to commands beyond x.
type consoleKeys struct {
	mu sync.Mutex
	fn map[byte]func()
}

func (k *consoleKeys) lookup(b byte) func() {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fn[b]
}

// ttyConsole is a terminal on stdin that juice holds while in the
// foreground.
type ttyConsole struct {
	fd   int
	cont chan os.Signal // SIGCONT: perhaps brought to the foreground
	done chan struct{}

	mu       sync.Mutex
	raw      atomic.Bool // juice holds the terminal (in raw mode)
	oldState *term.State // the mode it found when it first took it
	closed   bool
	once     sync.Once
}

// foreground reports whether juice's process group is the terminal's
// foreground group. A terminal that is not juice's controlling terminal
// has no job control over it: it counts as foreground.
func (t *ttyConsole) foreground() bool {
	pgrp, err := unix.IoctlGetInt(t.fd, unix.TIOCGPGRP)
	if err != nil {
		return errors.Is(err, unix.ENOTTY)
	}
	return pgrp == unix.Getpgrp()
}

// take puts the terminal in raw mode. The mode it was in the first time
// is the one to restore: when juice is stopped and continued, a shell such
// as bash saves the mode a job leaves and sets it again at fg, and what
// juice finds then is its own raw mode.
func (t *ttyConsole) take() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.raw.Load() {
		return nil
	}
	st, err := term.MakeRaw(t.fd)
	if err != nil {
		return err
	}
	if t.oldState == nil {
		t.oldState = st
	}
	t.raw.Store(true)
	return nil
}

// lost records that juice was sent to the background: the terminal's mode
// is the shell's to set until juice is in the foreground again.
func (t *ttyConsole) lost() {
	t.raw.Store(false)
}

func (t *ttyConsole) close() {
	t.once.Do(func() {
		t.mu.Lock()
		t.closed = true
		if t.raw.Load() && t.foreground() {
			term.Restore(t.fd, t.oldState)
		}
		t.raw.Store(false)
		t.mu.Unlock()
		signal.Stop(t.cont)
		close(t.done)
	})
}

// Read reads the terminal while juice is in the foreground, taking it
// first if it does not hold it. In the background it waits, reading
// nothing. It returns io.EOF once the console is closed.
func (t *ttyConsole) Read(p []byte) (int, error) {
	for {
		select {
		case <-t.done:
			return 0, io.EOF
		default:
		}
		if !t.foreground() {
			if t.raw.Load() {
				t.lost()
			}
			select {
			case <-t.cont:
			case <-time.After(fgPoll):
			case <-t.done:
				return 0, io.EOF
			}
			continue
		}
		if !t.raw.Load() {
			if err := t.take(); err != nil {
				return 0, fmt.Errorf("console: %w", err)
			}
		}
		// Wait for input for a while only, to notice being sent to the
		// background (or closed) before reading.
		fds := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(fgPoll/time.Millisecond))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return 0, fmt.Errorf("console: %w", err)
		}
		if n == 0 || fds[0].Revents == 0 || !t.foreground() {
			continue
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 && fds[0].Revents&unix.POLLIN == 0 {
			return 0, io.EOF // the terminal hung up
		}
		n, err = unix.Read(t.fd, p)
		switch {
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		case err != nil:
			return 0, fmt.Errorf("console: %w", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// ttyWriter writes console output to the terminal, turning LF into CRLF
// while the terminal is in raw mode.
type ttyWriter struct {
	w io.Writer
	t *ttyConsole
}

func (w *ttyWriter) Write(p []byte) (int, error) {
	if w.t.raw.Load() {
		return crlfWriter{w.w}.Write(p)
	}
	return w.w.Write(p)
}

// crlfWriter turns LF into CRLF for a terminal in raw mode, where the guest
// may print bare newlines.
type crlfWriter struct{ w io.Writer }

func (c crlfWriter) Write(p []byte) (int, error) {
	buf := make([]byte, 0, len(p)+16)
	for i, b := range p {
		if b == '\n' && (i == 0 || p[i-1] != '\r') {
			buf = append(buf, '\r')
		}
		buf = append(buf, b)
	}
	if _, err := c.w.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

const ctrlA = 1

// escapeReader filters the QEMU-style escape sequences out of terminal input.
type escapeReader struct {
	r       io.Reader
	quit    func()
	keys    *consoleKeys
	pending bool
	done    bool
}

func (e *escapeReader) Read(p []byte) (int, error) {
	if e.done {
		return 0, io.EOF
	}
	buf := make([]byte, len(p))
	for {
		n, err := e.r.Read(buf)
		out := p[:0]
		for _, b := range buf[:n] {
			if e.pending {
				e.pending = false
				switch b {
				case 'x', 'X':
					e.quit()
					e.done = true
					return len(out), nil
				case ctrlA:
					out = append(out, ctrlA)
				default:
					if fn := e.keys.lookup(b); fn != nil {
						fn()
					}
				}
				continue
			}
			if b == ctrlA {
				e.pending = true
				continue
			}
			out = append(out, b)
		}
		if len(out) > 0 || err != nil {
			return len(out), err
		}
	}
}
