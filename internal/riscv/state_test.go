package riscv

import (
	"reflect"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/guestram"
	"github.com/juicevm/juice/internal/snapshot"
)

func TestStateRoundTrip(t *testing.T) {
	h := newTestHart(t)
	h.loadProgram(
		encI(0x13, 0, 5, 0, 7),       // addi t0, zero, 7
		encCSR(1, 0, 5, csrMscratch), // csrrw zero, mscratch, t0
		encR(0x33, 0, 0, 6, 5, 5),    // add t1, t0, t0
		encCSR(2, 7, 0, csrMscratch), // csrrs t2, mscratch, zero
		encI(0x13, 0, 5, 5, 1),       // addi t0, t0, 1
		encI(0x13, 0, 6, 6, 1),       // addi t1, t1, 1
	)
	step(t, h, 3)
	var e snapshot.Encoder
	h.SaveState(&e)

	g := newTestHart(t)
	copy(g.ram.Bytes(), h.ram.Bytes())
	if err := g.RestoreState(snapshot.NewDecoder(e.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.State(), h.State()) {
		t.Fatalf("restored state differs:\n%+v\n%+v", g.State(), h.State())
	}
	step(t, h, 3)
	step(t, g, 3)
	if !reflect.DeepEqual(g.State(), h.State()) || g.X[7] != 7 {
		t.Fatalf("the restored hart ran differently:\n%+v\n%+v", g.State(), h.State())
	}
}

func TestRestoreRejectsImpossibleState(t *testing.T) {
	h := newTestHart(t)
	var e snapshot.Encoder
	h.SaveState(&e)
	good := e.Bytes()
	cases := map[string]func(b []byte){
		"x0":   func(b []byte) { b[0] = 1 },
		"priv": func(b []byte) { b[64*8+8] = 2 },
		"count": func(b []byte) {
			b[64*8+8+3+8] = 1 // traps > count
		},
	}
	for name, corrupt := range cases {
		b := append([]byte(nil), good...)
		corrupt(b)
		g := newTestHart(t)
		g.X[5], g.csr.mscratch = 5, 6
		want := g.State()
		err := g.RestoreState(snapshot.NewDecoder(b))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v", name, err)
		}
		if !reflect.DeepEqual(g.State(), want) {
			t.Errorf("%s: a failed restore changed the hart:\n%+v\n%+v", name, g.State(), want)
		}
	}
	h.X[5] = 5
	want := h.State()
	if err := h.RestoreState(snapshot.NewDecoder(good[:100])); err == nil {
		t.Error("a truncated state was accepted")
	}
	if !reflect.DeepEqual(h.State(), want) {
		t.Error("a truncated state changed the hart")
	}
}

func FuzzRestoreState(f *testing.F) {
	h := New(Config{RAM: guestram.New(make([]byte, 1<<20), testBase), Bus: &testBus{}, Clock: fixedClock(1)})
	var e snapshot.Encoder
	h.SaveState(&e)
	f.Add(e.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		g := New(Config{RAM: guestram.New(make([]byte, 1<<20), testBase), Bus: &testBus{}, Clock: fixedClock(1)})
		if g.RestoreState(snapshot.NewDecoder(b)) == nil {
			g.Run(100) // whatever was accepted must run without panicking
		}
	})
}

// TestStateParts checks that the saved state is its parts in order and
// that each register file changes its own part only.
func TestStateParts(t *testing.T) {
	h := newTestHart(t)
	parts := func() (all [][]byte, whole []byte) {
		var w snapshot.Encoder
		h.SaveState(&w)
		var cat []byte
		for p := range numStateParts {
			var e snapshot.Encoder
			h.SaveStatePart(&e, p)
			all = append(all, e.Bytes())
			cat = append(cat, e.Bytes()...)
		}
		if string(cat) != string(w.Bytes()) {
			t.Fatal("SaveState is not its parts in order")
		}
		return all, w.Bytes()
	}
	before, _ := parts()
	for _, c := range []struct {
		part   StatePart
		change func()
	}{
		{StateX, func() { h.X[5]++ }},
		{StateF, func() { h.F[3]++ }},
		{StatePC, func() { h.PC += 4 }},
		{StateControl, func() { h.csr.mscratch++ }},
		{StateControl, func() { h.priv = PrivS }},
	} {
		c.change()
		after, _ := parts()
		for p := range numStateParts {
			if changed := string(after[p]) != string(before[p]); changed != (p == c.part) {
				t.Errorf("a change to part %d changed part %d: %v", c.part, p, changed)
			}
		}
		before = after
	}
}
