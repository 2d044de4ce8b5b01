package machine

import (
	"github.com/juicevm/juice/internal/riscv"
)

// SBI extension IDs.
const (
	sbiExtBase  = 0x10
	sbiExtTime  = 0x54494d45
	sbiExtIPI   = 0x735049
	sbiExtFence = 0x52464e43
	sbiExtHSM   = 0x48534d
	sbiExtSRST  = 0x53525354
	sbiExtDBCN  = 0x4442434e
	// Legacy extensions 0x00-0x08.
	sbiLegacySetTimer    = 0x00
	sbiLegacyPutchar     = 0x01
	sbiLegacyGetchar     = 0x02
	sbiLegacyClearIPI    = 0x03
	sbiLegacySendIPI     = 0x04
	sbiLegacyFenceI      = 0x05
	sbiLegacySfenceVMA   = 0x06
	sbiLegacySfenceASID  = 0x07
	sbiLegacyShutdown    = 0x08
	sbiSpecVersion       = 2 << 24 // SBI 2.0
	sbiImplID            = 0x4a55  // "JU": Juice
	sbiImplVersion       = 1
	sbiSuccess           = 0
	sbiErrFailed         = -1
	sbiErrNotSupported   = -2
	sbiErrInvalidParam   = -3
	sbiErrInvalidAddress = -5
	sbiErrAlreadyAvail   = -6
	sbiErrAlreadyStopped = -8
)

// HSM hart states.
const (
	hsmStarted = 0
	hsmStopped = 1
)

// sbi is the supervisor binary interface Juice provides to an S-mode
// kernel in place of M-mode firmware.
type sbi struct {
	m     *Machine
	timer []uint64 // per-hart S-mode timer deadline (mtime units)
}

func newSBI(m *Machine) *sbi {
	s := &sbi{m: m, timer: make([]uint64, m.cfg.CPUs)}
	for i := range s.timer {
		s.timer[i] = ^uint64(0)
	}
	return s
}

// Ecall implements riscv.Firmware.
func (s *sbi) Ecall(h *riscv.Hart) {
	x := &h.X
	ext, fn := x[17], x[16]
	if ext <= sbiLegacyShutdown {
		x[10] = uint64(s.legacy(h, ext))
		return
	}
	errv, val := s.call(h, ext, fn)
	x[10], x[11] = uint64(errv), uint64(val)
}

func (s *sbi) legacy(h *riscv.Hart, ext uint64) int64 {
	a0 := h.X[10]
	switch ext {
	case sbiLegacySetTimer:
		s.setTimer(h, a0)
	case sbiLegacyPutchar:
		s.m.consoleOut(byte(a0))
	case sbiLegacyGetchar:
		return s.getchar()
	case sbiLegacyClearIPI:
		h.SetSoftwarePending(riscv.IrqSSI, false)
	case sbiLegacySendIPI, sbiLegacyFenceI, sbiLegacySfenceVMA, sbiLegacySfenceASID:
		var mask uint64
		if a0 != 0 {
			v, ok := h.LoadVirtual(a0, 8)
			if !ok {
				return sbiErrInvalidAddress
			}
			mask = v
		} else {
			mask = 1<<len(s.m.harts) - 1
		}
		if ext == sbiLegacySendIPI {
			s.sendIPI(mask, 0)
		} else {
			s.fence(mask, 0)
		}
	case sbiLegacyShutdown:
		s.m.stop(ExitPowerOff, 0)
	}
	return 0
}

func (s *sbi) getchar() int64 {
	u := s.m.uart
	if len(u.rx) == 0 {
		return -1
	}
	b := u.rx[0]
	u.rx = u.rx[1:]
	u.update()
	return int64(b)
}

func (s *sbi) call(h *riscv.Hart, ext, fn uint64) (int64, int64) {
	a := h.X[10:16]
	switch ext {
	case sbiExtBase:
		switch fn {
		case 0:
			return sbiSuccess, sbiSpecVersion
		case 1:
			return sbiSuccess, sbiImplID
		case 2:
			return sbiSuccess, sbiImplVersion
		case 3:
			switch a[0] {
			case sbiExtBase, sbiExtTime, sbiExtIPI, sbiExtFence, sbiExtHSM, sbiExtSRST, sbiExtDBCN,
				sbiLegacySetTimer, sbiLegacyPutchar, sbiLegacyGetchar, sbiLegacyClearIPI, sbiLegacySendIPI,
				sbiLegacyFenceI, sbiLegacySfenceVMA, sbiLegacySfenceASID, sbiLegacyShutdown:
				return sbiSuccess, 1
			}
			return sbiSuccess, 0
		case 4, 5, 6: // mvendorid, marchid, mimpid
			return sbiSuccess, 0
		}
	case sbiExtTime:
		if fn == 0 {
			s.setTimer(h, a[0])
			return sbiSuccess, 0
		}
	case sbiExtIPI:
		if fn == 0 {
			return s.sendIPI(a[0], a[1]), 0
		}
	case sbiExtFence:
		switch fn {
		case 0, 1, 2: // remote FENCE.I, SFENCE.VMA, SFENCE.VMA.ASID
			return s.fence(a[0], a[1]), 0
		}
	case sbiExtHSM:
		return s.hsm(h, fn, a)
	case sbiExtSRST:
		if fn == 0 {
			switch a[0] {
			case 0:
				s.m.stop(ExitPowerOff, 0)
				return sbiSuccess, 0
			case 1, 2:
				s.m.stop(ExitReboot, 0)
				return sbiSuccess, 0
			}
			return sbiErrInvalidParam, 0
		}
	case sbiExtDBCN:
		return s.dbcn(fn, a)
	}
	return sbiErrNotSupported, 0
}

func (s *sbi) setTimer(h *riscv.Hart, t uint64) {
	i := int(h.HartID())
	s.timer[i] = t
	s.m.updateTimer(i)
}

// forHarts calls f for each hart selected by an SBI hart mask.
func (s *sbi) forHarts(mask, base uint64, f func(*riscv.Hart)) int64 {
	if base == ^uint64(0) {
		for _, t := range s.m.harts {
			f(t)
		}
		return sbiSuccess
	}
	for i := uint64(0); i < 64 && mask != 0; i, mask = i+1, mask>>1 {
		if mask&1 == 0 {
			continue
		}
		id := base + i
		if id >= uint64(len(s.m.harts)) {
			return sbiErrInvalidParam
		}
		f(s.m.harts[id])
	}
	return sbiSuccess
}

func (s *sbi) sendIPI(mask, base uint64) int64 {
	return s.forHarts(mask, base, func(t *riscv.Hart) { t.SetSoftwarePending(riscv.IrqSSI, true) })
}

func (s *sbi) fence(mask, base uint64) int64 {
	return s.forHarts(mask, base, func(t *riscv.Hart) { t.FlushTLB() })
}

func (s *sbi) hsm(h *riscv.Hart, fn uint64, a []uint64) (int64, int64) {
	switch fn {
	case 0: // hart_start(hartid, start_addr, opaque)
		if a[0] >= uint64(len(s.m.harts)) {
			return sbiErrInvalidParam, 0
		}
		t := s.m.harts[a[0]]
		if !t.Stopped() {
			return sbiErrAlreadyAvail, 0
		}
		if !s.m.ram.Contains(a[1], 1) {
			return sbiErrInvalidAddress, 0
		}
		t.Start(a[1], riscv.PrivS, a[0], a[2])
		return sbiSuccess, 0
	case 1: // hart_stop
		h.SetStopped(true)
		h.Yield()
		return sbiSuccess, 0
	case 2: // hart_get_status(hartid)
		if a[0] >= uint64(len(s.m.harts)) {
			return sbiErrInvalidParam, 0
		}
		if s.m.harts[a[0]].Stopped() {
			return sbiSuccess, hsmStopped
		}
		return sbiSuccess, hsmStarted
	case 3: // hart_suspend(type, resume_addr, opaque)
		if uint32(a[0]) == 0 { // default retentive suspend: behaves as WFI
			h.Suspend()
			return sbiSuccess, 0
		}
		return sbiErrNotSupported, 0
	}
	return sbiErrNotSupported, 0
}

func (s *sbi) dbcn(fn uint64, a []uint64) (int64, int64) {
	switch fn {
	case 0, 1: // console_write and console_read(num_bytes, base_lo, base_hi)
		n, addr := a[0], a[1]
		b, ok := s.m.ram.Slice(addr, n)
		if a[2] != 0 || !ok {
			return sbiErrInvalidParam, 0
		}
		if fn == 0 {
			for _, c := range b {
				s.m.consoleOut(c)
			}
			return sbiSuccess, int64(n)
		}
		var got uint64
		for got < n {
			c := s.getchar()
			if c < 0 {
				break
			}
			b[got] = byte(c)
			got++
		}
		s.m.markDirty(addr, got)
		return sbiSuccess, int64(got)
	case 2: // console_write_byte
		s.m.consoleOut(byte(a[0]))
		return sbiSuccess, 0
	}
	return sbiErrNotSupported, 0
}
