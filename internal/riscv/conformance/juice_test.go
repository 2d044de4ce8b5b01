package conformance

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/machine"
)

// TestJuice runs every conformance program on Juice's bare-metal mode.
// Run one with: go test -run 'TestJuice/rv64i$'.
func TestJuice(t *testing.T) {
	cc := requireToolchain(t)
	for _, name := range programNames(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := buildProgram(t, cc, name)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var console bytes.Buffer
			img, err := p.juiceImage()
			if err != nil {
				t.Fatal(err)
			}
			res, err := machine.RunBare(ctx, img, machine.BareOptions{Console: &console})
			if err != nil {
				t.Fatalf("RunBare: %v (after %d instructions)\nconsole:\n%s", err, res.Instructions, console.String())
			}
			if !res.Passed {
				t.Fatalf("FAIL on Juice: %s after %d instructions\nconsole:\n%s",
					p.describe(res.TestNum), res.Instructions, console.String())
			}
			t.Logf("%s: PASS on Juice (%d checks, %d instructions)", name, p.checksCount(), res.Instructions)
		})
	}
}
