package blk

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/juicevm/juice/internal/snapshot"
)

// volatileImage keeps every change to a read-only image in memory, in
// clusters of clusterSize bytes (the last one shorter if the disk ends
// inside it).
type volatileImage struct {
	under image // opened read-only, never written
	size  int64
	// clusters holds every cluster the guest changed; a nil buffer reads
	// as zeroes. Buffers may be shared with saved Contents: only those in
	// owned may be written in place.
	clusters map[int64][]byte
	owned    map[int64]bool
}

func newVolatile(under image) *volatileImage {
	return &volatileImage{
		under:    under,
		size:     under.Size(),
		clusters: map[int64][]byte{},
		owned:    map[int64]bool{},
	}
}

func (v *volatileImage) Size() int64 { return v.size }

func (v *volatileImage) clusterLen(ci int64) int64 {
	return min(clusterSize, v.size-ci<<clusterBits)
}

func (v *volatileImage) ReadAt(p []byte, off int64) error {
	if len(v.clusters) == 0 {
		return v.under.ReadAt(p, off)
	}
	for len(p) > 0 {
		ci, co := off>>clusterBits, off&(clusterSize-1)
		n := min(int64(len(p)), clusterSize-co)
		b, ok := v.clusters[ci]
		switch {
		case !ok:
			// Read the following unchanged clusters in one go.
			for n < int64(len(p)) {
				if _, w := v.clusters[(off+n)>>clusterBits]; w {
					break
				}
				n = min(int64(len(p)), n+clusterSize)
			}
			if err := v.under.ReadAt(p[:n], off); err != nil {
				return err
			}
		case b == nil:
			clear(p[:n])
		default:
			copy(p[:n], b[co:])
		}
		p, off = p[n:], off+n
	}
	return nil
}

// own returns cluster ci's buffer for writing in place: a private copy
// of its current contents (not read when the caller overwrites all of it).
func (v *volatileImage) own(ci int64, overwrite bool) ([]byte, error) {
	b, ok := v.clusters[ci]
	if ok && b != nil && v.owned[ci] {
		return b, nil
	}
	nb := make([]byte, v.clusterLen(ci))
	switch {
	case overwrite, ok && b == nil:
	case ok:
		copy(nb, b)
	default:
		if err := v.under.ReadAt(nb, ci<<clusterBits); err != nil {
			return nil, err
		}
	}
	v.clusters[ci] = nb
	v.owned[ci] = true
	return nb, nil
}

func (v *volatileImage) WriteAt(p []byte, off int64) error {
	for len(p) > 0 {
		ci, co := off>>clusterBits, off&(clusterSize-1)
		n := min(int64(len(p)), clusterSize-co)
		b, err := v.own(ci, co == 0 && n == v.clusterLen(ci))
		if err != nil {
			return err
		}
		copy(b[co:], p[:n])
		p, off = p[n:], off+n
	}
	return nil
}

func (v *volatileImage) WriteZeroes(off, n int64, unmap bool) error {
	for n > 0 {
		ci, co := off>>clusterBits, off&(clusterSize-1)
		m := min(n, clusterSize-co)
		if co == 0 && m == v.clusterLen(ci) {
			v.clusters[ci] = nil
			delete(v.owned, ci)
		} else if b, ok := v.clusters[ci]; !ok || b != nil {
			b, err := v.own(ci, false)
			if err != nil {
				return err
			}
			clear(b[co : co+m])
		}
		off, n = off+m, n-m
	}
	return nil
}

// Flush does nothing: the changes are not meant to last.
func (v *volatileImage) Flush() error { return nil }

func (v *volatileImage) Close() error { return v.under.Close() }

// Contents is one version of the changes a volatile disk (see
// Options.Volatile) holds: every cluster the guest wrote since the disk
// was opened. A Contents is immutable once made; it shares cluster buffers
// with the disk and with other versions, none of which modifies them.
type Contents struct {
	size     int64
	clusters map[int64][]byte
}

// Volatile reports whether the device keeps its changes in memory
// (Options.Volatile).
func (d *Device) Volatile() bool {
	_, ok := d.img.(*volatileImage)
	return ok
}

// SaveContents returns the current contents of a volatile disk. It costs
// time and memory in proportion to the number of clusters written, not to
// their size: the buffers are shared, and the disk copies a cluster before
// it next changes it. For a disk that is not volatile it returns nil: such
// a disk's contents are its files.
func (d *Device) SaveContents() *Contents {
	v, ok := d.img.(*volatileImage)
	if !ok {
		return nil
	}
	clear(v.owned)
	return &Contents{size: v.size, clusters: maps.Clone(v.clusters)}
}

// RestoreContents makes the disk's contents those saved in c, which must
// come from a disk of the same size over the same image (only the size can
// be checked). It fails for a disk that is not volatile and for a nil c.
// c stays valid and may be restored again.
func (d *Device) RestoreContents(c *Contents) error {
	v, ok := d.img.(*volatileImage)
	switch {
	case !ok:
		return fmt.Errorf("blk: %s: restoring contents of a disk that is not volatile", d.name)
	case c == nil:
		return fmt.Errorf("blk: %s: restoring nil contents", d.name)
	case c.size != v.size:
		return fmt.Errorf("blk: %s: contents of a %d-byte disk restored onto one of %d bytes", d.name, c.size, v.size)
	}
	v.clusters = maps.Clone(c.clusters)
	if v.clusters == nil {
		v.clusters = map[int64][]byte{}
	}
	clear(v.owned)
	return nil
}

// Encoding of Contents.
const (
	contentsMagic   = "JUICEVOL"
	contentsVersion = 1
)

// MarshalBinary encodes c: the magic "JUICEVOL", a version, the cluster
// size, the disk size and each changed cluster in order (its index, and its
// bytes unless it reads as zeroes), in the field encoding of package
// snapshot.
func (c *Contents) MarshalBinary() ([]byte, error) {
	var e snapshot.Encoder
	e.Blob([]byte(contentsMagic))
	e.Uint32(contentsVersion)
	e.Uint32(clusterBits)
	e.Uint64(uint64(c.size))
	keys := slices.Sorted(maps.Keys(c.clusters))
	e.Count(len(keys))
	for _, ci := range keys {
		e.Uint64(uint64(ci))
		b := c.clusters[ci]
		e.Bool(b != nil)
		if b != nil {
			e.Blob(b)
		}
	}
	return e.Bytes(), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote into c, replacing its
// contents. The input is untrusted: every value is checked (cluster
// indices in order and on the disk, each cluster exactly as long as the
// disk allows), and the memory used is bounded by the input's size. On
// error c is unchanged.
func (c *Contents) UnmarshalBinary(b []byte) error {
	d := snapshot.NewDecoder(b)
	if m := d.Blob("magic", len(contentsMagic)); d.Err() == nil && string(m) != contentsMagic {
		d.Failf("magic: %q", m)
	}
	if v := d.Uint32("version"); d.Err() == nil && v != contentsVersion {
		d.Failf("version: %d, want %d", v, contentsVersion)
	}
	if bits := d.Uint32("cluster bits"); d.Err() == nil && bits != clusterBits {
		d.Failf("cluster bits: %d, want %d", bits, clusterBits)
	}
	size := d.Uint64("size")
	if d.Err() == nil && size > math.MaxInt64-clusterSize {
		d.Failf("size: %d", size)
	}
	entries := (int64(size) + clusterSize - 1) >> clusterBits
	n := d.Count("clusters", int(min(entries, math.MaxInt32)))
	out := &Contents{size: int64(size), clusters: map[int64][]byte{}}
	next := int64(0)
	for i := 0; i < n && d.Err() == nil; i++ {
		u := d.Uint64("cluster index")
		has := d.Bool("cluster data present")
		if d.Err() != nil {
			break
		}
		if u < uint64(next) || u >= uint64(entries) {
			d.Failf("cluster index: %d out of order or beyond the disk's %d clusters", u, entries)
			break
		}
		ci := int64(u)
		next = ci + 1
		var data []byte
		if has {
			want := min(clusterSize, out.size-ci<<clusterBits)
			data = d.Blob("cluster data", clusterSize)
			if d.Err() == nil && int64(len(data)) != want {
				d.Failf("cluster data: cluster %d has %d bytes, want %d", ci, len(data), want)
			}
		}
		out.clusters[ci] = data
	}
	if err := d.Finish("blk contents"); err != nil {
		return err
	}
	*c = *out
	return nil
}
