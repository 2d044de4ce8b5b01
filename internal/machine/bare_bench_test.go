package machine

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestBareLoopSpeed(t *testing.T) {
	b, err := os.ReadFile("/tmp/bm/loop.elf")
	if err != nil {
		t.Skip(err)
	}
	start := time.Now()
	r, err := RunBare(context.Background(), b, BareOptions{MaxInstructions: 1e9})
	d := time.Since(start)
	t.Logf("%+v %v %v: %.1f MIPS", r, err, d, float64(r.Instructions)/d.Seconds()/1e6)
}
