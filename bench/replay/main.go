// Command replay measures Juice's record and replay beside QEMU's
// (-icount rr=record / rr=replay) on the default appliance's boot to
// power-off, in one run (part of make bench): log sizes, the cost of
// recording, replay speed and the time to reach a late instruction with
// juice replay --until.
//
// It drives the juice binary (-juice) and qemu-system-riscv64 as
// processes and times them with the host's clock (whole-process wall
// time, median of -runs). A QEMU mode that fails is reported in the table
// with its reason instead of a number.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

var (
	juice    = flag.String("juice", "bin/juice", "the juice binary")
	qemuBin  = flag.String("qemu", "qemu-system-riscv64", "the QEMU binary")
	runs     = flag.Int("runs", 5, "runs of each command (the median is shown)")
	cmdline  = flag.String("append", "console=ttyS0", "kernel command line (the default appliance's)")
	untilPct = flag.Int("until-percent", 90, "replay --until this share of the recording's instructions")
)

// progress prints to stderr, only when it is a terminal.
var progress = func() func(string, ...any) {
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return func(format string, a ...any) { fmt.Fprintf(os.Stderr, "\r\033[K"+format, a...) }
	}
	return func(string, ...any) {}
}()

// result is one execution of a command.
type result struct {
	secs   float64
	stdout []byte
	err    error // non-nil when the command failed; says why
}

// timeout bounds each command: QEMU's replay can hang instead of failing.
var timeout = flag.Duration("timeout", 3*time.Minute, "give up on a command after this long")

// run runs a command with stdin from /dev/null and times it.
func run(name string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{secs: time.Since(start).Seconds(), stdout: out.Bytes()}
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after %v", *timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(errb.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 { // the last line says most
			msg = strings.TrimSpace(msg[i+1:])
		}
		if msg == "" {
			msg = "no message on stderr"
		}
		r.err = fmt.Errorf("%v: %s", err, msg)
	}
	return r
}

// series collects the timings of one row; the first failure sticks.
type series struct {
	secs []float64
	err  error
}

func (s *series) add(r result) {
	if r.err != nil {
		if s.err == nil {
			s.err = r.err
		}
		return
	}
	s.secs = append(s.secs, r.secs)
}

func (s *series) ok() bool { return s.err == nil && len(s.secs) > 0 }

func (s *series) median() float64 {
	if len(s.secs) == 0 {
		return 0
	}
	v := slices.Clone(s.secs)
	slices.Sort(v)
	return v[(len(v)-1)/2]
}

// info is the part of juice replay --info's JSON used here.
type info struct {
	Bytes        int64
	Instructions uint64
	Events       map[string]int
	Header       struct {
		DigestInterval uint64 `json:"digest_interval"`
	}
	End struct {
		Instructions uint64 `json:"instructions"`
	}
}

func readInfo(path string) (info, error) {
	var in info
	r := run(*juice, "replay", "--info", path)
	if r.err != nil {
		return in, r.err
	}
	if err := json.Unmarshal(r.stdout, &in); err != nil {
		return in, fmt.Errorf("replay --info %s: %w", path, err)
	}
	if in.End.Instructions != 0 {
		in.Instructions = in.End.Instructions
	}
	return in, nil
}

// helpFlags lists the flags whose names contain word in `juice CMD --help`;
// value is true for a flag that takes a value.
func helpFlags(sub, word string) map[string]bool {
	r := run(*juice, sub, "--help")
	re := regexp.MustCompile(`^\s+(?:-\w, )?(--[\w-]*` + word + `[\w-]*)( \S+)?(\s{2,}|$)`)
	out := map[string]bool{}
	for _, line := range strings.Split(string(r.stdout), "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			out[m[1]] = m[2] != ""
		}
	}
	return out
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench/replay: ")
	if *runs < 1 {
		*runs = 1
	}
	paths := run(*juice, "default-appliance")
	if paths.err != nil {
		log.Fatalf("%s default-appliance: %v", *juice, paths.err)
	}
	p := strings.Fields(string(paths.stdout))
	if len(p) != 2 {
		log.Fatalf("%s default-appliance printed %q, want two paths", *juice, paths.stdout)
	}
	kernel, initrd := p[0], p[1]
	dir, err := os.MkdirTemp("", "juice-replaybench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	jrr, jrr0, qrr := filepath.Join(dir, "boot.jrr"), filepath.Join(dir, "boot-nodigest.jrr"), filepath.Join(dir, "qemu-rr.bin")

	guest := []string{"--kernel", kernel, "--initrd", initrd, "--append", *cmdline}
	qemu := func(icount string) []string {
		a := []string{"-M", "virt", "-smp", "1", "-m", "256M", "-nographic", "-bios", "default",
			"-kernel", kernel, "-initrd", initrd, "-append", *cmdline}
		if icount != "" {
			a = append(a, "-icount", icount)
		}
		return a
	}

	// Checkpoint switches of this juice, if it has any: --until is timed
	// with the defaults and with each boolean one.
	ckReplay := helpFlags("replay", "checkpoint")
	ckRecord := helpFlags("record", "checkpoint")
	var ckBool []string
	for f, takesValue := range ckReplay {
		if !takesValue {
			ckBool = append(ckBool, f)
		}
	}
	slices.Sort(ckBool)

	var (
		jRun, jRec, jRec0, jRep, jUntil series
		jUntilCk                        = make([]series, len(ckBool))
		qPlain, qIcount, qRec, qRep     series
		jSize, jSize0, qSize            []int64
		lastInfo                        info
		infoErr                         error
		until                           uint64
		notes                           []string
	)
	note := func(format string, a ...any) {
		s := fmt.Sprintf(format, a...)
		if !slices.Contains(notes, s) {
			notes = append(notes, s)
		}
	}
	for i := 1; i <= *runs; i++ {
		step := func(what string) { progress("bench/replay: run %d/%d: %s", i, *runs, what) }

		step("juice run")
		jRun.add(run(*juice, append([]string{"run"}, guest...)...))
		step("juice record")
		rec := run(*juice, append([]string{"record", "-o", jrr}, guest...)...)
		jRec.add(rec)
		step("juice record --digest-every 0")
		jRec0.add(run(*juice, append([]string{"record", "--digest-every", "0", "-o", jrr0}, guest...)...))
		if rec.err == nil {
			jSize = append(jSize, fileSize(jrr))
			if s := fileSize(jrr0); s >= 0 {
				jSize0 = append(jSize0, s)
			}
			step("juice replay")
			rep := run(*juice, "replay", jrr)
			jRep.add(rep)
			if rep.err == nil && !bytes.Equal(rep.stdout, rec.stdout) {
				note("juice replay's console output differs from the recording run's")
			}
			if lastInfo, infoErr = readInfo(jrr); infoErr == nil && lastInfo.Instructions > 0 {
				until = lastInfo.Instructions * uint64(*untilPct) / 100
				n := fmt.Sprint(until)
				step("juice replay --until")
				jUntil.add(run(*juice, "replay", jrr, "--until", n))
				for k, f := range ckBool {
					step("juice replay --until " + f)
					jUntilCk[k].add(run(*juice, "replay", jrr, "--until", n, f))
				}
			}
		}

		step("qemu")
		qPlain.add(run(*qemuBin, qemu("")...))
		step("qemu -icount shift=auto")
		qIcount.add(run(*qemuBin, qemu("shift=auto")...))
		step("qemu rr=record")
		os.Remove(qrr)
		qr := run(*qemuBin, qemu("shift=auto,rr=record,rrfile="+qrr)...)
		qRec.add(qr)
		if qr.err == nil {
			qSize = append(qSize, fileSize(qrr))
			step("qemu rr=replay")
			qp := run(*qemuBin, qemu("shift=auto,rr=replay,rrfile="+qrr)...)
			qRep.add(qp)
			if qp.err == nil && !bytes.Equal(qp.stdout, qr.stdout) {
				note("qemu rr=replay's console output differs from its recording's")
			}
		} else if qRep.err == nil {
			qRep.err = errors.New("nothing to replay: rr=record failed")
		}
	}
	progress("")

	// The table.
	fmt.Printf("== Record and replay, default appliance boot to power-off (%d runs each, median wall seconds)\n", *runs)
	fmt.Printf("   kernel %s\n   initrd %s\n   append %q\n", kernel, initrd, *cmdline)
	if infoErr != nil {
		note("juice replay --info failed: %v", infoErr)
	} else if lastInfo.Instructions > 0 {
		var ev []string
		for k, n := range lastInfo.Events {
			ev = append(ev, fmt.Sprintf("%s %d", k, n))
		}
		slices.Sort(ev)
		fmt.Printf("   recording: %d guest instructions; events: %s; digest every %d instructions\n",
			lastInfo.Instructions, strings.Join(ev, ", "), lastInfo.Header.DigestInterval)
	}
	row := func(name, j, q, remark string) {
		fmt.Println(strings.TrimRight(fmt.Sprintf("   %-40s %12s %12s   %s", name, j, q, remark), " "))
	}
	row("", "juice", "qemu", "")
	secs := func(s *series, who string) string {
		if s.err != nil {
			note("%s failed: %v", who, s.err)
			return "failed"
		}
		if len(s.secs) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.3f s", s.median())
	}
	medianSize := func(v []int64) int64 {
		if len(v) == 0 {
			return -1
		}
		v = slices.Clone(v)
		slices.Sort(v)
		return v[(len(v)-1)/2]
	}
	size := func(v []int64) string {
		if n := medianSize(v); n >= 0 {
			return fmt.Sprintf("%d B", n)
		}
		return "-"
	}
	pct := func(a, b *series) string { // a over b, as an overhead
		if !a.ok() || !b.ok() {
			return "-"
		}
		return fmt.Sprintf("%+.1f %%", (a.median()/b.median()-1)*100)
	}
	times := func(a, b *series) string {
		if !a.ok() || !b.ok() {
			return "-"
		}
		return fmt.Sprintf("%.2fx", a.median()/b.median())
	}

	js, qs := medianSize(jSize), medianSize(qSize)
	sizeRemark := ""
	if js > 0 && qs > 0 {
		sizeRemark = fmt.Sprintf("qemu/juice %.1fx", float64(qs)/float64(js))
	}
	row("log size", size(jSize), size(qSize), sizeRemark)
	row("log size, no periodic digests", size(jSize0), "-", "juice record --digest-every 0")
	row("run (qemu: -icount shift=auto)", secs(&jRun, "juice run"), secs(&qIcount, "qemu -icount shift=auto"), "")
	row("record", secs(&jRec, "juice record"), secs(&qRec, "qemu rr=record"), "")
	row("record overhead", pct(&jRec, &jRun), pct(&qRec, &qIcount), "target for juice: under 3 %")
	row("record, no periodic digests", secs(&jRec0, "juice record --digest-every 0"), "-", "")
	row("record overhead, no periodic digests", pct(&jRec0, &jRun), "-", "")
	row("replay", secs(&jRep, "juice replay"), secs(&qRep, "qemu rr=replay"), "")
	row("replay / record", times(&jRep, &jRec), times(&qRep, &qRec), "")
	untilName := fmt.Sprintf("replay --until %d%%", *untilPct)
	row(untilName, secs(&jUntil, "juice replay --until"), "n/a", fmt.Sprintf("N = %d", until))
	row("  --until / full replay", times(&jUntil, &jRep), "-", "")
	for k, f := range ckBool {
		row(untilName+" "+f, secs(&jUntilCk[k], "juice replay --until "+f), "n/a", "")
		row("  / full replay", times(&jUntilCk[k], &jRep), "-", "")
	}
	row("(qemu without -icount, for reference)", "-", secs(&qPlain, "qemu"), "")
	if len(ckReplay) == 0 {
		note("juice replay --help lists no checkpoint flag: --until replays from the start")
	}
	for f, takesValue := range ckReplay {
		if takesValue {
			note("juice replay --help lists %s (takes a value; measured at its default only)", f)
		}
	}
	for f := range ckRecord {
		note("juice record --help lists %s (measured at its default)", f)
	}
	note("qemu has no command-line equivalent of --until (it stops at an icount via the monitor's replay_break or gdb)")
	short := strings.NewReplacer(kernel, "KERNEL", initrd, "INITRD")
	fmt.Println("   juice:  " + short.Replace(*juice+" run|record -o X.jrr [--digest-every 0] "+strings.Join(guest, " ")))
	fmt.Println("           " + *juice + " replay X.jrr [--until N]")
	fmt.Println("   qemu:   " + short.Replace(*qemuBin+" "+strings.Join(qemu("shift=auto[,rr=record|rr=replay,rrfile=X.bin]"), " ")))
	for _, n := range notes {
		fmt.Println("   note: " + n)
	}
}
