package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// cacheKey hashes every input of the build: the recipe version, the source
// tarball's digest, the fragments and the cross toolchain's versions.
func (b *builder) cacheKey(ctx context.Context) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "recipe %s\narch riscv\n", RecipeVersion)
	b.progress.phase("hash source")
	sum, err := b.sourceDigest()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "source %s\n", sum)
	frags, err := b.fragments()
	if err != nil {
		return "", err
	}
	for _, f := range frags {
		fs := sha256.Sum256(f.data)
		fmt.Fprintf(h, "fragment %x\n", fs)
	}
	for _, tool := range []string{CrossCompile + "gcc", CrossCompile + "ld"} {
		out, err := exec.CommandContext(ctx, tool, "--version").Output()
		if err != nil {
			return "", fmt.Errorf("asking %s for its version: %w", tool, err)
		}
		first, _, _ := bytes.Cut(out, []byte("\n"))
		fmt.Fprintf(h, "tool %s\n", first)
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// sourceMemo records a tarball's digest together with the file identity it
// was computed for.
type sourceMemo struct {
	// Path is the tarball's absolute path.
	Path string `json:"path"`
	// Size is its size in bytes.
	Size int64 `json:"size"`
	// MTimeNS is its modification time in nanoseconds since the epoch.
	MTimeNS int64 `json:"mtime_ns"`
	// SHA256 is the hex digest of its contents.
	SHA256 string `json:"sha256"`
}

// sourceDigest returns the SHA-256 of the source tarball, computed once and
// remembered in the cache for as long as its path, size and mtime stay the
// same.
func (b *builder) sourceDigest() (string, error) {
	abs, err := filepath.Abs(b.tarball)
	if err != nil {
		return "", fmt.Errorf("kernel source: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("kernel source: %w (is linux-source-6.1 installed?)", err)
	}
	id := sourceMemo{Path: abs, Size: st.Size(), MTimeNS: st.ModTime().UnixNano()}
	memoPath := filepath.Join(b.kdir, "source-"+fmt.Sprintf("%x", sha256.Sum256([]byte(abs)))[:16]+".json")
	if data, err := os.ReadFile(memoPath); err == nil {
		var m sourceMemo
		if json.Unmarshal(data, &m) == nil && m.Path == id.Path && m.Size == id.Size && m.MTimeNS == id.MTimeNS && m.SHA256 != "" {
			return m.SHA256, nil
		}
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", fmt.Errorf("kernel source: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing kernel source: %w", err)
	}
	id.SHA256 = hex.EncodeToString(h.Sum(nil))
	data, err := json.Marshal(id)
	if err != nil {
		return "", fmt.Errorf("kernel source memo: %w", err)
	}
	if err := writeFileAtomic(memoPath, data); err != nil {
		b.log.Warn("cannot remember the source digest", "err", err)
	}
	return id.SHA256, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, werr)
	}
	return nil
}

// lockFile takes an exclusive flock on path, waiting (while ctx allows) for
// other holders. The returned function releases it.
func lockFile(ctx context.Context, path string, log *slog.Logger) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	waited := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !waited {
			log.Info("waiting for another kernel build to finish", "lock", path)
			waited = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	// Keep f reachable until unlock; closing it drops the lock.
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
		runtime.KeepAlive(f)
	}, nil
}
