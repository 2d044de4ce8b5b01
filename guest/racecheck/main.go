// Command racecheck is a deliberately racy multithreaded program, for the
// record and replay tests: with GOMAXPROCS=4, four goroutines increment a
// shared counter and append to a shared log without any synchronisation,
// so increments are lost and log entries overwritten depending on how the
// harts interleave. It prints the final counts and a hash of the log; a
// replay of a recorded run must print the very same.
//
// Output:
//
//	racecheck: workers 4 iterations N
//	racecheck: counter C of W (lost L)
//	racecheck: log E entries of A appended (lost M), sha256 H
//
// L and M are 0 only if no update was lost, which on a machine that runs
// the workers in parallel is (almost) impossible.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

const (
	workers  = 4
	logEvery = 16 // a worker appends to the log every logEvery increments
)

var (
	// counter is incremented by every worker without synchronisation.
	counter int64
	// logBuf and logLen are a shared append-only log, also unsynchronised.
	// The index is reduced modulo the size, so a lost update overwrites
	// an entry instead of writing out of bounds.
	logBuf [1 << 16]uint32
	logLen int
)

// bump increments *p with a plain load and store.
//
//go:noinline
func bump(p *int64) { *p++ }

// appendLog appends v to the shared log.
//
//go:noinline
func appendLog(v uint32) {
	logBuf[logLen%len(logBuf)] = v
	logLen++
}

func main() {
	iterations := 200_000
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil || n <= 0 {
			fmt.Println("racecheck: usage: racecheck [iterations]")
			os.Exit(2)
		}
		iterations = n
	}
	runtime.GOMAXPROCS(workers)
	var started atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Start together, so that the workers overlap.
			started.Add(1)
			for started.Load() < workers {
			}
			for i := 0; i < iterations; i++ {
				bump(&counter)
				if i%logEvery == 0 {
					appendLog(uint32(w)<<28 | uint32(i))
				}
			}
		}()
	}
	wg.Wait()

	want := int64(workers * iterations)
	appended := workers * ((iterations + logEvery - 1) / logEvery)
	n := min(logLen, len(logBuf))
	h := sha256.New()
	var b [4]byte
	for _, v := range logBuf[:n] {
		binary.LittleEndian.PutUint32(b[:], v)
		h.Write(b[:])
	}
	fmt.Printf("racecheck: workers %d iterations %d\n", workers, iterations)
	fmt.Printf("racecheck: counter %d of %d (lost %d)\n", counter, want, want-counter)
	fmt.Printf("racecheck: log %d entries of %d appended (lost %d), sha256 %x\n", logLen, appended, appended-logLen, h.Sum(nil))
}
