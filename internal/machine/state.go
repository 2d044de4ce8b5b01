package machine

import "github.com/juicevm/juice/internal/snapshot"

// The board devices' and the machine's bookkeeping's saved state: the
// encodings of the components (see components.go) that checkpoints store,
// digests hash and summaries fingerprint. Each restore validates what it
// reads: a checkpoint may come from a file.

func (c *clint) saveState(e *snapshot.Encoder) {
	for i := range c.msip {
		e.Uint32(c.msip[i])
		e.Uint64(c.mtimecmp[i])
	}
}

func (c *clint) restoreState(d *snapshot.Decoder) {
	for i := range c.msip {
		msip := d.Uint32("clint msip")
		if msip > 1 {
			d.Failf("clint msip %d: %d is not 0 or 1", i, msip)
		}
		c.msip[i] = msip
		c.mtimecmp[i] = d.Uint64("clint mtimecmp")
	}
}

func (p *plic) saveState(e *snapshot.Encoder) {
	for i := range p.priority {
		e.Uint32(p.priority[i])
		e.Bool(p.level[i])
	}
	e.Uint64(p.pending)
	e.Uint64(p.claimed)
	for i := range p.enable {
		e.Uint64(p.enable[i])
		e.Uint32(p.threshold[i])
	}
}

func (p *plic) restoreState(d *snapshot.Decoder) {
	for i := range p.priority {
		p.priority[i] = d.Uint32("plic priority") & 7
		p.level[i] = d.Bool("plic level")
	}
	valid := uint64(1)<<(PLICSources+1) - 2 // sources 1..PLICSources
	p.pending = d.Uint64("plic pending")
	p.claimed = d.Uint64("plic claimed")
	if (p.pending|p.claimed)&^valid != 0 {
		d.Failf("plic: pending %#x or claimed %#x names a source that does not exist", p.pending, p.claimed)
	}
	for i := range p.enable {
		p.enable[i] = d.Uint64("plic enable") & valid
		p.threshold[i] = d.Uint32("plic threshold") & 7
	}
}

func (u *uart) saveState(e *snapshot.Encoder) {
	for _, v := range []uint8{u.ier, u.lcr, u.mcr, u.scr, u.fcr, u.dll, u.dlm} {
		e.Uint8(v)
	}
	e.Bool(u.threPending)
	e.Blob(u.rx)
}

func (u *uart) restoreState(d *snapshot.Decoder) {
	for _, p := range []*uint8{&u.ier, &u.lcr, &u.mcr, &u.scr, &u.fcr, &u.dll, &u.dlm} {
		*p = d.Uint8("uart register")
	}
	u.threPending = d.Bool("uart thre pending")
	u.rx = d.Blob("uart rx", uartRxLimit)
}

func (s *sbi) saveState(e *snapshot.Encoder) {
	for _, t := range s.timer {
		e.Uint64(t)
	}
}

func (s *sbi) restoreState(d *snapshot.Decoder) {
	for i := range s.timer {
		s.timer[i] = d.Uint64("sbi timer")
	}
}

func (p *panicDetector) saveState(e *snapshot.Encoder) {
	e.Blob(p.line)
	e.Bool(p.seen)
}

func (p *panicDetector) restoreState(d *snapshot.Decoder) {
	p.line = d.Blob("panic detector line", 256)
	p.seen = d.Bool("panic detector seen")
}

func (r *round) saveState(e *snapshot.Encoder) {
	e.Bool(r.active)
	e.Uint64(r.q)
	e.Uint64(r.next)
	e.Uint32(uint32(r.hart))
	e.Uint64(r.used)
	e.Bool(r.ran)
}

func (r *round) restoreState(d *snapshot.Decoder, harts int, quantum uint64) {
	r.active = d.Bool("round active")
	r.q = d.Uint64("round quantum")
	r.next = d.Uint64("round deadline")
	r.hart = int(d.Uint32("round hart"))
	r.used = d.Uint64("round used")
	r.ran = d.Bool("round ran")
	if r.active && (r.q > quantum || r.hart > harts || r.used > r.q) {
		d.Failf("round: hart %d used %d of %d (quantum %d, %d harts) is impossible", r.hart, r.used, r.q, quantum, harts)
	}
}
