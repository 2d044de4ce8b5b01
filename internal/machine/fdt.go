package machine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/u-root/u-root/pkg/dt"

	"github.com/juicevm/juice/internal/riscv"
)

// Device tree phandles.
const (
	phandlePLIC   = 1
	phandleSyscon = 2
	phandleCPU0   = 16 // hart i's interrupt controller is phandleCPU0+i
)

// dtbOptions are the parts of the device tree that depend on how the
// machine is booted.
type dtbOptions struct {
	initrdStart, initrdEnd uint64
}

func propEmpty(name string) dt.Property { return dt.Property{Name: name, Value: []byte{}} }

func propStrings(name string, s ...string) dt.Property {
	return dt.Property{Name: name, Value: []byte(strings.Join(s, "\x00") + "\x00")}
}

func propCells(name string, cells ...uint32) dt.Property {
	b := make([]byte, 4*len(cells))
	for i, c := range cells {
		binary.BigEndian.PutUint32(b[4*i:], c)
	}
	return dt.Property{Name: name, Value: b}
}

// propReg encodes (address, size) pairs with two cells each.
func propReg(addrSize ...uint64) dt.Property {
	cells := make([]uint32, 0, 2*len(addrSize))
	for _, v := range addrSize {
		cells = append(cells, uint32(v>>32), uint32(v))
	}
	return propCells("reg", cells...)
}

// deviceTree generates the flattened device tree describing the machine.
func (m *Machine) deviceTree(o dtbOptions) ([]byte, error) {
	n := len(m.harts)
	cpus := dt.NewNode("cpus", dt.WithProperty(
		dt.PropertyU32("#address-cells", 1),
		dt.PropertyU32("#size-cells", 0),
		dt.PropertyU32("timebase-frequency", TimebaseHz),
	))
	var clintIrqs, plicIrqs []uint32
	for i := 0; i < n; i++ {
		ph := uint32(phandleCPU0 + i)
		intc := dt.NewNode("interrupt-controller", dt.WithProperty(
			dt.PropertyU32("#interrupt-cells", 1),
			propEmpty("interrupt-controller"),
			propStrings("compatible", "riscv,cpu-intc"),
			dt.PropertyU32("phandle", ph),
		))
		cpu := dt.NewNode(fmt.Sprintf("cpu@%d", i), dt.WithProperty(
			propStrings("device_type", "cpu"),
			dt.PropertyU32("reg", uint32(i)),
			propStrings("status", "okay"),
			propStrings("compatible", "riscv"),
			propStrings("riscv,isa", riscv.ISA),
			propStrings("riscv,isa-base", "rv64i"),
			propStrings("riscv,isa-extensions", "i", "m", "a", "f", "d", "c", "zicntr", "zicsr", "zifencei"),
			propStrings("mmu-type", "riscv,sv48"),
		), dt.WithChildren(intc))
		cpus.Children = append(cpus.Children, cpu)
		clintIrqs = append(clintIrqs, ph, 3, ph, 7)
		plicIrqs = append(plicIrqs, ph, 11, ph, 9)
	}

	soc := dt.NewNode("soc", dt.WithProperty(
		dt.PropertyU32("#address-cells", 2),
		dt.PropertyU32("#size-cells", 2),
		propStrings("compatible", "simple-bus"),
		propEmpty("ranges"),
	), dt.WithChildren(
		dt.NewNode(fmt.Sprintf("test@%x", SysconBase), dt.WithProperty(
			propStrings("compatible", "sifive,test1", "sifive,test0", "syscon"),
			propReg(SysconBase, SysconSize),
			dt.PropertyU32("phandle", phandleSyscon),
		)),
		dt.NewNode(fmt.Sprintf("clint@%x", CLINTBase), dt.WithProperty(
			propStrings("compatible", "sifive,clint0", "riscv,clint0"),
			propReg(CLINTBase, CLINTSize),
			propCells("interrupts-extended", clintIrqs...),
		)),
		dt.NewNode(fmt.Sprintf("plic@%x", PLICBase), dt.WithProperty(
			propStrings("compatible", "sifive,plic-1.0.0", "riscv,plic0"),
			propReg(PLICBase, PLICSize),
			dt.PropertyU32("#interrupt-cells", 1),
			dt.PropertyU32("#address-cells", 0),
			propEmpty("interrupt-controller"),
			dt.PropertyU32("riscv,ndev", PLICSources),
			propCells("interrupts-extended", plicIrqs...),
			dt.PropertyU32("phandle", phandlePLIC),
		)),
		dt.NewNode(fmt.Sprintf("serial@%x", UARTBase), dt.WithProperty(
			propStrings("compatible", "ns16550a"),
			propReg(UARTBase, UARTSize),
			dt.PropertyU32("clock-frequency", 3686400),
			dt.PropertyU32("interrupts", UARTIRQ),
			dt.PropertyU32("interrupt-parent", phandlePLIC),
		)),
	))

	for _, sl := range m.slots {
		base := VirtioBase + uint64(sl.index)*VirtioStride
		soc.Children = append(soc.Children, dt.NewNode(fmt.Sprintf("virtio_mmio@%x", base), dt.WithProperty(
			propStrings("compatible", "virtio,mmio"),
			propReg(base, VirtioStride),
			dt.PropertyU32("interrupts", uint32(VirtioIRQ+sl.index)),
			dt.PropertyU32("interrupt-parent", phandlePLIC),
		)))
	}

	chosen := dt.NewNode("chosen", dt.WithProperty(
		propStrings("stdout-path", fmt.Sprintf("/soc/serial@%x", UARTBase)),
	))
	if m.cfg.Cmdline != "" {
		chosen.Properties = append(chosen.Properties, propStrings("bootargs", m.cfg.Cmdline))
	}
	if o.initrdEnd > o.initrdStart {
		chosen.Properties = append(chosen.Properties,
			dt.PropertyU64("linux,initrd-start", o.initrdStart),
			dt.PropertyU64("linux,initrd-end", o.initrdEnd))
	}

	root := dt.NewNode("", dt.WithProperty(
		dt.PropertyU32("#address-cells", 2),
		dt.PropertyU32("#size-cells", 2),
		propStrings("compatible", "juice,virt", "riscv-virtio"),
		propStrings("model", "juice,virt"),
	), dt.WithChildren(
		chosen,
		dt.NewNode(fmt.Sprintf("memory@%x", RAMBase), dt.WithProperty(
			propStrings("device_type", "memory"),
			propReg(m.ram.Base(), m.ram.Size()),
		)),
		cpus,
		soc,
	))
	if m.sbi == nil {
		// M-mode firmware finds its power-off and reboot device here; with
		// Juice's own SBI, the kernel uses SBI SRST instead.
		root.Children = append(root.Children,
			dt.NewNode("poweroff", dt.WithProperty(
				propStrings("compatible", "syscon-poweroff"),
				dt.PropertyU32("regmap", phandleSyscon),
				dt.PropertyU32("offset", 0),
				dt.PropertyU32("value", 0x5555),
			)),
			dt.NewNode("reboot", dt.WithProperty(
				propStrings("compatible", "syscon-reboot"),
				dt.PropertyU32("regmap", phandleSyscon),
				dt.PropertyU32("offset", 0),
				dt.PropertyU32("value", 0x7777),
			)))
	}
	fdt := &dt.FDT{
		Header:   dt.Header{Magic: dt.Magic, Version: 17, LastCompVersion: 16},
		RootNode: root,
	}
	var buf bytes.Buffer
	if _, err := fdt.Write(&buf); err != nil {
		return nil, fmt.Errorf("device tree: %w", err)
	}
	return buf.Bytes(), nil
}
