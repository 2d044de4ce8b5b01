package distkernel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// StatusError reports an HTTP response other than 200 OK.
type StatusError struct {
	// URL is the file requested.
	URL string
	// Status is the response's status line, such as "404 Not Found".
	Status string
	// Code is the response's status code.
	Code int
}

// Error implements error.
func (e *StatusError) Error() string { return fmt.Sprintf("GET %s: %s", e.URL, e.Status) }

// Unwrap makes errors.Is(err, ErrUnavailable) true.
func (e *StatusError) Unwrap() error { return ErrUnavailable }

// get fetches url and returns the open response body.
func (f *fetcher) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	req.Header.Set("User-Agent", "juice-distkernel/1")
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("GET %s: %w", url, ctx.Err())
		}
		return nil, fmt.Errorf("GET %s: %w: %w", url, ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &StatusError{URL: url, Status: resp.Status, Code: resp.StatusCode}
	}
	return resp, nil
}

// getBytes fetches a small file (at most limit bytes) into memory.
func (f *fetcher) getBytes(ctx context.Context, url string, limit int64) ([]byte, error) {
	resp, err := f.get(ctx, url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w: %w", url, ErrUnavailable, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: larger than %d bytes", url, limit)
	}
	return data, nil
}

// download streams url into the file path, reading at most limit bytes,
// and returns the size and SHA-256 of what it wrote. A body larger than
// limit is not an error here: download returns its size (at least
// limit+1) and no hash, so the caller's check against the signed size
// reports the mismatch by name. label names the download on the progress
// line.
func (f *fetcher) download(ctx context.Context, url, path, label string, limit int64) (fileSum, error) {
	resp, err := f.get(ctx, url)
	if err != nil {
		return fileSum{}, err
	}
	defer resp.Body.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fileSum{}, fmt.Errorf("downloading %s: %w", url, err)
	}
	total := resp.ContentLength
	if total > limit {
		// Larger than signed: report the size, so the caller's check
		// names the mismatch, without downloading it.
		out.Close()
		return fileSum{Size: total}, nil
	}
	bar := f.progress.begin(label, total)
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h, bar), io.LimitReader(resp.Body, limit+1))
	bar.end()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return fileSum{}, fmt.Errorf("downloading %s: %w", url, ctx.Err())
		}
		return fileSum{}, fmt.Errorf("downloading %s: %w: %w", url, ErrUnavailable, err)
	}
	if n > limit { // at least this large: more than signed
		return fileSum{Size: n}, nil
	}
	if total >= 0 && n != total {
		return fileSum{}, fmt.Errorf("downloading %s: got %d of %d bytes: %w", url, n, total, ErrUnavailable)
	}
	return fileSum{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// progress draws one overwritten status line per download on a terminal:
// what is downloading, the percentage and the amount. When disabled, it
// does nothing.
type progress struct {
	w       io.Writer
	enabled bool
}

// bar is the state of one download's progress line.
type bar struct {
	p     *progress
	label string
	total int64

	mu    sync.Mutex
	done  int64
	last  time.Time
	drawn bool
}

// begin starts a progress line for a download of total bytes (-1 when
// unknown).
func (p *progress) begin(label string, total int64) *bar {
	return &bar{p: p, label: label, total: total}
}

// Write counts downloaded bytes and redraws the line at most ten times a
// second.
func (b *bar) Write(data []byte) (int, error) {
	if !b.p.enabled {
		return len(data), nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += int64(len(data))
	if now := time.Now(); now.Sub(b.last) >= 100*time.Millisecond || b.done == b.total {
		b.last = now
		b.draw()
	}
	return len(data), nil
}

func (b *bar) draw() {
	line := fmt.Sprintf("juice: distkernel: %s %s", b.label, mib(b.done))
	if b.total > 0 {
		line = fmt.Sprintf("juice: distkernel: %s %3d%% (%s of %s)", b.label, b.done*100/b.total, mib(b.done), mib(b.total))
	}
	fmt.Fprintf(b.p.w, "\r\x1b[K%s", line)
	b.drawn = true
}

// end erases the line.
func (b *bar) end() {
	if !b.p.enabled {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprint(b.p.w, "\r\x1b[K")
		b.drawn = false
	}
}

// note prints a finished line on the terminal.
func (p *progress) note(format string, args ...any) {
	if p.enabled {
		fmt.Fprintf(p.w, "juice: distkernel: "+format+"\n", args...)
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
