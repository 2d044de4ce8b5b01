package kernel

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a strings.Builder safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgressLine(t *testing.T) {
	var out syncBuffer
	p := newProgress(&out, true)
	p.start()
	p.phase("compile")
	p.compiled()
	p.compiled()
	time.Sleep(600 * time.Millisecond)
	p.stop()
	s := out.String()
	if !strings.Contains(s, "\r\x1b[Kjuice: kernel: compile, 2 files [0s]") {
		t.Errorf("status line missing: %q", s)
	}
	if !strings.HasSuffix(s, "\r\x1b[K") {
		t.Errorf("line not erased at stop: %q", s)
	}

	var quiet syncBuffer
	q := newProgress(&quiet, false)
	q.start()
	q.phase("compile")
	time.Sleep(300 * time.Millisecond)
	q.stop()
	if quiet.String() != "" {
		t.Errorf("disabled progress wrote %q", quiet.String())
	}
}
