package gdbstub

import (
	"fmt"
	"strings"
)

// The target description, written from the "RISC-V Features" section of
// gdb's manual: org.gnu.gdb.riscv.cpu holds x0-x31 (here by their ABI
// names) and pc; org.gnu.gdb.riscv.fpu holds f0-f31, fflags, frm and fcsr.
// The regnum attributes are the register numbers of the g, G, p and P
// packets (the Reg* constants).

var xNames = [32]string{
	"zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2",
	"fp", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
	"a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7",
	"s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
}

var fNames = [32]string{
	"ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7",
	"fs0", "fs1", "fa0", "fa1", "fa2", "fa3", "fa4", "fa5",
	"fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7",
	"fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
}

var targetXML = buildTargetXML()

func buildTargetXML() string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n")
	b.WriteString("  <architecture>riscv:rv64</architecture>\n")
	b.WriteString("  <feature name=\"org.gnu.gdb.riscv.cpu\">\n")
	for i, n := range xNames {
		typ := "int"
		switch n {
		case "ra":
			typ = "code_ptr"
		case "sp", "fp", "gp", "tp":
			typ = "data_ptr"
		}
		fmt.Fprintf(&b, "    <reg name=\"%s\" bitsize=\"64\" type=\"%s\" regnum=\"%d\"/>\n", n, typ, RegX0+i)
	}
	fmt.Fprintf(&b, "    <reg name=\"pc\" bitsize=\"64\" type=\"code_ptr\" regnum=\"%d\"/>\n", RegPC)
	b.WriteString("  </feature>\n  <feature name=\"org.gnu.gdb.riscv.fpu\">\n")
	b.WriteString("    <union id=\"riscv_double\">\n      <field name=\"float\" type=\"ieee_single\"/>\n      <field name=\"double\" type=\"ieee_double\"/>\n    </union>\n")
	for i, n := range fNames {
		fmt.Fprintf(&b, "    <reg name=\"%s\" bitsize=\"64\" type=\"riscv_double\" regnum=\"%d\"/>\n", n, RegF0+i)
	}
	fmt.Fprintf(&b, "    <reg name=\"fflags\" bitsize=\"32\" type=\"int\" regnum=\"%d\"/>\n", RegFflags)
	fmt.Fprintf(&b, "    <reg name=\"frm\" bitsize=\"32\" type=\"int\" regnum=\"%d\"/>\n", RegFrm)
	fmt.Fprintf(&b, "    <reg name=\"fcsr\" bitsize=\"32\" type=\"int\" regnum=\"%d\"/>\n", RegFcsr)
	b.WriteString("  </feature>\n</target>\n")
	return b.String()
}
