package dhcpmsg

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// sample is a server's ACK with every header field and a few options set.
func sample() *Message {
	m := &Message{
		Op: BootReply, XID: 0x01020304, Secs: 7, Flags: FlagBroadcast,
		CIAddr: [4]byte{10, 0, 2, 16}, YIAddr: [4]byte{10, 0, 2, 15},
		SIAddr: [4]byte{10, 0, 2, 2}, GIAddr: [4]byte{10, 0, 2, 1},
		Options: []Option{
			{OptMsgType, []byte{Ack}},
			{OptServerID, []byte{10, 0, 2, 2}},
			{OptRouter, []byte{10, 0, 2, 2, 10, 0, 2, 1}},
			{OptDNS, []byte{10, 0, 2, 3}},
			{OptLeaseTime, []byte{0, 1, 0x51, 0x80}},
			{OptClientID, []byte{}},
		},
	}
	copy(m.CHAddr[:], []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56})
	return m
}

func mustMarshal(t testing.TB, m *Message) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	m := sample()
	b := mustMarshal(t, m)
	if len(b) != MinLen {
		t.Errorf("message of %d bytes, want %d", len(b), MinLen)
	}
	if b[0] != BootReply || b[1] != 1 || b[2] != 6 || b[3] != 0 || binary.BigEndian.Uint32(b[HeaderLen:]) != MagicCookie {
		t.Errorf("header % x, cookie % x", b[:4], b[HeaderLen:HeaderLen+4])
	}
	if !bytes.Equal(b[44:HeaderLen], make([]byte, HeaderLen-44)) {
		t.Error("sname or file not zero")
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, m)
	}
	if back.Type() != Ack {
		t.Errorf("type %d", back.Type())
	}
	if a, ok := back.Addr(OptRouter); !ok || a != netip.MustParseAddr("10.0.2.2") {
		t.Errorf("router %v %v", a, ok)
	}
	if _, ok := back.Addr(OptClientID); ok {
		t.Error("an empty option gave an address")
	}
	if _, ok := back.Option(OptBroadcast); ok {
		t.Error("found an absent option")
	}
	// The parsed message does not alias its input.
	b[HeaderLen+6] = Nak
	if back.Type() != Ack {
		t.Error("the message changed with its input")
	}

	// A long message is not padded and still parses.
	long := sample()
	long.Options = append(long.Options, Option{OptParamList, bytes.Repeat([]byte{1}, MaxOptionLen)})
	if b := mustMarshal(t, long); len(b) <= MinLen {
		t.Errorf("long message of %d bytes", len(b))
	} else if back, err := Parse(b); err != nil || !reflect.DeepEqual(back, long) {
		t.Errorf("long round trip: %v", err)
	}
}

func TestParseOptions(t *testing.T) {
	head := mustMarshal(t, &Message{Op: BootRequest})[:HeaderLen+4]
	with := func(opts ...byte) []byte { return append(append([]byte{}, head...), opts...) }

	// Pads are skipped, End stops, a missing End is accepted, and the first
	// of repeated options counts.
	m, err := Parse(with(OptPad, OptMsgType, 1, Discover, OptPad, OptMsgType, 1, Request, OptEnd, 0xee, 0xee))
	if err != nil || len(m.Options) != 2 || m.Type() != Discover {
		t.Fatalf("%+v %v", m, err)
	}
	if m, err := Parse(with(OptMsgType, 1, Inform)); err != nil || m.Type() != Inform {
		t.Errorf("without End: %+v %v", m, err)
	}
	if m, err := Parse(with(OptMsgType, 2, Inform, 0)); err != nil || m.Type() != 0 {
		t.Errorf("two-byte type: %+v %v", m, err)
	}
	if m, err := Parse(with()); err != nil || m.Options != nil || m.Type() != 0 {
		t.Errorf("no options: %+v %v", m, err)
	}
	if m, err := Parse(with(OptServerID, 3, 1, 2, 3)); err != nil {
		t.Error(err)
	} else if _, ok := m.Addr(OptServerID); ok {
		t.Error("a 3-byte address accepted")
	}
}

func TestParseBad(t *testing.T) {
	good := mustMarshal(t, sample())
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	opts := func(o ...byte) []byte { return append(append([]byte{}, good[:HeaderLen+4]...), o...) }
	for _, c := range []struct {
		name, err string
		b         []byte
	}{
		{"empty", "0 bytes is too short", nil},
		{"header only", "236 bytes is too short", good[:HeaderLen]},
		{"short cookie", "239 bytes is too short", good[:HeaderLen+3]},
		{"op", "op 3", edit(func(b []byte) []byte { b[0] = 3; return b })},
		{"op 0", "op 0", edit(func(b []byte) []byte { b[0] = 0; return b })},
		{"htype", "hardware type 6", edit(func(b []byte) []byte { b[1] = 6; return b })},
		{"hlen", "length 16", edit(func(b []byte) []byte { b[2] = 16; return b })},
		{"cookie", "magic cookie", edit(func(b []byte) []byte { b[HeaderLen+3]++; return b })},
		{"code without length", "option 3 at byte 240 runs past", opts(OptRouter)},
		{"option overflow", "option 3 at byte 240 runs past", opts(OptRouter, 8, 1, 2, 3, 4)},
		{"option one past", "option 6 at byte 243 runs past", opts(OptMsgType, 1, Ack, OptDNS, 4, 1, 2, 3)},
		{"too many options", "more than 255 options", opts(bytes.Repeat([]byte{OptClientID, 0}, MaxOptions+1)...)},
		{"garbage", "op 239", bytes.Repeat([]byte{0xef}, 600)},
	} {
		m, err := Parse(c.b)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %+v, %v; want an error with %q", c.name, m, err, c.err)
		}
	}
	if m, err := Parse(opts(bytes.Repeat([]byte{OptClientID, 0}, MaxOptions)...)); err != nil || len(m.Options) != MaxOptions {
		t.Errorf("%d options: %v", MaxOptions, err)
	}
	// Every truncation of a good message either parses or fails; none panics.
	for i := range good {
		Parse(good[:i])
	}
}

func TestMarshalBad(t *testing.T) {
	for _, c := range []struct {
		name, err string
		edit      func(m *Message)
	}{
		{"op", "op 0", func(m *Message) { m.Op = 0 }},
		{"pad", "reserved code 0", func(m *Message) { m.Options[1].Code = OptPad }},
		{"end", "reserved code 255", func(m *Message) { m.Options[1].Code = OptEnd }},
		{"option overflow", "option 6 of 256 bytes", func(m *Message) { m.Options[3].Data = make([]byte, MaxOptionLen+1) }},
		{"too many options", "256 options", func(m *Message) { m.Options = make([]Option, MaxOptions+1) }},
	} {
		m := sample()
		c.edit(m)
		if b, err := m.Marshal(); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %d bytes, %v; want an error with %q", c.name, len(b), err, c.err)
		}
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// marshals back into a message that parses to the same thing.
func FuzzParse(f *testing.F) {
	good := mustMarshal(f, sample())
	f.Add(good)
	f.Add(mustMarshal(f, &Message{Op: BootRequest, Options: []Option{{OptMsgType, []byte{Discover}}}}))
	f.Add(good[:HeaderLen+4])
	f.Add(good[:HeaderLen+10])
	f.Add(append(append([]byte{}, good[:HeaderLen+4]...), OptRouter, 8, 1))
	f.Add(append(append([]byte{}, good[:HeaderLen+4]...), bytes.Repeat([]byte{OptClientID, 0}, MaxOptions+1)...))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 400))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if m != nil {
				t.Fatal("a message with an error")
			}
			return
		}
		m.Type()
		for _, o := range m.Options {
			m.Addr(o.Code)
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("a parsed message does not marshal: %v", err)
		}
		back, err := Parse(out)
		if err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("re-parse: %v\n got %+v\nwant %+v", err, back, m)
		}
	})
}
