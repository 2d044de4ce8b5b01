package vmm

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/migration"
	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/unixsock"
	"github.com/juicevm/juice/internal/virtio/blk"
	"github.com/juicevm/juice/internal/vmspec"
)

// Live migration moves a running VM to another Juice (juice receive) by
// pre-copy: RAM is sent while the guest runs, then again the pages it
// dirtied, round after round, until what is left fits the downtime
// budget; then the VM pauses, the rest and the device state are sent, and
// it resumes on the destination. A guest that dirties memory faster than
// the link carries it does not converge: after the timeout the migration
// gives up, and the VM runs on here as if nothing had happened.
//
// Nothing is lost on failure: until the destination has the whole VM and
// has opened its disks, the source only reads; if the stream breaks or the
// destination refuses at any point before that, the source takes its disks
// back and the VM goes on. See internal/migration for the protocol.

// MigrateOptions are how a VM is moved.
type MigrateOptions struct {
	// To is the destination: HOST:PORT or unix:PATH.
	To string
	// Token is the destination's token.
	Token string
	// Downtime is the budget for the final, paused stretch (default
	// 300 ms).
	Downtime time.Duration
	// Timeout gives up when pre-copy has not converged by then (default
	// one minute).
	Timeout time.Duration
}

// Migrated describes a migration that moved the VM.
type Migrated struct {
	To           string        `json:"destination"`
	Total        time.Duration `json:"total_ns"`
	Downtime     time.Duration `json:"downtime_ns"`
	Bytes        int64         `json:"bytes"`
	Rounds       int           `json:"rounds"`
	Instructions uint64        `json:"instructions"`
}

// ErrMigrated is how Run reports a VM that went elsewhere.
var ErrMigrated = errors.New("the VM migrated")

// MigratedTo returns where the VM went, if it migrated.
func (vm *VM) MigratedTo() string {
	vm.ctl.mu.Lock()
	defer vm.ctl.mu.Unlock()
	return vm.migratedTo
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// dial connects to a migration address.
func dial(ctx context.Context, to string) (net.Conn, error) {
	var d net.Dialer
	d.Timeout = 10 * time.Second
	if path, ok := strings.CutPrefix(to, "unix:"); ok {
		return d.DialContext(ctx, "unix", path)
	}
	return d.DialContext(ctx, "tcp", to)
}

// Listen listens on a migration address: HOST:PORT or unix:PATH.
func Listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return unixsock.Listen(path, 0o600)
	}
	return net.Listen("tcp", addr)
}

// paused runs f with the VM paused between scheduling rounds, then lets
// it run on unless it was paused already.
func (vm *VM) paused(ctx context.Context, f func(m *machine.Machine) error) error {
	was := vm.Info().State == StatePaused
	if err := vm.Pause(ctx); err != nil {
		return err
	}
	err := f(vm.m)
	if !was {
		if rerr := vm.Resume(ctx); err == nil {
			err = rerr
		}
	}
	return err
}

// fingerprint identifies a disk file: its size and the SHA-256 of its
// first and last MiB.
func fingerprint(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", fi.Size())
	const part = 1 << 20
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, part)); err != nil {
		return "", 0, err
	}
	if fi.Size() > part {
		if _, err := io.Copy(h, io.NewSectionReader(f, max(part, fi.Size()-part), part)); err != nil {
			return "", 0, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), fi.Size(), nil
}

// Migrate moves the running VM to the destination o.To. On success the VM
// here has stopped (Run returns, and MigratedTo says where it went); on
// failure it runs on here, unchanged.
func (vm *VM) Migrate(ctx context.Context, o MigrateOptions) (Migrated, error) {
	vm.snap.mu.Lock()
	defer vm.snap.mu.Unlock()
	if o.Downtime <= 0 {
		o.Downtime = 300 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	switch vm.Info().State {
	case StateRunning, StatePaused:
	default:
		return Migrated{}, ErrNotRunning
	}
	start := time.Now()
	conn, err := dial(ctx, o.To)
	if err != nil {
		return Migrated{}, fmt.Errorf("migrate: %w; the VM runs on here", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	cw := &countingWriter{w: conn}
	w, r := migration.NewWriter(cw), migration.NewReader(conn)
	res := Migrated{To: o.To}
	fail := func(err error) (Migrated, error) {
		w.JSON(migration.TAbort, migration.Refuse{Message: err.Error()})
		return Migrated{}, fmt.Errorf("migrate to %s: %w; the VM runs on here", o.To, err)
	}

	// Hello, and whether the destination can honour the VM.
	hello := migration.Hello{Magic: migration.Magic, Version: migration.Version, Token: o.Token, JuiceVersion: vm.version, Spec: vm.Spec()}
	disks := vm.m.Disks()
	for i, d := range vm.spec.Disks {
		hd := migration.Disk{Path: d.Path, ReadOnly: d.ReadOnly, Size: disks[i].Size()}
		if d.ReadOnly {
			sum, _, err := vm.roDigest(i, d.Path)
			if err != nil {
				return Migrated{}, fmt.Errorf("migrate: disk %d: %w; the VM runs on here", i, err)
			}
			hd.SHA256 = sum
		} else if disks[i].InPlace() {
			if hd.Fingerprint, _, err = fingerprint(d.Path); err != nil {
				return Migrated{}, fmt.Errorf("migrate: disk %d: %w; the VM runs on here", i, err)
			}
		}
		hello.Disks = append(hello.Disks, hd)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := w.JSON(migration.THello, hello); err != nil {
		return Migrated{}, fmt.Errorf("migrate to %s: %w; the VM runs on here", o.To, err)
	}
	var acc migration.Accept
	if err := expect(r, migration.TAccept, &acc); err != nil {
		return Migrated{}, fmt.Errorf("migrate to %s: %w; the VM runs on here", o.To, err)
	}
	if len(acc.Shared) != len(disks) {
		return fail(errors.New("the destination's answer does not list every disk"))
	}
	for i, shared := range acc.Shared {
		if shared && !disks[i].InPlace() && !vm.spec.Disks[i].ReadOnly {
			return fail(fmt.Errorf("the destination would reopen disk %d, whose writes are not in its file", i))
		}
	}

	// Pre-copy rounds, the guest running.
	pages := vm.m.Pages()
	pending := make([]bool, pages)
	var npending int
	conn.SetDeadline(time.Time{})
	deadline := start.Add(o.Timeout)
	bw := 0.0 // bytes per second, measured
	for {
		var dirty []uint32
		if err := vm.paused(ctx, func(m *machine.Machine) error { dirty = m.DirtyPages(); return nil }); err != nil {
			return fail(err)
		}
		for _, p := range dirty {
			if !pending[p] {
				pending[p] = true
				npending++
			}
		}
		if res.Rounds > 0 && bw > 0 && time.Duration(float64(npending*migration.PageSize)/bw*float64(time.Second)) <= o.Downtime {
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("pre-copy did not converge within %v: the guest writes memory faster than the link carries it (%d pages dirty)", o.Timeout, npending))
		}
		roundStart, sent0 := time.Now(), cw.n
		list := make([]uint32, 0, npending)
		for p, d := range pending {
			if d {
				list = append(list, uint32(p))
			}
		}
		clear(pending)
		npending = 0
		if err := vm.sendPages(ctx, w, list, true); err != nil {
			return fail(err)
		}
		if el := time.Since(roundStart).Seconds(); el > 0 {
			bw = float64(cw.n-sent0) / el
		}
		res.Rounds++
	}

	// The final stretch: the guest paused.
	was := vm.Info().State == StatePaused
	if err := vm.Pause(ctx); err != nil {
		return fail(err)
	}
	pauseStart := time.Now()
	resume := func() {
		for _, d := range disks {
			d.Relock()
		}
		if !was {
			vm.Resume(context.Background())
		}
	}
	for _, p := range vm.m.DirtyPages() {
		pending[p] = true
	}
	list := make([]uint32, 0)
	for p, d := range pending {
		if d {
			list = append(list, uint32(p))
		}
	}
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	err = vm.sendPages(ctx, w, list, false)
	for i, d := range disks {
		if err != nil || vm.spec.Disks[i].ReadOnly {
			continue
		}
		if acc.Shared[i] {
			err = d.Unlock()
			continue
		}
		err = d.Contents(func(off int64, data []byte) error { return w.Disk(uint32(i), off, data) })
	}
	var ss []snapshot.Section
	if err == nil {
		ss, err = vm.m.SnapshotState()
	}
	if err == nil {
		err = w.State(snapshot.EncodeState(ss))
	}
	if err == nil {
		res.Instructions = vm.m.Instructions()
		err = w.JSON(migration.TDone, migration.Done{Instructions: res.Instructions, Clock: vm.m.Clock()})
	}
	if err == nil {
		err = expect(r, migration.TReady, nil)
	}
	if err != nil {
		resume()
		return fail(err)
	}
	// From the Commit on, the destination runs the VM.
	if err := w.JSON(migration.TCommit, struct{}{}); err != nil {
		resume()
		return fail(err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := expect(r, migration.TStarted, nil); err != nil {
		// The destination got the whole VM but may not have heard the
		// Commit. If it holds the disks it runs the VM; otherwise the
		// VM goes on here (with no shared disk, it may then run in
		// both places: better than in neither).
		for i, d := range disks {
			if acc.Shared[i] && !vm.spec.Disks[i].ReadOnly && d.Relock() != nil {
				goto moved
			}
		}
		resume()
		return Migrated{}, fmt.Errorf("migrate to %s: no word from the destination after the commit (%w); the VM runs on here", o.To, err)
	}
moved:
	res.Downtime = time.Since(pauseStart)
	res.Total = time.Since(start)
	res.Bytes = cw.n
	vm.ctl.mu.Lock()
	vm.migratedTo = o.To
	vm.ctl.mu.Unlock()
	vm.fail(ErrMigrated)
	return res, nil
}

// sendPages sends the pages list; while the guest runs (live), it pauses
// it for each frame's copy.
func (vm *VM) sendPages(ctx context.Context, w *migration.Writer, list []uint32, live bool) error {
	buf := make([]byte, migration.MaxPagesPerFrame*migration.PageSize)
	ps := make([]migration.Page, 0, migration.MaxPagesPerFrame)
	var zero [migration.PageSize]byte
	for len(list) > 0 {
		n := min(len(list), migration.MaxPagesPerFrame)
		batch := list[:n]
		list = list[n:]
		ps = ps[:0]
		copyBatch := func(m *machine.Machine) error {
			for k, p := range batch {
				b := buf[k*migration.PageSize : (k+1)*migration.PageSize]
				if err := m.Page(p, b); err != nil {
					return err
				}
				if string(b) == string(zero[:]) {
					b = nil
				}
				ps = append(ps, migration.Page{Index: p, Data: b})
			}
			return nil
		}
		var err error
		if live {
			err = vm.paused(ctx, copyBatch)
		} else {
			err = copyBatch(vm.m)
		}
		if err != nil {
			return err
		}
		if err := w.Pages(ps); err != nil {
			return err
		}
	}
	return nil
}

// expect reads the next frame, which must be of type want (its JSON
// decoded into v) — a Refuse or Abort becomes the error it carries.
func expect(r *migration.Reader, want migration.Type, v any) error {
	t, b, err := r.Next()
	if err != nil {
		return err
	}
	switch t {
	case want:
		if v != nil {
			return migration.DecodeJSON(t, b, v)
		}
		return nil
	case migration.TRefuse, migration.TAbort:
		var rf migration.Refuse
		migration.DecodeJSON(t, b, &rf)
		who := "the destination refused"
		if t == migration.TAbort {
			who = "the other side gave up"
		}
		return fmt.Errorf("%s: %s", who, rf.Message)
	}
	return fmt.Errorf("migration: a %v message where %v was due", t, want)
}

// ReceiveOptions are how a VM is received.
type ReceiveOptions struct {
	RestoreOptions
	// Token is what the source must present.
	Token string
}

// Receive waits on ln for one migration and returns the VM it brought,
// committed and ready to Run. A source that fails (a wrong token, a VM
// this host cannot honour, a broken stream) is told why and logged, and
// Receive waits for the next; it returns when ctx ends.
func Receive(ctx context.Context, ln net.Listener, o ReceiveOptions) (*VM, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("receive: %w", err)
		}
		vm, err := receiveOne(ctx, conn, o, log)
		conn.Close()
		if err == nil {
			return vm, nil
		}
		log.Warn("receive: a migration failed", "from", conn.RemoteAddr().String(), "err", err)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// received is a disk whose contents a migration brings.
type received struct {
	f      *os.File
	target string
	size   int64
}

// receiveOne takes one migration from conn.
func receiveOne(ctx context.Context, conn net.Conn, o ReceiveOptions, log *slog.Logger) (vm *VM, err error) {
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	w, r := migration.NewWriter(conn), migration.NewReader(conn)
	refuse := func(err error) (*VM, error) {
		w.JSON(migration.TRefuse, migration.Refuse{Message: err.Error()})
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	t, b, err := r.Next()
	if err != nil {
		return nil, err
	}
	if t != migration.THello {
		return refuse(fmt.Errorf("a %v message where Hello was due", t))
	}
	var h migration.Hello
	if err := migration.DecodeJSON(t, b, &h); err != nil {
		return refuse(err)
	}
	if h.Magic != migration.Magic || h.Version != migration.Version {
		return refuse(fmt.Errorf("protocol %q version %d; this Juice speaks %s version %d", h.Magic, h.Version, migration.Magic, migration.Version))
	}
	if subtle.ConstantTimeCompare([]byte(h.Token), []byte(o.Token)) != 1 {
		return refuse(errors.New("wrong token"))
	}
	spec := h.Spec.Clone()
	if o.Net != nil {
		spec.Net = o.Net
	}
	if o.Vsock != nil {
		spec.Vsock = o.Vsock
	}
	if err := spec.Validate(); err != nil {
		return refuse(fmt.Errorf("vm spec: %w", err))
	}
	if len(h.Disks) != len(spec.Disks) {
		return refuse(errors.New("the disks listed are not the spec's"))
	}
	if err := checkOverrides(o.Disks, spec); err != nil {
		return refuse(err)
	}
	// Which disks this host reaches, before the source pauses.
	rs := &restoring{disks: o.Disks}
	acc := migration.Accept{Shared: make([]bool, len(spec.Disks))}
	recv := map[uint32]*received{}
	defer func() {
		for _, d := range recv {
			d.f.Close()
			os.Remove(d.f.Name())
			if err != nil && d.target != "" {
				os.Remove(d.target)
			}
		}
	}()
	for i, d := range h.Disks {
		sd := &spec.Disks[i]
		if d.Size < 0 || d.Size > 1<<50 {
			return refuse(fmt.Errorf("disk %d: a size of %d", i, d.Size))
		}
		path, named := rs.override(i, *sd)
		if !named {
			path = d.Path
		}
		sd.Path, sd.Overlay = path, ""
		if d.ReadOnly {
			sum, size, err := snapshot.FileDigest(path)
			if err != nil || sum != d.SHA256 || size != d.Size {
				return refuse(fmt.Errorf("disk %d: %s is not reachable here or is not the same file; pass --disk %d=PATH", i, path, i))
			}
			acc.Shared[i] = true
			continue
		}
		fi, serr := os.Stat(path)
		switch {
		case serr == nil && named:
			if d.Fingerprint == "" {
				return refuse(fmt.Errorf("disk %d: %s exists, and the VM's writes to its disk are not in a file this host can share; name a new file with --disk %d=PATH", i, path, i))
			}
			fp, _, err := fingerprint(path)
			if err != nil || fp != d.Fingerprint || fi.Size() != d.Size {
				return refuse(fmt.Errorf("disk %d: %s is not the source's disk (it differs); name a new file with --disk %d=PATH to receive its contents", i, path, i))
			}
			acc.Shared[i] = true
		case serr == nil && d.Fingerprint != "":
			fp, _, err := fingerprint(path)
			if err != nil || fp != d.Fingerprint {
				return refuse(fmt.Errorf("disk %d: %s here is not the source's disk; pass --disk %d=PATH to receive its contents into a new file", i, path, i))
			}
			acc.Shared[i] = true
		case errors.Is(serr, os.ErrNotExist) && named:
			f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
			if err != nil {
				return refuse(fmt.Errorf("disk %d: %w", i, err))
			}
			recv[uint32(i)] = &received{f: f, size: d.Size}
			sd.Path = path
		default:
			return refuse(fmt.Errorf("disk %d: %s is not reachable here; pass --disk %d=PATH to receive its contents into a new file", i, path, i))
		}
	}
	if err := w.JSON(migration.TAccept, acc); err != nil {
		return nil, err
	}

	// RAM, into a memory file that becomes the VM's copy-on-write RAM.
	ram := uint64(spec.Memory)
	fd, err := unix.MemfdCreate("juice-migration-ram", unix.MFD_CLOEXEC)
	if err != nil {
		return refuse(fmt.Errorf("memory: %w", err))
	}
	mem := os.NewFile(uintptr(fd), "migration memory")
	defer mem.Close()
	if err := mem.Truncate(int64(ram)); err != nil {
		return refuse(fmt.Errorf("memory: %w", err))
	}
	limit := uint32(ram / migration.PageSize)
	var ps []migration.Page
	var state []snapshot.Section
	for {
		conn.SetDeadline(time.Now().Add(2 * time.Minute))
		t, b, err := r.Next()
		if err != nil {
			return nil, err
		}
		switch t {
		case migration.TPages:
			if ps, err = migration.DecodePages(b, limit, ps); err != nil {
				return refuse(err)
			}
			for _, p := range ps {
				off := int64(p.Index) * migration.PageSize
				if p.Data == nil {
					err = unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, migration.PageSize)
				} else {
					_, err = mem.WriteAt(p.Data, off)
				}
				if err != nil {
					return refuse(fmt.Errorf("memory: %w", err))
				}
			}
		case migration.TDisk:
			i, off, data, err := migration.DecodeDisk(b)
			if err != nil {
				return refuse(err)
			}
			d, ok := recv[i]
			if !ok || off+int64(len(data)) > d.size {
				return refuse(fmt.Errorf("disk %d: contents this migration does not take (at %d)", i, off))
			}
			if _, err := d.f.WriteAt(data, off); err != nil {
				return refuse(fmt.Errorf("disk %d: %w", i, err))
			}
		case migration.TState:
			if state, err = snapshot.DecodeState(append([]byte(nil), b...)); err != nil {
				return refuse(fmt.Errorf("state: %w", err))
			}
		case migration.TDone:
			if state == nil {
				return refuse(errors.New("no state before Done"))
			}
			goto build
		case migration.TAbort:
			var rf migration.Refuse
			migration.DecodeJSON(t, b, &rf)
			return nil, fmt.Errorf("the source gave up: %s", rf.Message)
		default:
			return refuse(fmt.Errorf("a %v message during the transfer", t))
		}
	}
build:
	for i, d := range recv {
		err := d.f.Truncate(d.size)
		if err == nil {
			err = d.f.Sync()
		}
		if err == nil {
			err = os.Link(d.f.Name(), spec.Disks[i].Path)
		}
		if err != nil {
			return refuse(fmt.Errorf("disk %d: %w", i, err))
		}
		d.target = spec.Disks[i].Path
	}
	rs.machine = &machine.Restored{Memory: mem, State: state}
	rs.open = func(spec *vmspec.Spec, i int, volatile bool, log *slog.Logger) (*blk.Device, error) {
		return OpenDisk(spec.Disks[i], i, nil, volatile, log)
	}
	opts := o.Options
	opts.restore = rs
	vm, err = build(spec, opts)
	if err != nil {
		return refuse(err)
	}
	vm.resetHostSides()
	if err := w.JSON(migration.TReady, struct{}{}); err != nil {
		vm.Close()
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(time.Minute))
	if err := expect(r, migration.TCommit, nil); err != nil {
		vm.Close()
		return nil, err
	}
	w.JSON(migration.TStarted, struct{}{})
	return vm, nil
}
