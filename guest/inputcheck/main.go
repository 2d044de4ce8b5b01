// Command inputcheck is a guest program for Juice's record and replay
// tests: its output depends on nothing but input from outside the
// machine. It prints 32 bytes of host entropy read from /dev/hwrng
// (virtio-rng), then echoes each line typed on the console until a line
// reads "quit".
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

func main() {
	f, err := os.Open("/dev/hwrng")
	if err != nil {
		fmt.Printf("inputcheck: %v\n", err)
		os.Exit(1)
	}
	b := make([]byte, 32)
	if _, err := io.ReadFull(f, b); err != nil {
		fmt.Printf("inputcheck: reading entropy: %v\n", err)
		os.Exit(1)
	}
	f.Close()
	fmt.Printf("inputcheck: entropy %x\n", b)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Printf("inputcheck: read %q\n", sc.Text())
		if sc.Text() == "quit" {
			return
		}
	}
	fmt.Printf("inputcheck: console closed: %v\n", sc.Err())
	os.Exit(1)
}
