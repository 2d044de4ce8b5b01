package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/juicevm/juice/guest/devcheck/protocol"
)

// options are the devcheck.* options of the kernel command line, keyed
// without the "devcheck." prefix. The last of repeated options wins.
type options map[string]string

// parseCmdline collects the devcheck.* options of a kernel command line.
// Words are separated by white space; a value may be double-quoted, as
// the kernel allows (devcheck.fetch="http://...").
func parseCmdline(cmdline string) options {
	o := options{}
	for _, word := range splitCmdline(cmdline) {
		key, val, _ := strings.Cut(word, "=")
		if name, ok := strings.CutPrefix(key, "devcheck."); ok && name != "" {
			o[name] = val
		}
	}
	return o
}

// splitCmdline splits a command line into words, removing double quotes
// and keeping white space inside them.
func splitCmdline(s string) []string {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
			inWord = true
		case !quoted && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// has reports whether the option is present.
func (o options) has(key string) bool {
	_, ok := o[key]
	return ok
}

// str returns the option's value, or def when it is absent.
func (o options) str(key, def string) string {
	if v, ok := o[key]; ok {
		return v
	}
	return def
}

// int returns the option's value as a non-negative integer, or def when
// it is absent.
func (o options) int(key string, def int64) (int64, error) {
	v, ok := o[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("option devcheck.%s=%s: want a non-negative integer", key, v)
	}
	return n, nil
}

// flag returns the option as a boolean ("1", "y", "yes", "true", "on" or
// an empty value are true; "0", "n", "no", "false", "off" false), or def
// when it is absent.
func (o options) flag(key string, def bool) (bool, error) {
	v, ok := o[key]
	if !ok {
		return def, nil
	}
	switch strings.ToLower(v) {
	case "", "1", "y", "yes", "true", "on":
		return true, nil
	case "0", "n", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("option devcheck.%s=%s: want 1 or 0", key, v)
}

// enabled reports whether a step-triggering option asks for its step: it
// is present and not explicitly false.
func (o options) enabled(key string) bool {
	if !o.has(key) {
		return false
	}
	on, err := o.flag(key, true)
	return on || err != nil // a value such as a path or port turns it on
}

// step is one check devcheck can run.
type step struct {
	// name is the step's name on the console.
	name string
	// keys are the options the step reads; any devcheck.* option no step
	// reads is an error.
	keys []string
	// wanted reports whether the options ask for the step.
	wanted func(options) bool
	// run does the step; nil means it passed.
	run func(*runner) error
}

// steps returns every step in the order they run. To add a check, write
// its function and add it here.
func steps() []step {
	netWanted := func(o options) bool {
		return o.enabled("net") || o.has("fetch") || o.has("serve") || o.has("netbench")
	}
	return []step{
		{"disk", []string{"disk", "verify", "name", "size", "seed", "manifest", "mnt"},
			func(o options) bool { return o.has("disk") }, (*runner).disk},
		{"rng", []string{"rng"}, func(o options) bool { return o.enabled("rng") }, (*runner).rng},
		{"net", []string{"net", "ifname", "ip", "router", "dns"}, netWanted, (*runner).network},
		{"fetch", []string{"fetch"}, func(o options) bool { return o.has("fetch") }, (*runner).fetch},
		{"serve", []string{"serve"}, func(o options) bool { return o.has("serve") }, (*runner).serve},
		{"vsock", []string{"vsock"}, func(o options) bool { return o.has("vsock") }, (*runner).vsock},
		{"vsockdial", []string{"vsockdial", "vsockcid"}, func(o options) bool { return o.has("vsockdial") }, (*runner).vsockDial},
		{"diskbench", []string{"diskbench", "benchmb"}, func(o options) bool { return o.has("diskbench") }, (*runner).diskBench},
		{"netbench", []string{"netbench", "benchmb"}, func(o options) bool { return o.has("netbench") }, (*runner).netBench},
	}
}

// system is what the steps need from the kernel beyond plain files, so
// that tests can run steps on the host.
type system struct {
	// mount mounts an ext4 device on dir.
	mount func(dev, dir string) error
	// unmount unmounts dir.
	unmount func(dir string) error
	// sync flushes every file system.
	sync func()
}

// runner runs steps and holds what they share.
type runner struct {
	ctx  context.Context
	opts options
	out  io.Writer
	sys  system
	// netErr is the net step's error, or nil once the network is up; the
	// steps that need the network check it.
	netErr error
}

// infof prints an information line of a step.
func (r *runner) infof(step, format string, args ...any) {
	fmt.Fprintf(r.out, protocol.Prefix+step+" "+format+"\n", args...)
}

// timeout is how long a step waits for a device or peer that should
// answer promptly (devcheck.timeout=SECONDS of guest time, default 30).
func (r *runner) timeout() (time.Duration, error) {
	s, err := r.opts.int("timeout", 30)
	if err != nil {
		return 0, err
	}
	return time.Duration(s) * time.Second, nil
}

// needNet fails when the net step did not bring the network up.
func (r *runner) needNet() error {
	if r.netErr != nil {
		return fmt.Errorf("no network: %w", r.netErr)
	}
	return nil
}

// run runs the steps the command line asks for and returns the exit
// status: 0 if all passed, 1 if any failed, 2 if none was asked for.
func run(ctx context.Context, cmdline string, out io.Writer, sys system) int {
	o := parseCmdline(cmdline)
	r := &runner{ctx: ctx, opts: o, out: out, sys: sys, netErr: fmt.Errorf("the net step did not run")}
	all := steps()
	known := []string{"timeout", "hold"} // read by every step that waits; hold by disk
	for _, s := range all {
		known = append(known, s.keys...)
	}
	total, failed := 0, 0
	var unknown []string
	for k := range o {
		if !slices.Contains(known, k) {
			unknown = append(unknown, "devcheck."+k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		total++
		failed++
		fmt.Fprintf(out, "%sargs FAILED: unknown option %s\n", protocol.Prefix, strings.Join(unknown, ", "))
	}
	for _, s := range all {
		if !s.wanted(o) {
			continue
		}
		total++
		err := runStep(r, s)
		if s.name == "net" {
			r.netErr = err
		}
		if err != nil {
			failed++
			fmt.Fprintf(out, "%s%s FAILED: %s\n", protocol.Prefix, s.name, oneLine(err))
		} else {
			fmt.Fprintf(out, "%s%s ok\n", protocol.Prefix, s.name)
		}
	}
	switch {
	case total == 0:
		fmt.Fprintf(out, "%sFAILED: no steps requested (use devcheck.disk=, .rng=1, .net=1, .fetch=, .serve=, .vsock=, .vsockdial=)\n", protocol.Prefix)
		return 2
	case failed > 0:
		fmt.Fprintf(out, "%sFAILED: %d of %d steps\n", protocol.Prefix, failed, total)
		return 1
	}
	fmt.Fprintln(out, protocol.AllOK)
	return 0
}

// runStep runs one step, turning a panic into an error.
func runStep(r *runner, s step) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return s.run(r)
}

// oneLine joins the lines of an error so that it fits the one-line
// protocol.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
