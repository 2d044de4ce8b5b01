// Package guestram is a machine's RAM as guest physical addresses reach
// it: one range of addresses, [Base, End), backed by host memory. RAM owns
// the bounds check that the harts, the devices, the loaders and the
// checkpoints make before they touch guest memory, so that there is one
// check and it is overflow-safe.
package guestram

import "encoding/binary"

// RAM is guest RAM: mem[0] is at guest physical address base. Its zero
// value is a RAM of no bytes, in which only empty ranges exist.
//
// A range of n bytes at addr is in RAM when base <= addr and addr+n <=
// base+len(mem), computed without overflow. An empty range may lie
// anywhere in [Base, End], End included: it names no byte.
type RAM struct {
	mem  []byte
	base uint64
}

// New returns the RAM mem at guest physical address base.
func New(mem []byte, base uint64) RAM { return RAM{mem: mem, base: base} }

// Base returns the physical address of the first byte of RAM.
func (r RAM) Base() uint64 { return r.base }

// Size returns the number of bytes of RAM.
func (r RAM) Size() uint64 { return uint64(len(r.mem)) }

// End returns the physical address just past the last byte of RAM.
func (r RAM) End() uint64 { return r.base + uint64(len(r.mem)) }

// Bytes returns RAM itself, by offset from Base: for the callers that
// already hold an offset checked by Offset.
func (r RAM) Bytes() []byte { return r.mem }

// Offset returns the offset from Base of the n bytes at physical address
// addr, if all of them lie in RAM.
func (r RAM) Offset(addr, n uint64) (off uint64, ok bool) {
	off = addr - r.base
	if addr < r.base || off > uint64(len(r.mem)) || n > uint64(len(r.mem))-off {
		return 0, false
	}
	return off, true
}

// Contains reports whether the n bytes at physical address addr all lie in
// RAM.
func (r RAM) Contains(addr, n uint64) bool {
	_, ok := r.Offset(addr, n)
	return ok
}

// Slice returns the n bytes of RAM at physical address addr, if all of
// them lie in RAM. The slice's capacity ends with it, so appending to it
// never writes RAM beyond.
func (r RAM) Slice(addr, n uint64) ([]byte, bool) {
	off, ok := r.Offset(addr, n)
	if !ok {
		return nil, false
	}
	return r.mem[off : off+n : off+n], true
}

// Uint64 reads the little-endian 64-bit word at physical address addr.
func (r RAM) Uint64(addr uint64) (uint64, bool) {
	b, ok := r.Slice(addr, 8)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}
