#!/usr/bin/env bash
# Installs the Debian packages Juice's build, tests and benchmarks need, when
# missing. As root it installs them; otherwise it prints the command to run.
set -euo pipefail

pkgs=(
  gcc-riscv64-linux-gnu binutils-riscv64-linux-gnu libc6-dev-riscv64-cross libc6-riscv64-cross
  linux-source-6.1 flex bison bc libssl-dev libelf-dev make xz-utils cpio
  qemu-system-misc qemu-user opensbi gdb-multiarch
  gpgv gpg debian-archive-keyring kmod e2fsprogs bc
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "juice: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "juice: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
