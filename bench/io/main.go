// Command io measures disk and network throughput inside a guest, on Juice
// and on qemu-system-riscv64 with the same virtio devices, kernel and
// initramfs, in one run (part of make bench). The guest runs devcheck's
// diskbench and netbench steps; the host times them with its own clock.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/juicevm/juice/internal/appliance"
)

// server serves /down and /up and times the transfers.
type server struct {
	mu         sync.Mutex
	down, up   time.Duration
	downB, upB int64
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	switch r.URL.Path {
	case "/down":
		var mib int64
		fmt.Sscan(r.URL.Query().Get("mib"), &mib)
		w.Header().Set("Content-Length", fmt.Sprint(mib<<20))
		buf := make([]byte, 1<<20)
		var n int64
		for i := int64(0); i < mib; i++ {
			k, err := w.Write(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		s.mu.Lock()
		s.down, s.downB = time.Since(start), n
		s.mu.Unlock()
	case "/up":
		n, _ := io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.up, s.upB = time.Since(start), n
		s.mu.Unlock()
	}
}

// result is one VMM's numbers in MB/s.
type result struct{ diskW, diskR, netDown, netUp float64 }

func mbps(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / 1e6 / d.Seconds()
}

// run starts a VMM command and times the guest's diskbench markers.
func run(name string, cmd *exec.Cmd, srv *server, mib int) (result, error) {
	var res result
	out, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return res, err
	}
	marks := map[string]time.Time{}
	var transcript strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		transcript.WriteString(line + "\n")
		for _, m := range []string{"write begin", "write end", "read begin", "read end"} {
			if strings.Contains(line, "devcheck: diskbench "+m) {
				marks[m] = time.Now()
			}
		}
	}
	if err := cmd.Wait(); err != nil && !strings.Contains(transcript.String(), "devcheck: all ok") {
		return res, fmt.Errorf("%s: %v\n%s", name, err, transcript.String())
	}
	if !strings.Contains(transcript.String(), "devcheck: all ok") {
		return res, fmt.Errorf("%s: the benchmark failed:\n%s", name, transcript.String())
	}
	b := int64(mib) << 20
	res.diskW = mbps(b, marks["write end"].Sub(marks["write begin"]))
	res.diskR = mbps(b, marks["read end"].Sub(marks["read begin"]))
	srv.mu.Lock()
	res.netDown, res.netUp = mbps(srv.downB, srv.down), mbps(srv.upB, srv.up)
	srv.mu.Unlock()
	return res, nil
}

func main() {
	juice := flag.String("juice", "bin/juice", "the juice binary")
	mib := flag.Int("mib", 64, "MiB moved per test")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()
	// The default appliance's kernel, from the juice command, which knows
	// the cache folder (--cache, $JUICE_CACHE, ...).
	da := exec.Command(*juice, "default-appliance")
	da.Stderr = os.Stderr
	out, err := da.Output()
	if err != nil {
		log.Fatalf("%s default-appliance: %v", *juice, err)
	}
	paths := strings.Fields(string(out))
	if len(paths) != 2 {
		log.Fatalf("%s default-appliance printed %q, want two paths", *juice, out)
	}
	kernel := paths[0]
	root, err := appliance.ModuleRoot(ctx, "go")
	if err != nil {
		log.Fatal(err)
	}
	devcheck, err := appliance.CrossCompile(ctx, "go", root, "./guest/devcheck")
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "juice-iobench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	initrd, err := appliance.InitramfsWith(ctx, appliance.Options{}, dir, map[string][]byte{"/devcheck": devcheck})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &server{}
	go http.Serve(l, srv)
	port := l.Addr().(*net.TCPAddr).Port
	cmdline := fmt.Sprintf("console=ttyS0 quiet juice.selfcheck=0 juice.exec=/devcheck devcheck.diskbench=/dev/vda "+
		"devcheck.netbench=http://10.0.2.2:%d devcheck.benchmb=%d", port, *mib)
	disk := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Truncate(p, int64(*mib+16)<<20); err != nil {
			log.Fatal(err)
		}
		return p
	}

	j, err := run("juice", exec.Command(*juice, "run", "--kernel", kernel, "--initrd", initrd, "--append", cmdline,
		"--disk", disk("juice.img"), "--net", "user", "--no-rng"), srv, *mib)
	if err != nil {
		log.Fatal(err)
	}
	q, err := run("qemu", exec.Command("qemu-system-riscv64", "-M", "virt", "-bios", "default", "-m", "256M", "-nographic",
		"-kernel", kernel, "-initrd", initrd, "-append", cmdline,
		"-drive", "file="+disk("qemu.img")+",if=none,format=raw,id=d0", "-device", "virtio-blk-device,drive=d0",
		"-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"), srv, *mib)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("== Guest I/O throughput, %d MiB each (JeOS kernel, virtio-mmio devices; MB/s by the host's clock)\n", *mib)
	fmt.Printf("   %-34s %10s %10s %8s\n", "", "juice", "qemu", "ratio")
	for _, row := range []struct {
		name string
		j, q float64
	}{
		{"disk sequential write (+fsync)", j.diskW, q.diskW},
		{"disk sequential read (cold cache)", j.diskR, q.diskR},
		{"network host->guest (HTTP GET)", j.netDown, q.netDown},
		{"network guest->host (HTTP POST)", j.netUp, q.netUp},
	} {
		fmt.Printf("   %-34s %10.1f %10.1f %8.2f\n", row.name, row.j, row.q, row.j/row.q)
	}
}
