package vmm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/replay"
)

// replayCheckpoints runs a replaying machine with a checkpoint file beside
// the recording: a full replay writes one (a state every `every`
// instructions), and a replay that stops early (--until) starts from the
// latest state in it at or before where it must stop.
type replayCheckpoints struct {
	recording string
	every     uint64 // 0: write none
	use       bool   // start --until from the file if it has a state
	until     uint64
	stop      replayStop // where the recording ends
	// note receives what the user should know (a stale file ignored...).
	note func(format string, args ...any)

	sum [32]byte
	w   *replay.CheckpointWriter
	// Records are compressed and written on another goroutine, beside
	// the replay: queue feeds it, werr is its result.
	queue chan replay.CheckpointRecord
	werr  chan error
}

// run runs a replaying machine to its stop, writing or using the
// checkpoint file.
func (rc *replayCheckpoints) run(ctx context.Context, m *machine.Machine) (machine.Exit, error) {
	sum, err := replay.RecordingSum(rc.recording)
	if err != nil {
		return machine.Exit{}, err
	}
	rc.sum = sum
	if rc.until != 0 {
		if rc.use {
			if err := rc.load(m); err != nil {
				return machine.Exit{}, err
			}
		}
		return rc.stop.run(ctx, m, rc.until)
	}
	if rc.every == 0 {
		return rc.stop.run(ctx, m, 0)
	}
	var prev *machine.Checkpoint
	// A machine restored from a snapshot starts past 0.
	first := (m.Instructions()/rc.every + 1) * rc.every
	for next := first; rc.stop.limit == 0 || next < rc.stop.limit; next += rc.every {
		e, err := rc.stop.run(ctx, m, next)
		if err != nil || e.Kind != machine.ExitLimit || e.Instructions != next {
			return e, err // the end, or the stop at a clock before it
		}
		c, err := m.Checkpoint()
		if err == nil {
			err = rc.write(m, c)
		}
		if err != nil {
			rc.note("no checkpoints written: %v", err)
			rc.abort()
			return rc.stop.run(ctx, m, 0)
		}
		// Keep the first (it holds all of RAM) and the latest: the
		// latest's pages are what the next one is saved against.
		if prev != nil && prev != m.Checkpoints()[0] {
			m.DropCheckpoint(prev)
		}
		prev = c
	}
	return rc.stop.run(ctx, m, 0)
}

func (rc *replayCheckpoints) write(m *machine.Machine, c *machine.Checkpoint) error {
	if rc.w == nil {
		w, err := replay.CreateCheckpoints(replay.CheckpointPath(rc.recording), rc.sum)
		if err != nil {
			return err
		}
		rc.w = w
		rc.queue, rc.werr = make(chan replay.CheckpointRecord, 2), make(chan error, 1)
		go func() {
			var err error
			for rec := range rc.queue {
				if err == nil {
					err = w.Write(rec)
				}
			}
			rc.werr <- err
		}()
	}
	s, err := m.Save(c)
	if err != nil {
		return err
	}
	rec := replay.CheckpointRecord{Instructions: s.Instructions, Clock: s.Clock, Script: uint64(s.Script), State: s.State, Disks: s.Disks}
	for _, p := range s.Pages {
		rec.Pages = append(rec.Pages, replay.CheckpointPage{Index: p.Index, Data: p.Data})
	}
	select {
	case err := <-rc.werr: // the writer stopped early
		close(rc.queue)
		rc.queue = nil
		rc.werr <- err
		return err
	case rc.queue <- rec:
		return nil
	}
}

// drain waits for the queued records to be written.
func (rc *replayCheckpoints) drain() error {
	if rc.queue == nil {
		if rc.werr != nil {
			return <-rc.werr
		}
		return nil
	}
	close(rc.queue)
	rc.queue = nil
	return <-rc.werr
}

// finish puts the checkpoint file in place if the replay matched its
// recording, and drops it otherwise.
func (rc *replayCheckpoints) finish(matched bool) {
	if rc.w == nil {
		return
	}
	if err := rc.drain(); err != nil || !matched {
		if err != nil {
			rc.note("no checkpoints written: %v", err)
		}
		rc.abort()
		return
	}
	if err := rc.w.Close(); err != nil {
		rc.note("%v", err)
	}
	rc.w = nil
}

func (rc *replayCheckpoints) abort() {
	if rc.w != nil {
		rc.drain()
		rc.w.Abort()
		rc.w = nil
	}
}

// load brings a machine that has not run to the latest state in the
// checkpoint file at or before rc.until. A missing or stale file is not
// an error: the replay then starts from the beginning.
func (rc *replayCheckpoints) load(m *machine.Machine) error {
	path := replay.CheckpointPath(rc.recording)
	r, err := replay.OpenCheckpoints(path, rc.sum)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		rc.note("ignoring %v; replaying from the start", err)
		return nil
	}
	defer r.Close()
	first := true
	var last *replay.CheckpointRecord
	for {
		rec, err := r.Next()
		if err == io.EOF || err == nil && rec.Instructions > rc.until {
			break
		}
		if err != nil {
			if last == nil {
				rc.note("ignoring %v; replaying from the start", err)
				return nil
			}
			rc.note("%v; starting from the state before it", err)
			break
		}
		pages := make([]machine.SavedPage, len(rec.Pages))
		for i, p := range rec.Pages {
			pages[i] = machine.SavedPage{Index: p.Index, Data: p.Data}
		}
		if err := m.LoadPages(pages, first); err != nil {
			return fmt.Errorf("replay: %s: %w", path, err)
		}
		first = false
		last = &rec
	}
	if last == nil {
		return nil
	}
	s := machine.SavedCheckpoint{Instructions: last.Instructions, Clock: last.Clock, Script: int(last.Script), State: last.State, Disks: last.Disks}
	if err := m.LoadState(s); err != nil {
		return fmt.Errorf("replay: %s: %w", path, err)
	}
	rc.note("starting from the checkpoint at instruction %d", last.Instructions)
	return nil
}
