package gdbstub

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// seedPackets are packets a gdb session sends, and some broken ones.
var seedPackets = []string{
	"qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;exec-events+;vContSupported+;QThreadEvents+;no-resumed+;memory-tagging+;error-message+",
	"QStartNoAckMode", "vMustReplyEmpty", "Hg0", "Hc-1", "Hg2", "qXfer:features:read:target.xml:0,ffb",
	"qXfer:features:read:target.xml:7f0,ffb", "qTStatus", "?", "qfThreadInfo", "qsThreadInfo", "qAttached", "qC",
	"qOffsets", "g", "G" + string(bytes.Repeat([]byte("00"), 65*8+12)), "p20", "p43", "P5=0100000000000000",
	"m80000000,4", "m0,ffffffffffffffff", "M1000,2:abcd", "X1000,3:a}]b", "X1000,0:",
	"Z0,80000010,4", "z0,80000010,4", "Z1,80000012,2", "Z2,1000,8", "Z3,1000,8", "Z4,1000,8", "z2,1000,8",
	"vCont?", "vCont;s:1;c", "vCont;c", "vCont;C05:1", "vCont;r1000,2000:1", "c", "s", "C05", "S05;1000",
	"bc", "bs", "T1", "T-1", "qThreadExtraInfo,1", "qRcmd,7768656e", "qSymbol::", "QNonStop:0", "D", "k", "vKill;1",
	"Z0,", "m,", "P=", "H", "Hgffffffffffffffffff", "qXfer:features:read:target.xml:ffffffffffffffff,ffffffffffffffff",
}

func FuzzServe(f *testing.F) {
	var all []byte
	for _, p := range seedPackets {
		f.Add(append(frame([]byte(p)), '+'))
		all = append(all, frame([]byte(p))...)
		all = append(all, '+')
	}
	f.Add(all)
	f.Add([]byte("$qAttached#00-+$c#63\x03+$g#67"))
	f.Add([]byte("$$$$#\x03}$m1000,4#fd"))
	f.Add([]byte("$#00+$#00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn := struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(data), io.Discard}
		if err := Serve(ctx, conn, newFake(), nil); err != nil && err != io.ErrUnexpectedEOF || ctx.Err() != nil {
			t.Fatalf("Serve: %v", err)
		}
	})
}

func FuzzDispatch(f *testing.F) {
	for _, p := range seedPackets {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		s := newSession(context.Background(), io.Discard, newFake(), nil)
		// Resume's interrupt watcher reads events; feed it none.
		reply, err := s.dispatch(p)
		if err != nil && err != errEnd {
			t.Fatalf("dispatch %q: %v", p, err)
		}
		if len(reply) > PacketSize {
			t.Fatalf("dispatch %q: a reply of %d bytes exceeds the packet size", p, len(reply))
		}
		for _, b := range reply {
			if b == '$' || b == '#' {
				t.Fatalf("dispatch %q: reply %q carries a raw %q", p, reply, b)
			}
		}
	})
}
