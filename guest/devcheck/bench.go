package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// Benchmark steps. They print begin/end markers; the host times the
// stretch between them with its own clock (guest time is the instruction
// count, not wall time).

// benchMiB returns the size of a benchmark transfer in MiB.
func (r *runner) benchMiB() (int, error) {
	n, err := r.opts.int("benchmb", 64)
	if err != nil || n < 1 || n > 4096 {
		return 0, fmt.Errorf("option devcheck.benchmb: want 1 to 4096 MiB")
	}
	return int(n), nil
}

// diskBench writes benchmb MiB sequentially to a raw block device, syncs,
// drops the page cache and reads them back.
func (r *runner) diskBench() error {
	dev := r.opts.str("diskbench", "")
	mib, err := r.benchMiB()
	if err != nil {
		return err
	}
	block := bytes.Repeat([]byte{0x5a}, 1<<20)
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	r.infof("diskbench", "write begin %d MiB", mib)
	for i := 0; i < mib; i++ {
		if _, err := f.Write(block); err != nil {
			return fmt.Errorf("writing %s: %w", dev, err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dev, err)
	}
	r.infof("diskbench", "write end")
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		return fmt.Errorf("dropping caches: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r.infof("diskbench", "read begin %d MiB", mib)
	n, err := io.CopyN(io.Discard, f, int64(mib)<<20)
	if err != nil {
		return fmt.Errorf("reading %s after %d bytes: %w", dev, n, err)
	}
	r.infof("diskbench", "read end")
	return nil
}

// netBench downloads benchmb MiB from URL/down and uploads as much to
// URL/up over HTTP; the host's server times both.
func (r *runner) netBench() error {
	if err := r.needNet(); err != nil {
		return err
	}
	base := strings.TrimSuffix(r.opts.str("netbench", ""), "/")
	mib, err := r.benchMiB()
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(fmt.Sprintf("%s/down?mib=%d", base, mib))
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != int64(mib)<<20 {
		return fmt.Errorf("download: %d bytes, %v", n, err)
	}
	body := io.LimitReader(zeroReader{}, int64(mib)<<20)
	resp, err = client.Post(base+"/up", "application/octet-stream", body)
	if err != nil {
		return err
	}
	resp.Body.Close()
	r.infof("netbench", "moved %d MiB each way", mib)
	return nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
