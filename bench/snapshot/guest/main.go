// Command guest is bench/snapshot's guest program. It prints a line
// "snapbench tick N" every tick (snapbench.tick=MS on the kernel command
// line, default 10 ms of guest time) and otherwise sleeps: an idle guest.
// With snapbench.dirty=R it also dirties memory at a fixed rate: R MiB of
// pages a second (one 8-byte store in each 4 KiB page, cycling through a
// working set of snapbench.wss=W MiB, default 64, allocated and touched
// before the first tick), spread over the ticks so that the rate holds on
// the guest's clock whatever the tick. It runs until the VM is stopped.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

const pageSize = 4096

func main() {
	tick, dirty, wss := 10, 0, 64
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		for _, f := range strings.Fields(string(b)) {
			k, v, _ := strings.Cut(f, "=")
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				continue
			}
			switch k {
			case "snapbench.tick":
				tick = max(n, 1)
			case "snapbench.dirty":
				dirty = n
			case "snapbench.wss":
				wss = n
			}
		}
	}
	var mem []byte
	pages := 0
	if dirty > 0 && wss > 0 {
		mem = make([]byte, wss<<20)
		pages = len(mem) / pageSize
		for p := range pages {
			mem[p*pageSize] = 1
		}
	}
	fmt.Printf("snapbench ready tick=%dms dirty=%dMiB/s wss=%dMiB\n", tick, dirty, wss)
	start := time.Now()
	written := 0 // pages dirtied so far
	next := 0    // the next page to dirty
	for i := 0; ; i++ {
		if pages > 0 {
			due := int(time.Since(start).Seconds() * float64(dirty<<20/pageSize))
			for ; written < due; written++ {
				off := next * pageSize
				mem[off] ^= byte(written)
				mem[off+8] = byte(i)
				if next++; next == pages {
					next = 0
				}
			}
		}
		fmt.Printf("snapbench tick %d\n", i)
		time.Sleep(time.Duration(tick) * time.Millisecond)
	}
}
