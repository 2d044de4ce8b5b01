package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// console connects the guest console to the host's stdin and stdout.
type console struct {
	in       *os.File
	out      io.Writer
	raw      bool
	oldState *term.State
}

func openConsole(in, out *os.File) (*console, error) {
	c := &console{in: in, out: out}
	if term.IsTerminal(int(in.Fd())) {
		st, err := term.MakeRaw(int(in.Fd()))
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		c.raw, c.oldState = true, st
		c.out = crlfWriter{out}
	}
	return c, nil
}

func (c *console) restore() {
	if c.oldState != nil {
		term.Restore(int(c.in.Fd()), c.oldState)
		c.oldState = nil
	}
}

// input returns the console input stream. On a terminal, Ctrl-A x quits
// (calls quit) and Ctrl-A Ctrl-A sends a Ctrl-A.
func (c *console) input(quit func()) io.Reader {
	if !c.raw {
		return c.in
	}
	return &escapeReader{r: c.in, quit: quit}
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
