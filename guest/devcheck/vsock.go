package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/guest/devcheck/protocol"
)

// hostCID is the host's vsock context ID.
const hostCID = unix.VMADDR_CID_HOST

// fdStream is a blocking socket as an io.ReadWriter.
type fdStream int

// Read implements io.Reader; 0 bytes read is io.EOF.
func (s fdStream) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(s), p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write implements io.Writer.
func (s fdStream) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := unix.Write(int(s), p[written:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

// vsockPort reads a port option.
func (r *runner) vsockPort(key string) (uint32, error) {
	p, err := r.opts.int(key, 0)
	if err != nil {
		return 0, err
	}
	if p == 0 || p >= 1<<32-1 {
		return 0, fmt.Errorf("option devcheck.%s=%d: not a vsock port", key, p)
	}
	return uint32(p), nil
}

// vsock listens on devcheck.vsock's port, accepts one connection and
// echoes everything it receives until the peer closes its side.
func (r *runner) vsock() error {
	port, err := r.vsockPort("vsock")
	if err != nil {
		return err
	}
	ln, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("vsock socket (CONFIG_VSOCKETS, CONFIG_VIRTIO_VSOCKETS): %w", err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrVM{CID: unix.VMADDR_CID_ANY, Port: port}); err != nil {
		return fmt.Errorf("binding vsock port %d: %w", port, err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		return fmt.Errorf("listening on vsock port %d: %w", port, err)
	}
	fmt.Fprintln(r.out, protocol.VsockReady(int(port)))
	var fd int
	var peer unix.Sockaddr
	for {
		fd, peer, err = unix.Accept(ln)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("accepting on vsock port %d: %w", port, err)
	}
	defer unix.Close(fd)
	n, err := io.Copy(fdStream(fd), fdStream(fd))
	if err != nil {
		return fmt.Errorf("echoing after %d bytes: %w", n, err)
	}
	if vm, ok := peer.(*unix.SockaddrVM); ok {
		r.infof("vsock", "echoed %d bytes to cid %d port %d", n, vm.CID, vm.Port)
	} else {
		r.infof("vsock", "echoed %d bytes", n)
	}
	return nil
}

// vsockDial connects to devcheck.vsockdial's port on the host (or
// devcheck.vsockcid), sends protocol.VsockHello and expects it back.
func (r *runner) vsockDial() error {
	port, err := r.vsockPort("vsockdial")
	if err != nil {
		return err
	}
	cid, err := r.opts.int("vsockcid", hostCID)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("vsock socket (CONFIG_VSOCKETS, CONFIG_VIRTIO_VSOCKETS): %w", err)
	}
	defer unix.Close(fd)
	for {
		err = unix.Connect(fd, &unix.SockaddrVM{CID: uint32(cid), Port: port})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("connecting to vsock cid %d port %d: %w", cid, port, err)
	}
	return echoRoundTrip(fdStream(fd), []byte(protocol.VsockHello))
}

// echoRoundTrip writes msg (which ends in a newline) and reads one line
// back, which must equal it.
func echoRoundTrip(rw io.ReadWriter, msg []byte) error {
	if _, err := rw.Write(msg); err != nil {
		return fmt.Errorf("sending: %w", err)
	}
	var got []byte
	buf := make([]byte, 512)
	for !bytes.HasSuffix(got, []byte("\n")) && len(got) < len(msg) {
		n, err := rw.Read(buf)
		got = append(got, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the echo after %d bytes: %w", len(got), err)
		}
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}
