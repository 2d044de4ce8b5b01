package kernel

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress draws a single, repeatedly overwritten status line on a
// terminal: the build phase, the number of files compiled and the elapsed
// time. When disabled all its methods do nothing.
type progress struct {
	w       io.Writer
	enabled bool

	mu       sync.Mutex
	began    time.Time
	name     string
	files    int
	drawn    bool
	done     chan struct{}
	finished chan struct{}
}

func newProgress(w io.Writer, enabled bool) *progress {
	return &progress{w: w, enabled: enabled}
}

// start begins redrawing the line periodically.
func (p *progress) start() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		return
	}
	p.began = time.Now()
	p.done = make(chan struct{})
	p.finished = make(chan struct{})
	go p.loop(p.done, p.finished)
}

func (p *progress) loop(done, finished chan struct{}) {
	defer close(finished)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			p.draw()
		}
	}
}

// draw writes the status line.
func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	elapsed := time.Since(p.began).Truncate(time.Second)
	line := fmt.Sprintf("juice: kernel: %s", p.name)
	if p.name == "compile" {
		line += fmt.Sprintf(", %d files", p.files)
	}
	line += fmt.Sprintf(" [%s]", elapsed)
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
	p.drawn = true
}

// stop ends the redrawing and erases the line.
func (p *progress) stop() {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	done, finished := p.done, p.finished
	p.done = nil
	p.mu.Unlock()
	if done == nil {
		return
	}
	close(done)
	<-finished
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

// phase sets the phase shown.
func (p *progress) phase(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.name = name
}

// compiled counts one compiled file.
func (p *progress) compiled() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.files++
}
