// Command snapcheck prints a stream of lines that depend on everything it
// did before: it rewrites memory, sleeps on guest timers, runs goroutines
// on every hart and, when the guest has a disk (/dev/vda), writes blocks
// and reads earlier ones back. A run restored from a snapshot, or moved by
// a live migration, prints exactly the lines the uninterrupted run prints
// after that point; the snapshot tests compare the two.
//
// Usage: snapcheck [ROUNDS] (or snapcheck.rounds=N on the kernel command
// line; 40 by default)
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	rounds := 40
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if v, ok := strings.CutPrefix(f, "snapcheck.rounds="); ok {
				if n, err := strconv.Atoi(v); err == nil {
					rounds = n
				}
			}
		}
	}
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil {
			rounds = n
		}
	}
	disk, _ := os.OpenFile("/dev/vda", os.O_RDWR|os.O_SYNC, 0)
	mem := make([]byte, 16<<20)
	state := sha256.Sum256([]byte("snapcheck"))
	block := make([]byte, 4096)
	for i := range rounds {
		// Dirty memory in a pattern that follows the state.
		x := binary.LittleEndian.Uint64(state[:])
		for j := range 512 {
			x = x*6364136223846793005 + 1442695040888963407
			off := int(x>>20) % (len(mem) - 8)
			binary.LittleEndian.PutUint64(mem[off:], x^uint64(j))
		}
		// Work on every hart.
		var wg sync.WaitGroup
		parts := make([][32]byte, runtime.NumCPU())
		for k := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A 64 KiB window of each hart's share, moving each round.
				share := len(mem) / len(parts)
				off := k*share + (i*65536)%(share-65536)
				parts[k] = sha256.Sum256(mem[off : off+65536])
			}()
		}
		wg.Wait()
		h := sha256.New()
		h.Write(state[:])
		for _, p := range parts {
			h.Write(p[:])
		}
		if disk != nil {
			for k := range block {
				block[k] = byte(i) ^ state[k%32]
			}
			if _, err := disk.WriteAt(block, int64(i)*4096); err != nil {
				fmt.Println("snapcheck: disk write:", err)
			}
			if _, err := disk.ReadAt(block, int64(i/2)*4096); err != nil {
				fmt.Println("snapcheck: disk read:", err)
			}
			h.Write(block)
		}
		copy(state[:], h.Sum(nil))
		fmt.Printf("snapcheck %d %x\n", i, state[:8])
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("snapcheck done")
}
