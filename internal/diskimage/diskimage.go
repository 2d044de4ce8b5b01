// Package diskimage makes ext4 disk images for Juice guests: the code
// behind `juice disk create --size SIZE [--from DIR] FILE`.
//
// Images are made by e2fsprogs (mke2fs -t ext4 -d DIR, Debian package
// e2fsprogs), then normalised with debugfs, so that the same inputs give
// the same bytes on every run and every host with the same e2fsprogs
// version (Debian 12 has 1.47.0):
//
//   - mke2fs reads a configuration file written by this package, never
//     /etc/mke2fs.conf, so the features, block size (4 KiB) and inode
//     ratio do not depend on the host;
//   - the file system UUID and the directory hash seed are derived from a
//     SHA-256 of the inputs (size, label, and every path, type, permission,
//     symlink target and byte of content under DIR), unless a UUID is given;
//   - E2FSPROGS_FAKE_TIME pins the superblock times to Timestamp, and
//     LC_ALL=C makes mke2fs add directory entries in byte order;
//   - afterwards every inode in use gets owner 0:0 and Timestamp as its
//     access, change, modification and creation time, because mke2fs -d
//     copies owners and times (including the unsettable ctime) from the host.
//
// The image is written to a temporary file beside FILE and renamed into
// place only when it is complete, so FILE is never left half-written. FILE
// may lie inside the source folder: the image and its temporary files are
// left out of the file system, so that two runs give the same bytes.
package diskimage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/juicevm/juice/internal/bytesize"
	"github.com/juicevm/juice/internal/outfile"
)

const (
	// Timestamp is the time, in seconds since 1970, that every inode and
	// the superblock of an image carry: 2000-01-01T00:00:00Z.
	Timestamp int64 = 946684800
	// BlockSize is the ext4 block size of every image.
	BlockSize = 4096
	// SectorSize is the unit the image size must be a multiple of: the
	// virtio-blk sector.
	SectorSize = 512
	// MinSize is the smallest image Create makes.
	MinSize = 1 * bytesize.MiB
	// MaxLabel is the longest ext4 volume label, in bytes.
	MaxLabel = 16

	// inodeRatio is the number of bytes per inode that mke2fs uses.
	inodeRatio = 16384
	// inodeSize is the on-disk inode size.
	inodeSize = 256
)

// mke2fsConf replaces /etc/mke2fs.conf so that images do not depend on
// the host's configuration. The usage types mke2fs picks by size (floppy,
// small, default, big, huge) are all defined, identically, so that none
// changes the block size or inode ratio.
const mke2fsConf = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
	reserved_ratio = 0
	lazy_itable_init = 1
	lazy_journal_init = 1

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
	floppy = {
	}
	small = {
	}
	default = {
	}
	big = {
	}
	huge = {
	}
`

// ErrExists is returned (wrapped) by Create when the image file exists and
// Options.Force is not set.
var ErrExists = errors.New("file exists")

// ErrNotDir is returned (wrapped) by Create when Options.From is not a
// directory.
var ErrNotDir = errors.New("not a directory")

// TooSmallError reports that the contents of Options.From do not fit in an
// image of the requested size.
type TooSmallError struct {
	// Size is the requested image size in bytes.
	Size int64
	// Needed is an estimate of the smallest size that holds the contents,
	// rounded up to a whole MiB.
	Needed int64
	// Files is the number of files, directories and other inodes under
	// the source folder (the folder itself included).
	Files int
	// Bytes is the total size of the regular files and symlink targets.
	Bytes int64
}

// Error implements error.
func (e *TooSmallError) Error() string {
	return fmt.Sprintf("an image of %s is too small for the contents (%d files and directories, %s of data): it needs about %s; use --size %dM or more",
		bytesize.Format(e.Size), e.Files, bytesize.Format(e.Bytes), bytesize.Format(e.Needed), e.Needed/bytesize.MiB)
}

// Options configures Create.
type Options struct {
	// Size is the exact size of the image file in bytes: a multiple of
	// SectorSize and at least MinSize.
	Size int64
	// From, if set, is a host directory whose contents become the root
	// of the file system. Symlinks are copied as symlinks; owners and
	// times are normalised (see the package comment).
	From string
	// Label is the volume label, at most MaxLabel bytes. Empty means none.
	Label string
	// UUID is the file system UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).
	// Empty means one derived from the inputs.
	UUID string
	// Force replaces an existing image file instead of failing with
	// ErrExists.
	Force bool
	// Exclude names host paths to leave out of the file system where they
	// lie under From: each, with all it holds if it is a folder, and the
	// temporary files written beside it (see outfile.IsTemp). The image
	// being made, and its temporary files, are always left out.
	Exclude []string
	// Progress, if not nil, receives a few human-readable lines about
	// what Create is doing.
	Progress io.Writer
	// ShowProgress also passes mke2fs's own output, including its
	// progress meter, to Progress. Meant for terminals.
	ShowProgress bool
}

// tools are the e2fsprogs commands Create runs.
type tools struct {
	mke2fs, debugfs, dumpe2fs string
}

// findTool finds an e2fsprogs command in $PATH or the sbin directories,
// which are not in every user's $PATH.
func findTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: install the e2fsprogs package (apt-get install e2fsprogs)", name)
}

// findTools finds mke2fs, debugfs and dumpe2fs.
func findTools() (tools, error) {
	var t tools
	var err error
	if t.mke2fs, err = findTool("mke2fs"); err != nil {
		return t, err
	}
	if t.debugfs, err = findTool("debugfs"); err != nil {
		return t, err
	}
	if t.dumpe2fs, err = findTool("dumpe2fs"); err != nil {
		return t, err
	}
	return t, nil
}

// toolEnv is the environment of every e2fsprogs command: a fixed locale
// (mke2fs -d sorts directory entries with strcoll), and the fake time.
func toolEnv(extra ...string) []string {
	env := []string{
		"PATH=/usr/sbin:/sbin:/usr/bin:/bin",
		"LC_ALL=C",
		"E2FSPROGS_FAKE_TIME=" + strconv.FormatInt(Timestamp, 10),
	}
	return append(env, extra...)
}

// validate checks the options that do not need the file system.
func (o Options) validate() error {
	switch {
	case o.Size <= 0:
		return fmt.Errorf("size must be positive (got %d)", o.Size)
	case o.Size%SectorSize != 0:
		return fmt.Errorf("size %d is not a multiple of %d bytes (the disk sector size)", o.Size, SectorSize)
	case o.Size < MinSize:
		return fmt.Errorf("size %s is below the minimum of %s", bytesize.Format(o.Size), bytesize.Format(MinSize))
	case len(o.Label) > MaxLabel:
		return fmt.Errorf("label %q is longer than %d bytes", o.Label, MaxLabel)
	case strings.ContainsAny(o.Label, "\x00\n"):
		return fmt.Errorf("label %q contains a NUL or newline", o.Label)
	}
	if o.UUID != "" {
		if _, err := parseUUID(o.UUID); err != nil {
			return err
		}
	}
	return nil
}

// Create makes an ext4 image of exactly opts.Size bytes at path, filled
// with the contents of opts.From if set. Equal options and equal folder
// contents give byte-identical images. On failure nothing is left at path
// (an existing file there is untouched) and no temporary file remains.
//
// path may lie inside opts.From: the image, and the temporary files it is
// written as, are left out of the file system (as are opts.Exclude). It
// may not be a symbolic link, a folder (opts.From itself or one holding
// it) or anything but a regular file, and an existing file is replaced
// only with opts.Force.
func Create(ctx context.Context, path string, opts Options) error {
	if err := create(ctx, path, opts); err != nil {
		return fmt.Errorf("creating disk image %s: %w", path, err)
	}
	return nil
}

// create does Create's work; errors get the path prefix from Create.
func create(ctx context.Context, path string, opts Options) error {
	if err := opts.validate(); err != nil {
		return err
	}
	var from string // opts.From, absolute, with symbolic links resolved
	if opts.From != "" {
		st, err := os.Stat(opts.From)
		if err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		if !st.IsDir() {
			return fmt.Errorf("--from %s: %w", opts.From, ErrNotDir)
		}
		if from, err = realPath(opts.From); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	out, err := checkOutput(path, opts, from)
	if err != nil {
		return err
	}
	t, err := findTools()
	if err != nil {
		return err
	}

	f, err := outfile.Create(path, outfile.Options{Perm: 0o644, NoReplace: !opts.Force})
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", filepath.Dir(path), unwrapPath(err))
	}
	committed := false
	defer func() {
		if !committed {
			f.Abort()
		}
	}()
	tmpName := f.Name()
	if err := f.Truncate(opts.Size); err != nil {
		return fmt.Errorf("sizing %s: %w", tmpName, err)
	}

	// What the file system must not hold: this image, its temporary
	// files, and what the caller names.
	excluded := []string{out}
	for _, e := range opts.Exclude {
		if r, err := realParent(e); err == nil {
			excluded = append(excluded, r)
		}
	}
	skip := func(p string) bool {
		for _, e := range excluded {
			if p == e || outfile.IsTemp(e, p) {
				return true
			}
		}
		return false
	}
	var tree treeStats
	src := from
	if from != "" {
		var skipped bool
		if tree, skipped, err = scanTree(ctx, from, skip); err != nil {
			return fmt.Errorf("--from %s: %w", opts.From, err)
		}
		if skipped {
			// mke2fs -d copies a whole folder: give it one without what
			// is left out.
			stage, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-stage-")
			if err != nil {
				return fmt.Errorf("--from %s: %w", opts.From, err)
			}
			defer removeStage(stage)
			if err := stageTree(ctx, from, stage, skip); err != nil {
				return fmt.Errorf("--from %s: %w", opts.From, err)
			}
			src = stage
		}
	}
	fsUUID, seed := deriveIDs(opts, tree)
	if opts.UUID != "" {
		fsUUID = strings.ToLower(opts.UUID)
	}

	progressf(opts, "creating a %s ext4 image (UUID %s)", bytesize.Format(opts.Size), fsUUID)
	if opts.From != "" {
		progressf(opts, "copying %s: %d files and directories, %s", opts.From, tree.inodes, bytesize.Format(tree.bytes))
	}
	if err := runMke2fs(ctx, t, tmpName, src, opts, fsUUID, seed, tree); err != nil {
		return err
	}
	progressf(opts, "normalising owners and times")
	if err := normalise(ctx, t, tmpName); err != nil {
		return err
	}
	committed = true
	if err := f.Commit(); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w (use --force to replace it)", ErrExists)
		}
		return fmt.Errorf("moving the image into place: %w", err)
	}
	progressf(opts, "wrote %s", path)
	return nil
}

// checkOutput checks that the image may be written at path and returns
// the path with its folder's symbolic links resolved. from is Options.From
// resolved ("" for none).
func checkOutput(path string, opts Options, from string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", err
	case st.Mode()&fs.ModeSymlink != 0:
		return "", fmt.Errorf("%s is a symbolic link: not writing through it (name the file itself)", path)
	case st.IsDir():
		if from != "" {
			if r, err := realPath(path); err == nil && within(from, r) {
				if r == from {
					return "", fmt.Errorf("%s is a directory: the --from folder itself (name an image file)", path)
				}
				return "", fmt.Errorf("%s is a directory holding the --from folder %s (name an image file)", path, from)
			}
		}
		return "", fmt.Errorf("%s is a directory", path)
	case !st.Mode().IsRegular():
		return "", fmt.Errorf("%s exists and is not a regular file", path)
	case !opts.Force:
		return "", fmt.Errorf("%w (use --force to replace it)", ErrExists)
	}
	real, err := realParent(abs)
	if err != nil {
		return "", fmt.Errorf("cannot write in %s: %w", filepath.Dir(path), unwrapPath(err))
	}
	return real, nil
}

// realParent is p absolute, with the symbolic links of its folder
// resolved (p itself may be one, or not exist).
func realParent(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	dir, err := realPath(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

// realPath is p absolute, with symbolic links resolved.
func realPath(p string) (string, error) {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	return filepath.Abs(r)
}

// within reports whether p is dir or lies under it (both clean and
// absolute).
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// progressf writes one progress line if anyone listens.
func progressf(opts Options, format string, args ...any) {
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, format+"\n", args...)
	}
}

// runMke2fs makes the file system in img, filled from the folder src if
// it is not empty.
func runMke2fs(ctx context.Context, t tools, img, src string, opts Options, fsUUID, seed string, tree treeStats) error {
	confDir, err := os.MkdirTemp("", "juice-mke2fs-")
	if err != nil {
		return fmt.Errorf("mke2fs configuration: %w", err)
	}
	defer os.RemoveAll(confDir)
	conf := filepath.Join(confDir, "mke2fs.conf")
	if err := os.WriteFile(conf, []byte(mke2fsConf), 0o644); err != nil {
		return fmt.Errorf("mke2fs configuration: %w", err)
	}
	args := []string{"-t", "ext4", "-F", "-b", strconv.Itoa(BlockSize), "-m", "0",
		"-U", fsUUID, "-E", "hash_seed=" + seed + ",root_owner=0:0"}
	if !opts.ShowProgress {
		args = append(args, "-q")
	}
	if opts.Label != "" {
		args = append(args, "-L", opts.Label)
	}
	if src != "" {
		args = append(args, "-d", src)
	}
	args = append(args, img)
	cmd := exec.CommandContext(ctx, t.mke2fs, args...)
	cmd.Env = toolEnv("MKE2FS_CONFIG=" + conf)
	var out bytes.Buffer
	if opts.ShowProgress && opts.Progress != nil {
		w := io.MultiWriter(&out, opts.Progress)
		cmd.Stdout, cmd.Stderr = w, w
	} else {
		cmd.Stdout, cmd.Stderr = &out, &out
	}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := strings.TrimSpace(out.String())
		needed := tree.needed()
		if needed > opts.Size || looksLikeNoSpace(msg) {
			if needed <= opts.Size {
				needed = roundUp(opts.Size+opts.Size/4, bytesize.MiB)
			}
			return &TooSmallError{Size: opts.Size, Needed: needed, Files: tree.inodes, Bytes: tree.bytes}
		}
		return fmt.Errorf("mke2fs failed: %w\n%s", err, msg)
	}
	return nil
}

// looksLikeNoSpace reports whether mke2fs's output says the file system
// was too small for what it had to hold.
func looksLikeNoSpace(msg string) bool {
	for _, s := range []string{"Could not allocate", "No space left", "too small", "Not enough space", "requested number of inodes"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// treeStats describes a source folder.
type treeStats struct {
	// inodes counts every file, directory and other object, the root
	// included.
	inodes int
	// bytes is the size of regular files and symlink targets.
	bytes int64
	// dataBlocks is the number of blocks regular files, long symlinks
	// and directories take, extent-tree blocks included.
	dataBlocks int64
	// sum is the SHA-256 of the tree (names, types, permissions, targets,
	// contents and hard-link structure).
	sum [32]byte
}

// needed estimates the smallest image size, rounded up to a MiB, that
// holds the tree: data blocks, one inode each (at the mke2fs inode ratio),
// the journal mke2fs would add, and some slack for group metadata.
func (t treeStats) needed() int64 {
	data := (t.dataBlocks + 16) * BlockSize // + root, lost+found, resize inode spares
	for size := roundUp(MinSize, bytesize.MiB); ; size += bytesize.MiB {
		blocks := size / BlockSize
		inodes := size / inodeRatio
		overhead := inodes*inodeSize + journalBlocks(blocks)*BlockSize + size/50 + 64*bytesize.KiB
		if int64(t.inodes)+11 <= inodes && data+overhead <= size {
			return size
		}
		if size > 1<<50 {
			return size
		}
	}
}

// journalBlocks is mke2fs's default journal size, in blocks, for a file
// system of the given number of blocks.
func journalBlocks(blocks int64) int64 {
	switch {
	case blocks < 2048:
		return 0
	case blocks < 32768:
		return 1024
	case blocks < 256*1024:
		return 4096
	case blocks < 512*1024:
		return 8192
	case blocks < 4096*1024:
		return 16384
	case blocks < 8192*1024:
		return 32768
	case blocks < 16384*1024:
		return 65536
	case blocks < 32768*1024:
		return 131072
	}
	return 262144
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int64) int64 {
	return (n + m - 1) / m * m
}

// blocksFor returns the number of blocks a file of n bytes takes,
// counting one extent-tree block per 128 MiB beyond the first (a rough
// allowance for fragmentation).
func blocksFor(n int64) int64 {
	b := (n + BlockSize - 1) / BlockSize
	return b + n/(128*bytesize.MiB)
}

// walkKept walks root in byte order (symbolic links not followed) and
// calls f for each entry, the root's included (rel "."), except what skip
// is true of, with all a skipped folder holds; skipped, if not nil, hears
// of each entry left out. It stops when ctx is done.
func walkKept(ctx context.Context, root string, skipped func(string), skip func(string) bool, f func(p, rel string, d fs.DirEntry, info fs.FileInfo) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel != "." && skip(p) {
			if skipped != nil {
				skipped(p)
			}
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return f(p, rel, d, info)
	})
}

// scanTree walks root the way mke2fs -d does (entries in byte order,
// symlinks not followed) and returns its statistics and content hash,
// leaving out what skip is true of (with all a skipped folder holds); it
// also reports whether it skipped anything.
func scanTree(ctx context.Context, root string, skip func(string) bool) (treeStats, bool, error) {
	var st treeStats
	skipped := false
	h := sha256.New()
	type inodeKey struct{ dev, ino uint64 }
	links := map[inodeKey]int{}
	dirEntries := map[string]int64{} // directory -> bytes of its entries
	writeField := func(b []byte) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	err := walkKept(ctx, root, func(string) { skipped = true }, skip, func(p, rel string, d fs.DirEntry, info fs.FileInfo) error {
		if rel != "." {
			parent := filepath.Dir(p)
			dirEntries[parent] += roundUp(8+int64(len(d.Name())), 4)
		}
		writeField([]byte(filepath.ToSlash(rel)))
		var hdr [16]byte
		binary.LittleEndian.PutUint32(hdr[0:], uint32(info.Mode()))
		if sys, ok := info.Sys().(*syscall.Stat_t); ok {
			binary.LittleEndian.PutUint64(hdr[8:], uint64(sys.Rdev))
			if sys.Nlink > 1 && !info.IsDir() {
				k := inodeKey{uint64(sys.Dev), uint64(sys.Ino)}
				if first, seen := links[k]; seen {
					// A hard link: recorded as a reference, no new inode.
					binary.LittleEndian.PutUint32(hdr[4:], uint32(first))
					h.Write(hdr[:])
					return nil
				}
				links[k] = len(links) + 1
			}
		}
		h.Write(hdr[:])
		st.inodes++
		switch {
		case info.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			var n [8]byte
			binary.LittleEndian.PutUint64(n[:], uint64(info.Size()))
			h.Write(n[:])
			copied, err := io.Copy(h, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			if copied != info.Size() {
				return fmt.Errorf("reading %s: size changed while reading (%d, then %d bytes)", p, info.Size(), copied)
			}
			st.bytes += copied
			st.dataBlocks += blocksFor(copied)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			writeField([]byte(target))
			st.bytes += int64(len(target))
			if len(target) >= 60 {
				st.dataBlocks++
			}
		case info.IsDir():
			dirEntries[p] += 24 // "." and ".."
		}
		return nil
	})
	if err != nil {
		return st, skipped, err
	}
	for _, n := range dirEntries {
		st.dataBlocks += max(1, (n+BlockSize-1)/BlockSize)
	}
	copy(st.sum[:], h.Sum(nil))
	return st, skipped, nil
}

// stageTree fills the new, empty folder stage with the tree at root less
// what skip is true of, for mke2fs -d: files (of every kind but folders
// and symbolic links) as hard links to the originals, so that nothing is
// copied and mke2fs reads the same contents and modes; folders and
// symbolic links made anew with the same modes and targets. A regular file
// that cannot be linked (on another file system, or not the user's under
// fs.protected_hardlinks) is copied. mke2fs gives the result the same
// inodes, in the same order, as the tree itself would get without what is
// left out.
func stageTree(ctx context.Context, root, stage string, skip func(string) bool) error {
	type dirMode struct {
		path string
		mode fs.FileMode
	}
	var dirs []dirMode
	err := walkKept(ctx, root, nil, skip, func(p, rel string, d fs.DirEntry, info fs.FileInfo) error {
		dst := filepath.Join(stage, rel)
		switch {
		case d.IsDir():
			if rel != "." {
				if err := os.Mkdir(dst, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirMode{dst, info.Mode()})
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		default:
			if err := os.Link(p, dst); err != nil {
				if !info.Mode().IsRegular() {
					return fmt.Errorf("%s: %w", p, err)
				}
				return copyFile(p, dst, info.Mode())
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Deepest first, so that a folder without write permission is made so
	// after what it holds.
	for i := len(dirs) - 1; i >= 0; i-- {
		m := dirs[i].mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		if err := os.Chmod(dirs[i].path, m); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies the regular file src to the new file dst with mode.
func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
}

// removeStage removes a folder stageTree filled (only links, copies and
// folders of its own), making its folders writable first.
func removeStage(stage string) {
	filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	os.RemoveAll(stage)
}

// deriveIDs returns the file system UUID and the directory hash seed (also
// in UUID form) derived from the options and the source tree.
func deriveIDs(opts Options, tree treeStats) (fsUUID, seed string) {
	h := sha256.New()
	fmt.Fprintf(h, "juice diskimage v1\x00size=%d\x00label=%s\x00from=%t\x00", opts.Size, opts.Label, opts.From != "")
	h.Write(tree.sum[:])
	sum := h.Sum(nil)
	return formatUUID(sum[:16]), formatUUID(sum[16:32])
}

// formatUUID formats 16 bytes as an RFC 9562 version 8 (custom) UUID.
func formatUUID(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// parseUUID checks the textual form of a UUID.
func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("UUID %q: want the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	hexDigits := strings.ReplaceAll(s, "-", "")
	for i := range 16 {
		v, err := strconv.ParseUint(hexDigits[2*i:2*i+2], 16, 8)
		if err != nil {
			return u, fmt.Errorf("UUID %q: %w", s, err)
		}
		u[i] = byte(v)
	}
	return u, nil
}

// normalise gives every inode in use owner 0:0 and Timestamp as all of its
// times.
func normalise(ctx context.Context, t tools, img string) error {
	inodes, err := usedInodes(ctx, t, img)
	if err != nil {
		return err
	}
	var script bytes.Buffer
	ts := "@" + strconv.FormatInt(Timestamp, 10)
	for _, ino := range inodes {
		for _, f := range []string{"uid", "gid", "atime_extra", "ctime_extra", "mtime_extra", "crtime_extra"} {
			fmt.Fprintf(&script, "sif <%d> %s 0\n", ino, f)
		}
		for _, f := range []string{"atime", "ctime", "mtime", "crtime"} {
			fmt.Fprintf(&script, "sif <%d> %s %s\n", ino, f, ts)
		}
	}
	cmd := exec.CommandContext(ctx, t.debugfs, "-w", "-f", "-", img)
	cmd.Env = toolEnv()
	cmd.Stdin = &script
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debugfs: %w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	if msg := debugfsErrors(stderr.String()); msg != "" {
		return fmt.Errorf("debugfs: %s", msg)
	}
	return nil
}

// debugfsErrors returns what debugfs wrote to stderr besides its banner:
// debugfs reports failed commands there but still exits with status 0.
func debugfsErrors(stderr string) string {
	var bad []string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "debugfs ") {
			continue
		}
		bad = append(bad, line)
	}
	return strings.Join(bad, "\n")
}

// usedInodes lists the inodes in use that are not reserved (the root
// directory and everything from the first ordinary inode on), from the
// inode bitmaps as dumpe2fs prints them.
func usedInodes(ctx context.Context, t tools, img string) ([]uint64, error) {
	cmd := exec.CommandContext(ctx, t.dumpe2fs, img)
	cmd.Env = toolEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("dumpe2fs: %w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	used, err := parseUsedInodes(string(out))
	if err != nil {
		return nil, fmt.Errorf("dumpe2fs %s: %w", img, err)
	}
	return used, nil
}

// parseUsedInodes turns dumpe2fs output into the list of used, ordinary
// inodes (2 and from "First inode" on).
func parseUsedInodes(out string) ([]uint64, error) {
	var count, perGroup, first uint64
	var free [][]string // free ranges per group, in group order
	inGroups := false   // past the header, whose "Free inodes" is a count
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "Group ") {
			inGroups = true
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Inode count":
			count, err = strconv.ParseUint(val, 10, 64)
		case "Inodes per group":
			perGroup, err = strconv.ParseUint(val, 10, 64)
		case "First inode":
			first, err = strconv.ParseUint(val, 10, 64)
		case "Free inodes":
			if !inGroups {
				continue
			}
			var items []string
			for _, f := range strings.Split(val, ",") {
				if f = strings.TrimSpace(f); f != "" {
					items = append(items, f)
				}
			}
			free = append(free, items)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	if count == 0 || perGroup == 0 || first == 0 || uint64(len(free))*perGroup != count {
		return nil, fmt.Errorf("unexpected output (inodes %d, per group %d, first %d, %d groups)", count, perGroup, first, len(free))
	}
	var used []uint64
	for g, items := range free {
		lo, hi := uint64(g)*perGroup+1, uint64(g+1)*perGroup
		isFree := make([]bool, perGroup)
		for _, it := range items {
			a, b, isRange := strings.Cut(it, "-")
			start, err := strconv.ParseUint(a, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("free inodes %q: %w", it, err)
			}
			end := start
			if isRange {
				if end, err = strconv.ParseUint(b, 10, 64); err != nil {
					return nil, fmt.Errorf("free inodes %q: %w", it, err)
				}
			}
			if start < lo || end > hi || start > end {
				return nil, fmt.Errorf("free inodes %q outside group %d", it, g)
			}
			for i := start; i <= end; i++ {
				isFree[i-lo] = true
			}
		}
		for i := lo; i <= hi; i++ {
			if !isFree[i-lo] && (i == 2 || i >= first) {
				used = append(used, i)
			}
		}
	}
	return used, nil
}
