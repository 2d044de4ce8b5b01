// Command hello is the smallest example appliance: it prints its arguments
// and the GREETING environment variable, then exits with status 3, which
// `juice run` passes on as its own exit status.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("hello: args %q\n", os.Args[1:])
	fmt.Printf("hello: GREETING=%s\n", os.Getenv("GREETING"))
	os.Exit(3)
}
