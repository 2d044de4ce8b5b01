package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/juicevm/juice/guest/devcheck/protocol"
)

// maxEcho bounds the body the echo endpoint copies back.
const maxEcho = 16 << 20

// fetch GETs devcheck.fetch and prints the SHA-256 of the body.
func (r *runner) fetch() error {
	if err := r.needNet(); err != nil {
		return err
	}
	timeout, err := r.timeout()
	if err != nil {
		return err
	}
	url := r.opts.str("fetch", "")
	sum, _, err := fetchSum(r.ctx, url, timeout)
	if err != nil {
		return err
	}
	r.infof("fetch", "%x", sum)
	return nil
}

// fetchSum GETs url and returns the SHA-256 and length of the body; any
// status but 200 is an error.
func fetchSum(ctx context.Context, url string, timeout time.Duration) ([sha256.Size]byte, int64, error) {
	var sum [sha256.Size]byte
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return sum, 0, fmt.Errorf("option devcheck.fetch=%s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return sum, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sum, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return sum, n, fmt.Errorf("GET %s: reading the body after %d bytes: %w", url, n, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}

// serve serves HTTP on devcheck.serve's port until a request for
// protocol.QuitPath.
func (r *runner) serve() error {
	if err := r.needNet(); err != nil {
		return err
	}
	port, err := r.opts.int("serve", 80)
	if err != nil {
		return err
	}
	if port == 0 || port > 65535 {
		return fmt.Errorf("option devcheck.serve=%d: not a TCP port", port)
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf(":%d", port))
	if err != nil {
		return err
	}
	fmt.Fprintln(r.out, protocol.ServeReady(int(port)))
	n, err := serveUntilQuit(r.ctx, ln)
	if err != nil {
		return err
	}
	r.infof("serve", "handled %d requests", n)
	return nil
}

// serveUntilQuit serves the devcheck endpoints on ln until a request for
// protocol.QuitPath has been answered, then closes ln and returns the
// number of requests handled:
//
//	GET /         protocol.ServeBody
//	POST /echo    the request body
//	GET /quit     "bye\n", and the server stops
func serveUntilQuit(ctx context.Context, ln net.Listener) (int64, error) {
	var count atomic.Int64
	quit := make(chan struct{})
	var quitOnce atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		count.Add(1)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, protocol.ServeBody)
	})
	mux.HandleFunc(protocol.EchoPath, func(w http.ResponseWriter, req *http.Request) {
		count.Add(1)
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxEcho))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})
	mux.HandleFunc(protocol.QuitPath, func(w http.ResponseWriter, _ *http.Request) {
		count.Add(1)
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye\n")
		if quitOnce.CompareAndSwap(false, true) {
			close(quit)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-quit:
	case err := <-errc:
		return count.Load(), fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
		srv.Close()
		return count.Load(), ctx.Err()
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return count.Load(), fmt.Errorf("stopping the HTTP server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return count.Load(), fmt.Errorf("serving HTTP: %w", err)
	}
	return count.Load(), nil
}
