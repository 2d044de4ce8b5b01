package machine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/juicevm/juice/internal/machine"
)

// memLog records inputs in memory and replays them.
type memLog struct {
	inputs []machine.Input
	next   int
}

func (l *memLog) Input(clock uint64, kind machine.EventKind, port int, data []byte) {
	l.inputs = append(l.inputs, machine.Input{Clock: clock, Kind: kind, Port: port, Data: bytes.Clone(data)})
}

func (l *memLog) Peek() (machine.Input, bool) {
	if l.next >= len(l.inputs) {
		return machine.Input{}, false
	}
	return l.inputs[l.next], true
}

func (l *memLog) Take() { l.next++ }

func runWith(t *testing.T, cfg machine.Config) (machine.Exit, string, [32]byte, error) {
	t.Helper()
	var out bytes.Buffer
	cfg.Console = &out
	m, err := machine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := m.Run(ctx)
	return e, out.String(), m.Digest(), err
}

// TestRecordReplayEntropyAndConsole records a boot that takes host entropy
// and console input typed during the run, and replays it from the log.
func TestRecordReplayEntropyAndConsole(t *testing.T) {
	d := defaultAppliance(t)
	base := machine.Config{CPUs: 2, Memory: 256 << 20, RNG: true, Kernel: readFile(t, d.KernelPath),
		Initrd: readFile(t, d.InitrdPath), Cmdline: "console=ttyS0"}

	pr, pw := io.Pipe()
	go func() {
		for _, s := range []string{"typed ", "during ", "the run\n"} {
			time.Sleep(30 * time.Millisecond)
			pw.Write([]byte(s))
		}
		pw.Close()
	}()
	log := &memLog{}
	rec := base
	rec.ConsoleIn, rec.Log = pr, log
	e1, out1, d1, err := runWith(t, rec)
	if err != nil || e1.Kind != machine.ExitPowerOff {
		t.Fatalf("record: %v %v\n%s", e1.Kind, err, out1)
	}
	kinds := map[machine.EventKind]int{}
	for _, in := range log.inputs {
		kinds[in.Kind]++
	}
	if kinds[machine.EventEntropy] == 0 {
		t.Fatalf("no entropy was recorded: %v", kinds)
	}
	t.Logf("recorded %v in %d instructions", kinds, e1.Instructions)

	play := base
	play.Script = log
	e2, out2, d2, err := runWith(t, play)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if out1 != out2 || e1 != e2 || d1 != d2 {
		t.Fatalf("replay differs: exits %+v / %+v, digests %x / %x, consoles equal %v", e1, e2, d1, d2, out1 == out2)
	}
	if log.next != len(log.inputs) {
		t.Fatalf("replay took %d of %d recorded inputs", log.next, len(log.inputs))
	}

	// Without the recording, host entropy differs: the run is not the same.
	_, _, d3, _ := runWith(t, base)
	if d3 == d1 {
		t.Fatalf("a run with fresh entropy reached the same state")
	}
}

// TestRecordReplayNetwork records a guest that gets a DHCP lease and
// fetches a page from the host, then replays it with no network at all.
func TestRecordReplayNetwork(t *testing.T) {
	d := defaultAppliance(t)
	page := bytes.Repeat([]byte("recorded page "), 3000)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(page) }))
	defer web.Close()
	initrd := initrdWith(t, map[string][]byte{"/devcheck": crossCompile(t, "./guest/devcheck")})
	base := machine.Config{CPUs: 1, Memory: 256 << 20, RNG: true, Kernel: readFile(t, d.KernelPath), Initrd: initrd,
		Cmdline: fmt.Sprintf("console=ttyS0 quiet juice.selfcheck=0 juice.exec=/devcheck devcheck.fetch=%s/page",
			strings.Replace(web.URL, "127.0.0.1", "10.0.2.2", 1)),
		Net: []machine.NetConfig{{}}}
	log := &memLog{}
	rec := base
	rec.Log = log
	e1, out1, d1, err := runWith(t, rec)
	if err != nil || !strings.Contains(out1, "devcheck: all ok") {
		t.Fatalf("record: %v %v\n%s", e1.Kind, err, out1)
	}
	web.Close() // the replay must not need the host
	play := base
	play.Script = log
	e2, out2, d2, err := runWith(t, play)
	if err != nil || out1 != out2 || e1 != e2 || d1 != d2 {
		t.Fatalf("replay: %v; exits %+v / %+v; digests equal %v; consoles equal %v\n%s", err, e1, e2, d1 == d2, out1 == out2, out2)
	}
}
