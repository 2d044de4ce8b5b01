package machine_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/juicevm/juice/guest/devcheck/protocol"
	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/vmspec"
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
	e, d, err := runOn(t, cfg, &out)
	return e, out.String(), d, err
}

// runOn runs cfg with its console on con and returns the exit and the
// final state digest.
func runOn(t *testing.T, cfg machine.Config, con io.Writer) (machine.Exit, [32]byte, error) {
	t.Helper()
	cfg.Console = con
	m, err := machine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := m.Run(ctx)
	return e, m.Digest(), err
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

// TestRecordReplayNetwork records a guest that gets a DHCP lease, fetches
// a page from a host HTTP server over user-mode networking and echoes over
// vsock both ways (a host program connects to the guest, the guest
// connects to a host echo server), then replays it with neither the
// network nor any host socket: the console and the final state must be
// the same.
func TestRecordReplayNetwork(t *testing.T) {
	d := defaultAppliance(t)
	page := bytes.Repeat([]byte("recorded page "), 3000)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(page) }))
	defer web.Close()
	uds := filepath.Join(t.TempDir(), "v.sock")
	echo, err := net.Listen("unix", uds+"_6000")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	initrd := initrdWith(t, map[string][]byte{"/devcheck": crossCompile(t, "./guest/devcheck")})
	base := machine.Config{CPUs: 2, Memory: 256 << 20, RNG: true, Kernel: readFile(t, d.KernelPath), Initrd: initrd,
		Cmdline: fmt.Sprintf("console=ttyS0 quiet juice.selfcheck=0 juice.exec=/devcheck devcheck.fetch=%s/page devcheck.vsock=5000 devcheck.vsockdial=6000",
			strings.Replace(web.URL, "127.0.0.1", "10.0.2.2", 1))}
	host := hostSides{nets: []vmspec.Net{{Mode: vmspec.NetUser}}, vsock: uds}
	log := &memLog{}
	rec := base
	rec.Log = log
	rec = host.attach(t, rec)
	con := &liveConsole{}
	hostSide := make(chan error, 1)
	go func() { hostSide <- vsockEcho(t, con, uds) }()
	start := time.Now()
	e1, d1, err := runOn(t, rec, con)
	out1 := con.String()
	if err != nil {
		t.Fatalf("record: %v\n%s", err, out1)
	}
	if err := <-hostSide; err != nil {
		t.Errorf("host side: %v", err)
	}
	results, allOK := protocol.Parse(out1)
	if e1.Kind != machine.ExitPowerOff || !allOK || results["vsock"] == nil || results["vsockdial"] == nil || results["fetch"] == nil {
		t.Fatalf("record: exit %v, all ok %v\n%s", e1.Kind, allOK, out1)
	}
	kinds := map[machine.EventKind]int{}
	for _, in := range log.inputs {
		kinds[in.Kind]++
	}
	if kinds[machine.EventNet] == 0 || kinds[machine.EventVsock] == 0 {
		t.Fatalf("recorded %v", kinds)
	}
	t.Logf("recorded %v in %d instructions (%v)", kinds, e1.Instructions, time.Since(start).Round(time.Millisecond))

	// The replay must need no host: the web server and the echo server
	// are gone, and a plain file sits where the vsock socket was, so that
	// listening there would fail.
	web.Close()
	echo.Close()
	if err := os.WriteFile(uds, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	play := base
	play.Script = log
	play = host.attach(t, play)
	e2, out2, d2, err := runWith(t, play)
	if err != nil || out1 != out2 || e1 != e2 || d1 != d2 {
		t.Fatalf("replay: %v; exits %+v / %+v; digests equal %v; consoles equal %v\n%s", err, e1, e2, d1 == d2, out1 == out2, out2)
	}
	if log.next != len(log.inputs) {
		t.Fatalf("replay took %d of %d recorded inputs", log.next, len(log.inputs))
	}
	if _, err := os.Stat(uds); err != nil {
		t.Fatalf("the replay touched the vsock path: %v", err)
	}
}

// vsockEcho plays the host side of devcheck's vsock step: it connects to
// the guest's port 5000 through the device's Unix socket and checks the
// echo.
func vsockEcho(t *testing.T, con *liveConsole, uds string) error {
	if !con.waitFor(t, protocol.VsockReady(5000), 2*time.Minute) {
		return fmt.Errorf("guest vsock listener never became ready")
	}
	c, err := net.Dial("unix", uds)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(c, "CONNECT 5000\n")
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "OK ") {
		return fmt.Errorf("CONNECT 5000: %q %v", line, err)
	}
	// More than the device's 256 KiB of buffer each way, so that credit
	// updates (the host's writes) are part of the recording too.
	msg := bytes.Repeat([]byte("echo me over recorded vsock\n"), 20000)
	go c.Write(msg)
	back := make([]byte, len(msg))
	if _, err := io.ReadFull(r, back); err != nil || !bytes.Equal(back, msg) {
		return fmt.Errorf("vsock echo: %v", err)
	}
	return c.(*net.UnixConn).CloseWrite()
}
