// Package unixsock listens on Unix sockets the way a service that may be
// restarted should: a socket file left by a process that is gone is
// replaced, one that a live process listens on (or a file that is not a
// socket) is refused and left alone, and closing removes the socket file
// only if it is still the one this listener made.
package unixsock

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// dialTimeout bounds the check for a live listener on an existing socket.
const dialTimeout = time.Second

// Listener is a Unix socket listener that removes its own socket file
// when closed.
type Listener struct {
	*net.UnixListener
	path string
	once sync.Once
	made os.FileInfo
}

// Listen listens on the Unix socket path, with the file's mode set to
// perm (0 leaves the umask's).
func Listen(path string, perm os.FileMode) (*Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s: the file exists and is not a socket (it is left alone)", path)
		}
		c, err := net.DialTimeout("unix", path, dialTimeout)
		switch {
		case err == nil:
			c.Close()
			return nil, fmt.Errorf("%s is in use by another process", path)
		case errors.Is(err, syscall.ECONNREFUSED):
			// Stale: its listener is gone.
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%s: removing a stale socket: %w", path, err)
			}
		default:
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	// The listener would unlink path when closed, whatever file is there
	// by then; Close checks that it is still ours.
	ln.SetUnlinkOnClose(false)
	l := &Listener{UnixListener: ln, path: path}
	if perm != 0 {
		if err := os.Chmod(path, perm); err != nil {
			ln.Close()
			os.Remove(path)
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if l.made, err = os.Lstat(path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// Close stops listening and removes the socket file if it is still the
// one Listen made (another process may have replaced it).
func (l *Listener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.made) {
			if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
				err = rerr
			}
		}
	})
	return err
}
