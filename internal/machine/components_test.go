package machine

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/juicevm/juice/internal/snapshot"
)

func newComponentsMachine(t *testing.T) *Machine {
	t.Helper()
	m, err := New(Config{CPUs: 2, Memory: 64 << 20, Kernel: fakeImage(4096, 4096), VirtioConsole: true, MaxInstructions: 20000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if _, err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestComponentViews checks that checkpoints, digests and summaries see
// each component as its role says: a change to the guest's state changes
// the digest and the summary's part for it, a change to the machine's
// bookkeeping only the checkpoint's state.
func TestComponentViews(t *testing.T) {
	m := newComponentsMachine(t)
	type views struct {
		state  []byte
		digest [32]byte
		sum    Summary
	}
	look := func() views { return views{m.saveState(), m.Digest(), m.Summary()} }
	for _, c := range []struct {
		what    string
		change  func()
		digest  bool
		summary func(a, b Summary) bool // what must differ; nil: nothing
	}{
		{"clock", func() { m.now++ }, true, func(a, b Summary) bool { return a.Clock != b.Clock }},
		{"next digest", func() { m.nextDigest++ }, false, nil},
		{"round", func() { m.rd.used++ }, false, nil},
		{"panic detector", func() { m.panicDet.line = append(m.panicDet.line, 'x') }, false, nil},
		{"hart x", func() { m.harts[1].X[5]++ }, true, func(a, b Summary) bool { return a.Harts[1].X != b.Harts[1].X }},
		{"hart f", func() { m.harts[0].F[5]++ }, true, func(a, b Summary) bool { return a.Harts[0].F != b.Harts[0].F }},
		{"hart pc", func() { m.harts[0].PC += 4 }, true, func(a, b Summary) bool { return a.Harts[0].PC != b.Harts[0].PC }},
		{"hart priv", func() { m.harts[0].SetPriv(0) }, true, func(a, b Summary) bool { return a.Harts[0].CSRs != b.Harts[0].CSRs }},
		{"clint", func() { m.clint.mtimecmp[1]++ }, true, func(a, b Summary) bool { return a.Devices != b.Devices }},
		{"plic", func() { m.plic.threshold[0] ^= 1 }, true, func(a, b Summary) bool { return a.Devices != b.Devices }},
		{"uart", func() { m.uart.scr++ }, true, func(a, b Summary) bool { return a.Devices != b.Devices }},
		{"sbi", func() { m.sbi.timer[0]++ }, true, func(a, b Summary) bool { return a.Devices != b.Devices }},
		{"virtio console", func() { m.Store(VirtioBase+0x70, 4, 1) }, true, func(a, b Summary) bool { return a.Devices != b.Devices }}, // status: ACKNOWLEDGE
	} {
		before := look()
		c.change()
		after := look()
		if bytes.Equal(before.state, after.state) {
			t.Errorf("%s: the checkpoint state did not change", c.what)
		}
		if (before.digest != after.digest) != c.digest {
			t.Errorf("%s: the digest changed: %v, want %v", c.what, before.digest != after.digest, c.digest)
		}
		if c.summary != nil && !c.summary(before.sum, after.sum) {
			t.Errorf("%s: the summary did not change where it should", c.what)
		}
		b1, _ := before.sum.AppendBinary(nil)
		b2, _ := after.sum.AppendBinary(nil)
		if c.summary == nil && c.digest == false && !bytes.Equal(b1, b2) {
			t.Errorf("%s: the summary changed", c.what)
		}
	}
}

// TestRestoreStateAllOrNothing checks that a state that fails to restore
// names the component at fault and leaves the machine as it was.
func TestRestoreStateAllOrNothing(t *testing.T) {
	m := newComponentsMachine(t)
	good := m.saveState()
	// Where each component's encoding starts.
	at := map[string]int{}
	var e snapshot.Encoder
	for _, c := range m.comps {
		at[c.name] = len(e.Bytes())
		c.save(&e)
	}
	m.harts[0].X[5]++
	m.uart.scr++
	changed := m.saveState()
	for _, c := range []struct {
		name    string
		corrupt func(b []byte) []byte
	}{
		{"hart 1", func(b []byte) []byte { b[at["hart 1"]] = 1; return b }}, // x0
		{"clint", func(b []byte) []byte { b[at["clint"]] = 2; return b }},   // msip
		{"scheduler", func(b []byte) []byte { b[at["scheduler"]+8] = 2; return b }},
		{"virtio slot 0", func(b []byte) []byte { return b[:len(b)-1] }},
		{"machine", func(b []byte) []byte { return append(b, 0) }},
	} {
		err := m.restoreState(c.corrupt(bytes.Clone(good)))
		if err == nil || !strings.HasPrefix(err.Error(), c.name+" state:") {
			t.Errorf("%s: restoring gave %v", c.name, err)
		}
		if !bytes.Equal(m.saveState(), changed) {
			t.Errorf("%s: a failed restore changed the machine", c.name)
		}
	}
	if err := m.restoreState(good); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.saveState(), good) {
		t.Error("the restored state differs from the saved one")
	}
}
