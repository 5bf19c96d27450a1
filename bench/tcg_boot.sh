#!/bin/sh
# Linux boot (to the kernel's end, first userspace line, power-off) and the
# sieve guest under virtkit-vm --accel tcg vs qemu-system-x86_64 -accel tcg,
# ratios printed. See bench/lib/tcg_boot.py.
exec /usr/bin/python3 "$(dirname "$0")/lib/tcg_boot.py" "$@"
