#!/bin/sh
# Software CPU speed: guest instructions per second of the interpreter
# (tests/unit/cpu/cpu_bench), and the kvm-unit-tests CPU-bound guest "sieve"
# under virtkit-vm --accel tcg vs qemu-system-x86_64 -accel tcg, ratio
# printed. See bench/lib/cpu_bench.py.
exec /usr/bin/python3 "$(dirname "$0")/lib/cpu_bench.py" "$@"
