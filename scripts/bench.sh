#!/usr/bin/env bash
# Prints Juice's speed beside QEMU's (the anchor), measured in the same run:
#  1. boot to power-off of the default appliance (same kernel and initramfs);
#  2. guest MIPS on a CPU-bound bare-metal program (bench/cpu).
# then the Go mains in bench/ (io, replay, appliance, snapshot: snapshots,
# restore and live migration).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
juice=bin/juice
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mapfile -t paths < <($juice default-appliance)
kernel=${paths[0]} initrd=${paths[1]}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

echo "== Boot to power-off, default appliance ($RUNS runs each, median wall seconds)"
echo "   kernel $kernel"
echo "   initrd $initrd"
for i in $(seq "$RUNS"); do
  s=$(now); $juice run --kernel "$kernel" --initrd "$initrd" --append console=ttyS0 --stats "$tmp/stats.json" >/dev/null; e=$(now)
  echo "$e - $s" | bc -l >>"$tmp/juice-boot"
  s=$(now); qemu-system-riscv64 -M virt -nographic -m 256M -bios default -kernel "$kernel" -initrd "$initrd" -append console=ttyS0 >/dev/null; e=$(now)
  echo "$e - $s" | bc -l >>"$tmp/qemu-boot"
done
jb=$(median <"$tmp/juice-boot"); qb=$(median <"$tmp/qemu-boot")
insns=$(sed -n 's/.*"instructions": \([0-9]*\).*/\1/p' "$tmp/stats.json")
printf "   %-44s %8.3f s  (%s guest instructions)\n" "juice run" "$jb" "$insns"
printf "   %-44s %8.3f s\n" "qemu-system-riscv64 -M virt -bios default" "$qb"
printf "   ratio juice/qemu: %.2f (target: at most 2.00)\n" "$(echo "$jb / $qb" | bc -l)"

echo "== CPU-bound guest program (bench/cpu/cpubench.c, bare metal; $RUNS runs, median)"
riscv64-linux-gnu-gcc -O2 -march=rv64gc -mabi=lp64d -mcmodel=medany -ffreestanding -nostdlib -nostartfiles \
  -static -Wl,--build-id=none -Wl,--no-warn-rwx-segments -T bench/cpu/link.ld -o "$tmp/cpubench.elf" bench/cpu/start.S bench/cpu/cpubench.c
for i in $(seq "$RUNS"); do
  s=$(now); $juice run --bare "$tmp/cpubench.elf" --stats "$tmp/cpu.json" >"$tmp/juice-cpu.out"; e=$(now)
  echo "$e - $s" | bc -l >>"$tmp/juice-cpu"
  s=$(now); qemu-system-riscv64 -M virt -nographic -bios none -kernel "$tmp/cpubench.elf" >"$tmp/qemu-cpu.out"; e=$(now)
  echo "$e - $s" | bc -l >>"$tmp/qemu-cpu"
done
cmp -s <(tr -d '\r' <"$tmp/juice-cpu.out") <(tr -d '\r' <"$tmp/qemu-cpu.out") || { echo "   outputs differ!"; diff "$tmp/juice-cpu.out" "$tmp/qemu-cpu.out"; }
jc=$(median <"$tmp/juice-cpu"); qc=$(median <"$tmp/qemu-cpu")
n=$(sed -n 's/.*"instructions": \([0-9]*\).*/\1/p' "$tmp/cpu.json")
printf "   %-44s %8.3f s  %7.0f MIPS\n" "juice run --bare" "$jc" "$(echo "$n / $jc / 1000000" | bc -l)"
printf "   %-44s %8.3f s  %7.0f MIPS\n" "qemu-system-riscv64 -M virt -bios none" "$qc" "$(echo "$n / $qc / 1000000" | bc -l)"
printf "   (%s guest instructions; MIPS over whole-process wall time)\n" "$n"
printf "   ratio juice/qemu speed: %.2f\n" "$(echo "$qc / $jc" | bc -l)"

go run ./bench/io -juice "$juice"
go run ./bench/replay -juice "$juice" -runs "$RUNS"
go run ./bench/appliance -juice "$juice" -runs "$RUNS"
go run ./bench/snapshot -juice "$juice" -runs "$RUNS"
