package net

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/internal/usernet"
)

// usernetBackend adapts a *usernet.Network to Backend.
type usernetBackend struct{ n *usernet.Network }

// Usernet returns a Backend over a user-mode network. Closing the backend
// closes the network.
func Usernet(n *usernet.Network) Backend { return usernetBackend{n} }

func (b usernetBackend) Send(frame []byte) { b.n.SendFromGuest(frame) }

func (b usernetBackend) Pending(limit int) [][]byte {
	return b.n.PendingToGuest(max(limit, 1))
}

func (b usernetBackend) Notify() <-chan struct{} { return b.n.Notify() }

func (b usernetBackend) Close() error { return b.n.Close() }

// TapQueueLimit is the number of received frames a Tap holds for the guest
// before it drops new ones.
const TapQueueLimit = 512

// Tap is a Backend on a Linux tap device (/dev/net/tun with IFF_TAP and
// IFF_NO_PI). A reader goroutine queues the frames the host sends, up to
// TapQueueLimit; frames beyond that are dropped and counted, as a NIC
// with a full receive ring does.
type Tap struct {
	f    *os.File
	name string
	log  *slog.Logger

	mu     sync.Mutex
	q      [][]byte
	notify chan struct{}

	dropped    atomic.Uint64
	sendErrors atomic.Uint64
	sendWarned atomic.Bool
	wg         sync.WaitGroup
	closeOnce  sync.Once
}

// OpenTap attaches to the tap device name (created if it does not exist;
// an empty name lets the kernel choose, see Name) and starts its reader.
// It needs CAP_NET_ADMIN (or a persistent tap owned by the caller). log
// receives errors; nil discards them.
func OpenTap(name string, log *slog.Logger) (*Tap, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("tap: interface name %q is longer than %d bytes", name, unix.IFNAMSIZ-1)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("tap: opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap: interface name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap: TUNSETIFF %q: %w", name, err)
	}
	// A non-blocking descriptor goes through Go's poller, so Close
	// interrupts the reader.
	t := &Tap{
		f:      os.NewFile(uintptr(fd), "/dev/net/tun"),
		name:   ifr.Name(),
		log:    log,
		notify: make(chan struct{}, 1),
	}
	t.wg.Add(1)
	go t.read()
	return t, nil
}

// Name returns the tap interface's name.
func (t *Tap) Name() string { return t.name }

// Dropped returns how many received frames were dropped because the queue
// was full.
func (t *Tap) Dropped() uint64 { return t.dropped.Load() }

func (t *Tap) read() {
	defer t.wg.Done()
	buf := make([]byte, MaxFrame+1)
	for {
		n, err := t.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				t.log.Error("tap: reading failed; no more frames for the guest", "tap", t.name, "err", err)
			}
			return
		}
		if n < MinFrame || n > MaxFrame {
			t.dropped.Add(1)
			continue
		}
		t.mu.Lock()
		if len(t.q) >= TapQueueLimit {
			t.mu.Unlock()
			t.dropped.Add(1)
			continue
		}
		t.q = append(t.q, append([]byte(nil), buf[:n]...))
		t.mu.Unlock()
		select {
		case t.notify <- struct{}{}:
		default:
		}
	}
}

// Send implements Backend: it writes the frame to the tap device. A frame
// the host cannot take right now is dropped (and the first error logged).
func (t *Tap) Send(frame []byte) {
	if _, err := t.f.Write(frame); err != nil {
		t.sendErrors.Add(1)
		if !t.sendWarned.Swap(true) {
			t.log.Warn("tap: writing a frame failed; dropping it (logged once)", "tap", t.name, "err", err)
		}
	}
}

// Pending implements Backend.
func (t *Tap) Pending(limit int) [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := min(max(limit, 1), len(t.q))
	if n == 0 {
		return nil
	}
	out := make([][]byte, n)
	copy(out, t.q)
	clear(t.q[:n])
	t.q = t.q[n:]
	if len(t.q) == 0 {
		t.q = nil
	}
	return out
}

// Notify implements Backend.
func (t *Tap) Notify() <-chan struct{} { return t.notify }

// Close implements Backend: it detaches from the tap device (which goes
// away unless it is persistent) and waits for the reader to end.
func (t *Tap) Close() error {
	var err error
	t.closeOnce.Do(func() {
		if e := t.f.Close(); e != nil {
			err = fmt.Errorf("tap: closing %s: %w", t.name, e)
		}
		t.wg.Wait()
	})
	return err
}
