package pid1

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The SiFive test ("syscon") device of Juice's board (and QEMU's virt):
// a 32-bit write at its base powers off (0x5555), powers off with an exit
// status for the host (0x3333 | status<<16) or resets (0x7777).
const (
	sysconBase     = 0x10_0000
	sysconPowerOff = 0x5555
	sysconFail     = 0x3333
	// sysconNode is its device-tree node, checked before writing to it.
	sysconNode = "/sys/firmware/devicetree/base/soc/test@100000/compatible"
)

// sysconValue is the value that powers off with status code.
func sysconValue(code int) uint32 {
	if code == 0 {
		return sysconPowerOff
	}
	return sysconFail | uint32(code&0xffff)<<16
}

// PowerOffStatus syncs and powers the machine off so that `juice run`
// exits with code (0 to MaxHostStatus): it writes the code to the syscon
// device through /dev/mem (the kernel's own power-off cannot carry a
// status). If that is not possible it logs why through logf (unless code
// is 0) and powers off through the kernel. It returns only if both
// failed.
func PowerOffStatus(code int, logf func(format string, args ...any)) error {
	code = min(max(code, 0), MaxHostStatus)
	unix.Sync()
	err := writeSyscon(sysconValue(code))
	if code != 0 {
		logf("cannot pass exit status %d to the host (%v): powering off with status 0", code, err)
	}
	return PowerOff()
}

// writeSyscon writes v to the syscon device. On Juice and QEMU the
// machine stops during the write; a return is a failure.
func writeSyscon(v uint32) error {
	compat, err := os.ReadFile(sysconNode)
	if err != nil {
		return fmt.Errorf("no syscon device in the device tree: %w", err)
	}
	if !bytes.Contains(compat, []byte("sifive,test0\x00")) {
		return fmt.Errorf("%s is %q, not sifive,test0", sysconNode, bytes.ReplaceAll(compat, []byte{0}, []byte{' '}))
	}
	fd, err := unix.Open("/dev/mem", unix.O_RDWR|unix.O_SYNC|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("no /dev/mem: the kernel needs CONFIG_DEVMEM")
		}
		return fmt.Errorf("opening /dev/mem: %w", err)
	}
	defer unix.Close(fd)
	mem, err := unix.Mmap(fd, sysconBase, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mapping the syscon device from /dev/mem: %w", err)
	}
	defer unix.Munmap(mem)
	if err := store32(mem, v); err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond)
	return fmt.Errorf("the machine did not stop after writing %#x to the syscon device", v)
}

// store32 stores v at the start of mem, turning a fault (firmware that
// keeps the device to itself) into an error instead of a crash of PID 1.
func store32(mem []byte, v uint32) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("writing to the syscon device: %v", r)
		}
	}()
	storeWord((*uint32)(unsafe.Pointer(&mem[0])), v)
	return nil
}

// storeWord is a plain 32-bit store (sw). An atomic store would be an
// AMO, which device memory does not take (an access fault).
//
//go:noinline
func storeWord(p *uint32, v uint32) { *p = v }
