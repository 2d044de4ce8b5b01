package machine

// uart is an ns16550a-compatible serial port. Transmission completes at
// once; received bytes come from the machine's input path.
type uart struct {
	m  *Machine
	rx []byte

	ier, lcr, mcr, scr, fcr uint8
	dll, dlm                uint8
	threPending             bool
}

const (
	uartIERRx   = 1 << 0
	uartIERTx   = 1 << 1
	uartLSRDR   = 1 << 0
	uartLSRTHRE = 1 << 5
	uartLSRTEMT = 1 << 6
	uartLCRDLAB = 1 << 7
	uartRxLimit = 4096
)

func (u *uart) dlab() bool { return u.lcr&uartLCRDLAB != 0 }

func (u *uart) load(off uint64, size int) (uint64, bool) {
	if size != 1 {
		return 0, false
	}
	var v uint8
	switch off {
	case 0:
		if u.dlab() {
			v = u.dll
		} else if len(u.rx) > 0 {
			v = u.rx[0]
			u.rx = u.rx[1:]
			u.update()
		}
	case 1:
		if u.dlab() {
			v = u.dlm
		} else {
			v = u.ier
		}
	case 2:
		v = u.iir()
		if v&0x0f == 0x02 {
			u.threPending = false
			u.update()
		}
	case 3:
		v = u.lcr
	case 4:
		v = u.mcr
	case 5:
		v = uartLSRTHRE | uartLSRTEMT
		if len(u.rx) > 0 {
			v |= uartLSRDR
		}
	case 6:
		v = 0xb0 // DCD, DSR, CTS
	case 7:
		v = u.scr
	}
	return uint64(v), true
}

func (u *uart) iir() uint8 {
	fifo := uint8(0)
	if u.fcr&1 != 0 {
		fifo = 0xc0
	}
	switch {
	case u.ier&uartIERRx != 0 && len(u.rx) > 0:
		return fifo | 0x04
	case u.ier&uartIERTx != 0 && u.threPending:
		return fifo | 0x02
	}
	return fifo | 0x01
}

func (u *uart) store(off uint64, size int, v uint64) bool {
	if size != 1 {
		return false
	}
	b := uint8(v)
	switch off {
	case 0:
		if u.dlab() {
			u.dll = b
		} else {
			u.m.consoleOut(b)
			u.threPending = true
		}
	case 1:
		if u.dlab() {
			u.dlm = b
		} else {
			if b&uartIERTx != 0 && u.ier&uartIERTx == 0 {
				u.threPending = true
			}
			u.ier = b & 0x0f
		}
	case 2:
		u.fcr = b &^ 0x06 // reset bits self-clear
		if b&0x02 != 0 {
			u.rx = u.rx[:0]
		}
	case 3:
		u.lcr = b
	case 4:
		u.mcr = b & 0x1f
	case 7:
		u.scr = b
	}
	u.update()
	return true
}

// receive queues as many input bytes as the receive buffer has room for
// and returns how many it took.
func (u *uart) receive(p []byte) int {
	room := uartRxLimit - len(u.rx)
	if len(p) > room {
		p = p[:room]
	}
	u.rx = append(u.rx, p...)
	u.update()
	return len(p)
}

func (u *uart) update() {
	u.m.plic.setLevel(UARTIRQ, u.iir()&1 == 0)
}
