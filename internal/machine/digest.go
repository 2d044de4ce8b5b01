package machine

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/juicevm/juice/internal/snapshot"
)

// Clock returns the machine's instruction clock: the number of
// instructions each hart has had the opportunity to execute. Input from
// outside enters between scheduling rounds, each at a distinct value of
// this clock, so (clock, input) pairs are what a recording logs.
func (m *Machine) Clock() uint64 { return m.now }

// Digest returns a SHA-256 digest of the machine's guest-visible state:
// the saved state of the components the guest sees (the clock, every
// hart, the board's devices, the virtio transports and their devices:
// the encodings checkpoints store), and RAM (the index and content of
// each page that is not all zero). Two runs that agree on it are
// indistinguishable to the guest from then on, given the same input.
func (m *Machine) Digest() [32]byte {
	d := sha256.New()
	var e snapshot.Encoder
	m.saveRoles(&e, roleClock, roleHart, roleDevice)
	d.Write(e.Bytes())
	// RAM: the index and content of every page that is not all zero,
	// hashed in ramDigestParts equal parts (in parallel), whose digests
	// go into the whole one in order. Pages never written are zero and
	// not even read (reading them would make the host map them).
	var parts [ramDigestParts][32]byte
	pages := m.ram.Size() / pageSize
	per := (pages + ramDigestParts - 1) / ramDigestParts
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() {
			parts[i] = m.digestPages(uint64(i)*per, min(uint64(i+1)*per, pages))
		})
	}
	wg.Wait()
	for _, p := range parts {
		d.Write(p[:])
	}
	var sum [32]byte
	d.Sum(sum[:0])
	return sum
}

// ramDigestParts is the number of parts of RAM Digest hashes separately
// (and in parallel). It is part of the digest's definition: fixed, not
// the number of host cores.
const ramDigestParts = 4

// digestPages hashes the index and content of each page in [first, end)
// that is not all zero.
func (m *Machine) digestPages(first, end uint64) [32]byte {
	d := sha256.New()
	var zero [pageSize]byte
	var idx [8]byte
	for p := first; p < end; p++ {
		w, bit := p/64, p%64
		if (m.pages.recent[w]|m.pages.touched[w])>>bit&1 == 0 {
			if bit == 0 && p+64 <= end && m.pages.recent[w]|m.pages.touched[w] == 0 {
				p += 63 // a whole word of pages never written
			}
			continue
		}
		page := m.page(uint32(p))
		if bytes.Equal(page, zero[:]) {
			continue
		}
		binary.LittleEndian.PutUint64(idx[:], p)
		d.Write(idx[:])
		d.Write(page)
	}
	var sum [32]byte
	d.Sum(sum[:0])
	return sum
}
