// Package manifest reads and writes the checksum lists that devcheck (the
// issue-3 guest test program, guest/devcheck) verifies: MANIFEST at the
// root of a test disk, written on the host, and out/SUMS, written by the
// guest. Both use the format of sha256sum(1):
//
//	<64 lowercase hex digits><two spaces><path>
//
// one entry a line, with paths relative to the directory that holds the
// list, using "/" as separator, sorted. Blank lines and lines starting
// with "#" are ignored when parsing.
//
// It also holds the deterministic content generator that devcheck writes
// files with (PseudoRandom), so that hosts can predict what a guest wrote.
// The package is plain Go and builds for the host and the guest alike.
package manifest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Name is the name of the manifest file at the root of a test disk.
const Name = "MANIFEST"

// Entry is one line of a manifest: a file and its SHA-256.
type Entry struct {
	// Sum is the SHA-256 of the file's contents.
	Sum [sha256.Size]byte
	// Path is the file's path relative to the manifest's directory, with
	// "/" separators; it never starts with "/" or contains "..".
	Path string
}

// String formats e as a manifest line, without the newline.
func (e Entry) String() string {
	return hex.EncodeToString(e.Sum[:]) + "  " + e.Path
}

// EntryFor returns the entry for a file of the given contents.
func EntryFor(p string, data []byte) Entry {
	return Entry{Sum: sha256.Sum256(data), Path: p}
}

// checkPath validates a manifest path.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is absolute", p)
	case strings.ContainsAny(p, "\n\x00\\"):
		return fmt.Errorf("path %q contains a newline, NUL or backslash", p)
	case path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("path %q is not clean or leaves the directory", p)
	}
	return nil
}

// Parse reads a manifest. It rejects malformed lines, unsafe paths
// (absolute, "..") and duplicate paths, naming the line at fault.
func Parse(r io.Reader) ([]Entry, error) {
	var entries []Entry
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sumHex, p, ok := strings.Cut(line, "  ")
		if !ok || len(sumHex) != 2*sha256.Size {
			// sha256sum's binary-mode marker: "<sum> *<path>".
			sumHex, p, ok = strings.Cut(line, " *")
		}
		if !ok || len(sumHex) != 2*sha256.Size {
			return nil, fmt.Errorf("manifest line %d: want %q, got %q", n, "<sha256>  <path>", line)
		}
		var e Entry
		if _, err := hex.Decode(e.Sum[:], []byte(strings.ToLower(sumHex))); err != nil {
			return nil, fmt.Errorf("manifest line %d: checksum: %w", n, err)
		}
		if err := checkPath(p); err != nil {
			return nil, fmt.Errorf("manifest line %d: %w", n, err)
		}
		if prev, dup := seen[p]; dup {
			return nil, fmt.Errorf("manifest line %d: %s already listed on line %d", n, p, prev)
		}
		seen[p] = n
		e.Path = p
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	return entries, nil
}

// ParseFile reads the manifest in file.
func ParseFile(file string) ([]Entry, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return entries, nil
}

// Format returns the manifest text for entries, sorted by path.
func Format(entries []Entry) []byte {
	sorted := append([]Entry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	var b bytes.Buffer
	for _, e := range sorted {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Build lists the regular files under dir (symlinks are not followed),
// except the manifest itself (Name at the top) and anything under the
// directories named in skip (relative paths such as "out").
func Build(dir string, skip ...string) ([]Entry, error) {
	skipSet := map[string]bool{Name: true}
	for _, s := range skip {
		skipSet[path.Clean(filepath.ToSlash(s))] = true
	}
	var entries []Entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if skipSet[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if err := checkPath(rel); err != nil {
			return err
		}
		e, err := hashFile(p)
		if err != nil {
			return err
		}
		e.Path = rel
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("building manifest of %s: %w", dir, err)
	}
	return entries, nil
}

// WriteFile writes dir/MANIFEST listing every regular file under dir
// (see Build) and returns the entries.
func WriteFile(dir string, skip ...string) ([]Entry, error) {
	entries, err := Build(dir, skip...)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, Name), Format(entries), 0o644); err != nil {
		return nil, fmt.Errorf("writing manifest: %w", err)
	}
	return entries, nil
}

// hashFile returns the SHA-256 of a file.
func hashFile(p string) (Entry, error) {
	f, err := os.Open(p)
	if err != nil {
		return Entry{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Entry{}, fmt.Errorf("reading %s: %w", p, err)
	}
	var e Entry
	copy(e.Sum[:], h.Sum(nil))
	return e, nil
}

// Verify checks every entry against the files under dir and returns an
// error naming each file that is missing or differs (nil if all match).
func Verify(dir string, entries []Entry) error {
	var errs []error
	for _, e := range entries {
		if err := checkPath(e.Path); err != nil {
			errs = append(errs, err)
			continue
		}
		got, err := hashFile(filepath.Join(dir, filepath.FromSlash(e.Path)))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Path, err))
			continue
		}
		if got.Sum != e.Sum {
			errs = append(errs, fmt.Errorf("%s: sha256 %x, want %x", e.Path, got.Sum, e.Sum))
		}
	}
	return errors.Join(errs...)
}

// PseudoRandom returns n bytes of deterministic pseudo-random data for a
// seed: the little-endian outputs of SplitMix64 started at the seed. It is
// what devcheck writes to out/<name> on a test disk.
func PseudoRandom(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed
	for i := 0; i < n; i += 8 {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		z ^= z >> 31
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(z >> (8 * j))
		}
	}
	return b
}
