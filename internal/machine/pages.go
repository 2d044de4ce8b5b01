package machine

import (
	"hash/crc32"
	mathbits "math/bits"
)

// pageTracker knows which RAM pages were written, for the three parts of
// the machine that need to know: checkpoints (the pages that changed since
// the last checkpoint taken or restored), state summaries (since the last
// summary), digests (ever, so that pages never written — zero — are
// not even read), snapshots (since the last snapshot, for a diff) and
// live migration (since its last round of copying).
//
// The harts and the board mark pages in recent. A hart marks a page when
// it enters the hart's write TLB, so drain, which moves recent into each
// consumer's set, also flushes the TLBs: the next write to each page marks
// it again.
type pageTracker struct {
	recent  []uint64
	ckpt    []uint64
	sum     []uint64
	touched []uint64
	snap    []uint64
	mig     []uint64
	m       *Machine
}

func newPageTracker(m *Machine, pages uint64) pageTracker {
	n := (pages + 63) / 64
	return pageTracker{recent: make([]uint64, n), ckpt: make([]uint64, n), sum: make([]uint64, n),
		touched: make([]uint64, n), snap: make([]uint64, n), mig: make([]uint64, n), m: m}
}

// mark records a write to RAM offsets [off, off+n).
func (t *pageTracker) mark(off, n uint64) {
	if n == 0 {
		return
	}
	for p := off / pageSize; p <= (off+n-1)/pageSize; p++ {
		t.recent[p/64] |= 1 << (p % 64)
	}
}

// drain moves the recent marks into every consumer's set.
func (t *pageTracker) drain() {
	for i, w := range t.recent {
		if w != 0 {
			t.ckpt[i] |= w
			t.sum[i] |= w
			t.touched[i] |= w
			t.snap[i] |= w
			t.mig[i] |= w
			t.recent[i] = 0
		}
	}
	for _, h := range t.m.harts {
		h.FlushTLB()
	}
}

// zeroBits clears a page set. It writes only the words that are not zero:
// in a large machine's sets most never are, and writing them would make
// the host map their memory.
func zeroBits(bits []uint64) {
	for i, w := range bits {
		if w != 0 {
			bits[i] = 0
		}
	}
}

// each calls f with the index of each page set in bits.
func each(bits []uint64, f func(p uint32)) {
	for w, word := range bits {
		for word != 0 {
			f(uint32(w*64 + mathbits.TrailingZeros64(word)))
			word &= word - 1
		}
	}
}

// ramSummary keeps a CRC-32C of every RAM page and, from them, a hash of
// each of ramRegions equal parts of RAM, updated at each state summary
// from the pages written since the one before.
type ramSummary struct {
	// crc holds each page's CRC-32C XOR zeroCRC, so that a page never
	// summarised (zero) is 0 and the array costs nothing until written.
	crc     []uint32
	regions [ramRegions]uint64
	// changed lists the pages whose content changed at the last update,
	// to name candidates when a region differs from a recording's.
	changed []uint32
}

// ramRegions is the number of parts of RAM a state summary hashes
// separately.
const ramRegions = 8

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	zeroCRC    = crc32.Checksum(make([]byte, pageSize), castagnoli)
)

func newRAMSummary(pages uint64) ramSummary {
	return ramSummary{crc: make([]uint32, pages)}
}

// regionOf returns the region holding page p.
func (r *ramSummary) regionOf(p uint32) int {
	per := (uint64(len(r.crc)) + ramRegions - 1) / ramRegions
	return int(uint64(p) / per)
}

// regionPages returns the pages of region i.
func (r *ramSummary) regionPages(i int) (first, end uint64) {
	per := (uint64(len(r.crc)) + ramRegions - 1) / ramRegions
	return uint64(i) * per, min(uint64(i+1)*per, uint64(len(r.crc)))
}

// mix spreads a page index and its CRC over 64 bits; zero pages are taken
// out (mix(p, zeroCRC) is XORed away), so the region hashes depend on the
// contents alone.
func mix(p uint32, crc uint32) uint64 {
	x := uint64(p)<<32 | uint64(crc)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// update recomputes the CRCs of the pages in bits; page returns a page's
// content.
func (r *ramSummary) update(page func(uint32) []byte, bits []uint64) {
	r.changed = r.changed[:0]
	each(bits, func(p uint32) {
		c := crc32.Checksum(page(p), castagnoli)
		if old := r.crc[p] ^ zeroCRC; c != old {
			reg := &r.regions[r.regionOf(p)]
			*reg ^= mix(p, old) ^ mix(p, c)
			r.crc[p] = c ^ zeroCRC
			r.changed = append(r.changed, p)
		}
	})
}
