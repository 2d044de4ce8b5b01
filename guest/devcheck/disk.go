package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/juicevm/juice/guest/devcheck/manifest"
)

// Names on the test disk.
const (
	// outDir is the directory the disk step writes into.
	outDir = "out"
	// sumsName is the list of what the disk step wrote, in outDir.
	sumsName = "SUMS"
)

// diskConfig is what the disk step does once the disk is mounted.
type diskConfig struct {
	// manifest checks MANIFEST at the root.
	manifest bool
	// verify checks out/SUMS instead of writing.
	verify bool
	// name, size and seed describe the file written to out/.
	name string
	size int64
	seed uint64
}

// diskConfig reads the disk step's options.
func (r *runner) diskConfig() (diskConfig, error) {
	var c diskConfig
	var err error
	if c.manifest, err = r.opts.flag("manifest", true); err != nil {
		return c, err
	}
	if c.verify, err = r.opts.flag("verify", false); err != nil {
		return c, err
	}
	c.name = r.opts.str("name", "data")
	if c.name == "" || c.name == sumsName || strings.ContainsAny(c.name, "/\x00") || c.name == "." || c.name == ".." {
		return c, fmt.Errorf("option devcheck.name=%s: want a plain file name other than %s", c.name, sumsName)
	}
	if c.size, err = r.opts.int("size", 64*1024); err != nil {
		return c, err
	}
	seed, err := r.opts.int("seed", 1)
	c.seed = uint64(seed)
	return c, err
}

// disk mounts the disk, checks and writes files, syncs and unmounts.
func (r *runner) disk() error {
	dev := r.opts.str("disk", "")
	mnt := r.opts.str("mnt", "/mnt")
	cfg, err := r.diskConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return fmt.Errorf("creating mount point: %w", err)
	}
	if err := r.sys.mount(dev, mnt); err != nil {
		return fmt.Errorf("mounting %s on %s as ext4: %w", dev, mnt, err)
	}
	workErr := r.diskWork(mnt, cfg)
	r.sys.sync()
	if err := r.sys.unmount(mnt); err != nil {
		return errors.Join(workErr, fmt.Errorf("unmounting %s: %w", mnt, err))
	}
	return workErr
}

// diskWork does the disk step's work on a mounted file system at root.
func (r *runner) diskWork(root string, cfg diskConfig) error {
	if cfg.manifest {
		entries, err := manifest.ParseFile(filepath.Join(root, manifest.Name))
		if err != nil {
			return fmt.Errorf("reading the manifest: %w", err)
		}
		if err := manifest.Verify(root, entries); err != nil {
			return fmt.Errorf("%s: %w", manifest.Name, err)
		}
		r.infof("disk", "manifest %d files match", len(entries))
	}
	out := filepath.Join(root, outDir)
	sums := filepath.Join(out, sumsName)
	if cfg.verify {
		entries, err := manifest.ParseFile(sums)
		if err != nil {
			return fmt.Errorf("reading what an earlier boot wrote: %w", err)
		}
		if len(entries) == 0 {
			return fmt.Errorf("%s/%s lists no files", outDir, sumsName)
		}
		if err := manifest.Verify(out, entries); err != nil {
			return fmt.Errorf("%s/%s: %w", outDir, sumsName, err)
		}
		r.infof("disk", "verified %d files of %s/%s", len(entries), outDir, sumsName)
		return nil
	}

	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	data := manifest.PseudoRandom(cfg.seed, int(cfg.size))
	if err := writeFileSync(filepath.Join(out, cfg.name), data); err != nil {
		return err
	}
	var entries []manifest.Entry
	if old, err := manifest.ParseFile(sums); err == nil {
		for _, e := range old {
			if e.Path != cfg.name {
				entries = append(entries, e)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the existing %s: %w", sumsName, err)
	}
	e := manifest.EntryFor(cfg.name, data)
	entries = append(entries, e)
	tmp := sums + ".tmp"
	if err := writeFileSync(tmp, manifest.Format(entries)); err != nil {
		return err
	}
	if err := os.Rename(tmp, sums); err != nil {
		return fmt.Errorf("replacing %s: %w", sums, err)
	}
	if err := syncDir(out); err != nil {
		return err
	}
	// Read back through the page cache: a cheap check that the file
	// system gives back what it was given.
	if err := manifest.Verify(out, []manifest.Entry{e}); err != nil {
		return fmt.Errorf("reading back: %w", err)
	}
	r.infof("disk", "wrote %s/%s %d bytes sha256 %x", outDir, cfg.name, len(data), e.Sum)
	if hold, _ := r.opts.flag("hold", false); hold {
		// devcheck.hold=1: stop here, with the file system still mounted
		// and only fsync behind the data, so a test can kill the VMM now.
		r.infof("disk", "holding")
		select {}
	}
	return nil
}

// writeFileSync writes a file and fsyncs it.
func writeFileSync(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// syncDir fsyncs a directory, making renames in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
