// Package outfile writes a command's output files so that nothing is lost:
// an output is written beside its final name and renamed into place only
// when it is complete, it is never written through a symbolic link, and it
// is never one of the command's own inputs.
//
// A run that ends early (an error, Ctrl-C, SIGKILL) leaves what was there
// before untouched: at worst the temporary file remains beside it, under a
// name that says what it is.
package outfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Check reports whether path may be written as an output: it is not a
// symbolic link, and if it exists it is a regular file that is none of
// inputs (compared by path and by identity, so a hard link or a symlink
// to an input is caught too). Empty inputs are ignored. Check creates
// nothing.
func Check(path string, inputs ...string) error {
	if path == "" {
		return errors.New("no output file named")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: not writing through it (name the file itself)", path)
	case st.IsDir():
		return fmt.Errorf("%s is a folder, not a file", path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s exists and is not a regular file", path)
	}
	for _, in := range inputs {
		if in == "" {
			continue
		}
		inAbs, err := filepath.Abs(in)
		if err != nil {
			continue
		}
		same := inAbs == abs
		if !same && st != nil {
			if ist, err := os.Stat(in); err == nil && os.SameFile(st, ist) {
				same = true
			}
		}
		if same {
			return fmt.Errorf("%s is the same file as %s, which this command reads or writes: choose another output", path, in)
		}
	}
	if _, err := os.Stat(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("%s: its folder: %w", path, unwrap(err))
	}
	return nil
}

func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Options configures Create.
type Options struct {
	// Perm is the new file's mode (0644 if zero).
	Perm fs.FileMode
	// Inputs are the command's input files, which the output must not be.
	Inputs []string
	// Partial names the file being written PATH.partial instead of a
	// hidden temporary name, so that what an interrupted run leaves is
	// easy to find and use. It is created exclusively and locked while it
	// is written; one left by an earlier run is refused, not replaced.
	Partial bool
	// NoReplace makes Commit fail, with an error wrapping fs.ErrExist,
	// rather than replace a file that is at the final name by then (one
	// that was there before Create, or appeared while the file was
	// written). The temporary file is removed.
	NoReplace bool
}

// File is an output being written beside its final name.
type File struct {
	*os.File
	path      string // the final name
	done      bool
	noReplace bool
}

// PartialPath is the name under which a Partial output at path is written.
func PartialPath(path string) string { return path + ".partial" }

// tempPrefix starts the name of the temporary files Create makes for path.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// IsTemp reports whether p names a temporary file of the output path, as
// Create makes them (".NAME.tmp-*" beside it, or PartialPath(path)): a
// command that reads a folder holding its own output must leave these
// out, with the output itself. Other writers that stage an output beside
// its final name (such as juice build's appliance folders) use the same
// names. Paths are compared as given, after filepath.Clean.
func IsTemp(path, p string) bool {
	path, p = filepath.Clean(path), filepath.Clean(p)
	if p == PartialPath(path) {
		return true
	}
	return filepath.Dir(p) == filepath.Dir(path) && strings.HasPrefix(filepath.Base(p), tempPrefix(path))
}

// Create checks path as Check does and creates the file that will become
// it: in the same folder, so that Commit's rename is atomic.
func Create(path string, o Options) (*File, error) {
	if err := Check(path, o.Inputs...); err != nil {
		return nil, err
	}
	perm := o.Perm
	if perm == 0 {
		perm = 0o644
	}
	if !o.Partial {
		f, err := os.CreateTemp(filepath.Dir(path), tempPrefix(path)+"*")
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", path, unwrap(err))
		}
		if err := f.Chmod(perm); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
		return &File{File: f, path: path, noReplace: o.NoReplace}, nil
	}
	p := PartialPath(path)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		if held(p) {
			return nil, fmt.Errorf("%s is being written by another process", p)
		}
		return nil, fmt.Errorf("%s is left from an interrupted run: use it, or remove it first", p)
	}
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", p, unwrap(err))
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(p)
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &File{File: f, path: path, noReplace: o.NoReplace}, nil
}

// held reports whether another process holds the lock of the partial file
// at p.
func held(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return true
	}
	return false
}

// Path is the name the file gets on Commit.
func (f *File) Path() string { return f.path }

// Commit syncs and closes the file and renames it into place, replacing
// what was there (unless Options.NoReplace was set).
func (f *File) Commit() error {
	if f.done {
		return errors.New("outfile: committed or aborted already")
	}
	f.done = true
	tmp := f.Name()
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	// Check again: the path must not have become a link or a folder
	// while the file was written.
	if st, err := os.Lstat(f.path); err == nil && !st.Mode().IsRegular() {
		os.Remove(tmp)
		return fmt.Errorf("%s changed into something other than a file while it was written: left as it is", f.path)
	}
	if f.noReplace {
		if err := linkNoReplace(tmp, f.path); err != nil {
			os.Remove(tmp)
			return err
		}
		SyncDir(filepath.Dir(f.path))
		return nil
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	SyncDir(filepath.Dir(f.path))
	return nil
}

// linkNoReplace gives the file tmp the name path unless something has
// that name: atomically by renameat2(RENAME_NOREPLACE), else by a hard
// link, else (a file system with neither) by a rename after a check.
func linkNoReplace(tmp, path string) error {
	exists := fmt.Errorf("%s exists: %w", path, fs.ErrExist)
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return exists
	case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err == nil {
		os.Remove(tmp)
		return nil
	} else if errors.Is(err, fs.ErrExist) {
		return exists
	}
	if _, err := os.Lstat(path); err == nil {
		return exists
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Abort closes and removes the file being written; what was at the final
// name stays as it was. After Commit it does nothing.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to path as Create and Commit do.
func WriteFile(path string, data []byte, o Options) error {
	f, err := Create(path, o)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit()
}

// SyncDir makes the folder's entries durable as far as the file system
// allows; failures are ignored.
func SyncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
