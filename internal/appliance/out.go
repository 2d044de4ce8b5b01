package appliance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/juicevm/juice/internal/outfile"
)

// The appliance folder a build writes (its output, -o DIR) is replaced only
// if it is what an earlier build wrote: the files its manifest lists and
// nothing else. The new folder is written beside it and swapped into its
// place; the earlier one's files are then removed one by one, by name, so
// that nothing else can be lost. An earlier appliance's disk images are
// kept (moved into the new folder) unless BuildOptions.FreshDisks is set.

// input is something a build reads, which its output may not be or hold.
type input struct {
	what string // for messages: "the spec file", "files[0].from (./static)"
	abs  string // absolute, as written
	real string // symbolic links resolved ("" if unknown)
}

// oldAppliance is the earlier appliance found at the output.
type oldAppliance struct {
	dir   string
	m     *Manifest
	files []string          // what the manifest lists that is there
	disks map[string]string // disk name → its image's file name, if there
}

// checkOut checks that out (absolute; shown as given) may be written: it
// does not exist, or is an empty folder or an earlier appliance and
// nothing else, and it is none of the build's inputs and holds none. It
// returns the earlier appliance, or nil.
func checkOut(out, given string, inputs []input) (*oldAppliance, error) {
	st, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", given, unwrapPathErr(err))
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("output %s is a symbolic link: juice build does not write through one (name the folder itself, or remove the link)", given)
	}
	real, err := filepath.EvalSymlinks(out)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", given, unwrapPathErr(err))
	}
	for _, in := range inputs {
		if in.abs == out || in.real == real {
			return nil, fmt.Errorf("output %s is %s, which the build reads: choose another folder with -o", given, in.what)
		}
	}
	for _, in := range inputs {
		if isUnder(in.abs, out) || in.real != "" && isUnder(in.real, real) {
			return nil, fmt.Errorf("output %s holds %s, which the build reads: choose another folder with -o", given, in.what)
		}
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("output %s exists and is not a folder: juice build writes an appliance folder; choose another name with -o", given)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", given, unwrapPathErr(err))
	}
	if len(entries) == 0 {
		return nil, nil
	}
	old := &oldAppliance{dir: out, disks: map[string]string{}}
	mst, err := os.Lstat(filepath.Join(out, ManifestFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("output %s holds %s and no %s: it is not an appliance folder, so juice build does not replace it; choose another folder with -o (or empty it)",
			given, describeEntries(out, entries, nil), ManifestFile)
	case err != nil:
		return nil, fmt.Errorf("output %s: %w", given, unwrapPathErr(err))
	case !mst.Mode().IsRegular():
		return nil, fmt.Errorf("output %s: its %s is not a regular file, so juice build does not replace the folder; choose another folder with -o", given, ManifestFile)
	}
	if old.m, err = readOldManifest(filepath.Join(out, ManifestFile)); err != nil {
		return nil, fmt.Errorf("output %s has a %s that is not an appliance manifest (%v), so juice build does not replace the folder; choose another folder with -o",
			given, ManifestFile, err)
	}
	listed := map[string]bool{ManifestFile: true, old.m.Kernel: true}
	if old.m.Initrd != "" {
		listed[old.m.Initrd] = true
	}
	for _, d := range old.m.Disks {
		listed[d.File] = true
	}
	var extra []fs.DirEntry
	for _, e := range entries {
		if listed[e.Name()] && e.Type().IsRegular() {
			old.files = append(old.files, e.Name())
		} else {
			extra = append(extra, e)
		}
	}
	if len(extra) > 0 {
		return nil, fmt.Errorf("output %s holds %s, which no earlier build wrote (its %s does not list it), so juice build does not replace the folder: move it away, or choose another folder with -o",
			given, describeEntries(out, extra, listed), ManifestFile)
	}
	for _, d := range old.m.Disks {
		if slices.Contains(old.files, d.File) {
			old.disks[d.Name] = d.File
		}
	}
	return old, nil
}

// disk returns the file name of the earlier appliance's image of the disk
// name, if it has one (old may be nil).
func (old *oldAppliance) disk(name string) (string, bool) {
	if old == nil {
		return "", false
	}
	f, ok := old.disks[name]
	return f, ok
}

// readOldManifest reads an earlier appliance's manifest, leniently (an
// older or newer Juice's is fine) but checking what replacing the folder
// relies on: the names of the files it lists.
func readOldManifest(p string) (*Manifest, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, unwrapPathErr(err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m.Format == 0 || m.Name == "" {
		return nil, errors.New(`it has no "format" or no "name"`)
	}
	name := func(field, n string) error {
		if n == "" || n != filepath.Base(n) || !filepath.IsLocal(n) || n == ManifestFile {
			return fmt.Errorf("field %q: %q is not a file name", field, n)
		}
		return nil
	}
	if err := name("kernel", m.Kernel); err != nil {
		return nil, err
	}
	if m.Initrd != "" {
		if err := name("initrd", m.Initrd); err != nil {
			return nil, err
		}
	}
	for i, d := range m.Disks {
		if err := name(fmt.Sprintf("disks[%d].file", i), d.File); err != nil {
			return nil, err
		}
		if d.Name == "" {
			return nil, fmt.Errorf("field %q: missing", fmt.Sprintf("disks[%d].name", i))
		}
	}
	return &m, nil
}

// describeEntries names up to three entries of a folder for a message.
func describeEntries(dir string, entries []fs.DirEntry, listed map[string]bool) string {
	var names []string
	for i, e := range entries {
		if i == 3 {
			names = append(names, fmt.Sprintf("%d more", len(entries)-3))
			break
		}
		n := e.Name()
		switch {
		case e.IsDir():
			n += "/"
		case e.Type()&fs.ModeSymlink != 0:
			n += " (a symbolic link)"
		case !e.Type().IsRegular():
			n += " (not a regular file)"
		case listed[e.Name()]:
			n += " (listed, but not a regular file)"
		}
		names = append(names, n)
	}
	if len(names) > 1 {
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
	return names[0]
}

// isUnder reports whether p lies under dir (not dir itself).
func isUnder(p, dir string) bool {
	if p == "" || dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && filepath.IsLocal(rel)
}

// realParent is the absolute p with the symbolic links of its folder
// resolved (p itself may be a link, or not exist); p if that fails.
func realParent(p string) string {
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return p
	}
	return filepath.Join(dir, filepath.Base(p))
}

// isOutput reports whether the host path p is the output out (resolved as
// by realParent) or one of the temporary folders written beside it.
func isOutput(out, p string) bool {
	return p == out || outfile.IsTemp(out, p)
}

// keptDisk is an earlier appliance's disk image taken into the new one.
type keptDisk struct {
	from, to string // its path in the old folder, and in the new one
	renamed  bool   // moved by rename (not linked): to be put back on failure
}

// keep gives the new folder the earlier image: a second name by a hard
// link (so the old folder keeps it too until the swap, and a crash loses
// nothing), or, where links are not supported, the name alone by rename.
// Never a copy.
func keep(from, to string) (*keptDisk, error) {
	k := &keptDisk{from: from, to: to}
	if err := os.Link(from, to); err == nil {
		return k, nil
	}
	if err := os.Rename(from, to); err != nil {
		return nil, fmt.Errorf("moving %s into the new appliance folder: %w", from, err)
	}
	k.renamed = true
	return k, nil
}

// undo puts a renamed image back where it was.
func (k *keptDisk) undo() {
	if k.renamed {
		if err := os.Rename(k.to, k.from); err == nil {
			k.renamed = false
		}
	}
}

// swapIn puts the finished folder tmp at out. If out exists (an earlier
// appliance or an empty folder) the two are exchanged atomically where the
// file system can (renameat2 RENAME_EXCHANGE), else by two renames; what
// was at out is then at the returned path. An out that appeared during the
// build is not replaced.
func swapIn(tmp, out string, exists bool) (string, error) {
	if !exists {
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, out, unix.RENAME_NOREPLACE)
		switch {
		case err == nil:
			return "", nil
		case errors.Is(err, unix.EEXIST):
			return "", fmt.Errorf("output %s appeared while the appliance was built: not replacing it", out)
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
			if _, err := os.Lstat(out); err == nil {
				return "", fmt.Errorf("output %s appeared while the appliance was built: not replacing it", out)
			}
			if err := os.Rename(tmp, out); err != nil {
				return "", fmt.Errorf("writing %s: %w", out, err)
			}
			return "", nil
		}
		return "", fmt.Errorf("writing %s: %w", out, err)
	}
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, out, unix.RENAME_EXCHANGE)
	if err == nil {
		return tmp, nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return "", fmt.Errorf("replacing %s: %w", out, err)
	}
	old := tmp + "-old"
	if err := os.Rename(out, old); err != nil {
		return "", fmt.Errorf("replacing %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Rename(old, out)
		return "", fmt.Errorf("replacing %s: %w", out, err)
	}
	return old, nil
}

// removeOld removes, by name, what the earlier appliance at dir (moved out
// of the way by swapIn) held, then the folder. It reports whether the
// folder is gone: it stays if something else appeared in it meanwhile.
func removeOld(dir string, old *oldAppliance) bool {
	if old != nil {
		for _, f := range old.files {
			os.Remove(filepath.Join(dir, f))
		}
	}
	return os.Remove(dir) == nil
}
