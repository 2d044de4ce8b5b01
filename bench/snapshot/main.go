// Command snapshot measures Juice's snapshots and live migration (part of
// make bench), in one run:
//
//  1. Snapshot and restore of an idle 256 MiB and 4 GiB guest: the
//     snapshot's write time (how long the VM was paused), its disk usage
//     beside its apparent size, and juice restore's time from exec to the
//     in-process restore, to the first guest instruction and to the
//     guest's next console line. Firecracker's published snapshot-load
//     figures are printed beside them (not measured here).
//  2. Live migration beside QEMU's (TCG, -incoming tcp: and the QMP
//     migrate command, downtime-limit 300 ms as Juice's default budget) of
//     the same guest on the same kernel and initramfs, 256 MiB and 1 GiB,
//     idle and dirtying memory at a fixed rate: total time, downtime and
//     bytes sent, as each reports them.
//
// The guest is bench/snapshot/guest, built as an appliance with juice
// build; QEMU boots the appliance's kernel and initramfs, decompressed,
// with its command line. Juice's side of the migration needs juice
// receive and juice migrate; without them it is skipped with a note.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

var (
	juice     = flag.String("juice", "bin/juice", "the juice binary")
	qemuBin   = flag.String("qemu", "qemu-system-riscv64", "the QEMU binary")
	runs      = flag.Int("runs", 5, "repetitions of each measurement (the median is shown)")
	timeout   = flag.Duration("timeout", 3*time.Minute, "give up on one step after this long")
	busyRate  = flag.Int("busy-rate", 32, "the busy guest dirties this many `MiB` of pages a second")
	busyWSS   = flag.Int("busy-wss", 64, "over a working set of this many `MiB`")
	tick      = flag.Int("tick", 10, "the guest prints a line every this many `ms`")
	settle    = flag.Int("settle", 20, "ticks the guest prints before a snapshot or migration starts")
	downtime  = flag.Duration("downtime", 300*time.Millisecond, "downtime budget of both migrations")
	parts     = flag.String("parts", "restore,migrate", "what to measure: restore, migrate or both (comma-separated)")
	qemuCPU   = flag.String("qemu-cpu", "", "QEMU's -cpu `MODEL` for the migration (empty: its default)")
	qemuMaxBW = flag.Int64("qemu-max-bandwidth", 10<<30, "QEMU's migrate max-bandwidth in `bytes/s` (its default is 32 MiB/s; Juice has no limit); 0 keeps QEMU's default")
)

// Firecracker's published snapshot-load latencies (docs/snapshotting,
// "snapshot load"), printed beside Juice's in-process restore.
const firecrackerPublished = "Firecracker, published (not measured here): snapshot load 2.8 ms at 128 MiB, 5.4 ms at 4 GiB"

// progress prints to stderr, only when it is a terminal.
var progress = func() func(string, ...any) {
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return func(format string, a ...any) { fmt.Fprintf(os.Stderr, "\r\033[K"+format, a...) }
	}
	return func(string, ...any) {}
}()

var notes []string

func note(format string, a ...any) {
	if s := fmt.Sprintf(format, a...); !slices.Contains(notes, s) {
		notes = append(notes, s)
	}
}

// line is a console line and when it arrived.
type line struct {
	at   time.Time
	text string
}

// proc is a VM process: its console lines as they come, stdin held open
// (an idle guest then waits for real time) and its stderr.
type proc struct {
	cmd    *exec.Cmd
	start  time.Time // just before exec
	stdin  io.WriteCloser
	stderr bytes.Buffer
	mu     sync.Mutex
	lines  []line
	eof    bool
	notify chan struct{}
	seen   int // lines consumed by next
	done   chan struct{}
	err    error // the exit, once done is closed
}

func startProc(name string, args ...string) (*proc, error) {
	p := &proc{cmd: exec.Command(name, args...), notify: make(chan struct{}, 1), done: make(chan struct{})}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stderr = &syncWriter{w: &p.stderr, mu: &p.mu}
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		r := bufio.NewReader(out)
		for {
			s, err := r.ReadString('\n')
			at := time.Now()
			p.mu.Lock()
			if s != "" {
				p.lines = append(p.lines, line{at, strings.TrimRight(s, "\r\n")})
			}
			if err != nil {
				p.eof = true
			}
			p.mu.Unlock()
			select {
			case p.notify <- struct{}{}:
			default:
			}
			if err != nil {
				break
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

type syncWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// next returns the next console line that contains sub (any line when sub
// is empty), waiting at most d.
func (p *proc) next(sub string, d time.Duration) (line, error) {
	deadline := time.After(d)
	for {
		p.mu.Lock()
		for ; p.seen < len(p.lines); p.seen++ {
			if l := p.lines[p.seen]; strings.Contains(l.text, sub) {
				p.seen++
				p.mu.Unlock()
				return l, nil
			}
		}
		eof := p.eof
		p.mu.Unlock()
		if eof {
			return line{}, fmt.Errorf("%s exited before a line with %q: %s", filepath.Base(p.cmd.Path), sub, p.why())
		}
		select {
		case <-p.notify:
		case <-deadline:
			return line{}, fmt.Errorf("no line with %q from %s after %v: %s", sub, filepath.Base(p.cmd.Path), d, p.why())
		}
	}
}

// skip consumes the lines so far.
func (p *proc) skip() {
	p.mu.Lock()
	p.seen = len(p.lines)
	p.mu.Unlock()
}

// why is the last line of stderr, or of the console.
func (p *proc) why() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := lastLine(p.stderr.String()); s != "" {
		return s
	}
	if len(p.lines) > 0 {
		return "console: " + p.lines[len(p.lines)-1].text
	}
	return "no output"
}

// wait waits up to d for the process to exit.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// stop interrupts the process (as Ctrl-C) and kills it if it has not
// exited 10 s later.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGINT)
	if !p.wait(10 * time.Second) {
		p.cmd.Process.Kill()
		<-p.done
	}
	p.stdin.Close()
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	return s
}

// runCmd runs a short command and returns its stderr.
func runCmd(name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %v: %s", filepath.Base(name), args[0], err, lastLine(e.String()))
	}
	return o.String(), e.String(), err
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[(len(v)-1)/2]
}

// ms formats the median of seconds in milliseconds.
func ms(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", median(v)*1e3)
}

func mb(n float64) string { return fmt.Sprintf("%.1f MB", n/1e6) }

// guestImage is the bench guest: the appliance for Juice, its kernel and
// initramfs decompressed for QEMU, and its command line.
type guestImage struct {
	appliance, kernel, initrd, cmdline string
}

func buildGuest(tmp string) (guestImage, error) {
	g := guestImage{appliance: filepath.Join(tmp, "snapbench.appliance")}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return g, fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return g, errors.New("run it inside the Juice source tree")
	}
	spec := filepath.Join(filepath.Dir(gomod), "bench", "snapshot", "guest", "juice.yaml")
	if _, _, err := runCmd(*juice, "build", spec, "-o", g.appliance); err != nil {
		return g, err
	}
	var m struct{ Kernel, Initrd, Cmdline string }
	b, err := os.ReadFile(filepath.Join(g.appliance, "manifest.json"))
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return g, fmt.Errorf("appliance manifest: %w", err)
	}
	g.cmdline = m.Cmdline
	g.kernel, g.initrd = filepath.Join(tmp, "Image"), filepath.Join(tmp, "initrd.cpio")
	for _, f := range [][2]string{{m.Kernel, g.kernel}, {m.Initrd, g.initrd}} {
		if err := unzstd(filepath.Join(g.appliance, f[0]), f[1]); err != nil {
			return g, err
		}
	}
	return g, nil
}

// unzstd decompresses src into dst, or copies it when it is not zstd.
func unzstd(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		d, err := zstd.NewReader(nil)
		if err != nil {
			return err
		}
		defer d.Close()
		if b, err = d.DecodeAll(b, nil); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
	}
	return os.WriteFile(dst, b, 0o644)
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench/snapshot: ")
	*runs = max(*runs, 1)
	tmp, err := os.MkdirTemp("", "juice-snapshotbench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	progress("bench/snapshot: building the guest")
	g, err := buildGuest(tmp)
	if err != nil {
		log.Fatal(err)
	}
	if slices.Contains(strings.Split(*parts, ","), "restore") {
		restoreBench(g, tmp)
	}
	if slices.Contains(strings.Split(*parts, ","), "migrate") {
		migrateBench(g, tmp)
	}
	progress("")
	for _, n := range notes {
		fmt.Println("   note: " + n)
	}
}

// ---- 1. snapshot and restore ----

type restoreRows struct {
	paused, snapCmd     []float64 // seconds
	diskUse, apparent   int64
	exec, inProc, first []float64 // seconds from exec: to the command's start, vmm.Restore, the first instruction
	firstLine           []float64
	err                 error
}

var pausedRe = regexp.MustCompile(`the VM was paused (\S+)`)

func restoreBench(g guestImage, tmp string) {
	sizes := []string{"256M", "4G"}
	rows := make([]restoreRows, len(sizes))
	for k, size := range sizes {
		rows[k] = restoreOne(g, tmp, size)
	}
	fmt.Printf("== Snapshot and restore, idle guest (bench/snapshot/guest: a line every %d ms; %d runs, median)\n", *tick, *runs)
	row := func(name string, f func(r *restoreRows) string, remark string) {
		cells := make([]string, len(rows))
		for k := range rows {
			if rows[k].err != nil {
				cells[k] = "failed"
			} else {
				cells[k] = f(&rows[k])
			}
		}
		fmt.Println(strings.TrimRight(fmt.Sprintf("   %-46s %16s %16s   %s", name, cells[0], cells[1], remark), " "))
	}
	row("", func(r *restoreRows) string { return "" }, "")
	fmt.Printf("   %-46s %16s %16s\n", "guest memory", "256 MiB", "4 GiB")
	row("snapshot: VM paused (juice snapshot's report)", func(r *restoreRows) string { return ms(r.paused) }, "")
	row("snapshot: juice snapshot command, wall", func(r *restoreRows) string { return ms(r.snapCmd) }, "")
	row("snapshot folder: disk usage (du)", func(r *restoreRows) string { return mb(float64(r.diskUse)) }, "")
	row("snapshot folder: apparent size", func(r *restoreRows) string { return mb(float64(r.apparent)) }, "memory is a sparse file")
	row("restore: exec to the command's start", func(r *restoreRows) string { return ms(r.exec) }, "process start, flags")
	row("restore: in process (vmm.Restore)", func(r *restoreRows) string { return ms(r.inProc) }, "open, map memory, build, load state")
	row("restore: exec to the first guest instruction", func(r *restoreRows) string { return ms(r.first) }, "")
	row("restore: exec to the guest's next console line", func(r *restoreRows) string { return ms(r.firstLine) }, fmt.Sprintf("the guest prints every %d ms", *tick))
	fmt.Println("   " + firecrackerPublished)
	for k, r := range rows {
		if r.err != nil {
			fmt.Printf("   %s failed: %v\n", sizes[k], r.err)
		}
	}
	note("restore reads the snapshot just written: its memory file is in the host's page cache")
}

func restoreOne(g guestImage, tmp, size string) (r restoreRows) {
	dir := filepath.Join(tmp, "restore-"+size)
	if err := os.Mkdir(dir, 0o755); err != nil {
		r.err = err
		return
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "api.sock")
	progress("bench/snapshot: restore %s: booting", size)
	vm, err := startProc(*juice, "run", g.appliance, "--memory", size, "--api", sock,
		"--append", fmt.Sprintf("snapbench.tick=%d", *tick))
	if err != nil {
		r.err = err
		return
	}
	defer vm.stop()
	if _, err := vm.next(fmt.Sprintf("snapbench tick %d", *settle), *timeout); err != nil {
		r.err = err
		return
	}
	// Snapshots of the running VM; the last one stops it.
	var snap string
	for i := range *runs {
		progress("bench/snapshot: restore %s: snapshot %d/%d", size, i+1, *runs)
		snap = filepath.Join(dir, fmt.Sprintf("snap-%d", i))
		args := []string{"snapshot", "--api", sock, "-o", snap}
		if i == *runs-1 {
			args = append(args, "--stop")
		} else if i > 0 {
			defer os.RemoveAll(snap)
		}
		t := time.Now()
		_, stderr, err := runCmd(*juice, args...)
		if err != nil {
			r.err = err
			return
		}
		r.snapCmd = append(r.snapCmd, time.Since(t).Seconds())
		if m := pausedRe.FindStringSubmatch(stderr); m != nil {
			if d, err := time.ParseDuration(m[1]); err == nil {
				r.paused = append(r.paused, d.Seconds())
			}
		}
		time.Sleep(time.Duration(*tick*3) * time.Millisecond) // let it run a little between snapshots
	}
	if !vm.wait(30 * time.Second) {
		note("juice run went on after juice snapshot --stop")
	}
	r.diskUse, r.apparent = usage(snap)

	for i := range *runs {
		progress("bench/snapshot: restore %s: restore %d/%d", size, i+1, *runs)
		stats := filepath.Join(dir, "stats.json")
		os.Remove(stats)
		p, err := startProc(*juice, "restore", snap, "--stats", stats)
		if err != nil {
			r.err = err
			return
		}
		l, err := p.next("", *timeout)
		p.stop()
		if err != nil {
			r.err = err
			return
		}
		r.firstLine = append(r.firstLine, l.at.Sub(p.start).Seconds())
		var st struct {
			RestoreSeconds           *float64 `json:"restore_seconds"`
			FirstInstructionSeconds  float64  `json:"first_instruction_seconds"`
			FirstInstructionUnixNano int64    `json:"first_instruction_unix_nano"`
		}
		b, err := os.ReadFile(stats)
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err != nil {
			note("juice restore --stats: %v", err)
			continue
		}
		if st.RestoreSeconds == nil {
			note("juice restore --stats gives no restore_seconds: this juice predates it")
			continue
		}
		r.inProc = append(r.inProc, *st.RestoreSeconds)
		if st.FirstInstructionUnixNano != 0 {
			first := time.Unix(0, st.FirstInstructionUnixNano)
			r.first = append(r.first, first.Sub(p.start).Seconds())
			cmdStart := first.Add(-time.Duration(st.FirstInstructionSeconds * 1e9))
			r.exec = append(r.exec, cmdStart.Sub(p.start).Seconds())
		}
	}
	return r
}

// usage returns the disk usage (allocated blocks) and apparent size of
// the files under dir.
func usage(dir string) (disk, apparent int64) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			disk += st.Blocks * 512
		}
		if fi.Mode().IsRegular() {
			apparent += fi.Size()
		}
		return nil
	})
	return
}

// ---- 2. live migration beside QEMU ----

// migration is one migration's figures as the migrating side reports
// them.
type migration struct {
	total, downtime float64 // seconds
	bytes           float64
	rounds          float64
	stuck           string // why the guest did not go on at the destination ("" when it did)
}

type migRows struct {
	ms  []migration
	err error
}

func (m *migRows) add(x migration, err error) {
	if err != nil {
		if m.err == nil {
			m.err = err
		}
		return
	}
	m.ms = append(m.ms, x)
}

func (m *migRows) med(f func(migration) float64) float64 {
	v := make([]float64, len(m.ms))
	for i, x := range m.ms {
		v[i] = f(x)
	}
	return median(v)
}

func (m *migRows) cells() string {
	if m.err != nil && len(m.ms) == 0 {
		return "failed"
	}
	if len(m.ms) == 0 {
		return "-"
	}
	stuck := 0
	for _, x := range m.ms {
		if x.stuck != "" {
			stuck++
		}
	}
	tail := ""
	if stuck > 0 {
		tail = fmt.Sprintf("   guest did not go on at the destination in %d of %d runs", stuck, len(m.ms))
	}
	return fmt.Sprintf("%9.3f s %9.1f ms %9s %4.0f%s",
		m.med(func(x migration) float64 { return x.total }),
		m.med(func(x migration) float64 { return x.downtime })*1e3,
		mb(m.med(func(x migration) float64 { return x.bytes })),
		m.med(func(x migration) float64 { return x.rounds }), tail)
}

func migrateBench(g guestImage, tmp string) {
	type mcase struct {
		size   string
		busy   bool
		juice  migRows
		qemu   migRows
		append string
	}
	var cases []*mcase
	for _, size := range []string{"256M", "1G"} {
		for _, busy := range []bool{false, true} {
			a := fmt.Sprintf("snapbench.tick=%d", *tick)
			if busy {
				a += fmt.Sprintf(" snapbench.dirty=%d snapbench.wss=%d", *busyRate, *busyWSS)
			}
			cases = append(cases, &mcase{size: size, busy: busy, append: a})
		}
	}
	_, _, juiceErr := runCmd(*juice, "migrate", "--help")
	if juiceErr == nil {
		_, _, juiceErr = runCmd(*juice, "receive", "--help")
	}
	for i := range *runs {
		for _, c := range cases {
			name := fmt.Sprintf("%s %s", c.size, map[bool]string{false: "idle", true: "busy"}[c.busy])
			if juiceErr == nil {
				progress("bench/snapshot: migrate %s: juice %d/%d", name, i+1, *runs)
				c.juice.add(juiceMigrate(g, tmp, c.size, c.append))
			}
			progress("bench/snapshot: migrate %s: qemu %d/%d", name, i+1, *runs)
			c.qemu.add(qemuMigrate(g, tmp, c.size, c.append))
		}
	}
	fmt.Printf("== Live migration on this host, loopback TCP (%d runs, median; downtime budget %v on both)\n", *runs, *downtime)
	fmt.Printf("   guest: bench/snapshot/guest, idle (a line every %d ms) or busy (also dirtying %d MiB/s of pages over %d MiB)\n", *tick, *busyRate, *busyWSS)
	fmt.Printf("   %-12s %-6s %11s %12s %9s %6s\n", "", "", "total", "downtime", "sent", "rounds")
	for _, c := range cases {
		name := fmt.Sprintf("%s %s", strings.Replace(strings.Replace(c.size, "M", " MiB", 1), "G", " GiB", 1), map[bool]string{false: "idle", true: "busy"}[c.busy])
		if juiceErr != nil {
			fmt.Printf("   %-12s %-6s %s\n", name, "juice", "skipped: juice migrate not available")
		} else {
			fmt.Printf("   %-12s %-6s %s\n", name, "juice", c.juice.cells())
		}
		fmt.Printf("   %-12s %-6s %s\n", "", "qemu", c.qemu.cells())
	}
	for _, c := range cases {
		if c.juice.err != nil {
			note("juice migrate %s (%s): %v", c.size, c.append, c.juice.err)
		}
		if c.qemu.err != nil {
			note("qemu migrate %s (%s): %v", c.size, c.append, c.qemu.err)
		}
	}
	if juiceErr != nil {
		note("juice migrate not available (%v): Juice's side of the migration was skipped", juiceErr)
	}
	fmt.Println("   juice: juice run APPLIANCE --api S; juice receive --listen 127.0.0.1:PORT --token T; juice migrate --api S --to 127.0.0.1:PORT --token T --downtime " + downtime.String())
	fmt.Println("          (its figures: juice migrate's \"migrated to ... in TOTAL (downtime D, N bytes sent, R rounds)\")")
	bw := "QEMU's default max-bandwidth (32 MiB/s)"
	if *qemuMaxBW > 0 {
		bw = fmt.Sprintf("max-bandwidth %d B/s (raised from QEMU's 32 MiB/s default; Juice has no limit)", *qemuMaxBW)
	}
	fmt.Printf("   qemu:  %s -M virt -m SIZE (TCG) ... -incoming tcp:127.0.0.1:PORT; QMP migrate-set-parameters downtime-limit %d, %s;\n",
		filepath.Base(*qemuBin), downtime.Milliseconds(), bw)
	fmt.Println("          migrate tcp:127.0.0.1:PORT; its figures: query-migrate total-time, downtime, ram transferred, dirty-sync-count as rounds")
}

// resumeWait bounds the wait for the guest's first line at the
// destination after a migration.
const resumeWait = 5 * time.Second

var migratedRe = regexp.MustCompile(`migrated to \S+ in (\S+) \(downtime (\S+), (\d+) bytes sent, (\d+) rounds\)`)

// juiceMigrate migrates the guest from juice run to juice receive.
func juiceMigrate(g guestImage, tmp, size, appendArgs string) (migration, error) {
	var m migration
	dir, err := os.MkdirTemp(tmp, "jmig-")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return m, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	token := strconv.FormatInt(time.Now().UnixNano(), 36)
	src, err := startProc(*juice, "run", g.appliance, "--memory", size, "--api", filepath.Join(dir, "src.sock"), "--append", appendArgs)
	if err != nil {
		return m, err
	}
	defer src.stop()
	dst, err := startProc(*juice, "receive", "--listen", addr, "--token", token, "--api", filepath.Join(dir, "dst.sock"))
	if err != nil {
		return m, err
	}
	defer dst.stop()
	if _, err := src.next(fmt.Sprintf("snapbench tick %d", *settle), *timeout); err != nil {
		return m, err
	}
	var stderr string
	for try := 0; ; try++ { // juice receive may not be listening yet
		_, stderr, err = runCmd(*juice, "migrate", "--api", filepath.Join(dir, "src.sock"), "--to", addr, "--token", token,
			"--downtime", downtime.String(), "--timeout", timeout.String())
		if err == nil || try == 50 || !strings.Contains(err.Error(), "refused") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return m, err
	}
	x := migratedRe.FindStringSubmatch(stderr)
	if x == nil {
		return m, fmt.Errorf("juice migrate printed no \"migrated to\" line: %s", lastLine(stderr))
	}
	tot, err1 := time.ParseDuration(x[1])
	down, err2 := time.ParseDuration(x[2])
	if err := errors.Join(err1, err2); err != nil {
		return m, fmt.Errorf("juice migrate's line %q: %w", x[0], err)
	}
	n, _ := strconv.ParseFloat(x[3], 64)
	rounds, _ := strconv.ParseFloat(x[4], 64)
	m = migration{total: tot.Seconds(), downtime: down.Seconds(), bytes: n, rounds: rounds}
	// The guest goes on at the destination.
	if _, err := dst.next("snapbench tick", resumeWait); err != nil {
		m.stuck = err.Error()
		note("juice %s (%s): the migration completed but the guest did not go on at the destination: %v", size, appendArgs, err)
	}
	return m, nil
}

// qemuMigrate migrates the guest between two QEMU processes.
func qemuMigrate(g guestImage, tmp, size, appendArgs string) (migration, error) {
	var m migration
	dir, err := os.MkdirTemp(tmp, "qmig-")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return m, err
	}
	args := func(qmp string, extra ...string) []string {
		a := append([]string{"-M", "virt", "-m", size, "-smp", "1", "-bios", "default", "-display", "none",
			"-kernel", g.kernel, "-initrd", g.initrd, "-append", g.cmdline + " " + appendArgs,
			"-serial", "stdio", "-monitor", "none", "-qmp", "unix:" + qmp + ",server,nowait"}, extra...)
		if *qemuCPU != "" {
			a = append(a, "-cpu", *qemuCPU)
		}
		return a
	}
	srcQMP, dstQMP := filepath.Join(dir, "src.qmp"), filepath.Join(dir, "dst.qmp")
	dst, err := startProc(*qemuBin, args(dstQMP, "-incoming", fmt.Sprintf("tcp:127.0.0.1:%d", port))...)
	if err != nil {
		return m, err
	}
	defer dst.stop()
	src, err := startProc(*qemuBin, args(srcQMP)...)
	if err != nil {
		return m, err
	}
	defer src.stop()
	if _, err := src.next(fmt.Sprintf("snapbench tick %d", *settle), *timeout); err != nil {
		return m, err
	}
	q, err := dialQMP(srcQMP)
	if err != nil {
		return m, err
	}
	defer q.close()
	params := map[string]any{"downtime-limit": downtime.Milliseconds()}
	if *qemuMaxBW > 0 {
		params["max-bandwidth"] = *qemuMaxBW
	}
	if _, err := q.do("migrate-set-parameters", params); err != nil {
		return m, err
	}
	dst.skip()
	if _, err := q.do("migrate", map[string]any{"uri": fmt.Sprintf("tcp:127.0.0.1:%d", port)}); err != nil {
		return m, err
	}
	deadline := time.Now().Add(*timeout)
	for {
		b, err := q.do("query-migrate", nil)
		if err != nil {
			return m, err
		}
		var st struct {
			Status    string
			TotalTime float64 `json:"total-time"`
			Downtime  float64
			ErrorDesc string `json:"error-desc"`
			RAM       struct {
				Transferred    float64
				DirtySyncCount float64 `json:"dirty-sync-count"`
			}
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return m, fmt.Errorf("query-migrate: %w", err)
		}
		switch st.Status {
		case "completed":
			m = migration{total: st.TotalTime / 1e3, downtime: st.Downtime / 1e3, bytes: st.RAM.Transferred, rounds: st.RAM.DirtySyncCount}
			if _, err := dst.next("snapbench tick", resumeWait); err != nil {
				m.stuck = err.Error()
				note("qemu %s (%s): the migration completed but the guest did not go on at the destination: %v", size, appendArgs, err)
			}
			return m, nil
		case "failed", "cancelled":
			return m, fmt.Errorf("migration %s: %s", st.Status, st.ErrorDesc)
		}
		if time.Now().After(deadline) {
			q.do("migrate_cancel", nil)
			return m, fmt.Errorf("migration not completed after %v (status %s)", *timeout, st.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// qmp is a QEMU Machine Protocol connection.
type qmp struct {
	c net.Conn
	r *bufio.Reader
}

func dialQMP(path string) (*qmp, error) {
	var c net.Conn
	var err error
	for range 100 {
		if c, err = net.Dial("unix", path); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("qmp: %w", err)
	}
	q := &qmp{c: c, r: bufio.NewReader(c)}
	if _, err := q.r.ReadString('\n'); err != nil { // the greeting
		c.Close()
		return nil, fmt.Errorf("qmp greeting: %w", err)
	}
	if _, err := q.do("qmp_capabilities", nil); err != nil {
		c.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmp) close() { q.c.Close() }

// do runs a command and returns its "return" value; events are skipped.
func (q *qmp) do(cmd string, args map[string]any) (json.RawMessage, error) {
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	q.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := q.c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", cmd, err)
	}
	for {
		s, err := q.r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		var resp struct {
			Return json.RawMessage
			Error  *struct{ Desc string }
			Event  string
		}
		if err := json.Unmarshal([]byte(s), &resp); err != nil {
			return nil, fmt.Errorf("qmp %s: %w", cmd, err)
		}
		switch {
		case resp.Event != "":
			continue
		case resp.Error != nil:
			return nil, fmt.Errorf("qmp %s: %s", cmd, resp.Error.Desc)
		default:
			return resp.Return, nil
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
