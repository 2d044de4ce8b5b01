// Package protocol is what devcheck (guest/devcheck) and the host tests
// that drive it agree on: the kernel command-line options, the console
// lines, and the fixed data of the network steps.
//
// Every line devcheck prints starts with Prefix. Each step ends with
//
//	devcheck: <step> ok
//	devcheck: <step> FAILED: <why>
//
// and may print information lines before that, such as
// "devcheck: rng <hex>" or "devcheck: fetch <sha256>". The last line is
// "devcheck: all ok" or "devcheck: FAILED: <n> of <m> steps".
package protocol

import (
	"bufio"
	"fmt"
	"strings"
)

// Console output.
const (
	// Prefix starts every line devcheck prints.
	Prefix = "devcheck: "
	// AllOK is the last line when every step passed.
	AllOK = Prefix + "all ok"
)

// Command-line options (each is "devcheck.<key>=<value>").
const (
	// OptDisk names the block device to check (e.g. /dev/vda).
	OptDisk = "devcheck.disk"
	// OptVerify set to 1 makes the disk step check out/SUMS from an
	// earlier boot instead of writing.
	OptVerify = "devcheck.verify"
	// OptName is the name of the file the disk step writes under out/
	// (default "data").
	OptName = "devcheck.name"
	// OptSize is its size in bytes (default 65536).
	OptSize = "devcheck.size"
	// OptSeed is the manifest.PseudoRandom seed of its contents
	// (default 1).
	OptSeed = "devcheck.seed"
	// OptManifest set to 0 skips the MANIFEST check (for blank disks).
	OptManifest = "devcheck.manifest"
	// OptRNG set to 1 reads /dev/hwrng.
	OptRNG = "devcheck.rng"
	// OptNet set to 1 configures eth0 by DHCP (implied by fetch and serve).
	OptNet = "devcheck.net"
	// OptFetch is a URL to GET after the network is up.
	OptFetch = "devcheck.fetch"
	// OptServe is a TCP port to serve HTTP on until a request for QuitPath.
	OptServe = "devcheck.serve"
	// OptVsock is an AF_VSOCK port to accept one connection on and echo.
	OptVsock = "devcheck.vsock"
	// OptVsockDial is an AF_VSOCK port of the host (CID 2) to connect to,
	// send VsockHello and read it back.
	OptVsockDial = "devcheck.vsockdial"
)

// Network step data.
const (
	// ServeBody is the body of GET / on the serve step's server.
	ServeBody = "hello from the juice guest\n"
	// EchoPath answers a request with the request's body.
	EchoPath = "/echo"
	// QuitPath answers "bye\n" and ends the serve step.
	QuitPath = "/quit"
	// VsockHello is the line the vsockdial step sends, newline included.
	VsockHello = "hello over vsock from the juice guest\n"
)

// Ready lines: the serve and vsock steps print them once they listen, so
// the host knows when to connect.
const (
	// ServeReadyFormat is printed (with the port) when the HTTP server
	// listens.
	ServeReadyFormat = Prefix + "serve ready %d"
	// VsockReadyFormat is printed (with the port) when the vsock listener
	// is ready.
	VsockReadyFormat = Prefix + "vsock ready %d"
)

// ServeReady returns the line the serve step prints once it listens on port.
func ServeReady(port int) string { return fmt.Sprintf(ServeReadyFormat, port) }

// VsockReady returns the line the vsock step prints once it listens on port.
func VsockReady(port int) string { return fmt.Sprintf(VsockReadyFormat, port) }

// Result is what the console says about one step.
type Result struct {
	// OK is true for "devcheck: <step> ok".
	OK bool
	// Err is the reason after "FAILED: ", when the step failed.
	Err string
	// Info holds the step's information lines, without the prefix and
	// step name (e.g. the hex of "devcheck: rng <hex>").
	Info []string
}

// Parse collects the devcheck lines of console output (other lines, such
// as kernel messages, are skipped; "\r" line endings are tolerated) into
// results by step name, and reports whether the final "all ok" line was
// seen.
func Parse(console string) (results map[string]*Result, allOK bool) {
	results = map[string]*Result{}
	sc := bufio.NewScanner(strings.NewReader(console))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		i := strings.Index(line, Prefix)
		if i < 0 {
			continue
		}
		line = line[i:]
		if line == AllOK {
			allOK = true
			continue
		}
		rest := strings.TrimPrefix(line, Prefix)
		step, what, _ := strings.Cut(rest, " ")
		if step == "FAILED:" {
			continue
		}
		r := results[step]
		if r == nil {
			r = &Result{}
			results[step] = r
		}
		switch {
		case what == "ok":
			r.OK = true
		case strings.HasPrefix(what, "FAILED: "):
			r.Err = strings.TrimPrefix(what, "FAILED: ")
		default:
			r.Info = append(r.Info, what)
		}
	}
	return results, allOK
}
