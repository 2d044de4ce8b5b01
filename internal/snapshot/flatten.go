package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Flatten merges the snapshot at dir and its parents (a chain of diffs
// over a full snapshot) into the new full snapshot out, and returns how
// many snapshots it merged. The chain is left as it was.
func Flatten(dir, out, juiceVersion string) (int, error) {
	chain, err := OpenChain(dir)
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, f := range chain {
			f.Close()
		}
	}()
	for _, f := range chain {
		if err := f.VerifyMemory(); err != nil {
			return 0, err
		}
	}
	tip := chain[len(chain)-1]
	w, err := Create(out)
	if err != nil {
		return 0, err
	}
	defer w.Abort()
	if err := w.WriteState(tip.State); err != nil {
		return 0, err
	}
	ram := tip.Manifest.Memory.RAM
	// Each page comes from the last snapshot of the chain that holds it.
	pages := ram / pageSize
	owner := make([]uint8, pages) // index+1 in chain; 0: zero
	mems := make([]*os.File, len(chain))
	for i, f := range chain {
		m, err := f.OpenMemory()
		if err != nil {
			return 0, err
		}
		defer m.Close()
		mems[i] = m
		if err := f.EachPage(m, func(p uint32, _ []byte) error {
			owner[p] = uint8(i + 1)
			return nil
		}); err != nil {
			return 0, err
		}
	}
	buf := make([]byte, pageSize)
	if err := w.WriteMemory(ram, false, func(put func(uint32, []byte) error) error {
		for p := range uint32(pages) {
			o := owner[p]
			if o == 0 {
				continue
			}
			n, err := mems[o-1].ReadAt(buf, int64(p)*pageSize)
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("snapshot %s: memory: %w", chain[o-1].Dir, err)
			}
			// A memory file may end before its last listed page.
			clear(buf[n:])
			if err := put(p, buf); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, err
	}
	m := tip.Manifest
	m.Kind, m.Parent, m.Disks = KindFull, nil, nil
	m.JuiceVersion = juiceVersion
	for i, d := range tip.Manifest.Disks {
		if d.File == "" {
			m.Disks = append(m.Disks, d)
			continue
		}
		src, err := tip.OpenDisk(i)
		if err != nil {
			return 0, err
		}
		info, err := w.WriteDisk(i, func(f *os.File) error { return CopySparse(f, src, d.Size) })
		src.Close()
		if err != nil {
			return 0, err
		}
		m.Disks = append(m.Disks, info)
	}
	if err := w.Commit(m); err != nil {
		return 0, err
	}
	return len(chain), nil
}

// CopySparse writes the first size bytes of src into dst (from its start;
// dst becomes size bytes long), leaving stretches of zeroes as holes.
func CopySparse(dst, src *os.File, size int64) error {
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		k, err := src.ReadAt(buf[:n], off)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		clear(buf[k:n]) // past src's end: zero
		if bytes.Equal(buf[:n], zero[:n]) {
			continue
		}
		if _, err := dst.WriteAt(buf[:n], off); err != nil {
			return err
		}
	}
	return dst.Truncate(size)
}
