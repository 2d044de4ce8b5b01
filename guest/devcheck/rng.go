package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Where the kernel's hardware RNG framework shows itself.
const (
	hwrngDevice  = "/dev/hwrng"
	hwrngCurrent = "/sys/class/misc/hw_random/rng_current"
	rngBytes     = 64
)

// rng reads 64 bytes from the virtio entropy device and prints them.
func (r *runner) rng() error {
	cur, err := os.ReadFile(hwrngCurrent)
	if err != nil {
		return fmt.Errorf("no hardware RNG (CONFIG_HW_RANDOM, virtio-rng): %w", err)
	}
	if name := strings.TrimSpace(string(cur)); !strings.Contains(name, "virtio") {
		return fmt.Errorf("the current hardware RNG is %q, not virtio", name)
	}
	timeout, err := r.timeout()
	if err != nil {
		return err
	}
	buf, err := readWithTimeout(hwrngDevice, rngBytes, timeout)
	if err != nil {
		return err
	}
	r.infof("rng", "%s", hex.EncodeToString(buf))
	if bytes.Equal(buf, make([]byte, len(buf))) {
		return errors.New("the device gave only zero bytes")
	}
	return nil
}

// readWithTimeout reads exactly n bytes from a device file. A read that
// does not finish in time is abandoned (the goroutine stays blocked; the
// program exits soon anyway).
func readWithTimeout(name string, n int, timeout time.Duration) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	type result struct {
		buf []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, n)
		_, err := io.ReadFull(f, buf)
		f.Close()
		done <- result{buf, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, res.err)
		}
		return res.buf, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("reading %d bytes from %s: nothing after %v", n, name, timeout)
	}
}
