package snapshot

import (
	"bytes"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var e Encoder
	e.Uint64(1 << 60)
	e.Uint32(7)
	e.Uint16(9)
	e.Uint8(3)
	e.Bool(true)
	e.Blob([]byte("abc"))
	e.Count(2)
	d := NewDecoder(e.Bytes())
	if d.Uint64("a") != 1<<60 || d.Uint32("b") != 7 || d.Uint16("c") != 9 || d.Uint8("d") != 3 || !d.Bool("e") {
		t.Fatal("scalar mismatch")
	}
	if b := d.Blob("f", 10); !bytes.Equal(b, []byte("abc")) {
		t.Fatalf("blob %q", b)
	}
	if d.Count("g", 2) != 2 {
		t.Fatal("count")
	}
	if err := d.Finish("test"); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	var e Encoder
	e.Blob(make([]byte, 100))
	d := NewDecoder(e.Bytes())
	d.Blob("payload", 10)
	if err := d.Finish("dev"); err == nil || !strings.Contains(err.Error(), "payload") {
		t.Fatalf("got %v", err)
	}
	d = NewDecoder([]byte{1, 2})
	d.Uint64("pc")
	if err := d.Finish("hart"); err == nil || !strings.Contains(err.Error(), "hart state: pc: truncated") {
		t.Fatalf("got %v", err)
	}
	d = NewDecoder([]byte{2})
	d.Bool("flag")
	if err := d.Finish("x"); err == nil || !strings.Contains(err.Error(), "flag") {
		t.Fatalf("got %v", err)
	}
	d = NewDecoder([]byte{0, 0})
	d.Uint8("a")
	if err := d.Finish("x"); err == nil || !strings.Contains(err.Error(), "left over") {
		t.Fatalf("got %v", err)
	}
}
