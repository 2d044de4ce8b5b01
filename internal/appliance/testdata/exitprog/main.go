// Command exitprog is a guest test program for juice.exec: it prints a
// greeting on stdout and stderr and exits with status 7.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("exitprog: hello from juice.exec")
	fmt.Fprintln(os.Stderr, "exitprog: on stderr")
	os.Exit(7)
}
