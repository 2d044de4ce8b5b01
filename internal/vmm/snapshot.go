package vmm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/juicevm/juice/internal/machine"
	"github.com/juicevm/juice/internal/snapshot"
	"github.com/juicevm/juice/internal/virtio/blk"
	"github.com/juicevm/juice/internal/vmspec"
)

// snapshots is what a VM remembers of the snapshots taken of it: the
// latest, which a diff snapshot names as its parent.
type snapshots struct {
	mu sync.Mutex // one snapshot at a time
	// parent is the latest snapshot written of the VM (or the one it was
	// restored from), for a diff; nil when there is none to diff against.
	parent *snapshot.Parent
	// roDigests caches the digests of read-only disks, which do not change.
	roDigests map[int]string
	// verify, for a restored VM, reports whether its memory images match
	// their digests (checked while it runs).
	verify chan error
}

// ErrNoParent is returned for a diff snapshot of a VM that has no snapshot
// to diff against.
var ErrNoParent = errors.New("a diff snapshot needs a snapshot of this VM to be taken (or restored from) before it")

// SnapshotOptions are how a snapshot is taken.
type SnapshotOptions struct {
	// Diff writes only the pages written since the VM's previous snapshot
	// (or the one it was restored from), naming that one as the parent.
	Diff bool
	// Stop stops the VM once the snapshot is written, instead of letting
	// it run on.
	Stop bool
	// JuiceVersion names this Juice in snapshot.json.
	JuiceVersion string
}

// Snapshotted describes a snapshot written.
type Snapshotted struct {
	Dir          string        `json:"snapshot_path"`
	Kind         string        `json:"snapshot_type"`
	Instructions uint64        `json:"instructions"`
	Clock        uint64        `json:"clock"`
	Pages        uint64        `json:"pages"`
	Paused       time.Duration `json:"paused_ns"`
}

// Snapshot writes the VM's state into the new folder dir: it pauses the
// VM at the next boundary of a scheduling round (if it runs), writes the
// snapshot, and lets the VM run on unless it was paused before or
// o.Stop is set. A failed snapshot leaves nothing under dir, and the VM
// runs on as if none had been asked for.
func (vm *VM) Snapshot(ctx context.Context, dir string, o SnapshotOptions) (s Snapshotted, err error) {
	vm.snap.mu.Lock()
	defer vm.snap.mu.Unlock()
	parent := vm.snap.parent
	if o.Diff && parent == nil {
		return Snapshotted{}, fmt.Errorf("snapshot: %w", ErrNoParent)
	}
	switch vm.Info().State {
	case StateRunning, StatePaused:
	default:
		return Snapshotted{}, fmt.Errorf("snapshot: %w", ErrNotRunning)
	}
	w, err := snapshot.Create(dir)
	if err != nil {
		return Snapshotted{}, err
	}
	defer w.Abort()
	wasPaused := vm.Info().State == StatePaused
	if err := vm.Pause(ctx); err != nil {
		return Snapshotted{}, fmt.Errorf("snapshot: %w", err)
	}
	// The VM runs on (or stops) however the writing ends, a panic
	// included.
	done := false
	goOn := func() error {
		if done {
			return nil
		}
		done = true
		switch {
		case o.Stop:
			if err := vm.Stop(ctx); err != nil {
				return fmt.Errorf("snapshot written; stopping the VM: %w", err)
			}
		case !wasPaused:
			if err := vm.Resume(ctx); err != nil {
				return fmt.Errorf("snapshot written; resuming the VM: %w", err)
			}
		}
		return nil
	}
	defer goOn()
	start := time.Now()
	if o.JuiceVersion == "" {
		o.JuiceVersion = vm.version
	}
	s, man, err := writeSnapshot(w, vm.m, vm.spec, o, parent, vm.roDigest)
	s.Paused = time.Since(start)
	if err != nil {
		// The dirty pages since the parent may have been consumed: the
		// next diff needs a full snapshot first.
		vm.snap.parent = nil
		return s, err
	}
	// The files hold the state now: the VM runs on while they are made
	// durable.
	err = goOn()
	if cerr := vm.commitSnapshot(w, man); cerr != nil {
		vm.snap.parent = nil
		return s, cerr
	}
	return s, err
}

// writeSnapshot writes the state of the paused machine m, built from spec,
// with w: a diff against parent when o.Diff is set, else full. roDigest
// gives the digest and size of read-only disk i. It returns the manifest
// to commit.
func writeSnapshot(w *snapshot.Writer, m *machine.Machine, spec vmspec.Spec, o SnapshotOptions, parent *snapshot.Parent,
	roDigest func(i int, path string) (string, int64, error)) (Snapshotted, snapshot.Manifest, error) {
	n, clock := m.Instructions(), m.Clock()
	ss, err := m.SnapshotState()
	if err != nil {
		return Snapshotted{}, snapshot.Manifest{}, err
	}
	if err := w.WriteState(ss); err != nil {
		return Snapshotted{}, snapshot.Manifest{}, err
	}
	var stored uint64
	if err := w.WriteMemory(uint64(spec.Memory), o.Diff, func(put func(uint32, []byte) error) error {
		return m.RAMPages(o.Diff, func(p uint32, b []byte) error { stored++; return put(p, b) })
	}); err != nil {
		return Snapshotted{}, snapshot.Manifest{}, err
	}
	man := snapshot.Manifest{JuiceVersion: o.JuiceVersion, Kind: snapshot.KindFull, Instructions: n, Clock: clock, Spec: spec.Clone()}
	if o.Diff {
		man.Kind, man.Parent = snapshot.KindDiff, parent
	}
	disks := m.Disks()
	for i, d := range spec.Disks {
		if d.ReadOnly {
			sum, size, err := roDigest(i, d.Path)
			if err != nil {
				return Snapshotted{}, snapshot.Manifest{}, fmt.Errorf("snapshot: disk %d: %w", i, err)
			}
			man.Disks = append(man.Disks, snapshot.DiskInfo{Path: d.Path, SHA256: sum, Size: size})
			continue
		}
		info, err := w.WriteDisk(i, disks[i].CopyTo)
		if err != nil {
			return Snapshotted{}, snapshot.Manifest{}, err
		}
		man.Disks = append(man.Disks, info)
	}
	// A diff names its parent by a path relative to itself when it can,
	// so that the two folders can move together.
	if man.Parent != nil {
		p := *man.Parent
		abs, _ := filepath.Abs(w.Dir())
		if rel, err := filepath.Rel(abs, p.Path); err == nil && filepath.IsAbs(p.Path) {
			p.Path = rel
		}
		man.Parent = &p
	}
	return Snapshotted{Dir: w.Dir(), Kind: man.Kind, Instructions: n, Clock: clock, Pages: stored}, man, nil
}

// commitSnapshot makes a written snapshot durable and gives it its name;
// it becomes the parent of the VM's next diff.
func (vm *VM) commitSnapshot(w *snapshot.Writer, man snapshot.Manifest) error {
	if err := w.Commit(man); err != nil {
		return err
	}
	abs, err := filepath.Abs(w.Dir())
	if err != nil {
		abs = w.Dir()
	}
	vm.snap.parent = &snapshot.Parent{Path: abs, SHA256: w.Digest()}
	return nil
}

// SnapshotMachine writes a full snapshot of the paused machine m, built
// from spec, into the new folder dir: the state a replay reached, which
// juice restore goes on from live. A failed snapshot leaves nothing under
// dir.
func SnapshotMachine(dir string, m *machine.Machine, spec vmspec.Spec, o SnapshotOptions) (Snapshotted, error) {
	if o.Diff {
		return Snapshotted{}, errors.New("snapshot: a machine without a snapshot before has nothing to diff against")
	}
	w, err := snapshot.Create(dir)
	if err != nil {
		return Snapshotted{}, err
	}
	defer w.Abort()
	s, man, err := writeSnapshot(w, m, spec, o, nil, func(_ int, path string) (string, int64, error) {
		return snapshot.FileDigest(path)
	})
	if err != nil {
		return s, err
	}
	return s, w.Commit(man)
}

// roDigest returns the digest and size of read-only disk i, computed once.
func (vm *VM) roDigest(i int, path string) (string, int64, error) {
	if vm.snap.roDigests == nil {
		vm.snap.roDigests = map[int]string{}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", 0, err
	}
	if sum, ok := vm.snap.roDigests[i]; ok {
		return sum, fi.Size(), nil
	}
	sum, size, err := snapshot.FileDigest(path)
	if err != nil {
		return "", 0, err
	}
	vm.snap.roDigests[i] = sum
	return sum, size, nil
}

// RestoreOptions are how a VM is restored from a snapshot.
type RestoreOptions struct {
	Options
	// Disks points disks elsewhere: by the disk's index ("0"), serial, or
	// the base name of the path it had, to a path. A read-only disk's new
	// path must hold the same contents (its digest is checked). For a
	// writable disk, a path that does not exist is made a copy of the
	// disk's contents at the snapshot point, and the VM writes to it; a
	// path that exists is used as the disk as it is (shared storage, as
	// after a migration).
	Disks map[string]string
	// Net and Vsock, if set, replace the spec's network interfaces and
	// vsock device: host resources are not state.
	Net   []vmspec.Net
	Vsock *vmspec.Vsock
}

// restoring is what building a VM from a snapshot needs beyond its spec.
type restoring struct {
	machine *machine.Restored
	// open opens disk i of the spec (as the restore rules say).
	open  func(spec *vmspec.Spec, i int, volatile bool, log *slog.Logger) (*blk.Device, error)
	tip   *snapshot.Folder
	disks map[string]string
	// notes collects what a user should know of the restored disks.
	notes []string
}

// folderDisk opens disk i of the VM being restored from a folder.
func (r *restoring) folderDisk(spec *vmspec.Spec, i int, volatile bool, log *slog.Logger) (*blk.Device, error) {
	d := &spec.Disks[i]
	info := r.tip.Manifest.Disks[i]
	override, named := r.override(i, *d)
	serial := d.Serial
	if serial == "" {
		serial = fmt.Sprintf("juice-vd%c", 'a'+i)
	}
	opts := blk.Options{ReadOnly: d.ReadOnly, Serial: serial, Logger: log, Volatile: volatile}
	d.Overlay = ""
	if info.File == "" {
		// A read-only disk, referenced by path and digest.
		path := info.Path
		if named {
			path = override
		}
		sum, size, err := snapshot.FileDigest(path)
		if err != nil {
			return nil, fmt.Errorf("disk %d: %w (point it elsewhere with --disk %d=PATH)", i, err, i)
		}
		if sum != info.SHA256 || size != info.Size {
			return nil, fmt.Errorf("disk %d: %s is not the disk the snapshot was taken with (its SHA-256 differs)", i, path)
		}
		d.Path = path
		dev, err := blk.Open(path, opts)
		if err != nil {
			return nil, fmt.Errorf("disk %d: %w", i, err)
		}
		return dev, nil
	}
	frozen, err := r.tip.OpenDisk(i)
	if err != nil {
		return nil, err
	}
	if !named || volatile {
		// The guest's writes stay in memory over the frozen contents,
		// which are never written.
		opts.Volatile, opts.File = true, frozen
		d.Path = filepath.Join(r.tip.Dir, info.File)
		if !volatile {
			r.notes = append(r.notes, fmt.Sprintf("disk %d: the guest's writes are kept in memory and lost when the VM ends; --disk %d=PATH keeps them in PATH", i, i))
		}
		dev, err := blk.Open(d.Path, opts)
		if err != nil {
			frozen.Close()
			return nil, fmt.Errorf("disk %d: %w", i, err)
		}
		return dev, nil
	}
	defer frozen.Close()
	fi, err := os.Stat(override)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := copySparse(override, frozen, info.Size); err != nil {
			return nil, fmt.Errorf("disk %d: %w", i, err)
		}
	case err != nil:
		return nil, fmt.Errorf("disk %d: %w", i, err)
	case fi.Size() != info.Size:
		return nil, fmt.Errorf("disk %d: %s holds %d bytes, the snapshot's disk %d", i, override, fi.Size(), info.Size)
	}
	d.Path = override
	dev, err := blk.Open(override, opts)
	if err != nil {
		return nil, fmt.Errorf("disk %d: %w", i, err)
	}
	return dev, nil
}

// override returns the path disk i is pointed at, if it is.
func (r *restoring) override(i int, d vmspec.Disk) (string, bool) {
	for _, name := range []string{strconv.Itoa(i), d.Serial, filepath.Base(d.Path)} {
		if name == "" {
			continue
		}
		if p, ok := r.disks[name]; ok {
			return p, true
		}
	}
	return "", false
}

// checkOverrides refuses a --disk name that names no disk.
func checkOverrides(disks map[string]string, spec vmspec.Spec) error {
	for name := range disks {
		found := false
		for i, d := range spec.Disks {
			if name == strconv.Itoa(i) || name == d.Serial || name == filepath.Base(d.Path) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("--disk %s: the snapshot has no such disk (name one by its index, 0 to %d, serial or file name)", name, len(spec.Disks)-1)
		}
	}
	return nil
}

// copySparse writes the first size bytes of src to a new file at path,
// leaving zero stretches as holes; it is written beside and renamed.
func copySparse(path string, src *os.File, size int64) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := snapshot.CopySparse(tmp, src, size); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	return nil
}

// Restore builds a VM from the snapshot folder dir (and, for a diff, its
// parents), in the state it was taken in; Run goes on from there. The
// network interfaces and vsock are made anew from the spec (or
// o.Net/o.Vsock): connections through them are reset. RAM is mapped from
// the full snapshot's memory copy-on-write, so the VM runs before all of it
// is read; the memory images are checked against their digests while it
// runs, and a damaged one stops it with an error.
func Restore(dir string, o RestoreOptions) (*VM, error) {
	chain, err := snapshot.OpenChain(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range chain {
			f.Close()
		}
	}()
	tip := chain[len(chain)-1]
	spec := tip.Manifest.Spec.Clone()
	if err := checkOverrides(o.Disks, spec); err != nil {
		return nil, err
	}
	if o.Net != nil {
		spec.Net = o.Net
	}
	if o.Vsock != nil {
		spec.Vsock = o.Vsock
	}
	if o.Script != nil {
		// A replay: the end of the recording bounds the run.
		spec.Limits.MaxInstructions = 0
	}
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("vm spec: %w", err)
	}
	mem, err := chain[0].OpenMemory()
	if err != nil {
		return nil, err
	}
	defer mem.Close()
	r := &restoring{machine: &machine.Restored{Memory: mem, State: tip.State}, tip: tip, disks: o.Disks}
	r.open = r.folderDisk
	opts := o.Options
	opts.restore = r
	vm, err := build(spec, opts)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	m := vm.m
	for _, f := range chain[1:] {
		dm, err := f.OpenMemory()
		if err == nil {
			err = f.EachPage(dm, func(p uint32, data []byte) error {
				return m.WritePhysical(machine.RAMBase+uint64(p)*machine.PageSize, data)
			})
			dm.Close()
		}
		if err != nil {
			vm.Close()
			return nil, err
		}
	}
	// The next diff snapshot holds the pages written from here.
	m.RAMPages(true, func(uint32, []byte) error { return nil })
	vm.resetHostSides()
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	vm.snap.parent = &snapshot.Parent{Path: abs, SHA256: tip.Digest}
	verify := make(chan error, 1)
	vm.snap.verify = verify
	dirs := make([]string, len(chain))
	for i, f := range chain {
		dirs[i] = f.Dir
	}
	go func() {
		for _, d := range dirs {
			f, err := snapshot.Open(d)
			if err == nil {
				err = f.VerifyMemory()
				f.Close()
			}
			if err != nil {
				verify <- err
				return
			}
		}
		verify <- nil
	}()
	return vm, nil
}

// build opens the host resources of spec and builds its machine: booting,
// or from a snapshot's state when o.restore is set.
func build(spec vmspec.Spec, o Options) (*VM, error) {
	cfg, err := configure(&spec, o)
	if err != nil {
		return nil, err
	}
	m, err := machine.New(cfg)
	if err != nil {
		return nil, err
	}
	vm := &VM{spec: spec, m: m, version: o.JuiceVersion}
	if o.restore != nil {
		vm.notes = o.restore.notes
	}
	vm.ctl.init()
	return vm, nil
}

// resetHostSides tells a restored VM's devices that their host sides are
// new: vsock connections are reset — in a replay as in the recorded run,
// so that the two go the same way.
func (vm *VM) resetHostSides() {
	if vm.spec.Vsock != nil {
		vm.m.ResetVsockTransport()
	}
}

// Notes returns what a user should know of how the VM was restored (a
// disk whose writes are kept in memory).
func (vm *VM) Notes() []string { return vm.notes }
