package migration

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFramesRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	page := bytes.Repeat([]byte{7}, PageSize)
	if err := w.JSON(THello, Hello{Magic: Magic, Version: Version, Token: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Pages([]Page{{Index: 3, Data: page}, {Index: 9}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Disk(1, 4096, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&buf)
	typ, b, err := r.Next()
	var h Hello
	if err != nil || typ != THello || DecodeJSON(typ, b, &h) != nil || h.Token != "t" {
		t.Fatalf("hello: %v %v %+v", typ, err, h)
	}
	typ, b, err = r.Next()
	if err != nil || typ != TPages {
		t.Fatalf("pages: %v %v", typ, err)
	}
	ps, err := DecodePages(b, 16, nil)
	if err != nil || len(ps) != 2 || ps[0].Index != 3 || !bytes.Equal(ps[0].Data, page) || ps[1].Index != 9 || ps[1].Data != nil {
		t.Fatalf("pages: %v %+v", err, ps)
	}
	if _, err := DecodePages(b, 5, nil); err == nil || !strings.Contains(err.Error(), "beyond") {
		t.Fatalf("a page beyond RAM: %v", err)
	}
	typ, b, err = r.Next()
	i, off, data, derr := DecodeDisk(b)
	if err != nil || typ != TDisk || derr != nil || i != 1 || off != 4096 || string(data) != "abc" {
		t.Fatalf("disk: %v %v %v", typ, err, derr)
	}
	if _, _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the end: %v", err)
	}
}

func TestFramesAreBounded(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"unknown type", []byte{99, 0, 0, 0, 0}, "unknown frame type"},
		{"too long", []byte{byte(THello), 0xff, 0xff, 0xff, 0x7f}, "at most"},
		{"cut short", []byte{byte(TState), 10, 0, 0, 0, 1, 2}, "cut short"},
	} {
		_, _, err := NewReader(bytes.NewReader(c.in)).Next()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// FuzzFrames feeds the reader and decoders any stream: they must give
// errors, never panic, and never hold more than a frame's bound.
func FuzzFrames(f *testing.F) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.JSON(THello, Hello{Magic: Magic, Version: Version})
	w.Pages([]Page{{Index: 1, Data: make([]byte, PageSize)}, {Index: 2}})
	w.Disk(0, 0, []byte("x"))
	w.State([]byte("JUICESTA"))
	f.Add(buf.Bytes())
	f.Add([]byte{byte(TPages), 5, 0, 0, 0, 1, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in))
		for range 64 {
			typ, b, err := r.Next()
			if err != nil {
				return
			}
			if max, _ := maxLen(typ); uint32(len(b)) > max {
				t.Fatalf("a %v frame of %d bytes", typ, len(b))
			}
			switch typ {
			case TPages:
				if ps, err := DecodePages(b, 1<<16, nil); err == nil {
					for _, p := range ps {
						if p.Data != nil && len(p.Data) != PageSize {
							t.Fatal("a page of the wrong size")
						}
					}
				}
			case TDisk:
				DecodeDisk(b)
			case THello:
				var h Hello
				DecodeJSON(typ, b, &h)
			}
		}
	})
}
