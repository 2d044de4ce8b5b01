package machine

import "io"

// EventKind names a kind of input from outside the machine.
type EventKind uint8

// Kinds of input.
const (
	// EventConsole is bytes typed on the console (the UART's receiver).
	EventConsole EventKind = iota + 1
	// EventWake says a device has input waiting (e.g. received frames);
	// the device takes it itself in pollDevices.
	EventWake
)

// event is one piece of input from outside the machine: bytes for a device
// port, or the end of that input (eof).
type event struct {
	kind EventKind
	data []byte
	eof  bool
}

// inbox is the single path by which input from outside enters the machine.
//
// Host goroutines (console readers, and in time network and vsock
// backends) send events on ch at any moment; the machine takes them only
// between scheduling rounds, and applyInput hands them to devices there,
// at a known value of the instruction clock. That point — the instruction
// count and the bytes a device took — is all a recording needs to log to
// replay the run exactly. Nothing else from outside reaches guest-visible
// state.
type inbox struct {
	ch      chan event
	sources int     // open sources
	pending []event // accepted, not yet taken by their device
	quit    chan struct{}
}

func (in *inbox) init() {
	in.ch = make(chan event, 64)
	in.quit = make(chan struct{})
}

// close stops the goroutines that forward device wake-ups.
func (in *inbox) close() {
	select {
	case <-in.quit:
	default:
		close(in.quit)
	}
}

// wakeOn turns a device's wake-up channel into EventWake events. Such a
// source stays open for the machine's life: a guest waiting for the
// network is idle, not halted.
//
// The goroutines hold the inbox's channels only, not the machine, so that
// a machine dropped without Close can still be collected (and its RAM
// unmapped).
func (in *inbox) wakeOn(ch <-chan struct{}) {
	in.sources++
	out, quit := in.ch, in.quit
	go func() {
		for {
			select {
			case <-ch:
				select {
				case out <- event{kind: EventWake}:
				case <-quit:
					return
				}
			case <-quit:
				return
			}
		}
	}()
}

// open reports whether more input may come.
func (in *inbox) open() bool { return in.sources > 0 || len(in.pending) > 0 }

// readFrom starts a goroutine that turns r's bytes into events of a kind.
// Like wakeOn's, the goroutine holds only the inbox's channels; it stops
// at the reader's end, or at its next read after the inbox is closed.
func (in *inbox) readFrom(r io.Reader, kind EventKind) {
	in.sources++
	out, quit := in.ch, in.quit
	go func() {
		for {
			buf := make([]byte, 256)
			n, err := r.Read(buf)
			if n > 0 {
				select {
				case out <- event{kind: kind, data: buf[:n]}:
				case <-quit:
					return
				}
			}
			if err != nil {
				select {
				case out <- event{kind: kind, eof: true}:
				case <-quit:
				}
				return
			}
		}
	}()
}

// poll accepts whatever has arrived, without waiting.
func (in *inbox) poll() {
	for {
		select {
		case ev := <-in.ch:
			in.accept(ev)
		default:
			return
		}
	}
}

func (in *inbox) accept(ev event) {
	if ev.eof {
		in.sources--
	}
	in.pending = append(in.pending, ev)
}

// applyInput delivers pending input to the devices, in order, as much as
// each one takes now; the rest waits for a later round. This is the point
// where outside input becomes guest-visible.
func (m *Machine) applyInput() {
	in := &m.in
	for len(in.pending) > 0 {
		ev := &in.pending[0]
		if !ev.eof {
			var n int
			switch ev.kind {
			case EventConsole:
				if m.vcon != nil {
					n = m.vcon.Deliver(ev.data)
				} else {
					n = m.uart.receive(ev.data)
				}
			case EventWake:
				// The device takes its input in pollDevices.
				n = len(ev.data)
			}
			if ev.kind == EventConsole {
				m.logInput(EventConsole, 0, ev.data[:n])
			}
			if n < len(ev.data) {
				ev.data = ev.data[n:]
				return
			}
		}
		in.pending = in.pending[1:]
	}
	in.pending = nil
}
